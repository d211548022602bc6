package mapper_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// destRecorder is a recorder that also follows destination health.
type destRecorder struct {
	*recorder
	dmu  sync.Mutex
	up   map[string]bool // rule/dest → up
	gone map[string]bool
}

func (r *destRecorder) DestinationUp(rule, dest string, up bool) {
	r.dmu.Lock()
	r.up[rule+"/"+dest] = up
	r.dmu.Unlock()
}

func (r *destRecorder) DestinationsGone(rule string) {
	r.dmu.Lock()
	r.gone[rule] = true
	r.dmu.Unlock()
}

func (r *destRecorder) isUp(rule, dest string) (up, known bool) {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	up, known = r.up[rule+"/"+dest]
	return up, known
}

// checkTimeout is the check timeout of the tests: long, so that a
// loaded machine does not fail a check of a live destination (the
// dead ones refuse, or close, at once).
const checkTimeout = 10 * time.Second

func newHealthServer(t *testing.T) (*mapper.Server, *destRecorder, *syncBuf) {
	t.Helper()
	rec := &destRecorder{recorder: newRecorder(), up: map[string]bool{}, gone: map[string]bool{}}
	logs := &syncBuf{}
	s := mapper.New(&mapper.Config{Observer: rec, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	t.Cleanup(func() { s.Close() })
	return s, rec, logs
}

// backend is a real HTTP server on loopback that names itself in every
// answer, answers status (200 unless set), and can be stopped and
// started again on its port.
type backend struct {
	t      *testing.T
	name   string
	addr   string
	status atomic.Int32
	mu     sync.Mutex
	srv    *http.Server
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{t: t, name: name}
	b.status.Store(200)
	l, ap := porttest.ListenTCP(t)
	b.addr = ap.String()
	b.serve(l)
	t.Cleanup(b.stop)
	return b
}

func (b *backend) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(b.status.Load()))
		fmt.Fprint(w, b.name)
	})}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go srv.Serve(l)
}

func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

func (b *backend) start() {
	b.t.Helper()
	l, err := net.Listen("tcp", b.addr)
	if err != nil {
		b.t.Fatalf("backend %s: listen again on %s: %v", b.name, b.addr, err)
	}
	b.serve(l)
}

// get makes one request through addr on a new connection and returns
// the status and body.
func get(t *testing.T, addr string) (int, string, error) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// spread makes n requests through addr and counts the answers by body;
// a failed request fails the test.
func spread(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := range n {
		st, body, err := get(t, addr)
		if err != nil || st != 200 {
			t.Fatalf("request %d through the mapping: status %d, %v", i, st, err)
		}
		got[body]++
	}
	return got
}

func TestHealthCheckHTTPTakesOutAndBringsBack(t *testing.T) {
	a, b := newBackend(t, "A"), newBackend(t, "B")
	s, rec, logs := newHealthServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "web", Type: mapper.TCP, Listen: testListen, To: []string{a.addr, b.addr},
		Check: mapper.CheckHTTP, CheckInterval: 50 * time.Millisecond, CheckTimeout: checkTimeout, Rise: 2, Fall: 2, CheckPath: "/health"}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("web")[0].String()
	if got := spread(t, addr, 10); got["A"] == 0 || got["B"] == 0 {
		t.Fatalf("answers %v, want both backends", got)
	}

	b.stop()
	porttest.WaitFor(t, "B marked down", func() bool { up, _ := rec.isUp("web", b.addr); return !up })
	if got := spread(t, addr, 20); got["B"] != 0 || got["A"] != 20 {
		t.Fatalf("with B down: answers %v, want all 20 from A", got)
	}
	b.start()
	porttest.WaitFor(t, "B back up", func() bool { up, _ := rec.isUp("web", b.addr); return up })
	if got := spread(t, addr, 10); got["B"] == 0 {
		t.Fatalf("with B back: answers %v, want B among them", got)
	}

	// A answering 500 is down for an http check, though it accepts.
	a.status.Store(500)
	porttest.WaitFor(t, "A (status 500) marked down", func() bool { up, _ := rec.isUp("web", a.addr); return !up })
	if got := spread(t, addr, 10); got["B"] != 10 {
		t.Fatalf("with A answering 500: answers %v, want all from B", got)
	}

	// Every destination down: 503 at once, counted as a refusal.
	b.stop()
	porttest.WaitFor(t, "B marked down again", func() bool { up, _ := rec.isUp("web", b.addr); return !up })
	st, body, err := get(t, addr)
	if err != nil || st != http.StatusServiceUnavailable {
		t.Fatalf("all down: status %d, %v; want 503", st, err)
	}
	if !strings.Contains(body, "down") {
		t.Errorf("503 body %q does not say why", body)
	}
	rec.waitRefused(t, "web/"+mapper.RefuseAllDown)

	// One line per change, however many checks failed in between.
	text := logs.String()
	if n := strings.Count(text, `msg="destination down" rule=web dest=`+b.addr); n != 2 {
		t.Errorf("%d down lines for B, want 2 (stopped twice):\n%s", n, text)
	}
	if n := strings.Count(text, `msg="destination up again" rule=web dest=`+b.addr); n != 1 {
		t.Errorf("%d up lines for B, want 1:\n%s", n, text)
	}
	if !strings.Contains(text, "unexpected status 500 (want 200-399)") {
		t.Errorf("A's down line does not give the status:\n%s", text)
	}
	if err := s.Apply(nil); err != nil {
		t.Fatal(err)
	}
	rec.dmu.Lock()
	gone := rec.gone["web"]
	rec.dmu.Unlock()
	if !gone {
		t.Error("a stopped rule's destinations were not removed from the observer")
	}
}

func TestHealthCheckAllDownTCPResets(t *testing.T) {
	dead, deadAddr := porttest.ListenTCP(t)
	dead.Close()
	s, rec, _ := newHealthServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "t", Type: mapper.TCP, Listen: testListen, To: []string{deadAddr.String()},
		Check: mapper.CheckTCP, CheckInterval: 50 * time.Millisecond, CheckTimeout: checkTimeout}}); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "the destination marked down", func() bool { up, _ := rec.isUp("t", deadAddr.String()); return !up })
	// The reset may come before the dial returns, or after.
	c, err := net.Dial("tcp", s.Addrs("t")[0].String())
	if err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second)) // bounds a hang; the reset comes first
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read through a mapping with every destination down = %v, want a reset", err)
	}
	rec.waitRefused(t, "t/"+mapper.RefuseAllDown)
}

func TestHealthPassiveFailureTakesOut(t *testing.T) {
	l, good := porttest.ListenTCP(t)
	serveEcho(l)
	dead, deadAddr := porttest.ListenTCP(t)
	dead.Close()
	s, rec, logs := newHealthServer(t)
	// Checks so rare that only the clients' dials can find the dead one.
	if err := s.Apply([]mapper.Rule{{Name: "p", Type: mapper.TCP, Listen: testListen, To: []string{good.String(), deadAddr.String()},
		Check: mapper.CheckTCP, CheckInterval: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		c, err := net.Dial("tcp", s.Addrs("p")[0].String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("no echo: %v", err)
		}
		c.Close()
	}
	if up, _ := rec.isUp("p", deadAddr.String()); up {
		t.Error("a destination whose dial failed is still up")
	}
	if up, _ := rec.isUp("p", good.String()); !up {
		t.Error("the good destination is not up")
	}
	if n := strings.Count(logs.String(), `msg="destination down" rule=p dest=`+deadAddr.String()+" found_by=\"a connection\""); n != 1 {
		t.Errorf("%d passive down lines, want 1:\n%s", n, logs)
	}
}

var opensslServers atomic.Int32

// opensslServer starts openssl s_server -www on a free loopback port
// with a self-signed certificate for name that openssl req makes, and
// returns its address and the certificate file.
func opensslServer(t *testing.T, name string, extra ...string) (addr, certFile string) {
	t.Helper()
	openssl := porttest.LookTool(t, "openssl", "openssl")
	dir := t.TempDir()
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-days", "2", "-subj", "/CN="+name, "-addext", "subjectAltName=DNS:"+name,
		"-keyout", keyFile, "-out", certFile).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	// An address of its own, so that two servers started one after the
	// other cannot both be given one port that was free.
	ap := porttest.FreePorts(t, 1)[0]
	addr = fmt.Sprintf("127.66.0.%d:%d", 1+opensslServers.Add(1)%250, ap)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, openssl, append([]string{"s_server", "-accept", addr, "-cert", certFile, "-key", keyFile, "-quiet"}, extra...)...)
	logs := &syncBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	porttest.WaitFor(t, "openssl s_server on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, certFile
}

func TestHealthCheckTLS(t *testing.T) {
	tlsAddr, _ := opensslServer(t, "a.test", "-www")
	l, plain := porttest.ListenTCP(t) // accepts, but answers a ClientHello with a close
	var plainChecks atomic.Int32
	porttest.Serve(l, func(c net.Conn) {
		plainChecks.Add(1)
		c.Read(make([]byte, 512))
		c.Close()
	})
	s, rec, logs := newHealthServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "tls", Type: mapper.TCP, Listen: testListen, To: []string{tlsAddr, plain.String()},
		Check: mapper.CheckTLS, CheckInterval: 50 * time.Millisecond, CheckTimeout: checkTimeout, Rise: 1, Fall: 1}}); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "the plain destination marked down", func() bool { up, _ := rec.isUp("tls", plain.String()); return !up })
	// Several rounds of checks later (the plain one counts its own; the
	// two are checked in turn), s_server is still up: with fall 1, one
	// failed handshake would have taken it out.
	porttest.WaitFor(t, "four checks of the plain destination", func() bool { return plainChecks.Load() >= 4 })
	if up, _ := rec.isUp("tls", tlsAddr); !up {
		t.Errorf("openssl s_server failed the tls check:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "tls handshake") {
		t.Errorf("the plain destination's down line does not say the handshake failed:\n%s", logs)
	}
}
