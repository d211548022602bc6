package cli

import (
	"context"
	"fmt"
	"github.com/portkit/ports/internal/porttest"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lockedBuf is a goroutine-safe output sink.
type lockedBuf = porttest.LogBuffer

// bg runs a long-running command line in-process; stop ends it like
// SIGINT and returns its exit code.
type bg struct {
	stdout, stderr *lockedBuf
	cancel         context.CancelFunc
	done           chan int
}

func runBG(t *testing.T, args ...string) *bg {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &bg{stdout: &lockedBuf{}, stderr: &lockedBuf{}, cancel: cancel, done: make(chan int, 1)}
	go func() { b.done <- Run(ctx, args, b.stdout, b.stderr) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

func (b *bg) stop(t *testing.T) int {
	b.cancel()
	select {
	case code := <-b.done:
		b.done <- code
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("command did not stop; stderr:\n%s", b.stderr)
		return -1
	}
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testHost is where the tests' proxies and mappings listen: a loopback
// address of its own, out of the way of port scans of 127.0.0.1 by other
// packages' tests running at the same time.
const testHost = "127.88.0.2"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", testHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func needTool(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s (installed by .ci/run)", name)
	}
	return p
}

// webServer runs python3 -m http.server on loopback, serving a file
// "hello.txt", and returns its address.
func webServer(t *testing.T) string {
	py := needTool(t, "python3")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello through the proxy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, py, "-m", "http.server", "--bind", testHost, "--directory", dir, fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	addr := net.JoinHostPort(testHost, strconv.Itoa(port))
	waitFor(t, "python3 http.server", func() bool { return dialable(addr) })
	return addr
}

func curl(t *testing.T, args ...string) (string, error) {
	c := needTool(t, "curl")
	out, err := exec.Command(c, append([]string{"-sS", "--max-time", "10"}, args...)...).CombinedOutput()
	return string(out), err
}

// hasMetric reports whether the Prometheus text holds series with a value
// of at least min.
func hasMetric(text, series string, min float64) bool {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil && f >= min {
				return true
			}
		}
	}
	return false
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMetricsAllow: metrics beyond loopback need --metrics-allow, and a
// reader the list does not name is cut off before it reads anything.
func TestMetricsAllow(t *testing.T) {
	code, _, stderr := run(t, "map", "127.0.0.1:1", "127.0.0.1:2", "--metrics", "0.0.0.0:9100")
	if code != ExitUsage || !strings.Contains(stderr, "--metrics-allow") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("metrics on 0.0.0.0 without a list: exit %d, stderr %q", code, stderr)
	}
	lst := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	mx := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	runBG(t, "map", lst, echoServer(t), "--metrics", mx, "--metrics-allow", "127.0.0.2/32", "--name", "ma")
	waitFor(t, "the metrics listener", func() bool { return dialable(mx) })
	get := func(from string) (string, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		cl := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
		resp, err := cl.Get("http://" + mx + "/metrics")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get("127.0.0.2"); err != nil || !strings.Contains(body, "# TYPE ") {
		t.Errorf("from 127.0.0.2 (allowed): %v, %.200q", err, body)
	}
	if body, err := get("127.0.0.1"); err == nil {
		t.Errorf("from 127.0.0.1 (not allowed): got %.200q, want the connection closed", body)
	}
}

func TestMapOpenRelayRefusedExit2(t *testing.T) {
	code, _, stderr := run(t, "map", "0.0.0.0:8080", "127.0.0.1:80")
	want := `ports map: rule "map" listens on 0.0.0.0:8080 but names no --allow: refusing to be an open relay`
	if code != ExitUsage || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	code, _, stderr = run(t, "proxy", "socks5", ":1080")
	if code != ExitUsage || !strings.Contains(stderr, "names no --allow and no --auth: refusing to be an open relay") {
		t.Errorf("proxy: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = run(t, "map", "127.0.0.1:1", "127.0.0.1:2", "--allow", "10.0.0.0/40")
	if code != ExitUsage || !strings.Contains(stderr, `"10.0.0.0/40"`) {
		t.Errorf("bad CIDR: exit %d, stderr %q", code, stderr)
	}
}

func TestProxyHTTPCurl(t *testing.T) {
	web := webServer(t)
	_, webPort, _ := net.SplitHostPort(web)
	px := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	mx := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	p := runBG(t, "proxy", "http", px, "--auth", "alice:secret", "--allow-dest", "127.0.0.0/8",
		"--connect-ports", webPort, "--metrics", mx, "--name", "hp")
	waitFor(t, "the proxy", func() bool { return dialable(px) })

	// An absolute-URI request.
	out, err := curl(t, "-x", "http://alice:secret@"+px, "http://"+web+"/hello.txt")
	if err != nil || out != "hello through the proxy\n" {
		t.Fatalf("curl -x: %q, %v\n%s", out, err, p.stderr)
	}
	// A CONNECT tunnel (-p), relayed by splice.
	out, err = curl(t, "-p", "-x", "http://alice:secret@"+px, "http://"+web+"/hello.txt")
	if err != nil || out != "hello through the proxy\n" {
		t.Fatalf("curl -p -x (CONNECT): %q, %v\n%s", out, err, p.stderr)
	}
	// A bad password: 407, a refusal logged and counted.
	out, _ = curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://alice:wrong@"+px, "http://"+web+"/hello.txt")
	if out != "407" {
		t.Errorf("bad password: status %q, want 407", out)
	}
	waitFor(t, "the auth refusal", func() bool {
		return hasMetric(metricsText(t, mx), `ports_map_refused_total{reason="auth",rule="hp"}`, 1)
	})
	if !strings.Contains(p.stderr.String(), "reason=auth") {
		t.Errorf("no refusal log line:\n%s", p.stderr)
	}
	m := metricsText(t, mx)
	for _, want := range []string{`ports_map_connections_total{rule="hp"}`, `ports_map_bytes_total{direction="down",rule="hp"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
}

func TestProxySOCKS5Curl(t *testing.T) {
	web := webServer(t)
	px := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	mx := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	p := runBG(t, "proxy", "socks5", px, "--auth", "bob:pw", "--metrics", mx, "--name", "sx",
		"--handshake-timeout", "300ms")
	waitFor(t, "the proxy", func() bool { return dialable(px) })

	// No --allow-dest: loopback destinations are refused (reply 0x02).
	if out, err := curl(t, "--socks5-hostname", px, "--proxy-user", "bob:pw", "http://"+web+"/hello.txt"); err == nil {
		t.Fatalf("a loopback destination went through: %q", out)
	}
	waitFor(t, "the destination refusal", func() bool {
		return hasMetric(metricsText(t, mx), `ports_map_refused_total{reason="destination",rule="sx"}`, 1)
	})
	// A bad password.
	if out, err := curl(t, "--socks5-hostname", px, "--proxy-user", "bob:nope", "http://"+web+"/hello.txt"); err == nil {
		t.Fatalf("a bad password went through: %q", out)
	}
	waitFor(t, "the auth refusal", func() bool {
		return hasMetric(metricsText(t, mx), `ports_map_refused_total{reason="auth",rule="sx"}`, 1)
	})
	// A slow client that never finishes its handshake is closed within
	// the handshake timeout (300ms; the test allows much more).
	c, err := net.Dial("tcp", px)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{5}) // the start of a greeting, then nothing
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("slow client: %v, want the proxy to close the connection", err)
	}
	waitFor(t, "the handshake refusal", func() bool {
		return hasMetric(metricsText(t, mx), `ports_map_refused_total{reason="handshake",rule="sx"}`, 1)
	})
	for _, want := range []string{"reason=destination", "reason=auth", "reason=handshake"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("no log line with %s:\n%s", want, p.stderr)
		}
	}

	// With --allow-dest the same request goes through.
	px2 := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	p2 := runBG(t, "proxy", "socks5", px2, "--allow-dest", "127.0.0.0/8")
	waitFor(t, "the second proxy", func() bool { return dialable(px2) })
	out, err := curl(t, "--socks5-hostname", px2, "http://"+web+"/hello.txt")
	if err != nil || out != "hello through the proxy\n" {
		t.Fatalf("curl --socks5-hostname: %q, %v\n%s", out, err, p2.stderr)
	}
}

// echoServer echoes each connection until EOF.
func echoServer(t *testing.T) string {
	return porttest.ServeTCP(t, func(c net.Conn) { io.Copy(c, c) }).String()
}

func echoOnce(c net.Conn, msg string) error {
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	b := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != msg {
		return fmt.Errorf("echoed %q, want %q", b, msg)
	}
	return nil
}

func TestServeReloadUnderTraffic(t *testing.T) {
	echo := echoServer(t)
	keep := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	old := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	added := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	rule := func(name, listen string) string {
		return fmt.Sprintf("[[rule]]\nname = %q\ntype = \"tcp\"\nlisten = %q\nto = [%q]\n\n", name, listen, echo)
	}
	cfg := filepath.Join(t.TempDir(), "ports.toml")
	if err := os.WriteFile(cfg, []byte(rule("keep", keep)+rule("old", old)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := runBG(t, "serve", "-c", cfg, "--watch", "--watch-interval", "50ms")
	waitFor(t, "both rules", func() bool { return dialable(keep) && dialable(old) })

	long, err := net.Dial("tcp", keep)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	if err := echoOnce(long, "before"); err != nil {
		t.Fatal(err)
	}
	// A file with a problem: the old rules keep running.
	os.WriteFile(cfg, []byte(rule("keep", keep)+"[[rule]]\nname = \"bad\"\ntype = \"tcp\"\n"), 0o644)
	waitFor(t, "the failed reload", func() bool { return strings.Contains(s.stderr.String(), "reload failed") })
	if !dialable(old) {
		t.Fatal("a bad file stopped the old rules")
	}
	// --watch: "old" removed, "added" added, "keep" unchanged.
	os.WriteFile(cfg, []byte(rule("keep", keep)+rule("added", added)), 0o644)
	waitFor(t, "the new rule", func() bool { return dialable(added) })
	waitFor(t, "the removed rule to stop", func() bool { return !dialable(old) })
	if err := echoOnce(long, "after watch"); err != nil {
		t.Fatalf("the long connection on the unchanged rule broke: %v", err)
	}
	// SIGHUP: "added" removed again.
	os.WriteFile(cfg, []byte(rule("keep", keep)), 0o644)
	time.Sleep(200 * time.Millisecond) // let --watch see it too; either reload is fine
	if err := sendHUP(); err != nil {
		t.Skipf("SIGHUP: %v", err)
	}
	waitFor(t, "the SIGHUP reload", func() bool { return strings.Contains(s.stderr.String(), "trigger=SIGHUP") })
	waitFor(t, "the second removed rule to stop", func() bool { return !dialable(added) })
	if err := echoOnce(long, "after SIGHUP"); err != nil {
		t.Fatalf("the long connection broke on SIGHUP: %v", err)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("serve exited %d:\n%s", code, s.stderr)
	}
}

func TestServeCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte(`[[rule]]
name = "a"
type = "tcp"
listen = "0.0.0.0:8080"
to = ["127.0.0.1:80"]

[[rule]]
name = "b"
type = "udp"
listen = "127.0.0.1:53"
to = ["127.0.0.1:5353"]
max_conns = -1
colour = "blue"
`), 0o644)
	code, stdout, stderr := run(t, "serve", "-c", cfg, "--check")
	want := cfg + `:13: rule "b": colour: unknown key
` + cfg + `:4: rule "a": listen: 0.0.0.0:8080 is not loopback but the rule names no allow: refusing to be an open relay
` + cfg + `:12: rule "b": max_conns: -1 is negative
`
	if code != ExitUsage || stderr != want || stdout != "" {
		t.Errorf("exit %d\nstdout %q\nstderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}
	os.WriteFile(cfg, []byte("[[rule]]\nname = \"a\"\ntype = \"tcp\"\nlisten = \"127.0.0.1:8080\"\nto = [\"127.0.0.1:80\"]\n"), 0o644)
	code, stdout, _ = run(t, "serve", "-c", cfg, "--check")
	if code != 0 || !strings.Contains(stdout, "1 rules, no problems") {
		t.Errorf("good file: exit %d, %q", code, stdout)
	}
}

func TestMapTCPWithMetrics(t *testing.T) {
	echo := echoServer(t)
	lst := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	mx := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	m := runBG(t, "map", lst, echo, "--allow", "127.0.0.0/8", "--metrics", mx, "--name", "m1", "--log-format", "json")
	waitFor(t, "the mapping", func() bool { return dialable(lst) })
	c, err := net.Dial("tcp", lst)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(c, "hello mapping"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, "the byte counters", func() bool {
		text := metricsText(t, mx)
		return hasMetric(text, `ports_map_bytes_total{direction="up",rule="m1"}`, 13) &&
			hasMetric(text, `ports_map_bytes_total{direction="down",rule="m1"}`, 13)
	})
	waitFor(t, "the JSON conn end line", func() bool {
		return strings.Contains(m.stderr.String(), `"msg":"conn end","rule":"m1"`)
	})
	if code := m.stop(t); code != 0 {
		t.Errorf("ports map exited %d:\n%s", code, m.stderr)
	}
}

// TestMapUDPMaxConnsAndIdleTimeout: `ports map udp --max-conns 4
// --idle-timeout 1s` answers 4 of 10 clients, and a session ends after
// 1s idle (it lasted a fixed 60s and every client was answered).
func TestMapUDPMaxConnsAndIdleTimeout(t *testing.T) {
	pc, err := net.ListenPacket("udp4", testHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	lst := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	m := runBG(t, "map", "udp", lst, pc.LocalAddr().String(), "--max-conns", "4", "--idle-timeout", "1s")
	waitFor(t, "the mapping", func() bool { return strings.Contains(m.stderr.String(), "rule started") })
	var cs []net.Conn
	for i := range 10 {
		c, err := net.Dial("udp", lst)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "client %d", i)
		cs = append(cs, c)
	}
	// All read at once, to one deadline: a read past its deadline fails
	// without looking.
	answered := 0
	deadline := time.Now().Add(time.Second)
	for _, c := range cs {
		c.SetReadDeadline(deadline)
	}
	res := make(chan bool, len(cs))
	for _, c := range cs {
		go func() { _, err := c.Read(make([]byte, 64)); res <- err == nil }()
	}
	for range cs {
		if <-res {
			answered++
		}
	}
	if answered != 4 {
		t.Errorf("%d of 10 clients answered, want 4", answered)
	}
	waitFor(t, "a session idle end", func() bool {
		return strings.Contains(m.stderr.String(), "proto=udp") && strings.Contains(m.stderr.String(), "reason=idle")
	})
}

// TestMapRouteFlags: `ports map LISTEN DEFAULT --host NAME=DEST` routes
// by the HTTP Host curl sends (-H Host:), exact and wildcard, the rest to
// the DEST after LISTEN; malformed route flags are usage errors.
func TestMapRouteFlags(t *testing.T) {
	named := func(name string) string {
		web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
		t.Cleanup(web.Close)
		return strings.TrimPrefix(web.URL, "http://")
	}
	a, b, b2, def := named("A"), named("B"), named("B"), named("default")
	lst := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	m := runBG(t, "map", lst, def, "--host", "a.test="+a, "--host", "*.b.test="+b+" weight=2,"+b2, "--allow", "127.0.0.0/8")
	waitFor(t, "the mapping", func() bool { return dialable(lst) })
	for host, want := range map[string]string{"a.test": "A", "www.b.test": "B", "c.test": "default"} {
		if out, code := porttest.Curl(t, "-H", "Host: "+host, "http://"+lst+"/"); code != 0 || out != want {
			t.Errorf("curl -H 'Host: %s': %q (exit %d), want %q", host, out, code, want)
		}
	}
	if code := m.stop(t); code != 0 {
		t.Errorf("ports map exited %d:\n%s", code, m.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"map", "127.0.0.1:1", "--sni", "a.test"}, `--sni "a.test": want NAME=DEST[,DEST...]`},
		{[]string{"map", "127.0.0.1:1", "--host", "=127.0.0.1:2"}, `--host "=127.0.0.1:2": want NAME=DEST[,DEST...]`},
		{[]string{"map", "127.0.0.1:1", "--host", "a..test=127.0.0.1:2"}, `"a..test" is not a host name`},
		{[]string{"map", "127.0.0.1:1", "--host", "a.test=127.0.0.1:2", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "give sni routes"},
		{[]string{"map", "127.0.0.1:1", "127.0.0.1:2", "--alpn", "h2"}, "alpn: alpn answers the clients of a terminating rule: it needs tls_cert"},
		{[]string{"map", "127.0.0.1:1"}, "need LISTEN and at least one DEST (or --sni, --host)"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line with %q", tc.args, code, stderr, ExitUsage, tc.want)
		}
	}
}
