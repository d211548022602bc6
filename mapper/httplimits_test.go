package mapper_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/portkit/ports/mapper"
)

// upRecorder is a recorder that also follows the upstream gauge.
type upRecorder struct {
	*recorder
	mu      sync.Mutex
	n, peak int
}

func (r *upRecorder) Upstreams(rule string, d int) {
	r.mu.Lock()
	r.n += d
	r.peak = max(r.peak, r.n)
	r.mu.Unlock()
}

func (r *upRecorder) get() (n, peak int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.peak
}

// TestHTTPProxyMaxConnsCountsUpstreams: an HTTP proxy rule's max_conns
// bounds its upstream connections too, kept-alive ones included: one
// client fanning out to 10 destinations under max_conns 3 never has more
// than 3 open (the idle ones are closed to make room), and the observer's
// upstream gauge follows them back to 0.
func TestHTTPProxyMaxConnsCountsUpstreams(t *testing.T) {
	var urls []string
	for i := range 10 {
		ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, i) }))
		defer ws.Close()
		urls = append(urls, ws.URL)
	}
	rec := &upRecorder{recorder: newRecorder()}
	s := mapper.New(&mapper.Config{Observer: rec})
	defer s.Close()
	if err := s.Apply([]mapper.Rule{{Name: "hp", Type: mapper.HTTP, Listen: testListen, MaxConns: 3,
		AllowDest: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addrs("hp")[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	for round := range 2 {
		for i, u := range urls {
			fmt.Fprintf(c, "GET %s/ HTTP/1.1\r\nHost: x\r\n\r\n", u)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("round %d request %d: %v", round, i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != fmt.Sprint(i) {
				t.Fatalf("round %d request %d: %s %q", round, i, resp.Status, b)
			}
		}
	}
	if _, peak := rec.get(); peak > 3 || peak < 1 {
		t.Errorf("%d upstream connections open at once, want 1 to 3 (max_conns 3)", peak)
	}
	c.Close()
	rec.waitClosed(t, 1)
	if n, _ := rec.get(); n != 0 {
		t.Errorf("upstream gauge %d after the client left, want 0", n)
	}
}

// TestHTTPProxyStalledBodyIdleTimeout: the rule's idle_timeout reaches
// the HTTP proxy's forwarded requests: a POST whose body stops after 10
// bytes is ended (408, then the connection closes).
func TestHTTPProxyStalledBodyIdleTimeout(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.ReadAll(r.Body) }))
	defer ws.Close()
	s, _, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "hp", Type: mapper.HTTP, Listen: testListen, IdleTimeout: 300 * time.Millisecond,
		AllowDest: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addrs("hp")[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "POST %s/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789", ws.URL)
	b, err := io.ReadAll(c)
	if err != nil || !bytes.HasPrefix(b, []byte("HTTP/1.1 408")) {
		t.Fatalf("stalled body: %q, %v; want a 408 and the connection closed", b, err)
	}
}
