package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pyWeb runs python3 -m http.server on testHost:port serving a file
// "who.txt" that says name; stop ends it.
func pyWeb(t *testing.T, name string, port int) (stop func()) {
	t.Helper()
	py := needTool(t, "python3")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "who.txt"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, py, "-m", "http.server", "--bind", testHost, "--directory", dir, strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(testHost, strconv.Itoa(port))
	waitFor(t, "python3 http.server "+name, func() bool { return dialable(addr) })
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestMapHealthCheckCLI: `ports map --check http` against two python
// http.server backends, one stopped and started again, seen through
// curl and the ports_map_destination_up gauge; both stopped give 503.
func TestMapHealthCheckCLI(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	stopA := pyWeb(t, "A", pa)
	stopB := pyWeb(t, "B", pb)
	a, b := net.JoinHostPort(testHost, strconv.Itoa(pa)), net.JoinHostPort(testHost, strconv.Itoa(pb))
	lst := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	mx := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	m := runBG(t, "map", lst, a, b, "--name", "web", "--check", "http", "--check-path", "/who.txt",
		"--check-interval", "100ms", "--check-timeout", "10s", "--rise", "2", "--fall", "2", "--metrics", mx)
	waitFor(t, "the mapping", func() bool { return dialable(lst) && dialable(mx) })
	gauge := func(dest string, v int) string {
		return fmt.Sprintf(`ports_map_destination_up{dest=%q,rule="web"} %d`, dest, v)
	}
	fetch := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			out, err := curl(t, "-f", "http://"+lst+"/who.txt")
			if err != nil {
				t.Fatalf("curl through the mapping: %v: %s\nmap's log:\n%s", err, out, m.stderr)
			}
			got[strings.TrimSpace(out)]++
		}
		return got
	}
	if got := fetch(8); got["A"] == 0 || got["B"] == 0 {
		t.Fatalf("answers %v, want both backends", got)
	}
	stopB()
	waitFor(t, "B's gauge at 0", func() bool { return strings.Contains(metricsText(t, mx), gauge(b, 0)) })
	if got := fetch(8); got["A"] != 8 {
		t.Fatalf("with B stopped: answers %v, want all from A", got)
	}
	stopB = pyWeb(t, "B", pb)
	waitFor(t, "B's gauge at 1", func() bool { return strings.Contains(metricsText(t, mx), gauge(b, 1)) })
	if got := fetch(8); got["B"] == 0 {
		t.Fatalf("with B back: answers %v, want B among them", got)
	}
	stopA()
	stopB()
	waitFor(t, "both gauges at 0", func() bool {
		text := metricsText(t, mx)
		return strings.Contains(text, gauge(a, 0)) && strings.Contains(text, gauge(b, 0))
	})
	out, _ := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "http://"+lst+"/who.txt")
	if out != "503" {
		t.Errorf("with every destination down curl got %q, want 503", out)
	}
	log := m.stderr.String()
	if n := strings.Count(log, "destination down"); n != 3 {
		t.Errorf("%d 'destination down' lines, want 3 (B, then A and B):\n%s", n, log)
	}
	if !strings.Contains(metricsText(t, mx), `ports_map_refused_total{reason="all_down",rule="web"} 1`) {
		t.Errorf("the refusal is not counted:\n%s", metricsText(t, mx))
	}
}

// opensslCert makes a self-signed certificate for cn with openssl req,
// written over cert and key (through temporary files, renamed).
func opensslCert(t *testing.T, cert, key, cn string) {
	t.Helper()
	openssl := needTool(t, "openssl")
	out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-days", "2", "-subj", "/CN="+cn, "-addext", "subjectAltName=DNS:"+cn,
		"-keyout", key+".new", "-out", cert+".new").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	for _, p := range []string{cert, key} {
		if err := os.Rename(p+".new", p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeTLSWatchReloadsCertificate: `ports serve --watch` terminates
// TLS with tls_cert/tls_key, checked with curl --cacert, and picks up a
// renewed certificate without a change of the rule file.
func TestServeTLSWatchReloadsCertificate(t *testing.T) {
	web := webServer(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
	opensslCert(t, cert, key, "one.test")
	port := freePort(t)
	cfg := filepath.Join(dir, "ports.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[[rule]]
name = "site"
type = "tcp"
listen = "%s:%d"
to = ["%s"]
tls_cert = "site.pem"
tls_key = "site.key"
`, testHost, port, web)), 0o600); err != nil {
		t.Fatal(err)
	}
	m := runBG(t, "serve", "-c", cfg, "--watch", "--watch-interval", "100ms")
	lst := net.JoinHostPort(testHost, strconv.Itoa(port))
	waitFor(t, "the rule", func() bool { return dialable(lst) })
	fetch := func(cn, ca string) (string, error) {
		return curl(t, "--cacert", ca, "--resolve", fmt.Sprintf("%s:%d:%s", cn, port, testHost), fmt.Sprintf("https://%s:%d/hello.txt", cn, port))
	}
	out, err := fetch("one.test", cert)
	if err != nil || out != "hello through the proxy\n" {
		t.Fatalf("curl --cacert one.test: %q, %v\n%s", out, err, m.stderr)
	}
	old := filepath.Join(dir, "one.pem")
	data, _ := os.ReadFile(cert)
	os.WriteFile(old, data, 0o600)
	opensslCert(t, cert, key, "two.test")
	waitFor(t, "the renewed certificate served", func() bool {
		out, err := fetch("two.test", cert)
		return err == nil && out == "hello through the proxy\n"
	})
	if out, err := fetch("one.test", old); err == nil {
		t.Errorf("the old certificate is still served after the reload: %q", out)
	}
	if !strings.Contains(m.stderr.String(), "trigger=\"file changed\"") {
		t.Errorf("no reload logged:\n%s", m.stderr)
	}
}

// TestServeStatusAndDrain: serve --control, then --status (table and
// JSON) and --drain/--undrain through the socket, checked with curl.
func TestServeStatusAndDrain(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	pyWeb(t, "A", pa)
	pyWeb(t, "B", pb)
	a, b := net.JoinHostPort(testHost, strconv.Itoa(pa)), net.JoinHostPort(testHost, strconv.Itoa(pb))
	dir := t.TempDir()
	sock := filepath.Join(dir, "control.sock")
	port := freePort(t)
	cfg := filepath.Join(dir, "ports.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[[rule]]\nname = \"web\"\ntype = \"tcp\"\nlisten = \"%s:%d\"\nto = [\"%s\", \"%s\"]\ncheck = \"tcp\"\ncheck_interval = \"100ms\"\ncheck_timeout = \"10s\"\n",
		testHost, port, a, b)), 0o600)
	m := runBG(t, "serve", "-c", cfg, "--control", sock)
	lst := net.JoinHostPort(testHost, strconv.Itoa(port))
	waitFor(t, "the rule and the socket", func() bool { _, err := os.Stat(sock); return dialable(lst) && err == nil })
	if out, err := curl(t, "-f", "http://"+lst+"/who.txt"); err != nil {
		t.Fatalf("curl: %v %s", err, out)
	}
	code, out, stderr := run(t, "serve", "--control", sock, "--status")
	if code != 0 || !strings.Contains(out, "web") || !strings.Contains(out, a) || !strings.Contains(out, b) || !strings.Contains(out, "up") {
		t.Fatalf("--status: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = run(t, "serve", "--control", sock, "--drain", "web/"+b)
	if code != 0 {
		t.Fatalf("--drain: exit %d %s%s", code, out, stderr)
	}
	for range 6 {
		if out, _ := curl(t, "-f", "http://"+lst+"/who.txt"); strings.TrimSpace(out) != "A" {
			t.Fatalf("with B drained curl got %q", out)
		}
	}
	code, out, _ = run(t, "serve", "--control", sock, "--status", "--format", "json")
	if code != 0 || !strings.Contains(out, `"drained": true`) || !strings.Contains(out, `"version": 1`) {
		t.Errorf("--status --format json after a drain: exit %d\n%s", code, out)
	}
	if code, _, stderr := run(t, "serve", "--control", sock, "--undrain", "web/"+b); code != 0 {
		t.Fatalf("--undrain: %d %s", code, stderr)
	}
	seen := map[string]int{}
	for range 6 {
		out, _ := curl(t, "-f", "http://"+lst+"/who.txt")
		seen[strings.TrimSpace(out)]++
	}
	if seen["B"] == 0 {
		t.Errorf("after --undrain: %v, want B back", seen)
	}
	code, _, stderr = run(t, "serve", "--control", sock, "--drain", "web/127.0.0.1:1")
	if code == 0 || !strings.Contains(stderr, "no such destination") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("--drain of an unknown destination: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := run(t, "serve", "--status"); code != ExitUsage || !strings.Contains(stderr, "--control") {
		t.Errorf("--status without --control: exit %d %q", code, stderr)
	}
	m.stop(t)
	if _, err := os.Stat(sock); err == nil {
		t.Error("the control socket is left behind after the server stopped")
	}
}
