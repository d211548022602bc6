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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
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

// logField returns the value of key=value in a text log line.
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// logLines returns the log lines with msg="msg".
func logLines(logs *syncBuf, msg string) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="`+msg+`"`) || strings.Contains(l, "msg="+msg+" ") {
			out = append(out, l)
		}
	}
	return out
}

// TestHTTPProxyLogsForwardedBytes: curl -x fetches a body of a known
// size through an HTTP proxy rule, and uploads one; each request is
// logged with its upstream and bytes each way, and the connection's
// "conn end" line sums them (it said upstream="" up=0 down=0).
func TestHTTPProxyLogsForwardedBytes(t *testing.T) {
	const size = 1<<20 + 3
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
			return
		}
		w.Write(make([]byte, size))
	}))
	defer ws.Close()
	upstream := ws.Listener.Addr().String()
	s, _, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "hp", Type: mapper.HTTP, Listen: testListen,
		AllowDest: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}); err != nil {
		t.Fatal(err)
	}
	proxy := "http://" + s.Addrs("hp")[0].String()
	within := func(what, v string, n int64) {
		t.Helper()
		got, err := strconv.ParseInt(v, 10, 64)
		if err != nil || got < n || got > n+4096 {
			t.Errorf("%s = %q, want %d plus headers", what, v, n)
		}
	}

	out, code := porttest.Curl(t, "-x", proxy, "-o", "/dev/null", "-w", "%{size_download}", ws.URL+"/big")
	if code != 0 || out != strconv.Itoa(size) {
		t.Fatalf("curl download: exit %d, %q", code, out)
	}
	porttest.WaitFor(t, "the conn end line", func() bool { return len(logLines(logs, "conn end")) == 1 })
	req, end := logLines(logs, "http request"), logLines(logs, "conn end")[0]
	if len(req) != 1 || logField(req[0], "upstream") != upstream || logField(req[0], "status") != "200" {
		t.Fatalf("request lines %q, want one for %s with status 200", req, upstream)
	}
	within("download request down", logField(req[0], "down"), size)
	within("download conn end down", logField(end, "down"), size)
	if logField(end, "upstream") != upstream || logField(end, "requests") != "1" {
		t.Errorf("conn end %q, want upstream=%s requests=1", end, upstream)
	}

	const upSize = 200000
	file := filepath.Join(t.TempDir(), "up")
	if err := os.WriteFile(file, make([]byte, upSize), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = porttest.Curl(t, "-x", proxy, "--data-binary", "@"+file, ws.URL+"/up")
	if code != 0 || out != strconv.Itoa(upSize) {
		t.Fatalf("curl upload: exit %d, %q", code, out)
	}
	porttest.WaitFor(t, "the second conn end line", func() bool { return len(logLines(logs, "conn end")) == 2 })
	within("upload request up", logField(logLines(logs, "http request")[1], "up"), upSize)
	within("upload conn end up", logField(logLines(logs, "conn end")[1], "up"), upSize)
}
