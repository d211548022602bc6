package procattr

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

// tcpPacket is a decoded TCP packet from src to dst with flags.
func tcpPacket(src, dst netip.AddrPort, flags wire.TCPFlags) *wire.Packet {
	p := &wire.Packet{}
	p.Layers = p.Layers.Add(wire.LayerIPv4).Add(wire.LayerTCP)
	if src.Addr().Is6() {
		p.Layers = wire.LayerSet(0).Add(wire.LayerIPv6).Add(wire.LayerTCP)
	}
	p.IP.Src, p.IP.Dst = src.Addr(), dst.Addr()
	p.TCP.SrcPort, p.TCP.DstPort, p.TCP.Flags = ports.Port(src.Port()), ports.Port(dst.Port()), flags
	return p
}

// loopbackConn is a TCP connection of the test's own on loopback: the
// client's and the server's ends.
func loopbackConn(t testing.TB) (cli, srv netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return netip.MustParseAddrPort(c.LocalAddr().String()), netip.MustParseAddrPort(c.RemoteAddr().String())
}

// TestIntegrationPacketNoAllocs: once a flow's ends are known, its
// packets (both ways, one end another host's) cost no allocation, and
// still name the test's process at its end.
func TestIntegrationPacketNoAllocs(t *testing.T) {
	src, err := New(nil)
	if err != nil {
		t.Skipf("no attribution here: %v", err)
	}
	defer src.Close()
	ctx := testCtx(t)
	cli, srv := loopbackConn(t)
	far := netip.MustParseAddrPort("198.18.99.1:443") // no socket of this machine
	out, back := tcpPacket(cli, srv, wire.TCPAck), tcpPacket(srv, cli, wire.TCPAck)
	gone, in := tcpPacket(srv, far, wire.TCPAck), tcpPacket(far, srv, wire.TCPAck) // the listener's
	pid := os.Getpid()
	for _, p := range []*wire.Packet{out, back, gone, in} {
		src.Packet(ctx, p)
	}
	if a := src.Packet(ctx, out); a.Src == nil || a.Src.PID != pid || a.Dst == nil || a.Dst.PID != pid {
		t.Fatalf("loopback packet: %s > %s, want the test's pid %d at both ends", procString(a.Src), procString(a.Dst), pid)
	}
	if a := src.Packet(ctx, in); a.Src != nil || a.Dst == nil || a.Dst.PID != pid {
		t.Fatalf("packet from another host: %s > %s, want - > the test's pid %d", procString(a.Src), procString(a.Dst), pid)
	}
	allocs := testing.AllocsPerRun(200, func() {
		src.Packet(ctx, out)
		src.Packet(ctx, back)
		src.Packet(ctx, gone)
		src.Packet(ctx, in)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 4 packets of known flows, want 0", allocs)
	}
}

// TestIntegrationNegativeExpires: an end found without a socket is
// asked again once Config.NegativeTTL has passed, through the packet
// cache too: a server that starts listening on a port a packet went to
// is named on the next packet after the TTL.
func TestIntegrationNegativeExpires(t *testing.T) {
	now := time.Unix(1e9, 0)
	src, err := New(&Config{NegativeTTL: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Skipf("no attribution here: %v", err)
	}
	defer src.Close()
	ctx := testCtx(t)
	// A free port: listen, note it, close.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	peer := netip.MustParseAddrPort("127.0.0.1:40000")
	p := tcpPacket(peer, srv, wire.TCPAck)
	if a := src.Packet(ctx, p); a.Dst != nil {
		t.Fatalf("no listener yet, got %s", procString(a.Dst))
	}
	ln, err = net.Listen("tcp4", srv.String())
	if err != nil {
		t.Skipf("port %v taken again: %v", srv, err)
	}
	defer ln.Close()
	if a := src.Packet(ctx, p); a.Dst != nil {
		t.Fatalf("within the TTL: %s, want - (remembered)", procString(a.Dst))
	}
	now = now.Add(1500 * time.Millisecond)
	if a := src.Packet(ctx, p); a.Dst == nil || a.Dst.PID != os.Getpid() {
		t.Fatalf("after the TTL: %s, want the test's listener (pid %d)", procString(a.Dst), os.Getpid())
	}
}

// TestIntegrationSynRefreshes: a SYN on a 4-tuple looks both its ends up
// again, in both directions of the packet cache: after the connection
// is closed and another socket takes the client's address, the reply's
// direction names the new state, not the cached one.
func TestIntegrationSynRefreshes(t *testing.T) {
	src, err := New(nil)
	if err != nil {
		t.Skipf("no attribution here: %v", err)
	}
	defer src.Close()
	ctx := testCtx(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := netip.MustParseAddrPort(ln.Addr().String())
	// A port nothing holds: the client's end is "-" both ways.
	free, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cliAddr := netip.MustParseAddrPort(free.Addr().String())
	free.Close()
	back := tcpPacket(srv, cliAddr, wire.TCPAck)
	if a := src.Packet(ctx, back); a.Dst != nil {
		t.Fatalf("no client yet: %s", procString(a.Dst))
	}
	// Now a client of the test's own from that very port.
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(cliAddr)}
	c, err := d.DialContext(ctx, "tcp4", srv.String())
	if err != nil {
		t.Skipf("cannot connect from %v: %v", cliAddr, err)
	}
	defer c.Close()
	src.Packet(ctx, tcpPacket(cliAddr, srv, wire.TCPSyn))
	if a := src.Packet(ctx, back); a.Dst == nil || a.Dst.PID != os.Getpid() {
		t.Fatalf("after the SYN, the reply's receiver: %s, want the test's pid %d", procString(a.Dst), os.Getpid())
	}
}

// BenchmarkPacketKnownFlow: the per-packet cost of a flow whose ends are
// known, one of them another host's (as most captured packets are).
func BenchmarkPacketKnownFlow(b *testing.B) {
	src, err := New(nil)
	if err != nil {
		b.Skipf("no attribution here: %v", err)
	}
	defer src.Close()
	ctx := testCtx(b)
	_, srv := loopbackConn(b)
	far := netip.MustParseAddrPort("198.18.99.1:443")
	out, in := tcpPacket(srv, far, wire.TCPAck), tcpPacket(far, srv, wire.TCPAck)
	src.Packet(ctx, out)
	src.Packet(ctx, in)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			src.Packet(ctx, out)
		} else {
			src.Packet(ctx, in)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
