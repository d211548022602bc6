package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
)

// flowsAppAddr is the loopback address of TestIntegrationFlowsAppLive,
// its own so that other tests' traffic stays out of its filter.
const flowsAppAddr = "127.0.0.149"

// TestIntegrationFlowsAppLive: ports flows -i lo fills the APP column
// live: curl fetching from python3 -m http.server on 8088 (HTTP with
// its Host, marked: 8088 is not HTTP's port) and openssl s_client
// -servername to openssl s_server on 4433 (TLS with the SNI asked for),
// both marked: neither port is registered for what it carries.
func TestIntegrationFlowsAppLive(t *testing.T) {
	requireCapture(t)
	openssl := porttest.LookTool(t, "openssl", "openssl")
	curl := porttest.LookTool(t, "curl", "curl")
	python := porttest.LookTool(t, "python3", "python3")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	start := func(name string, args ...string) {
		cmd := exec.CommandContext(ctx, name, args...)
		log := &porttest.LogBuffer{}
		cmd.Stdout, cmd.Stderr, cmd.Dir = log, log, dir
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	key, cert := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	if out, err := exec.CommandContext(ctx, openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=live.test").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html>hello</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start(python, "-m", "http.server", "--bind", flowsAppAddr, "--directory", dir, "8088")
	start(openssl, "s_server", "-accept", flowsAppAddr+":4433", "-cert", cert, "-key", key, "-alpn", "h2", "-quiet")
	porttest.WaitFor(t, "the HTTP and TLS servers", func() bool {
		for _, a := range []string{flowsAppAddr + ":8088", flowsAppAddr + ":4433"} {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})

	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var out, errb porttest.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(fctx, []string{"flows", "-i", "lo", "--idle", "1s", "--format", "jsonl", "host " + flowsAppAddr}, &out, &errb)
	}()
	porttest.WaitFor(t, "flows to listen", func() bool { return strings.Contains(errb.String(), "listening on") || len(done) > 0 })
	cmd := exec.CommandContext(ctx, curl, "-s", "-o", "/dev/null", "--noproxy", "*", "--max-time", "15", "-H", "Host: live.test", "http://"+flowsAppAddr+":8088/index.html")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl: %v: %s", err, b)
	}
	cmd = exec.CommandContext(ctx, openssl, "s_client", "-connect", flowsAppAddr+":4433", "-servername", "sni.live.test", "-alpn", "h2")
	cmd.Stdin = strings.NewReader("Q\n")
	if b, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(b), "ALPN protocol") {
		t.Fatalf("s_client: %v: %s", err, b)
	}
	// A closed flow is finished once idle for --idle in capture time:
	// datagrams to port 9 move that time on (their flows are not looked at).
	tick, err := net.Dial("udp", flowsAppAddr+":9")
	if err != nil {
		t.Fatal(err)
	}
	defer tick.Close()
	porttest.WaitFor(t, "both flows in the output", func() bool {
		tick.Write([]byte("tick"))
		return strings.Contains(out.String(), ":8088") && strings.Contains(out.String(), ":4433")
	})
	fcancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var f render.FlowV1
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		got[f.Server] = f.App + " " + f.AppName + " " + map[bool]string{true: "!", false: "="}[f.AppMismatch]
	}
	want := map[string]string{
		flowsAppAddr + ":8088": "http live.test !",
		flowsAppAddr + ":4433": "tls sni.live.test !",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: APP %q, want %q (all: %s)", k, got[k], w, out.String())
		}
	}
}
