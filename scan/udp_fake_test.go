package scan

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/ports"
)

// fakeUDPHost models a target without a kernel: open ports echo, closed
// ports answer with ICMP port unreachables drawn from a token bucket
// (burst, then one per refill), and each way loses a datagram with
// probability loss.
type fakeUDPHost struct {
	open   map[ports.Port]bool
	silent map[ports.Port]bool // filtered: no answer at all
	loss   float64
	burst  int
	refill time.Duration // 0: no rate limit
	empty  bool          // the bucket starts empty: something else drained it

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func (h *fakeUDPHost) allowICMP(now time.Time) bool {
	if h.refill == 0 {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last.IsZero() {
		h.tokens, h.last = float64(h.burst), now
		if h.empty {
			h.tokens = 0
		}
	}
	h.tokens = min(float64(h.burst), h.tokens+float64(now.Sub(h.last))/float64(h.refill))
	h.last = now
	if h.tokens >= 1 {
		h.tokens--
		return true
	}
	return false
}

type fakeUDPTransport struct {
	ctx    context.Context
	host   *fakeUDPHost
	events chan<- udpEvent
	sent   *atomic.Int64
}

func (t *fakeUDPTransport) send(dst netip.AddrPort, payload []byte) error {
	t.sent.Add(1)
	h := t.host
	if rand.Float64() < h.loss { // lost on the way there
		return nil
	}
	port := ports.Port(dst.Port())
	var ev udpEvent
	switch {
	case h.silent[port]:
		return nil
	case h.open[port]:
		ev = udpEvent{peer: dst, reply: append([]byte{}, payload...)}
	case h.allowICMP(time.Now()):
		ev = udpEvent{peer: dst, icmp: true, icmpType: 3, icmpCode: 3, v6: dst.Addr().Is6()}
		if ev.v6 {
			ev.icmpType, ev.icmpCode = 1, 4
		}
	default:
		return nil // rate limited
	}
	if rand.Float64() < h.loss { // lost on the way back
		return nil
	}
	time.AfterFunc(time.Duration(rand.IntN(500))*time.Microsecond, func() {
		ev.at = time.Now()
		select {
		case t.events <- ev:
		case <-t.ctx.Done():
		}
	})
	return nil
}

func (t *fakeUDPTransport) close() error { return nil }

// fakeScan scans 1..n of one fake host and returns the results and the
// log messages.
func fakeScan(t *testing.T, h *fakeUDPHost, n int, cfg UDPConfig) (map[netip.AddrPort]Result, []string, int64) {
	t.Helper()
	var logs logRecorder
	cfg.Ports = udpRange(1, n)
	cfg.Logger = slog.New(&logs)
	var sent atomic.Int64
	tweak := func(s *udpScanner) {
		s.newTransport = func(ctx context.Context, _ func(string, string) (net.PacketConn, error), _ bool, _ func(uint16) bool, ev chan<- udpEvent) (udpTransport, error) {
			return &fakeUDPTransport{ctx: ctx, host: h, events: ev, sent: &sent}, nil
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	got := collect(t, udpScan(ctx, []netip.Addr{netip.MustParseAddr("192.0.2.1")}, &cfg, tweak))
	return got, logs.messages(), sent.Load()
}

type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }
func (l *logRecorder) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.msgs...)
}

func countMsgs(msgs []string, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

func randomOpen(n, of int) map[ports.Port]bool {
	open := map[ports.Port]bool{}
	for len(open) < n {
		open[ports.Port(1+rand.IntN(of))] = true
	}
	return open
}

// TestUDPFakeRateLimit: a host that sends one port unreachable per 20ms
// after a burst of 6 is detected; its silent ports are probed again
// slowly; open ports are all found, closed ones are closed or
// open|filtered, never open; and the slow phase finds more closed ports
// than the burst.
func TestUDPFakeRateLimit(t *testing.T) {
	h := &fakeUDPHost{open: randomOpen(10, 300), burst: 6, refill: 20 * time.Millisecond}
	got, msgs, sent := fakeScan(t, h, 300, UDPConfig{Options: Options{Timeout: 50 * time.Millisecond}, RateLimitWait: 2 * time.Second})
	closed := 0
	for ap, r := range got {
		switch {
		case h.open[ports.Port(ap.Port())] != (r.State == StateOpen):
			t.Errorf("%v: %+v, open %v", ap, r, h.open[ports.Port(ap.Port())])
		case r.State == StateClosed:
			closed++
		case r.State != StateOpen && r.State != StateOpenFiltered:
			t.Errorf("%v: %+v", ap, r)
		}
	}
	if len(got) != 300 {
		t.Errorf("%d results, want 300", len(got))
	}
	if countMsgs(msgs, "rate-limit ICMP") == 0 {
		t.Errorf("rate limiting not detected; log: %q", msgs)
	}
	t.Logf("%d closed of 290, %d probes sent; log %q", closed, sent, msgs)
	// 2 seconds at one token per 20ms is up to 100 more; ask for a third.
	if closed < 40 {
		t.Errorf("%d closed ports found, want at least 40 with the slow phase", closed)
	}
}

// TestUDPFakeLoss: random loss without a rate limit is not taken for
// one: no slow phase, every port gets its retries, nothing is lost.
func TestUDPFakeLoss(t *testing.T) {
	h := &fakeUDPHost{open: randomOpen(10, 300), loss: 0.05}
	got, msgs, _ := fakeScan(t, h, 300, UDPConfig{Options: Options{Timeout: 50 * time.Millisecond}})
	if countMsgs(msgs, "rate-limit ICMP") != 0 {
		t.Errorf("random loss taken for rate limiting; log: %q", msgs)
	}
	for ap, r := range got {
		if h.open[ports.Port(ap.Port())] && r.State != StateOpen || !h.open[ports.Port(ap.Port())] && r.State == StateOpen {
			t.Errorf("%v: %+v, open %v", ap, r, h.open[ports.Port(ap.Port())])
		}
	}
}

// TestUDPFakeFirewall: a host that drops every probe but answers a few
// closed ports is not rate limiting either; a host that answers nothing
// gets exactly 1+retries probes per port.
func TestUDPFakeFirewall(t *testing.T) {
	silent := map[ports.Port]bool{}
	for p := 1; p <= 200; p++ {
		silent[ports.Port(p)] = true
	}
	h := &fakeUDPHost{silent: silent}
	got, msgs, sent := fakeScan(t, h, 200, UDPConfig{Options: Options{Timeout: 20 * time.Millisecond}})
	if countMsgs(msgs, "rate-limit ICMP") != 0 {
		t.Errorf("a silent host taken for rate limiting; log: %q", msgs)
	}
	if sent != 200*(1+defaultUDPRetries) {
		t.Errorf("%d probes sent, want %d", sent, 200*(1+defaultUDPRetries))
	}
	for ap, r := range got {
		if r.State != StateOpenFiltered || r.Tries != 1+defaultUDPRetries {
			t.Errorf("%v: %+v", ap, r)
		}
	}
}

// TestUDPFakeSilentAndClosed: a host without a rate limit that answers a
// few closed ports but drops most probes looks rate limited at first; the
// slow phase, getting no answer, ends early rather than use the budget.
func TestUDPFakeSilentAndClosed(t *testing.T) {
	silent := map[ports.Port]bool{}
	for p := 21; p <= 200; p++ {
		silent[ports.Port(p)] = true
	}
	h := &fakeUDPHost{silent: silent}
	got, msgs, _ := fakeScan(t, h, 200, UDPConfig{Options: Options{Timeout: 20 * time.Millisecond}, RateLimitWait: time.Hour})
	if countMsgs(msgs, "ending it") != 1 {
		t.Errorf("the slow phase did not end for lack of answers; log %q", msgs)
	}
	for ap, r := range got {
		want := StateOpenFiltered
		if !silent[ports.Port(ap.Port())] {
			want = StateClosed
		}
		if r.State != want {
			t.Errorf("%v: %+v, want %v", ap, r, want)
		}
	}
}

// TestUDPFakeDrainedBucket: a host whose ICMP token bucket is empty when
// the scan starts (another scan just drained it) sends no port
// unreachable in the first phase, only its open ports' replies; the slow
// phase must still find closed ports, and report none open.
func TestUDPFakeDrainedBucket(t *testing.T) {
	h := &fakeUDPHost{open: randomOpen(3, 100), burst: 6, refill: 100 * time.Millisecond, empty: true}
	got, msgs, _ := fakeScan(t, h, 100, UDPConfig{Options: Options{Timeout: 20 * time.Millisecond}, RateLimitWait: 3 * time.Second})
	closed := 0
	for ap, r := range got {
		if h.open[ports.Port(ap.Port())] != (r.State == StateOpen) {
			t.Errorf("%v: %+v", ap, r)
		}
		if r.State == StateClosed {
			closed++
		}
	}
	t.Logf("%d closed; log %q", closed, msgs)
	if closed < 5 {
		t.Errorf("%d closed ports found, want at least 5 from the slow phase", closed)
	}
}
