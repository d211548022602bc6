package scan

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// serveUDP answers every datagram on pc with reply(datagram), or nothing
// when reply returns nil, until the test ends.
func serveUDP(t testing.TB, pc net.PacketConn, reply func([]byte) []byte) {
	t.Helper()
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if r := reply(buf[:n]); r != nil {
				pc.WriteTo(r, from)
			}
		}
	}()
}

func echo(b []byte) []byte { return append([]byte{}, b...) }

// listenUDPEcho opens n echo services on random ports of first..last.
func listenUDPEcho(t testing.TB, listen func(network, address string) (net.PacketConn, error), addr netip.Addr, n, first, last int) map[ports.Port]bool {
	t.Helper()
	open := map[ports.Port]bool{}
	for len(open) < n {
		p := ports.Port(first + rand.IntN(last-first+1))
		if open[p] {
			continue
		}
		pc, err := listen("udp", netip.AddrPortFrom(addr, uint16(p)).String())
		if err != nil {
			continue // taken by someone else: pick another
		}
		serveUDP(t, pc, echo)
		open[p] = true
	}
	return open
}

func udpWant(addr netip.Addr, open map[ports.Port]bool, set ports.Set, dst map[netip.AddrPort]string) {
	for p := range set.Ports(ports.ProtoUDP) {
		s := "closed/port-unreach"
		if open[p] {
			s = "open/udp-response"
		}
		dst[netip.AddrPortFrom(addr, uint16(p))] = s
	}
}

func udpSupported(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("UDPScan needs linux (IP_RECVERR), not %s", runtime.GOOS)
	}
}

// TestUDPLoopback scans 300 loopback ports, 12 of them echo services, on
// IPv4 and IPv6: loopback is exempt from ICMP rate limits, so every
// closed port must be found closed.
func TestUDPLoopback(t *testing.T) {
	udpSupported(t)
	listen := func(network, address string) (net.PacketConn, error) { return net.ListenPacket(network, address) }
	first := randomBase(300)
	last := first + 299
	set := udpRange(first, last)
	wantStates := map[netip.AddrPort]string{}
	var targets []netip.Addr
	for _, a := range []string{"127.0.0.1", "::1"} {
		addr := netip.MustParseAddr(a)
		if pc, err := net.ListenPacket("udp", netip.AddrPortFrom(addr, 0).String()); err != nil {
			t.Logf("no %s here: %v", a, err)
			continue
		} else {
			pc.Close()
		}
		targets = append(targets, addr)
		udpWant(addr, listenUDPEcho(t, listen, addr, 12, first, last), set, wantStates)
	}
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	got := collect(t, UDPScan(ctx, targets, &UDPConfig{Options: Options{Ports: portRange(first, last).Clone()}}))
	// portRange holds TCP ports; the scan wants UDP ones.
	if len(got) != 0 {
		t.Fatalf("a set of TCP ports gave %d UDP results", len(got))
	}
	got = collect(t, UDPScan(ctx, targets, &UDPConfig{Options: Options{Ports: set}}))
	if diff := cmp.Diff(wantStates, states(got)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func udpRange(first, last int) ports.Set {
	var s ports.Set
	s.Add(ports.ProtoUDP, ports.Range{First: ports.Port(first), Last: ports.Port(last)})
	return s
}

func TestUDPConfigErrors(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name    string
		targets []netip.Addr
		cfg     *UDPConfig
		want    string
	}{
		{"invalid target", []netip.Addr{{}}, &UDPConfig{Options: Options{Ports: udpRange(1, 2)}}, "target 0 is not a valid address"},
		{"duplicate", []netip.Addr{lo, lo}, &UDPConfig{Options: Options{Ports: udpRange(1, 2)}}, "given twice"},
		{"timeout", []netip.Addr{lo}, &UDPConfig{Options: Options{Ports: udpRange(1, 2), Timeout: -1}}, "negative timeout"},
		{"rate", []netip.Addr{lo}, &UDPConfig{Options: Options{Ports: udpRange(1, 2), Rate: -1}}, "invalid rate"},
		{"window", []netip.Addr{lo}, &UDPConfig{Options: Options{Ports: udpRange(1, 2)}, Window: -1}, "negative window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for r, err := range UDPScan(t.Context(), tc.targets, tc.cfg) {
				n++
				if err == nil || !strings.Contains(err.Error(), tc.want) || r.Addr.IsValid() {
					t.Errorf("got %+v, %v; want an error containing %q", r, err, tc.want)
				}
			}
			if n != 1 {
				t.Errorf("%d values, want 1", n)
			}
		})
	}
	// No ports, or a nil config: nothing to do.
	for range UDPScan(t.Context(), []netip.Addr{lo}, nil) {
		t.Error("a nil config yielded a result")
	}
}

// TestUDPBreak stops a scan of silent ports early: the loop must end at
// once, and the scan's goroutines with it.
func TestUDPBreak(t *testing.T) {
	udpSupported(t)
	pc, ap := porttest.ListenUDP(t) // silent: it never answers
	_ = pc
	var set ports.Set
	set.Add(ports.ProtoUDP, ports.Range{First: ports.Port(ap.Port()), Last: ports.Port(ap.Port())})
	set.Add(ports.ProtoUDP, ports.Range{First: 1, Last: 100})
	n := 0
	for r, err := range UDPScan(t.Context(), []netip.Addr{ap.Addr()}, &UDPConfig{Options: Options{Ports: set, Timeout: time.Minute}}) {
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		n++
		break
	}
	if n != 1 {
		t.Errorf("%d results before break", n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var last error
	for r, err := range UDPScan(ctx, []netip.Addr{ap.Addr()}, &UDPConfig{Options: Options{Ports: set, Timeout: time.Minute}}) {
		if err != nil {
			last = err
			continue
		}
		if r.Port != ports.Port(ap.Port()) {
			cancel() // after the first closed port
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("last error %v, want context.Canceled", last)
	}
}

func TestICMPState(t *testing.T) {
	for _, tc := range []struct {
		v6        bool
		typ, code uint8
		state     State
		reason    string
	}{
		{false, 3, 3, StateClosed, ReasonPortUnreach},
		{false, 3, 1, StateFiltered, ReasonHostUnreach},
		{false, 3, 0, StateFiltered, ReasonNetUnreach},
		{false, 3, 2, StateFiltered, ReasonProtoUnreach},
		{false, 3, 13, StateFiltered, ReasonAdminProhibited},
		{false, 3, 10, StateFiltered, ReasonHostProhibited},
		{false, 3, 9, StateFiltered, ReasonNetProhibited},
		{false, 11, 0, StateUnknown, ""},
		{true, 1, 4, StateClosed, ReasonPortUnreach},
		{true, 1, 1, StateFiltered, ReasonAdminProhibited},
		{true, 1, 3, StateFiltered, ReasonAddrUnreach},
		{true, 1, 0, StateFiltered, ReasonNoRoute},
		{true, 1, 5, StateFiltered, ReasonRejectRoute},
		{false, 3, 6, StateFiltered, ReasonUnreach},
		{true, 3, 0, StateUnknown, ""},
	} {
		st, reason := icmpState(tc.v6, tc.typ, tc.code)
		if st != tc.state || reason != tc.reason {
			t.Errorf("icmpState(v6=%v, %d, %d) = %v %q, want %v %q", tc.v6, tc.typ, tc.code, st, reason, tc.state, tc.reason)
		}
	}
}
