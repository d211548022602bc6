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
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/httpproxy"
	"github.com/portkit/ports/internal/porttest"
)

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestFanoutHelper is the helper process of TestFanoutBoundsUpstreams:
// web servers on many loopback ports, in a process of their own so that
// their listening sockets do not count in the proxy's file descriptors.
func TestFanoutHelper(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HTTPPROXY_FANOUT_HELPER"))
	if n == 0 {
		t.Skip("helper process of TestFanoutBoundsUpstreams")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	var out []string
	for range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go http.Serve(l, h)
		out = append(out, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(out, " "))
	io.Copy(io.Discard, os.Stdin) // until the test ends
}

// TestFanoutBoundsUpstreams: one client connection sends absolute-URI
// requests to 300 destinations (web servers in a helper process); the
// proxy keeps a few idle upstream connections for it, not one per
// destination, so the process holds at most 80 descriptors throughout
// (it held 311 with a pool per destination).
func TestFanoutBoundsUpstreams(t *testing.T) {
	const n = 300
	cmd := exec.Command(os.Args[0], "-test.run=^TestFanoutHelper$", "-test.v=false")
	cmd.Env = append(os.Environ(), "HTTPPROXY_FANOUT_HELPER="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	line, err := bufio.NewReader(outp).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	portList := strings.Fields(line)
	if len(portList) != n {
		t.Fatalf("helper gave %d ports, want %d", len(portList), n)
	}

	var all ports.Set
	all.Add(ports.ProtoTCP, ports.Range{First: 1025, Last: 65535})
	u := &httpproxy.Upstreams{}
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: all, Upstreams: u})
	c := ts.Dial(t)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(c)
	maxFDs, maxUp := 0, 0
	for i, p := range portList {
		fmt.Fprintf(c, "GET http://127.0.0.1:%s/%d HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n", p, i, p)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %s %q", i, resp.Status, b)
		}
		maxFDs = max(maxFDs, countFDs(t))
		maxUp = max(maxUp, u.Open())
	}
	t.Logf("%d destinations over one client connection: at most %d descriptors, %d upstream connections", n, maxFDs, maxUp)
	if maxFDs > 80 {
		t.Errorf("the process held %d descriptors, want at most 80", maxFDs)
	}
	// The idle ones, the one in use, and the previous one while the
	// transport puts it back (and closes the least recently used).
	if maxUp > 2+httpproxy.DefaultMaxIdleUpstreams {
		t.Errorf("%d upstream connections open at once, want at most %d", maxUp, 2+httpproxy.DefaultMaxIdleUpstreams)
	}
	c.Close()
	if err := ts.Result(t); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "upstream connections closed", func() bool { return u.Open() == 0 })
}

// getOn sends one GET on c and returns the status code.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader, url string) int {
	t.Helper()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", url)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestUpstreamsLimitClosesIdleFirst: with Upstreams.Max 2 shared by
// every client, a client's idle upstream connections are closed to make
// room for another client; when both places are in use by requests in
// progress, a third request is refused with 503, and CONNECT counts too.
func TestUpstreamsLimitClosesIdleFirst(t *testing.T) {
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer fast.Close()
	fast2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer fast2.Close()
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "slow")
	}))
	defer slow.Close()
	defer close(release)

	u := &httpproxy.Upstreams{Max: 2}
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(fast), portOf(fast2), portOf(slow)),
		ConnectPorts: portSet(portOf(fast)), Upstreams: u})

	a := ts.Dial(t)
	a.SetDeadline(time.Now().Add(hangGuard))
	ab := bufio.NewReader(a)
	getOn(t, a, ab, fast.URL+"/1")
	getOn(t, a, ab, fast2.URL+"/2")
	if n := u.Open(); n != 2 {
		t.Fatalf("client A keeps %d upstream connections, want 2 idle", n)
	}
	b := ts.Dial(t)
	b.SetDeadline(time.Now().Add(hangGuard))
	bb := bufio.NewReader(b)
	if code := getOn(t, b, bb, fast.URL+"/3"); code != 200 {
		t.Fatalf("client B with A's upstreams idle: %d, want 200 (A's idle closed)", code)
	}
	if n := u.Open(); n > 2 {
		t.Fatalf("%d upstream connections, limit 2", n)
	}

	// A and B each wait on the slow server: both places in use.
	for _, c := range []net.Conn{a, b} {
		fmt.Fprintf(c, "GET %s/slow HTTP/1.1\r\nHost: x\r\n\r\n", slow.URL)
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(hangGuard):
			t.Fatal("the slow requests did not reach the server")
		}
	}
	if n := u.Open(); n != 2 {
		t.Fatalf("%d upstream connections with two requests in progress, want 2", n)
	}
	c := ts.Dial(t)
	c.SetDeadline(time.Now().Add(hangGuard))
	cb := bufio.NewReader(c)
	if code := getOn(t, c, cb, fast.URL+"/4"); code != 503 {
		t.Fatalf("third client with both places in use: %d, want 503", code)
	}
	if err := ts.Result(t); !errors.Is(err, httpproxy.ErrUpstreamsFull) {
		t.Fatalf("Serve: %v, want ErrUpstreamsFull", err)
	}
	c2 := ts.Dial(t)
	c2.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(c2, "CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\n", fast.Listener.Addr())
	line, _ := bufio.NewReader(c2).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 503") {
		t.Fatalf("CONNECT with both places in use: %q, want 503", line)
	}
	if err := ts.Result(t); !errors.Is(err, httpproxy.ErrUpstreamsFull) {
		t.Fatalf("Serve: %v, want ErrUpstreamsFull", err)
	}
}

// bodyServer is a web server whose handler reads the whole request body
// and answers with its length.
func bodyServer(t *testing.T) *httptest.Server {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d", len(b))
	}))
	t.Cleanup(ws.Close)
	return ws
}

// TestStalledRequestBodyIdleTimeout: a POST whose body stops after 10 of
// its 1000 bytes is ended by the idle timeout (408) instead of holding
// the client and upstream sockets for ever.
func TestStalledRequestBodyIdleTimeout(t *testing.T) {
	ws := bodyServer(t)
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws)), IdleTimeout: 300 * time.Millisecond})
	c := ts.Dial(t)
	c.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(c, "POST %s/up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789", ws.URL)
	if err := ts.Result(t); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled body: %v, want a deadline error", err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 408") {
		t.Fatalf("stalled body got %q, want a 408", line)
	}
}

// TestSlowUploadIsNotIdle: a body that trickles in, a byte every 50 ms,
// for longer than the idle timeout is not idle: it goes through.
func TestSlowUploadIsNotIdle(t *testing.T) {
	ws := bodyServer(t)
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws)), IdleTimeout: time.Second})
	c := ts.Dial(t)
	c.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(c, "POST %s/up HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n", ws.URL)
	porttest.Trickle(c, []byte(strings.Repeat("x", 40)), 50*time.Millisecond)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "40" {
		t.Fatalf("slow upload: %s %q, want 200 \"40\"", resp.Status, b)
	}
}

// TestStalledResponseIdleTimeout: an upstream that stops half-way
// through its body, or never answers, is given up after the idle
// timeout: the client's connection ends (504 when nothing was sent yet).
func TestStalledResponseIdleTimeout(t *testing.T) {
	stop := make(chan struct{})
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/half" {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "0123456789")
			w.(http.Flusher).Flush()
		}
		<-stop
	}))
	defer ws.Close()
	defer close(stop) // before ws.Close, which waits for the handlers
	ts := start(t, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws)), IdleTimeout: 300 * time.Millisecond})

	c := ts.Dial(t)
	c.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(c, "GET %s/half HTTP/1.1\r\nHost: x\r\n\r\n", ws.URL)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if string(b) != "0123456789" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("half a body: %q, %v; want the 10 bytes then the connection ended", b, err)
	}
	if err := ts.Result(t); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled response body: %v, want a deadline error", err)
	}

	c = ts.Dial(t)
	c.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(c, "GET %s/never HTTP/1.1\r\nHost: x\r\n\r\n", ws.URL)
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 504") {
		t.Fatalf("no answer got %q, want a 504", line)
	}
	if err := ts.Result(t); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("no answer: %v, want a deadline error", err)
	}
}

// TestCancelEndsStalledBody: the caller's context ends a request whose
// body stalled at once, not after the (long) idle timeout, although body
// reads renew their own deadlines.
func TestCancelEndsStalledBody(t *testing.T) {
	arrived := make(chan struct{}, 1)
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		io.ReadAll(r.Body)
	}))
	defer ws.Close()
	s := &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws)), IdleTimeout: time.Hour}
	l, addr := porttest.ListenTCP(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = s.Serve(ctx, c)
		done <- err
	}()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789", ws.URL)
	select {
	case <-arrived:
	case <-time.After(hangGuard):
		t.Fatal("the request did not reach the server")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Serve returned nil for a canceled request")
		}
	case <-time.After(hangGuard):
		t.Fatal("Serve still waits for the stalled body after its context ended")
	}
}
