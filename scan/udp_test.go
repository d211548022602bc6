package scan

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
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
	got := collect(t, UDPScan(ctx, targets, &UDPConfig{Ports: portRange(first, last).Clone()}))
	// portRange holds TCP ports; the scan wants UDP ones.
	if len(got) != 0 {
		t.Fatalf("a set of TCP ports gave %d UDP results", len(got))
	}
	got = collect(t, UDPScan(ctx, targets, &UDPConfig{Ports: set}))
	if diff := cmp.Diff(wantStates, states(got)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func udpRange(first, last int) ports.Set {
	var s ports.Set
	s.Add(ports.ProtoUDP, ports.Range{First: ports.Port(first), Last: ports.Port(last)})
	return s
}
