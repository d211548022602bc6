package flow

import (
	"net/netip"
	"testing"
	"time"

	"github.com/portkit/ports"
)

var (
	cli = netip.MustParseAddrPort("192.0.2.10:51000")
	srv = netip.MustParseAddrPort("192.0.2.80:80")
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

type pkt struct {
	ms       int
	fromCli  bool
	flags    uint16
	seq      uint32
	payload  int
	proto    ports.Proto
	src, dst netip.AddrPort
}

func run(t *testing.T, cfg *Config, pkts []pkt) []Flow {
	t.Helper()
	tab := New(cfg)
	var out []Flow
	emit := func(f *Flow) { out = append(out, *f) }
	for _, p := range pkts {
		s := Segment{Time: t0.Add(time.Duration(p.ms) * time.Millisecond), Proto: ports.ProtoTCP, Flags: p.flags, Seq: p.seq, Payload: p.payload, Length: 54 + p.payload}
		if p.proto != 0 {
			s.Proto = p.proto
		}
		s.Src, s.Dst = srv, cli
		if p.fromCli {
			s.Src, s.Dst = cli, srv
		}
		if p.src.IsValid() {
			s.Src, s.Dst = p.src, p.dst
		}
		tab.Add(&s, emit)
	}
	tab.Flush(emit)
	return out
}

func TestHandshakeDataClose(t *testing.T) {
	got := run(t, nil, []pkt{
		{ms: 0, fromCli: true, flags: SYN, seq: 100},
		{ms: 1, flags: SYN | ACK, seq: 500},
		{ms: 2, fromCli: true, flags: ACK, seq: 101},
		{ms: 3, fromCli: true, flags: ACK | 0x08, seq: 101, payload: 100},
		{ms: 4, fromCli: true, flags: ACK | 0x08, seq: 101, payload: 100}, // retransmitted
		{ms: 5, flags: ACK | 0x08, seq: 501, payload: 1000},
		{ms: 6, fromCli: true, flags: FIN | ACK, seq: 201},
		{ms: 7, flags: FIN | ACK, seq: 1501},
	})
	if len(got) != 1 {
		t.Fatalf("got %d flows, want 1: %+v", len(got), got)
	}
	f := got[0]
	if f.Client != cli || f.Server != srv || !f.ClientBySYN || !f.HandshakeSeen {
		t.Errorf("client %v server %v bySYN %v handshake %v", f.Client, f.Server, f.ClientBySYN, f.HandshakeSeen)
	}
	if f.State != StateClosed {
		t.Errorf("state %v, want closed", f.State)
	}
	if f.Packets != [2]uint64{5, 3} || f.Payload != [2]uint64{200, 1000} || f.Retransmits != [2]uint64{1, 0} {
		t.Errorf("packets %v payload %v retransmits %v", f.Packets, f.Payload, f.Retransmits)
	}
	if f.Duration() != 7*time.Millisecond {
		t.Errorf("duration %v", f.Duration())
	}
}

func TestMidStreamUsesPorts(t *testing.T) {
	// The first packet seen goes from the server: the ports still tell.
	got := run(t, nil, []pkt{
		{ms: 0, flags: ACK, seq: 9, payload: 10},
		{ms: 1, fromCli: true, flags: ACK, seq: 1},
		{ms: 2, fromCli: true, flags: RST, seq: 1},
	})
	if len(got) != 1 || got[0].Client != cli || got[0].ClientBySYN || got[0].State != StateReset {
		t.Fatalf("got %+v", got)
	}
	if got[0].Packets != [2]uint64{2, 1} {
		t.Errorf("packets %v", got[0].Packets)
	}
}

func TestServiceHook(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:5432")
	b := netip.MustParseAddrPort("10.0.0.2:3000")
	cfg := &Config{IsService: func(_ ports.Proto, p ports.Port) bool { return p == 5432 }}
	got := run(t, cfg, []pkt{{ms: 0, proto: ports.ProtoUDP, src: b, dst: a, payload: 5}})
	if len(got) != 1 || got[0].Server != a || got[0].State != StateNone {
		t.Fatalf("got %+v, want server %v", got, a)
	}
}

func TestIdleExpiryAndCap(t *testing.T) {
	var pkts []pkt
	// 100 short UDP flows, one every second: with a 10 s idle timeout
	// most are emitted while the input runs, not at Flush.
	for i := 0; i < 100; i++ {
		src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(40000+i))
		pkts = append(pkts, pkt{ms: i * 1000, proto: ports.ProtoUDP, src: src, dst: netip.MustParseAddrPort("10.0.0.2:53"), payload: 30})
	}
	tab := New(&Config{IdleTimeout: 10 * time.Second, MaxFlows: 50})
	emitted := 0
	maxOpen := 0
	for _, p := range pkts {
		s := Segment{Time: t0.Add(time.Duration(p.ms) * time.Millisecond), Proto: p.proto, Src: p.src, Dst: p.dst, Payload: 30, Length: 72}
		tab.Add(&s, func(*Flow) { emitted++ })
		maxOpen = max(maxOpen, tab.Len())
	}
	if emitted < 80 {
		t.Errorf("only %d flows finished before Flush, want most of 100", emitted)
	}
	if maxOpen > 50 {
		t.Errorf("table held %d flows, cap 50", maxOpen)
	}
	tab.Flush(func(*Flow) { emitted++ })
	if emitted != 100 || tab.Len() != 0 {
		t.Errorf("emitted %d, open %d; want 100, 0", emitted, tab.Len())
	}
}

func TestIPv4MappedStaysIPv6(t *testing.T) {
	a := netip.MustParseAddrPort("[::ffff:192.0.2.1]:40000")
	b := netip.MustParseAddrPort("[::ffff:192.0.2.2]:443")
	got := run(t, nil, []pkt{{ms: 0, proto: ports.ProtoUDP, src: a, dst: b}})
	if len(got) != 1 || got[0].Client != a || got[0].Server != b {
		t.Fatalf("got %+v", got)
	}
}

func TestSequenceWrap(t *testing.T) {
	got := run(t, nil, []pkt{
		{ms: 0, fromCli: true, flags: ACK, seq: 0xffffff00, payload: 0x200}, // wraps to 0x100
		{ms: 1, fromCli: true, flags: ACK, seq: 0x100, payload: 10},         // new data after the wrap
		{ms: 2, fromCli: true, flags: ACK, seq: 0xffffff80, payload: 0x80},  // old data again
	})
	if got[0].Retransmits[ToServer] != 1 {
		t.Errorf("retransmits %v, want 1 (the last segment only)", got[0].Retransmits)
	}
}

func BenchmarkAdd(b *testing.B) {
	tab := New(nil)
	segs := make([]Segment, 1024)
	for i := range segs {
		segs[i] = Segment{Time: t0.Add(time.Duration(i) * time.Microsecond), Proto: ports.ProtoTCP, Flags: ACK,
			Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(40000+i%256)), Dst: srv, Seq: uint32(i * 100), Payload: 100, Length: 154}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tab.Add(&segs[i%len(segs)], func(*Flow) {})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// FuzzTable feeds random segments and checks that every packet is
// counted exactly once across the flows that come out, and that the
// table stays within its cap.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x02, 0x12, 0x10, 0x11, 0x04, 0xff, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		tab := New(&Config{MaxFlows: 4, IdleTimeout: 3 * time.Second, ClosedTimeout: time.Second})
		var total uint64
		emit := func(fl *Flow) {
			total += fl.Packets[0] + fl.Packets[1]
			if fl.Client == fl.Server && fl.Client.Port() != fl.Server.Port() {
				t.Fatalf("flow %+v", fl)
			}
		}
		for i := 0; i+3 < len(b); i += 4 {
			s := Segment{
				Time:    t0.Add(time.Duration(b[i]) * 100 * time.Millisecond),
				Proto:   []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}[b[i+1]&1],
				Src:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, b[i+1] >> 6}), uint16(b[i+2])),
				Dst:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 9}), uint16(b[i+3])),
				Flags:   uint16(b[i+3]),
				Seq:     uint32(b[i+2]) << 24,
				Payload: int(b[i] & 7),
			}
			tab.Add(&s, emit)
			if tab.Len() > 4 {
				t.Fatalf("%d open flows, cap 4", tab.Len())
			}
		}
		tab.Flush(emit)
		if total != uint64(len(b)/4) {
			t.Fatalf("counted %d packets, fed %d", total, len(b)/4)
		}
	})
}

// TestIdleTimeoutBelowClosedTimeout: an idle timeout shorter than the
// closed timeout (flows --idle 1s) still finishes open flows once they
// are idle that long, not only after the closed timeout.
func TestIdleTimeoutBelowClosedTimeout(t *testing.T) {
	tab := New(&Config{IdleTimeout: time.Second})
	var finished []netip.AddrPort
	emit := func(f *Flow) { finished = append(finished, f.Client) }
	dst := netip.MustParseAddrPort("10.0.0.2:53")
	for i := range 5 {
		src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(40000+i))
		s := Segment{Time: t0.Add(time.Duration(i) * 3 * time.Second), Proto: ports.ProtoUDP, Src: src, Dst: dst, Payload: 30, Length: 72}
		tab.Add(&s, emit)
	}
	// Each flow was idle 3 s when the next came: all but the last are
	// finished.
	if len(finished) != 4 || tab.Len() != 1 {
		t.Errorf("finished %v, %d open; want 4 finished, 1 open", finished, tab.Len())
	}
}
