package mapper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// recorder is an Observer that remembers everything.
type recorder struct {
	mu       sync.Mutex
	accepted map[string]int
	closed   []mapper.Stats
	up, down int64
	refused  map[string]int // rule/reason
	failed   map[string]int
}

func newRecorder() *recorder {
	return &recorder{accepted: map[string]int{}, refused: map[string]int{}, failed: map[string]int{}}
}

func (r *recorder) Accepted(rule string) { r.mu.Lock(); r.accepted[rule]++; r.mu.Unlock() }
func (r *recorder) Transferred(rule string, up, down int64) {
	r.mu.Lock()
	r.up += up
	r.down += down
	r.mu.Unlock()
}
func (r *recorder) Closed(rule string, st mapper.Stats) {
	r.mu.Lock()
	r.closed = append(r.closed, st)
	r.mu.Unlock()
}
func (r *recorder) Refused(rule, reason string) {
	r.mu.Lock()
	r.refused[rule+"/"+reason]++
	r.mu.Unlock()
}
func (r *recorder) Failed(rule, stage string) { r.mu.Lock(); r.failed[rule+"/"+stage]++; r.mu.Unlock() }

func (r *recorder) closedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.closed)
}

func (r *recorder) waitClosed(t *testing.T, n int) []mapper.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]mapper.Stats(nil), r.closed...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections closed, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *recorder) waitRefused(t *testing.T, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		n := r.refused[key]
		r.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal %s counted; have %v", key, r.refused)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuf is a goroutine-safe log sink.
type syncBuf = porttest.LogBuffer

func newServer(t *testing.T) (*mapper.Server, *recorder, *syncBuf) {
	t.Helper()
	rec := newRecorder()
	logs := &syncBuf{}
	s := mapper.New(&mapper.Config{Observer: rec, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	t.Cleanup(func() { s.Close() })
	return s, rec, logs
}

// newEchoServer starts a loopback echo server and a Server running rule
// r to it: r.To is the echo server, an empty r.Listen is testListen. It
// returns the server, its recorder and log, and the echo server's
// address.
func newEchoServer(t *testing.T, r mapper.Rule) (*mapper.Server, *recorder, *syncBuf, string) {
	t.Helper()
	l, up := porttest.ListenTCP(t)
	serveEcho(l)
	s, rec, logs := newServer(t)
	r.To = []string{up.String()}
	if r.Listen == "" {
		r.Listen = testListen
	}
	if err := s.Apply([]mapper.Rule{r}); err != nil {
		t.Fatal(err)
	}
	return s, rec, logs, up.String()
}

// serveEcho echoes every connection of l, half-closing after EOF.
func serveEcho(l *net.TCPListener) {
	porttest.Serve(l, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
}

func TestTCPMappingEchoAndHalfClose(t *testing.T) {
	s, rec, logs, _ := newEchoServer(t, mapper.Rule{Name: "echo", Type: mapper.TCP})
	addr := s.Addrs("echo")[0]
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("0123456789abcdef"), 200000) // 3.2 MB: several chunks
	go func() {
		c.Write(msg)
		c.CloseWrite() // half-close: the echo server sees EOF through the mapping
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echoed %d bytes, want %d identical", len(got), len(msg))
	}
	st := rec.waitClosed(t, 1)[0]
	if st.Up != int64(len(msg)) || st.Down != int64(len(msg)) || st.Reason != mapper.ReasonDone {
		t.Errorf("stats = %+v, want %d bytes each way, reason done", st, len(msg))
	}
	if !strings.Contains(logs.String(), "msg=\"conn end\" rule=echo") || !strings.Contains(logs.String(), "up=3200000 down=3200000") {
		t.Errorf("no conn end log line with the bytes:\n%s", logs)
	}
}

func TestTCPMappingFailoverAndDown(t *testing.T) {
	l, good := porttest.ListenTCP(t)
	serveEcho(l)
	dead, deadAddr := porttest.ListenTCP(t)
	dead.Close() // nothing listens there now: connection refused
	s, rec, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "rr", Type: mapper.TCP, Listen: testListen,
		To: []string{deadAddr.String(), good.String()}}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("rr")[0]
	for i := range 4 {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("connection %d: no echo through the mapping (failover did not happen): %v", i, err)
		}
		c.Close()
	}
	rec.waitClosed(t, 4)
	if n := rec.failed["rr/dial"]; n != 0 {
		t.Errorf("%d dial failures reported to clients, want 0 (the good destination answers)", n)
	}
}

func TestOpenRelayRefused(t *testing.T) {
	s, _, _ := newServer(t)
	err := s.Apply([]mapper.Rule{{Name: "x", Type: mapper.TCP, Listen: "0.0.0.0:0", To: []string{"127.0.0.1:1"}}})
	var oe *mapper.OpenRelayError
	if !errors.As(err, &oe) || !errors.Is(err, mapper.ErrOpenRelay) {
		t.Fatalf("Apply = %v, want an OpenRelayError", err)
	}
	if want := `rule "x" listens on 0.0.0.0:0 but names no allow-list`; !strings.HasPrefix(err.Error(), `rule "x" listens on 0.0.0.0:0`) {
		t.Errorf("error %q, want it to start like %q", err, want)
	}
	// With an allow-list it starts (an empty allow-list denies everyone,
	// but names who may use it: nobody).
	list, _ := acl.ParseList([]string{"127.0.0.1/32"}, nil)
	if err := s.Apply([]mapper.Rule{{Name: "x", Type: mapper.TCP, Listen: "0.0.0.0:0", To: []string{"127.0.0.1:1"}, Allow: list}}); err != nil {
		t.Fatalf("with an allow-list: %v", err)
	}
}

func TestSourceNotAllowedRefused(t *testing.T) {
	l, up := porttest.ListenTCP(t)
	serveEcho(l)
	s, rec, logs := newServer(t)
	list, err := acl.ParseList([]string{"127.0.0.1/32"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply([]mapper.Rule{{Name: "acl", Type: mapper.TCP, Listen: testListen, To: []string{up.String()}, Allow: list}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("acl")[0]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("read %d bytes, %v: want the connection closed", n, err)
	}
	rec.waitRefused(t, "acl/"+mapper.RefuseSource)
	if !strings.Contains(logs.String(), "client=127.0.0.2:") || !strings.Contains(logs.String(), "reason=source") {
		t.Errorf("no refusal log line:\n%s", logs)
	}
	// 127.0.0.1 is let through.
	c2, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("ok"))
	b := make([]byte, 2)
	if _, err := io.ReadFull(c2, b); err != nil || string(b) != "ok" {
		t.Fatalf("allowed client: %q, %v", b, err)
	}
}

// TestConnectionLimits: with one connection relayed, a second one over
// the rule's limit (per source, or in all) is closed unserved and counted
// as a refusal with the limit's reason.
func TestConnectionLimits(t *testing.T) {
	for _, tc := range []struct {
		rule   mapper.Rule
		reason string
	}{
		{mapper.Rule{Name: "lim", Type: mapper.TCP, MaxConnsPerSource: 1}, mapper.RefuseMaxPerSource},
		{mapper.Rule{Name: "one", Type: mapper.TCP, MaxConns: 1}, mapper.RefuseMaxConns},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			s, rec, _, _ := newEchoServer(t, tc.rule)
			addr := s.Addrs(tc.rule.Name)[0].String()
			c1, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c1.Close()
			c1.Write([]byte("1"))
			io.ReadFull(c1, make([]byte, 1)) // c1 is relayed now
			c2, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			c2.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c2.Read(make([]byte, 1)); err == nil {
				t.Fatal("a second connection was served over the limit")
			}
			rec.waitRefused(t, tc.rule.Name+"/"+tc.reason)
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	s, rec, _, _ := newEchoServer(t, mapper.Rule{Name: "idle", Type: mapper.TCP, IdleTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", s.Addrs("idle")[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read: %v, want the mapping to close the idle connection", err)
	}
	if st := rec.waitClosed(t, 1)[0]; st.Reason != mapper.ReasonIdle {
		t.Errorf("reason %q, want idle", st.Reason)
	}
}

// TestIdleTimeoutCountsEitherWay: bytes moving one way keep the
// connection alive although the other way (a sink that never answers)
// moves none for longer than the idle timeout; once the bytes stop, the
// relay ends as idle.
func TestIdleTimeoutCountsEitherWay(t *testing.T) {
	l, up := porttest.ListenTCP(t)
	porttest.Serve(l, func(c net.Conn) { io.Copy(io.Discard, c) })
	s, rec, _ := newServer(t)
	// Generous: the test fails only if this goroutine stalls longer.
	const idle = 1500 * time.Millisecond
	if err := s.Apply([]mapper.Rule{{Name: "oneway", Type: mapper.TCP, Listen: testListen, To: []string{up.String()}, IdleTimeout: idle}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addrs("oneway")[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A byte every 20 ms for 2 idle timeouts: the downward direction
	// sees nothing all that time.
	sent := 0
	for end := time.Now().Add(2 * idle); time.Now().Before(end); sent++ {
		if _, err := c.Write([]byte{'x'}); err != nil {
			t.Fatalf("write %d: %v (the relay ended while bytes moved)", sent, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := rec.closedCount(); n != 0 {
		t.Fatalf("%d relays ended while bytes moved up", n)
	}
	st := rec.waitClosed(t, 1)[0]
	if st.Reason != mapper.ReasonIdle || st.Up != int64(sent) || st.Down != 0 {
		t.Errorf("stats %+v, want idle after %d bytes up, none down", st, sent)
	}
}

// TestRelayBulkThenSmall alternates bulk transfers (spliced) with small
// ones (read and written) on one connection: every byte arrives, in
// order, and the small round trips are answered without waiting for more.
func TestRelayBulkThenSmall(t *testing.T) {
	s, rec, _, _ := newEchoServer(t, mapper.Rule{Name: "mixed", Type: mapper.TCP})
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(s.Addrs("mixed")[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var total int64
	for round := range 3 {
		bulk := make([]byte, 1<<20+round*4099)
		for i := range bulk {
			bulk[i] = byte(i*7 + round)
		}
		errc := make(chan error, 1)
		go func() { _, err := c.Write(bulk); errc <- err }()
		got := make([]byte, len(bulk))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("round %d: bulk echo: %v", round, err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bulk) {
			t.Fatalf("round %d: bulk echo differs", round)
		}
		for i := range 5 {
			msg := []byte(fmt.Sprintf("small %d.%d", round, i))
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			back := make([]byte, len(msg))
			if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, msg) {
				t.Fatalf("round %d: small echo %q, %v; want %q", round, back, err, msg)
			}
			total += int64(len(msg))
		}
		total += int64(len(bulk))
	}
	c.CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after the half-close: %d more bytes, %v; want EOF", len(rest), err)
	}
	if st := rec.waitClosed(t, 1)[0]; st.Up != total || st.Down != total || st.Reason != mapper.ReasonDone {
		t.Errorf("stats %+v, want %d bytes each way, done", st, total)
	}
}

func TestFinTimeout(t *testing.T) {
	// An upstream that never closes its side: after the client's FIN the
	// relay waits FinTimeout, then ends.
	l, up := porttest.ListenTCP(t)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c) // reads EOF, never closes
		time.Sleep(time.Minute)
		c.Close()
	}()
	s, rec, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "fin", Type: mapper.TCP, Listen: testListen, To: []string{up.String()}, FinTimeout: 200 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(s.Addrs("fin")[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("bye"))
	c.CloseWrite()
	if st := rec.waitClosed(t, 1)[0]; st.Reason != mapper.ReasonFinTimeout || st.Up != 3 {
		t.Errorf("stats %+v, want fin-timeout after 3 bytes up", st)
	}
}

func TestRuleValidation(t *testing.T) {
	for _, tc := range []struct {
		rule mapper.Rule
		want string
	}{
		{mapper.Rule{Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"127.0.0.1:2"}}, "needs a name"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1"}, "at least one destination"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1", To: []string{"x:1"}}, "is not HOST:PORT"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "nosuchif0:80", To: []string{"x:1"}}, "not an IP address or an interface name"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"x:0"}}, "port \"0\" is not 1-65535"},
		{mapper.Rule{Name: "a", Type: mapper.HTTP, Listen: "127.0.0.1:1", To: []string{"x:1"}}, "takes its destinations from its clients"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"x:1"}, ProxyProtocol: 3}, "version 3 is not 1 or 2"},
		{mapper.Rule{Name: "a", Type: mapper.HTTP, Listen: "[::]:1"}, "names no allow-list and no auth"},
		// Address-shaped destinations that are no address: refused, not
		// left for the resolver (13.9).
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"300.1.1.1:80"}}, "300 is out of range 0-255"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"1.2.3:80"}}, "not an IPv4 address"},
		{mapper.Rule{Name: "a", Type: mapper.UDP, Listen: "127.0.0.1:1", To: []string{"[::gg]:53"}}, "not an IPv6 address"},
		// Termination with routes routes by SNI; ALPN answers clients of
		// a terminate-only rule.
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", TLSCert: "c", TLSKey: "k",
			Routes: []mapper.Route{{Host: "a.test", To: []string{"127.0.0.1:2"}}}}, "give sni routes"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"127.0.0.1:2"}, ALPN: []string{"h2"}}, "needs tls_cert"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"127.0.0.1:2"}, TLSCert: "c", TLSKey: "k",
			ToTLS: true, ALPN: []string{"h2"}}, "the destination chooses"},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"127.0.0.1:2"}, TLSCert: "c", TLSKey: "k",
			ALPN: []string{"h2", "h2"}}, `"h2" is listed twice`},
		{mapper.Rule{Name: "a", Type: mapper.TCP, Listen: "127.0.0.1:1", To: []string{"127.0.0.1:2"}, TLSCert: "c", TLSKey: "k",
			ALPN: []string{""}}, "not 1 to 255 bytes"},
	} {
		err := tc.rule.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.rule, err, tc.want)
		}
	}
}

func TestListenAddrsInterface(t *testing.T) {
	addrs, err := mapper.ListenAddrs("lo:8080")
	if err != nil {
		t.Skipf("no interface lo here: %v", err)
	}
	if !addrs[0].Addr().IsLoopback() || addrs[0].Port() != 8080 {
		t.Errorf("lo:8080 = %v, want loopback addresses with port 8080", addrs)
	}
	if _, err := mapper.ListenAddrs(":80"); err != nil {
		t.Error(err)
	}
	if got, _ := mapper.ListenAddrs("[::1]:5"); len(got) != 1 || got[0] != netip.MustParseAddrPort("[::1]:5") {
		t.Errorf("[::1]:5 = %v", got)
	}
}

// TestProxyProtocolChain sends through mapping A, which prepends a PROXY
// protocol header, to mapping B, which trusts A's address, filters on the
// original client and logs it; a header from an untrusted peer is data.
func TestProxyProtocolChain(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			l, up := porttest.ListenTCP(t)
			serveEcho(l)
			s, rec, logs := newServer(t)
			onlyDot2, _ := acl.ParseList([]string{"127.0.0.2/32"}, nil)
			if err := s.Apply([]mapper.Rule{{Name: "b", Type: mapper.TCP, Listen: testListen, To: []string{up.String()},
				Allow: onlyDot2, AcceptProxyFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}); err != nil {
				t.Fatal(err)
			}
			b := s.Addrs("b")[0]
			if err := s.Apply([]mapper.Rule{
				{Name: "b", Type: mapper.TCP, Listen: b.String(), To: []string{up.String()},
					Allow: onlyDot2, AcceptProxyFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
				{Name: "a", Type: mapper.TCP, Listen: testListen, To: []string{b.String()}, ProxyProtocol: version},
			}); err != nil {
				t.Fatal(err)
			}
			a := s.Addrs("a")[0]
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
			c, err := d.Dial("tcp", a.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("through"))
			got := make([]byte, 7)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != "through" {
				t.Fatalf("echo through a and b: %q, %v\n%s", got, err, logs)
			}
			client := c.LocalAddr().String()
			c.Close()
			rec.waitClosed(t, 2)
			if !strings.Contains(logs.String(), "rule=b client="+client) {
				t.Errorf("b did not log the original client %s:\n%s", client, logs)
			}
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		s, _, _, _ := newEchoServer(t, mapper.Rule{Name: "b", Type: mapper.TCP,
			AcceptProxyFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		c, err := net.Dial("tcp", s.Addrs("b")[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hdr := "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"
		c.Write([]byte(hdr))
		got := make([]byte, len(hdr))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != hdr {
			t.Fatalf("an untrusted peer's header was not passed on as data: %q, %v", got, err)
		}
	})
}

// TestDownDestinationComesBack: a destination marked down by a failed
// dial comes back into the rotation once it answers (found by the health
// check's dial, or by the down time running out, whichever is first).
func TestDownDestinationComesBack(t *testing.T) {
	good, goodAddr := porttest.ListenTCP(t)
	serveEcho(good)
	dead, deadAddr := porttest.ListenTCP(t)
	dead.Close()
	s, _, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "hc", Type: mapper.TCP, Listen: testListen,
		To: []string{deadAddr.String(), goodAddr.String()}, DownTime: 200 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("hc")[0].String()
	roundTrip := func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("no echo: %v\n%s", err, logs)
		}
	}
	roundTrip() // the dead destination fails over to the good one and is marked down
	revived, err := net.Listen("tcp4", deadAddr.String())
	if err != nil {
		t.Skipf("the dead port was taken meanwhile: %v", err)
	}
	defer revived.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := revived.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	// The health check dials the revived destination (one connection)
	// and marks it up; then clients reach it again in the rotation.
	deadline := time.Now().Add(10 * time.Second)
	for accepted.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the revived destination got %d connections, want health check + clients; logs:\n%s", accepted.Load(), logs)
		}
		roundTrip()
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "upstream="+deadAddr.String()) {
		t.Errorf("no client connection went to the revived destination:\n%s", logs)
	}
}

func TestListenInterfaceName(t *testing.T) {
	if _, err := net.InterfaceByName("lo"); err != nil {
		t.Skipf("no interface lo: %v", err)
	}
	s, _, _, _ := newEchoServer(t, mapper.Rule{Name: "lo", Type: mapper.TCP, Listen: "lo:0"}) // lo's addresses are loopback: no allow-list needed
	addrs := s.Addrs("lo")
	if len(addrs) == 0 {
		t.Fatal("no listening address")
	}
	for _, a := range addrs {
		if !a.Addr().IsLoopback() {
			t.Errorf("lo:0 listens on %v", a)
		}
		c, err := net.Dial("tcp", a.String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("z"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Errorf("through %v: %v", a, err)
		}
		c.Close()
	}
}

func TestLoopRefused(t *testing.T) {
	p := freeTCPPort(t)
	s, _, _ := newServer(t)
	self := fmt.Sprintf("127.0.0.1:%d", p)
	err := s.Apply([]mapper.Rule{{Name: "loop", Type: mapper.TCP, Listen: self, To: []string{self}}})
	if err == nil || !strings.Contains(err.Error(), "own listening address") {
		t.Fatalf("Apply = %v, want a loop refused", err)
	}
	if s.Addrs("loop") != nil {
		t.Error("the looping rule runs")
	}
}

// testListen is where the tests' mappings listen: a loopback address of
// its own, so that port scans of 127.0.0.1 by other packages' tests
// running at the same time do not add connections to the counts.
const testListen = "127.88.0.1:0"

func TestFDBudget(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, mapper.DefaultMaxConns}, // unknown
		{1, 1},
		{200, 75},     // (200 - 50) / 2
		{20000, 9750}, // (20000 - 500) / 2
		{20500, 10000},
		{1 << 20, (1<<20 - 500) / 2},
	} {
		if got := mapper.FDBudget(tc.limit); got != tc.want {
			t.Errorf("FDBudget(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

// TestFailoverIsLogged: a mapping whose first destination is dead logs
// one line when it marks it down and fails over (not one per
// connection), and one when the health check finds it up again.
func TestFailoverIsLogged(t *testing.T) {
	good, goodAddr := porttest.ListenTCP(t)
	serveEcho(good)
	dead, deadAddr := porttest.ListenTCP(t)
	dead.Close()
	s, _, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "fo", Type: mapper.TCP, Listen: testListen,
		To: []string{deadAddr.String(), goodAddr.String()}, DownTime: 200 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("fo")[0].String()
	for range 6 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("no echo: %v\n%s", err, logs)
		}
		c.Close()
	}
	down := logLines(logs, "destination down")
	if len(down) != 1 || logField(down[0], "dest") != deadAddr.String() {
		t.Fatalf("destination down lines %q, want one naming %s", down, deadAddr)
	}
	revived, err := net.Listen("tcp4", deadAddr.String())
	if err != nil {
		t.Skipf("the dead port was taken meanwhile: %v", err)
	}
	defer revived.Close()
	porttest.Serve(revived, func(c net.Conn) {})
	porttest.WaitFor(t, "the destination up line", func() bool { return len(logLines(logs, "destination up again")) > 0 })
	up := logLines(logs, "destination up again")
	if len(up) != 1 || logField(up[0], "dest") != deadAddr.String() {
		t.Errorf("destination up lines %q, want one naming %s", up, deadAddr)
	}
	if n := len(logLines(logs, "destination down")); n != 1 {
		t.Errorf("%d destination down lines, want 1:\n%s", n, logs)
	}
}
