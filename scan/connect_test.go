package scan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// scanTimeout bounds every scan so that a broken engine fails instead of
// hanging; no test asserts anything about time.
const scanTimeout = 2 * time.Minute

// portRange returns a Set holding TCP ports first..last.
func portRange(first, last int) ports.Set {
	var s ports.Set
	s.Add(ports.ProtoTCP, ports.Range{First: ports.Port(first), Last: ports.Port(last)})
	return s
}

// collect runs a scan to the end, failing the test on any error, and
// returns the results by address and port, failing on duplicates.
func collect(t testing.TB, seq func(func(Result, error) bool)) map[netip.AddrPort]Result {
	t.Helper()
	got := make(map[netip.AddrPort]Result)
	for r, err := range seq {
		if err != nil {
			t.Fatalf("scan: %v (result %+v)", err, r)
		}
		if prev, dup := got[r.AddrPort()]; dup {
			t.Fatalf("two results for %v: %+v and %+v", r.AddrPort(), prev, r)
		}
		got[r.AddrPort()] = r
	}
	return got
}

// states returns the state of every result, as strings for readable diffs.
func states(got map[netip.AddrPort]Result) map[netip.AddrPort]string {
	m := make(map[netip.AddrPort]string, len(got))
	for ap, r := range got {
		m[ap] = r.State.String() + "/" + r.Reason
	}
	return m
}

// listenLoopback listens on n distinct random TCP ports of addr within
// [first, last], skipping ports in use, and returns them.
func listenLoopback(t testing.TB, addr netip.Addr, n, first, last int) map[ports.Port]bool {
	t.Helper()
	open := make(map[ports.Port]bool)
	for tries := 0; len(open) < n; tries++ {
		if tries > 100*n {
			t.Fatalf("could not find %d free ports of %v in %d-%d", n, addr, first, last)
		}
		p := ports.Port(first + rand.IntN(last-first+1))
		if open[p] {
			continue
		}
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(p))))
		if err != nil {
			continue // in use
		}
		t.Cleanup(func() { l.Close() })
		open[p] = true
	}
	return open
}

// randomBase returns the first port of a random window of size n below
// the usual ephemeral range (32768 up), so that listeners of other tests
// on this machine, which get ephemeral ports, are unlikely to be inside.
func randomBase(n int) int { return 10000 + rand.IntN(32768-10000-n) }

// loopback4 returns a random address of 127.0.0.0/8 other than 127.0.0.1
// (all of it is this machine's on Linux), so that the ports a test
// expects to be closed are not held by other tests' listeners on
// 127.0.0.1, which go test runs in parallel in other packages.
func loopback4() netip.Addr {
	if runtime.GOOS != "linux" {
		return netip.MustParseAddr("127.0.0.1")
	}
	return netip.AddrFrom4([4]byte{127, byte(100 + rand.IntN(100)), byte(rand.IntN(256)), byte(1 + rand.IntN(254))})
}

// want returns the expected states: open for the listeners, closed for
// every other port of first..last.
func want(addr netip.Addr, open map[ports.Port]bool, first, last int, dst map[netip.AddrPort]string) {
	for p := first; p <= last; p++ {
		s := "closed/conn-refused"
		if open[ports.Port(p)] {
			s = "open/syn-ack"
		}
		dst[netip.AddrPortFrom(addr, uint16(p))] = s
	}
}

func TestConnectLoopback(t *testing.T) {
	for _, addr := range []netip.Addr{loopback4(), netip.IPv6Loopback()} {
		t.Run(addr.String(), func(t *testing.T) {
			if addr.Is6() {
				if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				} else {
					l.Close()
				}
			}
			first := randomBase(401)
			last := first + 400
			open := listenLoopback(t, addr, 5, first+150, last-150)
			ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
			defer cancel()
			got := collect(t, ConnectScan(ctx, []netip.Addr{addr}, &ConnectConfig{Options: Options{Ports: portRange(first, last)}}))
			wantStates := make(map[netip.AddrPort]string)
			want(addr, open, first, last, wantStates)
			if diff := cmp.Diff(wantStates, states(got)); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			for _, r := range got {
				if r.Proto != ports.ProtoTCP || r.Tries != 1 || r.RTT <= 0 {
					t.Errorf("result %+v: want proto tcp, 1 try and an RTT", r)
				}
			}
		})
	}
}

func TestConnectConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		targets []netip.Addr
		cfg     *ConnectConfig
	}{
		{"invalid target", []netip.Addr{{}}, &ConnectConfig{Options: Options{Ports: portRange(1, 1)}}},
		{"negative timeout", []netip.Addr{netip.IPv6Loopback()}, &ConnectConfig{Options: Options{Timeout: -1}}},
		{"negative rate", []netip.Addr{netip.IPv6Loopback()}, &ConnectConfig{Options: Options{Rate: -1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for _, err := range ConnectScan(t.Context(), tc.targets, tc.cfg) {
				n++
				if err == nil {
					t.Errorf("got a result without error")
				}
			}
			if n != 1 {
				t.Errorf("got %d values, want 1 error", n)
			}
		})
	}
	// Nothing to scan: no values at all.
	for r, err := range ConnectScan(t.Context(), []netip.Addr{netip.IPv6Loopback()}, nil) {
		t.Errorf("nil config: got %+v, %v", r, err)
	}
}

// TestConnectSeam checks the classification of dial errors and the retry
// logic without a network.
func TestConnectSeam(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.1") // never dialled: the fake answers
	tries := make(map[uint16]int)
	var mu = make(chan struct{}, 1)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		ap := netip.MustParseAddrPort(address)
		mu <- struct{}{}
		tries[ap.Port()]++
		n := tries[ap.Port()]
		<-mu
		opErr := func(err error) error {
			return &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", err)}
		}
		switch ap.Port() {
		case 1:
			c1, c2 := net.Pipe()
			c2.Close()
			return c1, nil
		case 2:
			return nil, opErr(syscall.ECONNREFUSED)
		case 3:
			return nil, opErr(syscall.EHOSTUNREACH)
		case 4:
			return nil, opErr(syscall.ENETUNREACH)
		case 5: // always silent
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		case 6: // answers the third try
			if n < 3 {
				<-ctx.Done()
				return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
			}
			return nil, opErr(syscall.ECONNREFUSED)
		case 7: // out of fds twice, then refused
			if n < 3 {
				return nil, opErr(syscall.EMFILE)
			}
			return nil, opErr(syscall.ECONNREFUSED)
		case 8:
			return nil, opErr(syscall.EADDRNOTAVAIL)
		case 9:
			return nil, opErr(syscall.EPERM)
		}
		return nil, errors.New("unexpected port")
	}
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	type res struct {
		State  string
		Reason string
		Tries  int
		Err    bool
	}
	got := make(map[ports.Port]res)
	fakeDial := func(s *connectScanner) {
		s.maxBackoff = 10 * time.Millisecond
		s.dial, s.native = dial, false
	}
	for r, err := range connectScan(ctx, []netip.Addr{addr}, &ConnectConfig{
		// One connect at a time, in port order: the host has answered on
		// ports 1 and 2 before 3 and 4 say it is unreachable, so that
		// those are per-port results, not the end of the host.
		Options: Options{Ports: portRange(1, 9), Timeout: 20 * time.Millisecond}, Concurrency: 1,
	}, fakeDial) {
		got[r.Port] = res{r.State.String(), r.Reason, r.Tries, err != nil}
		if r.Port == 9 && !errors.Is(err, syscall.EPERM) {
			t.Errorf("port 9: error %v, want one wrapping EPERM", err)
		}
		if r.Port == 8 && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("port 8: error %v, want one wrapping EADDRNOTAVAIL", err)
		}
	}
	wantRes := map[ports.Port]res{
		1: {"open", "syn-ack", 1, false},
		2: {"closed", "conn-refused", 1, false},
		3: {"filtered", "host-unreach", 1, false},
		4: {"filtered", "net-unreach", 1, false},
		5: {"filtered", "no-response", 1 + defaultRetries, false},
		6: {"closed", "conn-refused", 3, false},
		7: {"closed", "conn-refused", 1, false},
		8: {"unknown", "", 0, true}, // gave up after maxResourceErrors
		9: {"unknown", "", 1, true},
	}
	// Tries whose timeout the scan noticed late (on a loaded machine) do
	// not count, but are in Tries.
	if r := got[5]; r.Tries > 1+defaultRetries && r.Tries <= 1+defaultRetries+maxLateTries {
		r.Tries = 1 + defaultRetries
		got[5] = r
	}
	if diff := cmp.Diff(wantRes, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestConnectBreak(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	first := randomBase(2000)
	before := runtime.NumGoroutine()
	n := 0
	for _, err := range ConnectScan(t.Context(), []netip.Addr{addr}, &ConnectConfig{
		Options:     Options{Ports: portRange(first, first+1999)},
		Concurrency: 64,
	}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	// The iterator waits for its goroutines; allow for stragglers of the
	// runtime or the test framework all the same.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after break, %d before:\n%s", g, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestConnectCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := randomBase(2000)
	var last error
	n := 0
	for _, err := range ConnectScan(ctx, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, &ConnectConfig{
		Options:     Options{Ports: portRange(first, first+1999)},
		Concurrency: 8,
	}) {
		if n++; n == 3 {
			cancel()
		}
		last = err
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("last value after cancel: %v, want context.Canceled", last)
	}
}

func TestConnectRate(t *testing.T) {
	// 20 connects at 200/s: at least 95 ms, whatever the machine; this
	// checks that the limiter is there, not how precise it is.
	first := randomBase(20)
	start := time.Now()
	got := collect(t, ConnectScan(t.Context(), []netip.Addr{netip.MustParseAddr("127.0.0.1")}, &ConnectConfig{
		Options: Options{Ports: portRange(first, first+19), Rate: 200},
	}))
	if len(got) != 20 {
		t.Errorf("%d results, want 20", len(got))
	}
	if d := time.Since(start); d < 95*time.Millisecond {
		t.Errorf("20 connects at 200/s took %v", d)
	}
}

// pairSetup listens on 20 random ports of 1-2000 on each address of
// p.B and returns them.
func pairSetup(t *testing.T, p *porttest.Pair) map[netip.AddrPort]bool {
	t.Helper()
	return listenB(t, p, 20, 1, 2000)
}

// listenB listens on n random ports of first..last on each address of B
// and returns them.
func listenB(t *testing.T, p *porttest.Pair, n, first, last int) map[netip.AddrPort]bool {
	t.Helper()
	open := make(map[netip.AddrPort]bool)
	for _, addr := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		for k := 0; k < n; {
			ap := netip.AddrPortFrom(addr, uint16(first+rand.IntN(last-first+1)))
			if open[ap] {
				continue
			}
			l, err := p.B.Listen("tcp", ap.String())
			if err != nil {
				t.Fatalf("listen in B: %v", err)
			}
			t.Cleanup(func() { l.Close() })
			open[ap] = true
			k++
		}
	}
	return open
}

// pairConfig returns a config scanning 1-2000 from inside p.A.
func pairConfig(p *porttest.Pair) *ConnectConfig {
	return &ConnectConfig{
		// Each socket is opened on a thread of its own switched into A.
		Options:     Options{Ports: portRange(1, 2000), OpenIn: p.A.Do},
		Concurrency: 128,
	}
}

func TestIntegrationConnectNetNS(t *testing.T) {
	p := porttest.NewPair(t, nil)
	open := pairSetup(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	targets := []netip.Addr{p.B.Addr4, p.B.Addr6}
	got := collect(t, ConnectScan(ctx, targets, pairConfig(p)))
	wantStates := make(map[netip.AddrPort]string)
	for _, a := range targets {
		for port := 1; port <= 2000; port++ {
			ap := netip.AddrPortFrom(a, uint16(port))
			wantStates[ap] = "closed/conn-refused"
			if open[ap] {
				wantStates[ap] = "open/syn-ack"
			}
		}
	}
	if diff := cmp.Diff(wantStates, states(got)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func TestIntegrationConnectLoss(t *testing.T) {
	p := porttest.NewPair(t, &porttest.PairConfig{Loss: 0.05})
	open := pairSetup(t, p)
	targets := []netip.Addr{p.B.Addr4, p.B.Addr6}
	cfg := pairConfig(p)
	// A try fails with about 10% probability (5% each way); 7 tries make
	// missing one of the 40 open ports about a 1 in 300,000 event.
	cfg.MaxRetries = 6
	for run := range 2 {
		t.Run(fmt.Sprint("run", run), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
			defer cancel()
			got := collect(t, ConnectScan(ctx, targets, cfg))
			if len(got) != 2*2000 {
				t.Errorf("%d results, want %d", len(got), 2*2000)
			}
			retried := 0
			for ap := range open {
				if r := got[ap]; r.State != StateOpen {
					t.Errorf("%v: %+v, want open", ap, r)
				}
			}
			for ap, r := range got {
				if r.State == StateOpen && !open[ap] {
					t.Errorf("%v: %+v, but nothing listens there", ap, r)
				}
				if r.Tries > 1 {
					retried++
				}
			}
			t.Logf("%d of %d ports needed retries", retried, len(got))
		})
	}
}

func TestIntegrationConnectFiltered(t *testing.T) {
	p := porttest.NewPair(t, nil)
	p.SetLoss(t, 1) // drop everything B receives
	targets := []netip.Addr{p.B.Addr4, p.B.Addr6}
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	cfg := pairConfig(p)
	cfg.Ports = portRange(1, 100)
	got := collect(t, ConnectScan(ctx, targets, cfg))
	if len(got) != 200 {
		t.Errorf("%d results, want 200", len(got))
	}
	for ap, r := range got {
		// Tries that timed out late, on a loaded machine, do not count.
		if r.State != StateFiltered || r.Reason != ReasonNoResponse || r.Tries < 1+defaultRetries || r.Tries > 1+defaultRetries+maxLateTries {
			t.Errorf("%v: %+v, want filtered, no-response after %d tries (and up to %d late ones)", ap, r, 1+defaultRetries, maxLateTries)
		}
	}
}

func TestHostTimeout(t *testing.T) {
	var h hostState
	if got := h.timeout(); got != InitialTimeout {
		t.Errorf("timeout without samples = %v, want %v", got, InitialTimeout)
	}
	for range 20 {
		h.sample(50 * time.Microsecond)
	}
	if got := h.timeout(); got != MinTimeout {
		t.Errorf("timeout after fast samples = %v, want %v", got, MinTimeout)
	}
	for range 50 {
		h.sample(200 * time.Millisecond)
	}
	if got := h.timeout(); got < 200*time.Millisecond || got > 400*time.Millisecond {
		t.Errorf("timeout after 200ms samples = %v, want near 200ms", got)
	}
	for range 50 {
		h.sample(time.Minute)
	}
	if got := h.timeout(); got != MaxTimeout {
		t.Errorf("timeout after slow samples = %v, want %v", got, MaxTimeout)
	}
}

func TestStateString(t *testing.T) {
	got := []string{}
	for s := range StateOpenFiltered + 2 {
		got = append(got, s.String())
	}
	wantS := []string{"unknown", "open", "closed", "filtered", "open|filtered", "state(5)"}
	if !slices.Equal(got, wantS) {
		t.Errorf("got %q, want %q", got, wantS)
	}
}

// BenchmarkConnectLoopback scans 10,000 closed loopback ports with the
// default engine (on Linux the native one) and with net.Dialer (the
// engine of other systems), in the same run.
func BenchmarkConnectLoopback(b *testing.B) {
	addr := netip.MustParseAddr("127.0.0.1")
	first := randomBase(10000)
	set := portRange(first, first+9999)
	for _, engine := range []string{"default", "dialer"} {
		b.Run("engine="+engine, func(b *testing.B) {
			tweak := func(s *connectScanner) { s.native = engine == "default" }
			b.ReportAllocs()
			n := 0
			start := time.Now()
			for b.Loop() {
				for _, err := range connectScan(b.Context(), []netip.Addr{addr}, &ConnectConfig{Options: Options{Ports: set}}, tweak) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "ports/s")
		})
	}
}

func TestLateTimeout(t *testing.T) {
	for _, c := range []struct {
		elapsed, timeout time.Duration
		want             bool
	}{
		{100 * time.Millisecond, 100 * time.Millisecond, false},
		{124 * time.Millisecond, 100 * time.Millisecond, false},
		{126 * time.Millisecond, 100 * time.Millisecond, true},
		{29 * time.Millisecond, 20 * time.Millisecond, false}, // 10 ms at least
		{31 * time.Millisecond, 20 * time.Millisecond, true},
		{2 * time.Second, time.Second, true},
	} {
		if got := lateTimeout(c.elapsed, c.timeout); got != c.want {
			t.Errorf("lateTimeout(%v, %v) = %v, want %v", c.elapsed, c.timeout, got, c.want)
		}
	}
}

// TestConnectUnreachableHostEndsAtOnce: a host whose first connect fails
// with EHOSTUNREACH (ARP got no answer) before it answered anything gets
// one result for the host, a *HostError, and no connects nor results for
// its other ports; a host that answered keeps per-port results.
func TestConnectUnreachableHostEndsAtOnce(t *testing.T) {
	absent, live := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.10")
	var dials atomic.Int64
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		ap := netip.MustParseAddrPort(address)
		if ap.Addr() == absent {
			dials.Add(1)
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}
		}
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	var hostErrs []*HostError
	perPort := map[netip.Addr]int{}
	for r, err := range connectScan(ctx, []netip.Addr{absent, live}, &ConnectConfig{Options: Options{Ports: portRange(1, 1000)}, Concurrency: 1},
		func(s *connectScanner) { s.dial, s.native = dial, false }) {
		var he *HostError
		switch {
		case errors.As(err, &he):
			hostErrs = append(hostErrs, he)
			if r.Port != 0 || r.Reason != ReasonHostUnreach || r.State != StateFiltered {
				t.Errorf("host result %+v", r)
			}
		case err != nil:
			t.Fatalf("%+v: %v", r, err)
		default:
			perPort[r.Addr]++
		}
	}
	if len(hostErrs) != 1 || hostErrs[0].Addr != absent || !errors.Is(hostErrs[0], syscall.EHOSTUNREACH) {
		t.Errorf("host errors %v, want one for %v wrapping EHOSTUNREACH", hostErrs, absent)
	}
	if perPort[absent] != 0 || perPort[live] != 1000 {
		t.Errorf("per-port results %v, want 0 for %v and 1000 for %v", perPort, absent, live)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connects to the absent host, want 1", n)
	}
}
