package socks_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/socks"
)

// loopbackPolicy permits the loopback destinations of the tests' own
// servers, which the zero Policy denies.
var loopbackPolicy = &acl.Policy{Allow: []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

var loopbackDial = (&acl.Dialer{Policy: loopbackPolicy}).DialContext

// hangGuard bounds waits that only a bug would make long.
const hangGuard = 20 * time.Second

// start runs s on a loopback listener with a plain relay, reporting
// every Handshake result.
func start(t testing.TB, s *socks.Server) *porttest.ProxyServer {
	t.Helper()
	l, _ := porttest.ListenTCP(t)
	return startOn(t, l, s)
}

func startOn(t testing.TB, l net.Listener, s *socks.Server) *porttest.ProxyServer {
	t.Helper()
	return porttest.ServeProxy(t, l, func(ctx context.Context, c net.Conn) (net.Conn, error) {
		tun, err := s.Handshake(ctx, c)
		if err != nil || tun == nil {
			return nil, err
		}
		return tun.Upstream, nil
	})
}

func webServer(t *testing.T) *httptest.Server {
	t.Helper()
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	t.Cleanup(ws.Close)
	return ws
}

func TestXNetProxyClient(t *testing.T) {
	ws := webServer(t)
	ts := start(t, &socks.Server{Dial: loopbackDial, Auth: socks.StaticAuth("alice", "s3cret")})
	get := func(pass string) (string, error) {
		d, err := proxy.SOCKS5("tcp", ts.Addr.String(), &proxy.Auth{User: "alice", Password: pass}, proxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		cl := &http.Client{Transport: &http.Transport{DialContext: d.(proxy.ContextDialer).DialContext}}
		defer cl.CloseIdleConnections()
		resp, err := cl.Get(ws.URL + "/x")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := get("s3cret")
	if err != nil || body != "hello from /x" {
		t.Fatalf("through the proxy: %q, %v", body, err)
	}
	if err := ts.Result(t); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, err := get("wrong"); err == nil {
		t.Fatal("a bad password got through")
	}
	if err := ts.Result(t); !errors.Is(err, socks.ErrAuthFailed) {
		t.Fatalf("bad password: handshake error %v, want ErrAuthFailed", err)
	}
}

func TestCurlSOCKS5Hostname(t *testing.T) {
	ws := webServer(t)
	port := ws.Listener.Addr().(*net.TCPAddr).Port
	ts := start(t, &socks.Server{Dial: loopbackDial, Auth: socks.StaticAuth("bob", "pw")})
	url := fmt.Sprintf("http://localhost:%d/curl", port)
	out, code := porttest.Curl(t, "--socks5-hostname", ts.Addr.String(), "--proxy-user", "bob:pw", url)
	if code != 0 || out != "hello from /curl" {
		t.Fatalf("curl --socks5-hostname: exit %d, body %q", code, out)
	}
	if err := ts.Result(t); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	out, code = porttest.Curl(t, "--socks5-hostname", ts.Addr.String(), "--proxy-user", "bob:nope", url)
	if code != 97 || out != "" { // 97: CURLE_PROXY
		t.Fatalf("bad password: exit %d, body %q", code, out)
	}
	if err := ts.Result(t); !errors.Is(err, socks.ErrAuthFailed) {
		t.Fatalf("bad password: handshake error %v, want ErrAuthFailed", err)
	}
	out, code = porttest.Curl(t, "--socks5-hostname", ts.Addr.String(), url)
	if code != 97 || out != "" { // 97: CURLE_PROXY
		t.Fatalf("no credentials: exit %d, body %q", code, out)
	}
	if err := ts.Result(t); !errors.Is(err, socks.ErrNoMethod) {
		t.Fatalf("no credentials: handshake error %v, want ErrNoMethod", err)
	}
}

func TestCurlSOCKS4a(t *testing.T) {
	ws := webServer(t)
	port := ws.Listener.Addr().(*net.TCPAddr).Port
	ts := start(t, &socks.Server{Dial: loopbackDial, SOCKS4: true})
	for _, flag := range []string{"--socks4a", "--socks4"} {
		out, code := porttest.Curl(t, flag, ts.Addr.String(), fmt.Sprintf("http://127.0.0.1:%d/four", port))
		if code != 0 || out != "hello from /four" {
			t.Fatalf("curl %s: exit %d, body %q", flag, code, out)
		}
		if err := ts.Result(t); err != nil {
			t.Fatalf("%s handshake: %v", flag, err)
		}
	}
	out, code := porttest.Curl(t, "--socks4a", ts.Addr.String(), fmt.Sprintf("http://localhost:%d/4a", port))
	if code != 0 || out != "hello from /4a" {
		t.Fatalf("curl --socks4a with a name: exit %d, body %q", code, out)
	}

	// SOCKS4 cannot authenticate, so it is refused when Auth is set.
	ts = start(t, &socks.Server{Dial: loopbackDial, SOCKS4: true, Auth: socks.StaticAuth("u", "p")})
	if out, code := porttest.Curl(t, "--socks4a", ts.Addr.String(), fmt.Sprintf("http://localhost:%d/", port)); code == 0 {
		t.Fatalf("SOCKS4 with Auth set: exit 0, body %q", out)
	}
	if err := ts.Result(t); !errors.Is(err, socks.ErrAuthFailed) {
		t.Fatalf("SOCKS4 with Auth set: %v, want ErrAuthFailed", err)
	}
	// And not accepted at all unless enabled.
	ts = start(t, &socks.Server{Dial: loopbackDial})
	if out, code := porttest.Curl(t, "--socks4", ts.Addr.String(), fmt.Sprintf("http://127.0.0.1:%d/", port)); code == 0 {
		t.Fatalf("SOCKS4 not enabled: exit 0, body %q", out)
	}
	if err := ts.Result(t); !errors.Is(err, socks.ErrNotSupported) {
		t.Fatalf("SOCKS4 not enabled: %v, want ErrNotSupported", err)
	}
}

func TestCurlDefaultPolicyDeniesLoopback(t *testing.T) {
	ws := webServer(t)
	port := ws.Listener.Addr().(*net.TCPAddr).Port
	ts := start(t, &socks.Server{}) // nil Dial: the zero acl.Policy
	for _, host := range []string{"127.0.0.1", "localhost"} {
		out, code := porttest.Curl(t, "--socks5-hostname", ts.Addr.String(), fmt.Sprintf("http://%s:%d/", host, port))
		if code != 97 || out != "" { // 97: CURLE_PROXY
			t.Fatalf("%s through the default policy: exit %d, body %q", host, code, out)
		}
		err := ts.Result(t)
		var de *acl.DeniedError
		if !errors.As(err, &de) || !errors.Is(err, acl.ErrDenied) {
			t.Fatalf("%s: handshake error %v, want an *acl.DeniedError", host, err)
		}
		if !de.Addr.IsLoopback() {
			t.Errorf("%s: denied address %s, want a loopback one", host, de.Addr)
		}
	}
}

// dialSOCKS5 connects to the server and negotiates method 0 or 2.
func dialSOCKS5(t *testing.T, addr netip.AddrPort, user, pass string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(hangGuard))
	if user == "" {
		c.Write([]byte{5, 1, 0})
	} else {
		c.Write([]byte{5, 1, 2})
	}
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatalf("method reply: %v", err)
	}
	if user != "" {
		if b != [2]byte{5, 2} {
			t.Fatalf("method reply % x, want 05 02", b)
		}
		msg := append([]byte{1, byte(len(user))}, user...)
		msg = append(append(msg, byte(len(pass))), pass...)
		c.Write(msg)
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatalf("auth reply: %v", err)
		}
		if b != [2]byte{1, 0} {
			t.Fatalf("auth reply % x, want 01 00", b)
		}
	} else if b != [2]byte{5, 0} {
		t.Fatalf("method reply % x, want 05 00", b)
	}
	return c
}

// request sends a SOCKS5 request for an IP destination and returns the
// reply code and bound address.
func request(t *testing.T, c net.Conn, cmd byte, dst netip.AddrPort) (byte, netip.AddrPort) {
	t.Helper()
	msg := []byte{5, cmd, 0}
	if dst.Addr().Is4() {
		a := dst.Addr().As4()
		msg = append(append(msg, 1), a[:]...)
	} else {
		a := dst.Addr().As16()
		msg = append(append(msg, 4), a[:]...)
	}
	c.Write(binary.BigEndian.AppendUint16(msg, dst.Port()))
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatalf("reply: %v", err)
	}
	n := 4
	if h[3] == 4 {
		n = 16
	}
	rest := make([]byte, n+2)
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatalf("reply address: %v", err)
	}
	a, _ := netip.AddrFromSlice(rest[:n])
	return h[1], netip.AddrPortFrom(a, binary.BigEndian.Uint16(rest[n:]))
}

func TestReplyCodes(t *testing.T) {
	// A port that refuses: bind one and close it.
	l, refused := porttest.ListenTCP(t)
	l.Close()
	up, upAddr := porttest.ListenTCP(t)
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("upstream"))
			c.Close()
		}
	}()
	ts := start(t, &socks.Server{Dial: loopbackDial})
	deny := start(t, &socks.Server{})
	for _, tc := range []struct {
		name string
		ts   *porttest.ProxyServer
		cmd  byte
		dst  netip.AddrPort
		rep  byte
		err  error
	}{
		{"connect", ts, 1, upAddr, 0x00, nil},
		{"refused", ts, 1, refused, 0x05, nil},
		{"denied", deny, 1, upAddr, 0x02, acl.ErrDenied},
		{"denied IPv4-mapped", deny, 1, netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), upAddr.Port()), 0x02, acl.ErrDenied},
		{"bind", ts, 2, upAddr, 0x07, socks.ErrNotSupported},
		{"udp not enabled", ts, 3, netip.AddrPortFrom(netip.IPv4Unspecified(), 0), 0x07, socks.ErrNotSupported},
		{"unknown command", ts, 9, upAddr, 0x07, socks.ErrNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialSOCKS5(t, tc.ts.Addr, "", "")
			rep, bnd := request(t, c, tc.cmd, tc.dst)
			if rep != tc.rep {
				t.Fatalf("reply 0x%02x, want 0x%02x", rep, tc.rep)
			}
			err := tc.ts.Result(t)
			if tc.rep == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !bnd.Addr().IsLoopback() || bnd.Port() == 0 {
					t.Errorf("BND %s, want the upstream connection's loopback address", bnd)
				}
				b, _ := io.ReadAll(c)
				if string(b) != "upstream" {
					t.Errorf("relayed %q", b)
				}
				return
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("handshake error %v, want %v", err, tc.err)
			}
			if err == nil {
				t.Fatal("handshake succeeded")
			}
		})
	}
}

func TestSlowloris(t *testing.T) {
	ts := start(t, &socks.Server{Dial: loopbackDial, HandshakeTimeout: 300 * time.Millisecond})
	c := ts.Dial(t)
	// One byte every 100ms: each arrives well within any per-read
	// timeout, but the handshake as a whole must not outlive 300ms.
	go porttest.Trickle(c, []byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80}, 100*time.Millisecond)
	if err := ts.Result(t); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("slow client: %v, want a deadline error", err)
	}
	c.SetReadDeadline(time.Now().Add(hangGuard))
	for {
		if _, err := c.Read(make([]byte, 16)); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscallECONNRESET) {
				t.Fatalf("after the deadline the connection should be closed: %v", err)
			}
			break
		}
	}
}

func TestContextCancelsHandshake(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := (&socks.Server{}).Handshake(ctx, a)
		done <- err
	}()
	b.Write([]byte{5})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled handshake: %v, want context.Canceled in the chain", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("cancel did not stop the handshake")
	}
}

func TestPipeConnectDomain(t *testing.T) {
	// The domain name reaches Dial unresolved; the tunnel carries it.
	d := porttest.NewPipeDialer(t)
	s := &socks.Server{Dial: d.Dial}
	b, wait := porttest.PipeHandshake(t, s.Handshake)
	b.Write([]byte{5, 2, 2, 0})
	var m [2]byte
	io.ReadFull(b, m[:])
	if m != [2]byte{5, 0} {
		t.Fatalf("method % x", m)
	}
	b.Write(append(append([]byte{5, 1, 0, 3, 11}, "example.com"...), 1, 187))
	rep := make([]byte, 10)
	io.ReadFull(b, rep)
	if rep[1] != 0 {
		t.Fatalf("reply % x", rep)
	}
	tun, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.Dialed() != "tcp example.com:443" || tun.Target != "example.com:443" || tun.Version != 5 || tun.Upstream != d.Near {
		t.Fatalf("dial %q, tunnel %+v", d.Dialed(), tun)
	}
}
