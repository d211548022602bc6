package cli

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestServeFailedReloadLogsOnlyWhatHappened: a reload whose new rule
// cannot bind (its port is taken) keeps the old rules, and serve logged
// "rule stopped" for them (and for a new rule it had started and closed
// again) though they kept running. Now a failed reload logs no stop; a
// reload that removes a rule logs its stop once.
func TestServeFailedReloadLogsOnlyWhatHappened(t *testing.T) {
	echo := echoServer(t)
	taken, err := net.Listen("tcp4", testHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	pa := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	pb := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	rule := func(name, listen, extra string) string {
		return fmt.Sprintf("[[rule]]\nname = %q\ntype = \"tcp\"\nlisten = %q\nto = [%q]\n%s\n", name, listen, echo, extra)
	}
	cfg := filepath.Join(t.TempDir(), "ports.toml")
	os.WriteFile(cfg, []byte(rule("a", pa, "")+rule("b", pb, "")), 0o644)
	s := runBG(t, "serve", "-c", cfg)
	waitFor(t, "both rules", func() bool { return dialable(pa) && dialable(pb) })

	// a changes (restarts fine), b moves to the taken port: the reload fails.
	os.WriteFile(cfg, []byte(rule("a", pa, "idle_timeout = \"1m\"")+rule("b", taken.Addr().String(), "")), 0o644)
	if err := sendHUP(); err != nil {
		t.Skipf("SIGHUP: %v", err)
	}
	waitFor(t, "the failed reload", func() bool { return strings.Contains(s.stderr.String(), "reload failed") })
	if !dialable(pa) || !dialable(pb) {
		t.Fatalf("the old rules do not serve after the failed reload; log:\n%s", s.stderr)
	}
	if strings.Contains(s.stderr.String(), "rule stopped") {
		t.Errorf("a failed reload logged a rule stopped, but both run; log:\n%s", s.stderr)
	}

	// Removing b: its stop is logged, once, and a's is not.
	os.WriteFile(cfg, []byte(rule("a", pa, "")), 0o644)
	if err := sendHUP(); err != nil {
		t.Skipf("SIGHUP: %v", err)
	}
	waitFor(t, "the reload", func() bool { return strings.Contains(s.stderr.String(), "msg=reloaded") })
	var stops []string
	for _, l := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(l, "rule stopped") {
			stops = append(stops, l)
		}
	}
	if len(stops) != 1 || !strings.Contains(stops[0], "rule=b") {
		t.Errorf("stop lines %q, want one for rule b; log:\n%s", stops, s.stderr)
	}
}
