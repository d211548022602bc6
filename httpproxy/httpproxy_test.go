package httpproxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/httpproxy"
	"github.com/portkit/ports/internal/porttest"
)

var loopbackDial = (&acl.Dialer{Policy: &acl.Policy{Allow: []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}).DialContext

const hangGuard = 20 * time.Second

// start runs s on a loopback listener with a plain relay for tunnels and
// reports every Serve result.
func start(t testing.TB, s *httpproxy.Server) *porttest.ProxyServer {
	t.Helper()
	l, _ := porttest.ListenTCP(t)
	return porttest.ServeProxy(t, l, func(ctx context.Context, c net.Conn) (net.Conn, error) {
		tun, err := s.Serve(ctx, c)
		if err != nil || tun == nil {
			return nil, err
		}
		if _, err := tun.Upstream.Write(tun.Pending); err != nil {
			tun.Upstream.Close()
			return nil, nil
		}
		return tun.Upstream, nil
	})
}

// seen records the headers of the requests a test web server received.
type seen struct {
	mu  sync.Mutex
	hdr []http.Header
}

func (s *seen) last() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hdr) == 0 {
		return nil
	}
	return s.hdr[len(s.hdr)-1]
}

func handler(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		h := r.Header.Clone()
		h.Set("X-Got-Host", r.Host)
		s.hdr = append(s.hdr, h)
		s.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "upstream-only")
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})
}

func portSet(ps ...int) ports.Set {
	var s ports.Set
	for _, p := range ps {
		s.Add(ports.ProtoTCP, ports.Range{First: ports.Port(p), Last: ports.Port(p)})
	}
	return s
}

func portOf(ws *httptest.Server) int { return ws.Listener.Addr().(*net.TCPAddr).Port }

func TestCurlForward(t *testing.T) {
	var sn seen
	ws := httptest.NewServer(handler(&sn))
	defer ws.Close()
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws)),
		Auth: func(u, p string) bool { return u == "carol" && p == "pw" }})
	proxyURL := "http://" + ts.Addr.String()
	u1 := ws.URL + "/one"
	u2 := ws.URL + "/two"
	// Two URLs in one curl: the second goes over the kept-alive client
	// connection. The Connection-listed X-Secret must not reach the
	// upstream, nor the proxy credentials; the response's Connection-listed
	// X-Hop must not reach the client.
	out, code := porttest.Curl(t, "-x", proxyURL, "-U", "carol:pw", "-H", "Connection: X-Secret", "-H", "X-Secret: 1",
		"-H", "X-Kept: yes", "-D", "-", u1, u2)
	if code != 0 || !strings.Contains(out, "GET /one ") || !strings.Contains(out, "GET /two ") {
		t.Fatalf("curl -x: exit %d, output %q", code, out)
	}
	if strings.Contains(out, "X-Hop") {
		t.Errorf("hop-by-hop response header reached the client:\n%s", out)
	}
	if !strings.Contains(out, "Via: 1.1 ports") {
		t.Errorf("no Via in the response:\n%s", out)
	}
	if err := ts.Result(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	h := sn.last()
	if h.Get("X-Secret") != "" || h.Get("Proxy-Authorization") != "" || h.Get("Proxy-Connection") != "" {
		t.Errorf("hop-by-hop headers reached the upstream: %v", h)
	}
	if h.Get("X-Kept") != "yes" || h.Get("Via") != "1.1 ports" || h.Get("X-Got-Host") != ws.Listener.Addr().String() {
		t.Errorf("upstream headers %v", h)
	}
	if n := ts.Queued(); n != 0 {
		t.Errorf("%d more client connections, want the two requests on one", n)
	}

	// POST with a body.
	out, code = porttest.Curl(t, "-x", proxyURL, "-U", "carol:pw", "-d", "payload=1", ws.URL+"/post")
	if code != 0 || out != "POST /post payload=1" {
		t.Fatalf("POST: exit %d, %q", code, out)
	}
	ts.Result(t)

	// A bad password: 407 with Proxy-Authenticate.
	out, _ = porttest.Curl(t, "-x", proxyURL, "-U", "carol:bad", "-D", "-", "-o", "/dev/null", u1)
	if !strings.HasPrefix(out, "HTTP/1.1 407") || !strings.Contains(out, "Proxy-Authenticate: Basic") {
		t.Fatalf("bad password: %q", out)
	}
	if err := ts.Result(t); !errors.Is(err, httpproxy.ErrAuthFailed) {
		t.Fatalf("bad password: %v", err)
	}
}

func statusOf(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := porttest.Curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
	return out
}

func TestCurlRefusals(t *testing.T) {
	var sn seen
	ws := httptest.NewServer(handler(&sn))
	defer ws.Close()
	l, refused := porttest.ListenTCP(t)
	l.Close()

	// The default policy denies loopback destinations.
	def := start(t, &httpproxy.Server{ForwardPorts: portSet(portOf(ws))})
	out, _ := porttest.Curl(t, "-x", "http://"+def.Addr.String(), "-D", "-", ws.URL+"/")
	if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "destination not allowed") {
		t.Fatalf("default policy: %q", out)
	}
	if err := def.Result(t); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("default policy: %v, want acl.ErrDenied", err)
	}

	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws), int(refused.Port()))})
	p := "http://" + ts.Addr.String()
	for _, tc := range []struct {
		name string
		args []string
		code string
		err  error
	}{
		{"refused upstream", []string{"-x", p, "http://" + refused.String() + "/"}, "502", syscall.ECONNREFUSED},
		{"port not allowed", []string{"-x", p, "http://127.0.0.1:1/"}, "403", httpproxy.ErrPortNotAllowed},
		{"CONNECT port not allowed", []string{"-w", "%{http_connect}", "-p", "-x", p, "http://" + ws.Listener.Addr().String() + "/"}, "403", httpproxy.ErrPortNotAllowed},
		{"origin-form", []string{"--request-target", "/x", "-x", p, ws.URL + "/"}, "400", httpproxy.ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusOf(t, tc.args...); got != tc.code {
				t.Fatalf("status %s, want %s", got, tc.code)
			}
			if err := ts.Result(t); !errors.Is(err, tc.err) {
				t.Fatalf("Serve: %v, want %v", err, tc.err)
			}
		})
	}
}

func TestCurlConnectTLS(t *testing.T) {
	ws := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls %s", r.URL.Path)
	}))
	defer ws.Close()
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ConnectPorts: portSet(portOf(ws)),
		Auth: func(u, p string) bool { return u == "dan" && p == "pw" }})
	out, code := porttest.Curl(t, "-k", "-p", "-x", "http://"+ts.Addr.String(), "-U", "dan:pw", ws.URL+"/secure")
	if code != 0 || out != "tls /secure" {
		t.Fatalf("curl -p -x https: exit %d, %q", code, out)
	}
	if err := ts.Result(t); err != nil {
		t.Fatal(err)
	}
	// CONNECT with a bad password: curl reports the 407 (exit 56).
	out, code = porttest.Curl(t, "-k", "-p", "-x", "http://"+ts.Addr.String(), "-U", "dan:no", ws.URL+"/secure")
	if code != 56 || out != "" {
		t.Fatalf("bad password: exit %d, %q", code, out)
	}
	if err := ts.Result(t); !errors.Is(err, httpproxy.ErrAuthFailed) {
		t.Fatal(err)
	}
	// The default ConnectPorts is 443 only.
	ts = start(t, &httpproxy.Server{Dial: loopbackDial})
	if _, code := porttest.Curl(t, "-k", "-p", "-x", "http://"+ts.Addr.String(), ws.URL+"/"); code != 56 {
		t.Fatalf("CONNECT to a port other than 443: exit %d, want 56", code)
	}
	if err := ts.Result(t); !errors.Is(err, httpproxy.ErrPortNotAllowed) {
		t.Fatal(err)
	}
}

// rawExchange sends req on a new connection to the proxy and returns the
// response status line.
func rawExchange(t *testing.T, addr netip.AddrPort, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	go io.WriteString(c, req)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestMalformedAndOversize(t *testing.T) {
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, MaxHeaderBytes: 4096})
	for _, tc := range []struct {
		name, req, status string
		err               error
	}{
		{"garbage", "HELLO\r\n\r\n", "HTTP/1.1 400 Bad Request", httpproxy.ErrBadRequest},
		{"origin-form", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "HTTP/1.1 400 Bad Request", httpproxy.ErrBadRequest},
		{"https absolute URI", "GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", "HTTP/1.1 400 Bad Request", httpproxy.ErrBadRequest},
		{"CONNECT without port", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", "HTTP/1.1 400 Bad Request", httpproxy.ErrBadRequest},
		{"header too large", "GET http://example.com/ HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 8192) + "\r\n\r\n",
			"HTTP/1.1 431 Request Header Fields Too Large", httpproxy.ErrHeaderTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawExchange(t, ts.Addr, tc.req); got != tc.status {
				t.Fatalf("status line %q, want %q", got, tc.status)
			}
			if err := ts.Result(t); !errors.Is(err, tc.err) {
				t.Fatalf("Serve: %v, want %v", err, tc.err)
			}
		})
	}
}

func TestSlowloris(t *testing.T) {
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, HandshakeTimeout: 300 * time.Millisecond})
	c := ts.Dial(t)
	go porttest.Trickle(c, []byte("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"), 100*time.Millisecond)
	if err := ts.Result(t); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("slow client: %v, want a deadline error", err)
	}
	c.SetReadDeadline(time.Now().Add(hangGuard))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 408") {
		t.Fatalf("slow client got %q, want a 408", line)
	}
}

func TestConnectPendingPipe(t *testing.T) {
	// Bytes the client sent right behind the CONNECT header come back
	// in Pending; the dial gets the target unresolved.
	d := porttest.NewPipeDialer(t)
	s := &httpproxy.Server{Dial: d.Dial}
	b, wait := porttest.PipeHandshake(t, s.Serve)
	go io.WriteString(b, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01early")
	line, err := bufio.NewReader(b).ReadString('\n')
	if err != nil || line != "HTTP/1.1 200 Connection established\r\n" {
		t.Fatalf("reply %q, %v", line, err)
	}
	tun, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.Dialed() != "tcp example.com:443" || tun.Target != "example.com:443" || string(tun.Pending) != "\x16\x03\x01early" {
		t.Fatalf("dialed %q, tunnel %+v", d.Dialed(), tun)
	}
}

func TestUpstreamClosedWithClient(t *testing.T) {
	// The upstream connection kept alive for a client is closed when
	// Serve returns: nothing outlives the client connection.
	closed := make(chan struct{}, 10)
	ws := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	ws.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	ws.Start()
	defer ws.Close()
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws))})
	if out, code := porttest.Curl(t, "-x", "http://"+ts.Addr.String(), ws.URL+"/a", ws.URL+"/b"); code != 0 || out != "okok" {
		t.Fatalf("curl: exit %d, %q", code, out)
	}
	if err := ts.Result(t); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(hangGuard):
		t.Fatal("the upstream connection is still open after the client left")
	}
	if len(closed) != 0 {
		t.Errorf("%d more upstream connections closed, want the two requests on one", len(closed))
	}
}

func TestKeepAliveIdleEndsQuietly(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer ws.Close()
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws)), HandshakeTimeout: 200 * time.Millisecond})
	c := ts.Dial(t)
	c.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(c, "GET %s/ HTTP/1.1\r\nHost: x\r\n\r\n", ws.URL)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	// Then nothing: the connection is closed without a 408 or an error.
	if err := ts.Result(t); err != nil {
		t.Fatalf("idle kept-alive client: %v, want nil", err)
	}
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after idling: %q, %v; want EOF", b, err)
	}
}

func TestDefaultForwardPorts(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer ws.Close()
	ts := start(t, &httpproxy.Server{Dial: loopbackDial}) // zero ForwardPorts: 80 and 1025-65535
	if got := statusOf(t, "-x", "http://"+ts.Addr.String(), ws.URL+"/"); got != "200" || portOf(ws) <= 1024 {
		t.Fatalf("unprivileged port %d: status %s", portOf(ws), got)
	}
	if err := ts.Result(t); err != nil {
		t.Fatal(err)
	}
	for _, port := range []string{"25", "110", "1024"} {
		if got := statusOf(t, "-x", "http://"+ts.Addr.String(), "http://127.0.0.1:"+port+"/"); got != "403" {
			t.Fatalf("port %s: status %s, want 403", port, got)
		}
		if err := ts.Result(t); !errors.Is(err, httpproxy.ErrPortNotAllowed) {
			t.Fatalf("port %s: %v", port, err)
		}
	}
}
