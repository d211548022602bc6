package cli

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/socktable"
)

// randomSockets returns n sockets over a mix of IPv4, IPv6 and
// IPv4-mapped addresses, listeners and connections, well-known and
// ephemeral ports, with processes (none, hidden, one, two).
func randomSockets(rng *rand.Rand, n int) []socktable.Socket {
	addrs := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.200.33.4"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("::1"), netip.MustParseAddr("::"), netip.MustParseAddr("::ffff:127.0.0.1"),
		netip.MustParseAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"), netip.MustParseAddr("fe80::1%eth0"),
	}
	portsOf := []uint16{0, 22, 53, 80, 443, 8080, 50001, 50005, 60000, 65535}
	procs := []socktable.Process{{PID: 1, Name: "systemd"}, {PID: 4242, Name: "nginx: worker"}, {PID: 77, Name: "a"}}
	var ss []socktable.Socket
	for range n {
		s := socktable.Socket{
			Proto: []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}[rng.IntN(2)],
			Local: netip.AddrPortFrom(addrs[rng.IntN(len(addrs))], portsOf[rng.IntN(len(portsOf))]),
			State: []socktable.State{socktable.StateEstablished, socktable.StateListen, socktable.StateClose, socktable.StateTimeWait, socktable.StateFinWait1}[rng.IntN(5)],
			Inode: uint64(rng.IntN(1000)),
		}
		if rng.IntN(4) > 0 {
			s.Remote = netip.AddrPortFrom(addrs[rng.IntN(len(addrs))], portsOf[rng.IntN(len(portsOf))])
		}
		switch rng.IntN(4) {
		case 0:
			s.ProcsHidden = true
		case 1:
			s.Procs = procs[rng.IntN(3):][:1]
		case 2:
			s.Procs = procs[:2]
		}
		ss = append(ss, s)
	}
	return ss
}

// TestSocketTableSameAsAligner checks that the table ls writes straight
// from the sockets is byte for byte what writeSockets writes through
// render.SocketV1 values and render.Aligner: with and without
// processes, with and without the ephemeral legend and detail lines.
func TestSocketTableSameAsAligner(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 2))
	for _, tc := range []struct {
		name          string
		procs, hostOK bool
		detail        bool
		n             int
	}{
		{"empty", false, true, false, 0},
		{"empty-procs", true, true, false, 0},
		{"no-procs", false, true, false, 3000},
		{"procs", true, true, false, 3000},
		{"no-host-range", true, false, false, 500},
		{"details", false, true, true, 2000},
		{"details-procs", true, true, true, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := sortSockets(randomSockets(rng, tc.n))
			mk := func() *sockView {
				v := &sockView{reg: registry.Default(), procs: tc.procs, services: &serviceCache{}, hostOK: tc.hostOK,
					host: hostports.Info{Ephemeral: ports.Range{First: 50000, Last: 60000}}}
				v.learnListeners(ss)
				return v
			}
			// Internals for some TCP sockets, by index.
			var in *lsInternals
			if tc.detail {
				in = &lsInternals{sorted: make([]int32, len(ss))}
				for i := range ss {
					in.sorted[i] = -1
					if ss[i].Proto == ports.ProtoTCP && rng.IntN(3) > 0 {
						d := socktable.TCPDetail{Socket: ss[i], Cong: "cubic", HasInfo: rng.IntN(2) == 0, RTT: time.Duration(rng.IntN(5000)) * time.Microsecond,
							SndCwnd: 10, SndSsthresh: uint32(rng.IntN(0x1ffff)), PacingRate: ^uint64(0), BytesAcked: uint64(rng.IntN(1e6)), HasMem: rng.IntN(2) == 0}
						if rng.IntN(3) == 0 {
							d.Timer, d.TimerLeft = socktable.TimerKeepalive, time.Duration(rng.IntN(7200))*time.Second
						}
						in.sorted[i] = int32(in.details.len())
						in.details.add(d)
					}
				}
			}
			var want bytes.Buffer
			v := mk()
			conv := v.convert(ss)
			if in != nil {
				for i := range ss {
					if j := in.index(ss, i); j >= 0 {
						conv[i].TCP = internalsV1(in.details.at(j))
					}
				}
			}
			if err := writeSockets(&want, render.Table, conv, tc.procs, v); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			tab := &socketTable{v: mk(), procs: tc.procs, socks: ss}
			if in != nil {
				tab.detail = func(b []byte, i int) []byte { return in.line(b, ss, i) }
			}
			if err := tab.write(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				g, w := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want.Bytes(), []byte("\n"))
				for i := range min(len(g), len(w)) {
					if !bytes.Equal(g[i], w[i]) {
						t.Fatalf("line %d differs:\n got %q\nwant %q", i+1, g[i], w[i])
					}
				}
				t.Fatalf("got %d lines, want %d", len(g), len(w))
			}
		})
	}
}

// TestServicePortAgrees checks that servicePort, which inlines
// ServerPort's evidence, picks the port that ServerPort with the
// evidence functions picks.
func TestServicePortAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 3))
	ss := randomSockets(rng, 20000)
	for _, hostOK := range []bool{true, false} {
		v := &sockView{reg: registry.Default(), services: &serviceCache{}, hostOK: hostOK, host: hostports.Info{Ephemeral: ports.Range{First: 50000, Last: 60000}}}
		v.learnListeners(ss[:100])
		for i := range ss {
			if got, want := v.servicePort(&ss[i]), v.servicePortSlow(&ss[i]); got != want {
				t.Fatalf("%+v (host range known: %v): servicePort %d, ServerPort %d", ss[i], hostOK, got, want)
			}
		}
	}
}

// TestAddrPortLen checks addrPortLen against the formatted length.
func TestAddrPortLen(t *testing.T) {
	for _, s := range []string{"0.0.0.0:0", "255.255.255.255:65535", "1.22.3.100:9", "[::]:0", "[::ffff:1.2.3.4]:80", "[fe80::1%eth0]:22", "[2001:db8::1]:443"} {
		ap := netip.MustParseAddrPort(s)
		if got, want := addrPortLen(ap), len(appendAddrPort(nil, ap)); got != want || string(appendAddrPort(nil, ap)) != render.AddrPortOf(ap).String() {
			t.Errorf("%s: addrPortLen %d, appendAddrPort %q (%d), render %q", s, got, appendAddrPort(nil, ap), want, render.AddrPortOf(ap).String())
		}
	}
	if got := len(appendAddrPort(nil, netip.AddrPort{})); got != addrPortLen(netip.AddrPort{}) {
		t.Errorf("zero AddrPort: addrPortLen %d, formatted %d", addrPortLen(netip.AddrPort{}), got)
	}
}

// TestSocketTableLineAllocs checks that a table row with its detail
// line costs no allocation once the service name is cached.
func TestSocketTableLineAllocs(t *testing.T) {
	ss := []socktable.Socket{{Proto: ports.ProtoTCP, State: socktable.StateEstablished,
		Local: netip.MustParseAddrPort("127.0.0.1:443"), Remote: netip.MustParseAddrPort("127.0.0.2:50123"), Procs: []socktable.Process{{PID: 9, Name: "x"}}}}
	in := &lsInternals{sorted: []int32{0}}
	in.details.add(socktable.TCPDetail{Socket: ss[0], Cong: "cubic", HasInfo: true, SndCwnd: 10, PacingRate: ^uint64(0), HasMem: true})
	v := &sockView{reg: registry.Default(), services: &serviceCache{}}
	b := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		s := &ss[0]
		sp := v.servicePort(s)
		b = append(b[:0], v.serviceName(s.Proto, sp)...)
		b = appendAddrPort(b, s.Local)
		b = appendAddrPort(b, s.Remote)
		b = appendProcsCell(b, s.Procs, false)
		b = in.line(b, ss, 0)
	})
	if n != 0 {
		t.Errorf("%v allocations per row, want 0", n)
	}
}

// BenchmarkSortOrder sorts 18,000 connections on loopback, as
// bench/sockhold holds them.
func BenchmarkSortOrder(b *testing.B) {
	rng := rand.New(rand.NewPCG(16, 4))
	ss := make([]socktable.Socket, 18000)
	for i := range ss {
		lp, rp := uint16(40000+rng.IntN(4)), uint16(32768+rng.IntN(28000))
		if i%2 == 0 {
			lp, rp = rp, lp
		}
		ss[i] = socktable.Socket{Proto: ports.ProtoTCP, State: socktable.StateEstablished,
			Local: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + rng.IntN(4))}), lp), Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + rng.IntN(4))}), rp)}
	}
	at := func(i int) *socktable.Socket { return &ss[i] }
	b.ReportAllocs()
	for b.Loop() {
		sortOrder(len(ss), at)
	}
}
