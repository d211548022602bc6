package mapper_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// sClient runs openssl s_client -servername name against addr,
// verifying against caFile (when given), with nothing to send; it
// returns the output and whether openssl exited 0.
func sClient(t *testing.T, addr, name, caFile string) (string, bool) {
	t.Helper()
	openssl := porttest.LookTool(t, "openssl", "openssl")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := []string{"s_client", "-connect", addr, "-servername", name}
	if caFile != "" {
		args = append(args, "-CAfile", caFile, "-verify_return_error", "-verify_hostname", name)
	}
	out, err := exec.CommandContext(ctx, openssl, args...).CombinedOutput()
	return string(out), err == nil
}

// sClientArgs runs openssl s_client -connect addr with args.
func sClientArgs(t *testing.T, addr string, args ...string) (string, bool) {
	t.Helper()
	openssl := porttest.LookTool(t, "openssl", "openssl")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, openssl, append([]string{"s_client", "-connect", addr}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// TestRouteBySNI: one port, two openssl s_server backends chosen by the
// ClientHello's server name; each backend completes the handshake with
// the client (its certificate verifies for the name asked); an unknown
// name gets a TLS alert.
func TestRouteBySNI(t *testing.T) {
	aAddr, aCert := opensslServer(t, "a.test", "-www")
	bAddr, bCert := opensslServer(t, "b.test", "-www")
	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "sni", Type: mapper.TCP, Listen: testListen, Routes: []mapper.Route{
		{SNI: "a.test", To: []string{aAddr}},
		{SNI: "*.b.test", To: []string{bAddr}},
		{SNI: "B.test", To: []string{bAddr}},
	}}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("sni")[0].String()
	for _, tc := range []struct{ name, cert, cn string }{
		{"a.test", aCert, "subject=CN = a.test"},
		{"b.test", bCert, "subject=CN = b.test"}, // the route is written B.test: case does not matter
	} {
		out, ok := sClient(t, addr, tc.name, tc.cert)
		if !ok || !strings.Contains(out, "Verify return code: 0 (ok)") || !strings.Contains(out, tc.cn) {
			t.Errorf("s_client -servername %s through the mapping: exit ok=%v, want a verified handshake with %s:\n%s", tc.name, ok, tc.cn, out)
		}
	}
	// A wildcard: www.b.test reaches b's backend, whose certificate is
	// not for that name; only the backend's identity is checked.
	if out, _ := sClient(t, addr, "www.b.test", ""); !strings.Contains(out, "subject=CN = b.test") {
		t.Errorf("s_client -servername www.b.test: no handshake with b.test's backend:\n%s", out)
	}
	out, ok := sClient(t, addr, "c.test", "")
	if ok || !strings.Contains(out, "unrecognized name") {
		t.Errorf("s_client -servername c.test: ok=%v, want the alert unrecognized name:\n%s", ok, out)
	}
	rec.waitRefused(t, "sni/"+mapper.RefuseUnknownName)
	if !strings.Contains(logs.String(), `no route for the name \"c.test\"`) {
		t.Errorf("the refusal does not name c.test:\n%s", logs)
	}
}

// TestRouteByHost: HTTP Host routing, exact and wildcard, a default,
// and without a default an unknown host gets 421.
func TestRouteByHost(t *testing.T) {
	a, b, d := newBackend(t, "A"), newBackend(t, "B"), newBackend(t, "D")
	s, rec, _ := newServer(t)
	routes := []mapper.Route{{Host: "a.test", To: []string{a.addr}}, {Host: "*.b.test", To: []string{b.addr}}}
	if err := s.Apply([]mapper.Rule{
		{Name: "host", Type: mapper.TCP, Listen: testListen, Routes: routes, DefaultTo: []string{d.addr}},
		{Name: "strict", Type: mapper.TCP, Listen: testListen, Routes: routes},
	}); err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addrs("host")[0].String() + "/"
	for host, want := range map[string]string{"a.test": "A", "A.TEST:8080": "A", "x.b.test": "B", "y.x.b.test": "B", "b.test": "D", "c.test": "D"} {
		out, code := porttest.Curl(t, "-H", "Host: "+host, url)
		if code != 0 || out != want {
			t.Errorf("curl -H 'Host: %s': %q (exit %d), want %q", host, out, code, want)
		}
	}
	strict := "http://" + s.Addrs("strict")[0].String() + "/"
	out, _ := porttest.Curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: c.test", strict)
	if out != "421" {
		t.Errorf("unknown host without default_to: %q, want 421", out)
	}
	rec.waitRefused(t, "strict/"+mapper.RefuseUnknownName)
}

// TestRouteByHostAllDown: a host route whose destinations a check found
// down answers 503 (the client speaks HTTP), not a reset.
func TestRouteByHostAllDown(t *testing.T) {
	dead, deadAddr := porttest.ListenTCP(t)
	dead.Close()
	s, rec, _ := newHealthServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "hd", Type: mapper.TCP, Listen: testListen,
		Routes: []mapper.Route{{Host: "a.test", To: []string{deadAddr.String()}}},
		Check:  mapper.CheckTCP, CheckInterval: 50 * time.Millisecond, CheckTimeout: checkTimeout}}); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "the destination marked down", func() bool { up, _ := rec.isUp("hd", deadAddr.String()); return !up })
	out, _ := porttest.Curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: a.test", "http://"+s.Addrs("hd")[0].String()+"/")
	if out != "503" {
		t.Errorf("curl to a host route with every destination down: %q, want 503", out)
	}
	rec.waitRefused(t, "hd/"+mapper.RefuseAllDown)
}
