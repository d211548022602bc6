package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeCheckOverlapAndEveryProblem: --check passed two rules on the
// same port (serve then failed at bind) and gave one problem per rule.
func TestServeCheckOverlapAndEveryProblem(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte(`[[rule]]
name = "a"
type = "tcp"
listen = "127.0.0.1:8080"
to = ["127.0.0.1:80"]

[[rule]]
name = "b"
type = "tcp"
listen = ":8080"
to = ["127.0.0.1:81"]
allow = ["10.0.0.0/8"]

[[rule]]
name = "c"
type = "tcp"
listen = "nowhere"
to = ["nowhere"]
`), 0o644)
	code, stdout, stderr := run(t, "serve", "-c", cfg, "--check")
	want := cfg + `:17: rule "c": listen: "nowhere" is not HOST:PORT, IFACE:PORT or :PORT
` + cfg + `:18: rule "c": to: destination "nowhere" is not HOST:PORT
` + cfg + `:10: rule "b": listen: tcp 0.0.0.0:8080 overlaps tcp 127.0.0.1:8080 of rule "a" (line 4): both cannot listen there
`
	if code != ExitFailure || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}
	if strings.Contains(stderr, cfg+":4:") {
		t.Error("the first of two overlapping rules is not the problem")
	}
}
