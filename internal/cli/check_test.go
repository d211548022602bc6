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
	if code != ExitUsage || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}
	if strings.Contains(stderr, cfg+":4:") {
		t.Error("the first of two overlapping rules is not the problem")
	}
}

// TestBadConfigFileExit2: one rule for every command's configuration
// file: unreadable, not a regular file, or with problems, it is exit 2
// (serve said 1, knockd 2 for a syntax error and 1 for a missing file),
// and `knockd -c DIR` says what DIR is, not "read DIR: is a directory".
func TestBadConfigFileExit2(t *testing.T) {
	dir := t.TempDir()
	badRules := filepath.Join(dir, "bad.toml")
	os.WriteFile(badRules, []byte("[[rule]]\nname = \"a\"\n"), 0o644)
	badKnock := filepath.Join(dir, "knockd.conf")
	os.WriteFile(badKnock, []byte("[door]\n\tsequence = 7000:sctp\n"), 0o644)
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		args []string
		want string // a line of stderr
	}{
		{[]string{"serve", "-c", missing}, missing + ": no such file or directory"},
		{[]string{"serve", "-c", missing, "--check"}, missing + ": no such file or directory"},
		{[]string{"serve", "-c", badRules}, badRules + `:1: rule "a": type: missing (tcp, udp, http or socks5)`},
		{[]string{"serve", "-c", badRules, "--check"}, badRules + `:1: rule "a": type: missing (tcp, udp, http or socks5)`},
		{[]string{"knockd", "-c", missing, "-i", "lo"}, "ports knockd: " + missing + ": no such file or directory (see 'ports knockd --help')"},
		{[]string{"knockd", "-c", badKnock, "-i", "lo"}, badKnock + ":2: "},
		{[]string{"knockd", "-c", dir, "-i", "lo"}, "ports knockd: " + dir + ": not a regular file (a directory) (see 'ports knockd --help')"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, tt.args...)
		if code != ExitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), code, stderr, tt.want)
		}
	}
}
