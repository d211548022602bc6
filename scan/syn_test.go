package scan

import (
	"context"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

func TestSipHashVectors(t *testing.T) {
	// The reference implementation's test vectors (Aumasson and
	// Bernstein, vectors.h): key 00 01 .. 0f, messages 00 01 .. of length
	// 0 and 8.
	var kb [16]byte
	for i := range kb {
		kb[i] = byte(i)
	}
	k := sipKey{binary.LittleEndian.Uint64(kb[:8]), binary.LittleEndian.Uint64(kb[8:])}
	if got, want := k.sum64(), uint64(0x726fdb47dd0e0e31); got != want {
		t.Errorf("SipHash-2-4 of the empty message = %#x, want %#x", got, want)
	}
	m := binary.LittleEndian.Uint64([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	if got, want := k.sum64(m), uint64(0x93f5f5799a932462); got != want {
		t.Errorf("SipHash-2-4 of 00..07 = %#x, want %#x", got, want)
	}
}

func TestCookie(t *testing.T) {
	k1, k2 := sipKey{1, 2}, sipKey{3, 4}
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	c := k1.cookie(src, dst, 40000, 80)
	if c != k1.cookie(src, dst, 40000, 80) {
		t.Fatal("cookie is not deterministic")
	}
	// Any change of key, address or port changes it (a collision here
	// has probability 2^-32 per pair; these are fixed inputs).
	for name, other := range map[string]uint32{
		"key":      k2.cookie(src, dst, 40000, 80),
		"src":      k1.cookie(netip.MustParseAddr("198.18.0.3"), dst, 40000, 80),
		"dst":      k1.cookie(src, netip.MustParseAddr("198.18.0.3"), 40000, 80),
		"sport":    k1.cookie(src, dst, 40001, 80),
		"dport":    k1.cookie(src, dst, 40000, 81),
		"swapped":  k1.cookie(dst, src, 80, 40000),
		"ipv6":     k1.cookie(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 40000, 80),
		"v4mapped": k1.cookie(src, netip.MustParseAddr("::ffff:198.18.0.3"), 40000, 80),
	} {
		if other == c {
			t.Errorf("changing the %s leaves the cookie %#x", name, c)
		}
	}
}

// TestVerify checks which replies the scanner accepts, without sockets.
func TestVerify(t *testing.T) {
	target := netip.MustParseAddr("198.18.0.2")
	s, err := newSYNScanner([]netip.Addr{target}, &SYNConfig{Options: Options{Ports: portRange(1, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	s.srcs = []netip.Addr{netip.MustParseAddr("198.18.0.1")}
	s.lports = []uint16{40000, 40001}
	ck := s.key.cookie(s.srcs[0], target, 40001, 80)
	tests := []struct {
		name string
		r    reply
		want uint64
		ok   bool
	}{
		{"syn-ack", reply{Kind: replySYNACK, Target: target, TPort: 80, LPort: 40001, Ack: ck + 1, Flags: tcpSYN | tcpACK}, probeOpen, true},
		{"syn-ack, ack = cookie", reply{Kind: replySYNACK, Target: target, TPort: 80, LPort: 40001, Ack: ck, Flags: tcpSYN | tcpACK}, 0, false},
		{"syn-ack, other round's port", reply{Kind: replySYNACK, Target: target, TPort: 80, LPort: 40000, Ack: ck + 1, Flags: tcpSYN | tcpACK}, 0, false},
		{"syn-ack, unknown port", reply{Kind: replySYNACK, Target: target, TPort: 80, LPort: 40002, Ack: ck + 1, Flags: tcpSYN | tcpACK}, 0, false},
		{"syn-ack, port not scanned", reply{Kind: replySYNACK, Target: target, TPort: 180, LPort: 40001, Ack: ck + 1, Flags: tcpSYN | tcpACK}, 0, false},
		{"syn-ack, other host", reply{Kind: replySYNACK, Target: netip.MustParseAddr("198.18.0.3"), TPort: 80, LPort: 40001, Ack: ck + 1}, 0, false},
		{"syn-ack, other local address", reply{Kind: replySYNACK, Target: target, Local: target, TPort: 80, LPort: 40001, Ack: ck + 1}, 0, false},
		{"rst-ack", reply{Kind: replyRST, Target: target, TPort: 80, LPort: 40001, Ack: ck + 1, Flags: tcpRST | tcpACK}, probeClosed, true},
		{"rst without ack", reply{Kind: replyRST, Target: target, TPort: 80, LPort: 40001, Ack: ck + 1, Flags: tcpRST}, 0, false},
		{"rst, wrong ack", reply{Kind: replyRST, Target: target, TPort: 80, LPort: 40001, Ack: ck + 2, Flags: tcpRST | tcpACK}, 0, false},
		{"icmp", reply{Kind: replyICMP, Target: target, Local: s.srcs[0], TPort: 80, LPort: 40001, Seq: ck, ICMPCode: 13}, probeDone, true},
		{"icmp, wrong seq", reply{Kind: replyICMP, Target: target, Local: s.srcs[0], TPort: 80, LPort: 40001, Seq: ck + 1, ICMPCode: 13}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, ok := s.verify(&tt.r)
			if ok != tt.ok || st != tt.want {
				t.Errorf("verify = %d, %v; want %d, %v", st, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPermutation(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 100, 1000, 65535, 3 * 65535} {
		p := newPermutation(n, 42)
		seen := make([]bool, n)
		for k := range n {
			x := p.at(k)
			if x >= n || seen[x] {
				t.Fatalf("n=%d: at(%d) = %d: out of range or seen before", n, k, x)
			}
			seen[x] = true
			if back := p.inverse(x); back != k {
				t.Fatalf("n=%d: inverse(at(%d)) = %d", n, k, back)
			}
		}
	}
	a, b, c := newPermutation(1000, 7), newPermutation(1000, 7), newPermutation(1000, 8)
	same, fixed := true, 0
	for k := range uint64(1000) {
		if a.at(k) != b.at(k) {
			t.Fatalf("same seed, different order at %d", k)
		}
		if a.at(k) != c.at(k) {
			same = false
		}
		if a.at(k) == k {
			fixed++
		}
	}
	if same {
		t.Error("seeds 7 and 8 give the same order")
	}
	if fixed > 50 {
		t.Errorf("%d fixed points of 1000: not much of a shuffle", fixed)
	}
}

func TestShards(t *testing.T) {
	for _, n := range []uint64{1, 5, 1000, 65535} {
		for _, shards := range []uint64{1, 2, 3, 7} {
			count := make([]int, n)
			total := uint64(0)
			for i := range shards {
				o := newShardOrder(n, 99, i, shards)
				total += o.len
				for j := range o.len {
					x := o.at(j)
					count[x]++
					if pos, ok := o.position(x); !ok || pos != j {
						t.Fatalf("n=%d shard %d/%d: position(at(%d)) = %d, %v", n, i+1, shards, j, pos, ok)
					}
				}
			}
			if total != n {
				t.Errorf("n=%d, %d shards: %d positions in all", n, shards, total)
			}
			for x, c := range count {
				if c != 1 {
					t.Fatalf("n=%d, %d shards: element %d scanned %d times", n, shards, x, c)
				}
			}
		}
	}
}

func TestCheckShard(t *testing.T) {
	for _, s := range [][2]int{{3, 2}, {0, 2}, {1, 0}, {-1, 3}} {
		if err := CheckShard(s[0], s[1]); err == nil {
			t.Errorf("CheckShard(%d, %d) = nil", s[0], s[1])
		}
	}
	if _, err := newSYNScanner(nil, &SYNConfig{Shard: 3, Shards: 2}); err == nil {
		t.Error("newSYNScanner accepted shard 3/2")
	}
}

func TestStateMap(t *testing.T) {
	m := newStateMap(100)
	if !m.finish(37, probeClosed) || m.finish(37, probeOpen) {
		t.Error("finish must succeed once per probe")
	}
	if m.get(37) != probeClosed || m.get(36) != probePending || m.get(38) != probePending {
		t.Errorf("states %d %d %d", m.get(36), m.get(37), m.get(38))
	}
	if len(m) != 4 {
		t.Errorf("%d words for 100 probes, want 4 (2 bits each)", len(m))
	}
}

// synAckV4 builds an IPv4 datagram with a TCP header, as an IPv4 raw
// socket delivers it.
func synAckV4(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags byte) []byte {
	b := make([]byte, 40)
	b[0], b[8], b[9] = 0x45, 61, 6
	binary.BigEndian.PutUint16(b[2:], 40)
	s4, d4 := src.As4(), dst.As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	tcp := b[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12], tcp[13] = 5<<4, flags
	return b
}

func TestParseReply(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	var r reply
	var h wire.Headers
	if !parseReply(&r, &h, synAckV4(b, a, 80, 40000, 5, 6, tcpSYN|tcpACK), false, false) {
		t.Fatal("SYN-ACK not parsed")
	}
	want := reply{Kind: replySYNACK, Target: b, Local: a, TPort: 80, LPort: 40000, Seq: 5, Ack: 6, Flags: tcpSYN | tcpACK, TTL: 61}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	// An ICMP port unreachable quoting our SYN.
	syn := appendSYN(nil, a, b, 40000, 443, 0xdeadbeef)
	quoted := synAckV4(a, b, 0, 0, 0, 0, 0)[:20]
	quoted = append(quoted, syn[:8]...)
	icmp := append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, quoted...)
	pkt := append(synAckV4(b, a, 0, 0, 0, 0, 0)[:20], icmp...)
	pkt[9] = 1
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	if !parseReply(&r, &h, pkt, false, true) {
		t.Fatal("ICMP not parsed")
	}
	want = reply{Kind: replyICMP, Target: b, Local: a, TPort: 443, LPort: 40000, Seq: 0xdeadbeef, TTL: 61, From: b, ICMPType: 3, ICMPCode: 3}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	if _, got := icmpState(false, r.ICMPType, r.ICMPCode); got != ReasonPortUnreach {
		t.Errorf("reason %q", got)
	}
	// Our own SYN, seen on loopback, is no reply.
	if parseReply(&r, &h, synAckV4(a, a, 40000, 80, 5, 0, tcpSYN), false, false) {
		t.Error("a SYN taken for a reply")
	}
	for n := range 40 {
		if parseReply(&r, &h, pkt[:n], false, true) {
			t.Errorf("ICMP cut to %d bytes parsed", n)
		}
	}
}

func TestAppendSYNChecksum(t *testing.T) {
	for _, pair := range [][2]string{{"198.18.0.1", "198.18.0.2"}, {"fd00::1", "fd00::2"}} {
		src, dst := netip.MustParseAddr(pair[0]), netip.MustParseAddr(pair[1])
		seg := appendSYN(nil, src, dst, 40000, 80, 12345)
		if len(seg) != 24 || seg[13] != tcpSYN {
			t.Fatalf("segment % x", seg)
		}
		// The checksum of a segment with its checksum in place is 0.
		if c := tcpChecksum(src, dst, seg); c != 0 {
			t.Errorf("%s: checksum over the whole segment = %#x, want 0", pair[0], c)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	f.Add(synAckV4(b, a, 80, 40000, 5, 6, tcpSYN|tcpACK), false, false) // a SYN-ACK
	f.Add(synAckV4(b, a, 80, 40000, 0, 6, tcpRST|tcpACK), false, false) // a RST
	f.Add(appendSYN(nil, b, a, 80, 40000, 7), true, false)              // IPv6 TCP, header only
	f.Add([]byte{1, 4, 0, 0, 0, 0, 0, 0}, true, true)                   // ICMPv6 unreachable, no quote
	f.Add([]byte{0x4f, 0, 0, 20}, false, false)                         // IHL beyond the data
	f.Fuzz(func(t *testing.T, data []byte, v6, icmp bool) {
		var r reply
		var h wire.Headers
		in := slices.Clone(data)
		ok := parseReply(&r, &h, data, v6, icmp)
		if !slices.Equal(in, data) {
			t.Fatal("parseReply changed its input")
		}
		if !ok {
			return
		}
		switch {
		case r.Kind == replyOther:
			t.Fatalf("accepted with no kind: %+v", r)
		case icmp != (r.Kind == replyICMP):
			t.Fatalf("kind %d from the icmp=%v socket", r.Kind, icmp)
		case !v6 && !r.Target.Is4():
			t.Fatalf("IPv4 packet, target %v", r.Target)
		}
	})
}

// TestConnectShards splits a loopback connect scan into 3 shards: each
// pair is probed by exactly one, and a seed alone fixes the order.
func TestConnectShards(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
	first := randomBase(300)
	count := map[netip.AddrPort]int{}
	for shard := 1; shard <= 3; shard++ {
		ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
		cfg := &ConnectConfig{Options: Options{Ports: portRange(first, first+299)}, Seed: 5, Shard: shard, Shards: 3, Concurrency: 1}
		var order []netip.AddrPort
		for r, err := range ConnectScan(ctx, addrs, cfg) {
			if err != nil {
				cancel()
				t.Skipf("connect on loopback: %v", err)
			}
			count[r.AddrPort()]++
			order = append(order, r.AddrPort())
		}
		cancel()
		if shard == 1 {
			// Concurrency 1: the results come in the order of the probes.
			ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
			var again []netip.AddrPort
			for r := range ConnectScan(ctx, addrs, cfg) {
				again = append(again, r.AddrPort())
			}
			cancel()
			if !slices.Equal(order, again) {
				t.Error("the same seed and shard gave another order")
			}
		}
	}
	if len(count) != 600 {
		t.Errorf("%d pairs probed by the 3 shards, want 600", len(count))
	}
	for ap, c := range count {
		if c != 1 {
			t.Errorf("%v probed %d times", ap, c)
		}
	}
	if _, err := newConnectScanner(addrs, &ConnectConfig{Shard: 3, Shards: 2}); err == nil {
		t.Error("connect scan accepted shard 3/2")
	}
}

// synPathFrames are the replies the SYN scan's receive path reads: a
// SYN-ACK as an IPv4 raw socket delivers it, ICMP port unreachable
// quoting a SYN, and over IPv6 the bare TCP segment and ICMPv6 message
// that an IPv6 raw socket delivers.
func synPathFrames() []struct {
	name      string
	b         []byte
	v6, icmp  bool
	wantKind  uint8
	wantTPort uint16
} {
	a4, b4 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	a6, b6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	icmp4 := append(synAckV4(b4, a4, 0, 0, 0, 0, 0)[:20], 3, 3, 0, 0, 0, 0, 0, 0)
	icmp4 = append(icmp4, synAckV4(a4, b4, 0, 0, 0, 0, 0)[:20]...)
	icmp4 = append(icmp4, appendSYN(nil, a4, b4, 40000, 443, 7)[:8]...)
	icmp4[9] = 1
	binary.BigEndian.PutUint16(icmp4[2:], uint16(len(icmp4)))
	ip6 := make([]byte, 40)
	ip6[0], ip6[5], ip6[6], ip6[7] = 0x60, 24, 6, 64
	s6, d6 := a6.As16(), b6.As16()
	copy(ip6[8:], s6[:])
	copy(ip6[24:], d6[:])
	icmp6 := append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, ip6...)
	icmp6 = append(icmp6, appendSYN(nil, a6, b6, 40000, 443, 7)...)
	synack6 := appendSYN(nil, b6, a6, 443, 40000, 9)
	synack6[13] = tcpSYN | tcpACK
	return []struct {
		name      string
		b         []byte
		v6, icmp  bool
		wantKind  uint8
		wantTPort uint16
	}{
		{"v4-synack", synAckV4(b4, a4, 443, 40000, 5, 8, tcpSYN|tcpACK), false, false, replySYNACK, 443},
		{"v4-icmp", icmp4, false, true, replyICMP, 443},
		{"v6-synack", synack6, true, false, replySYNACK, 443},
		{"v6-icmp", icmp6, true, true, replyICMP, 443},
	}
}

// TestSYNPathAllocs checks that building a SYN and reading each kind of
// reply allocate nothing: the scan does both once per probe.
func TestSYNPathAllocs(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = appendSYN(buf[:0], src, dst, 40000, 443, 7) }); n != 0 {
		t.Errorf("appendSYN: %v allocations, want 0", n)
	}
	for _, f := range synPathFrames() {
		var r reply
		var h wire.Headers
		if !parseReply(&r, &h, f.b, f.v6, f.icmp) || r.Kind != f.wantKind || r.TPort != f.wantTPort {
			t.Fatalf("%s: parsed %v as %+v", f.name, parseReply(&r, &h, f.b, f.v6, f.icmp), r)
		}
		if n := testing.AllocsPerRun(100, func() { parseReply(&r, &h, f.b, f.v6, f.icmp) }); n != 0 {
			t.Errorf("%s: parseReply: %v allocations, want 0", f.name, n)
		}
	}
}

// BenchmarkSYNPath measures the per-probe packet work of the SYN scan:
// building a SYN, and reading each kind of reply.
func BenchmarkSYNPath(b *testing.B) {
	for _, pair := range [][2]string{{"198.18.0.1", "198.18.0.2"}, {"fd00::1", "fd00::2"}} {
		src, dst := netip.MustParseAddr(pair[0]), netip.MustParseAddr(pair[1])
		name := "append-v4"
		if src.Is6() {
			name = "append-v6"
		}
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				buf = appendSYN(buf[:0], src, dst, 40000, 443, 7)
			}
		})
	}
	for _, f := range synPathFrames() {
		b.Run("parse-"+f.name, func(b *testing.B) {
			var r reply
			var h wire.Headers
			b.ReportAllocs()
			for b.Loop() {
				if !parseReply(&r, &h, f.b, f.v6, f.icmp) {
					b.Fatal("not parsed")
				}
			}
		})
	}
}

// TestRateTest: the slow half must answer half again as often, with at
// least 20 answers, for the test to find a rate limit.
func TestRateTest(t *testing.T) {
	for _, c := range []struct {
		fastSent, fastAns, slowSent, slowAns int
		want                                 bool
	}{
		{100, 50, 100, 75, true},  // 1.5 times: limited
		{100, 50, 100, 74, false}, // just below
		{100, 10, 100, 19, false}, // too few answers to tell
		{100, 10, 100, 20, true},
		{100, 90, 100, 90, false}, // random loss: the same proportion
		{0, 0, 0, 0, false},
	} {
		var rt rateTest
		rt.begin(uint64(c.fastSent))
		for i := range c.fastSent {
			rt.sent(true)
			if i < c.fastAns {
				rt.answered(uint64(i))
			}
		}
		for i := range c.slowSent {
			rt.sent(false)
			if i < c.slowAns {
				rt.answered(uint64(c.fastSent + i))
			}
		}
		if got := rt.limited(); got != c.want {
			t.Errorf("fast %d/%d, slow %d/%d: limited %v, want %v", c.fastAns, c.fastSent, c.slowAns, c.slowSent, got, c.want)
		}
		rt.end()
		rt.answered(0)
		if rt.fast.Load() != int64(c.fastAns) {
			t.Errorf("an answer after end was counted")
		}
	}
}

// TestTarpitGuard: open ports are held until the host refuses 1/20 of
// its ports; a host that never does and SYN-ACKs 90% of 100 probes is a
// tarpit.
func TestTarpitGuard(t *testing.T) {
	g := newTarpitGuard(2)
	g.probed[0], g.probed[1] = 100, 100
	for p := range 95 {
		if !g.open(0, Result{Port: ports.Port(p)}) {
			t.Fatalf("open port %d of host 0 not held", p)
		}
	}
	for p := range 10 {
		g.open(1, Result{Port: ports.Port(p)})
	}
	for i := range 4 {
		if out := g.refused(1, 100); out != nil {
			t.Fatalf("refusal %d released %d ports, want none before 5", i+1, len(out))
		}
	}
	if out := g.refused(1, 100); len(out) != 10 {
		t.Fatalf("the 5th refusal released %d ports, want the 10 held", len(out))
	}
	if g.open(1, Result{Port: 99}) || g.refused(1, 100) != nil {
		t.Error("after the release, open ports are held or released again")
	}
	index := func(r Result) uint64 { return uint64(r.Port) }
	if !g.conflict(3, 0, index) || g.conflict(3, 0, index) {
		t.Error("conflict: want true once, then false")
	}
	held, probed, tarpit := g.verdict(0)
	if len(held) != 94 || probed != 100 || !tarpit {
		t.Errorf("host 0: %d held (want 94, one dropped by the conflict), %d probed, tarpit %v", len(held), probed, tarpit)
	}
	if _, _, tarpit := g.verdict(1); tarpit {
		t.Error("host 1, which refused, is a tarpit")
	}
}
