package knock

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

var (
	srcA = netip.MustParseAddr("198.18.0.1")
	srcB = netip.MustParseAddr("198.18.0.5")
	dst  = netip.MustParseAddr("198.18.0.2")
	t0   = time.Unix(1_800_000_000, 0)
)

func tcpHit(src netip.Addr, port int, at time.Duration) Hit {
	return Hit{Time: t0.Add(at), Src: src, Dst: dst, Proto: ports.ProtoTCP, Port: ports.Port(port), Flags: wire.TCPSyn}
}

func udpHit(src netip.Addr, port int, at time.Duration) Hit {
	return Hit{Time: t0.Add(at), Src: src, Dst: dst, Proto: ports.ProtoUDP, Port: ports.Port(port)}
}

type evs []string

func run(m *Machine, hits ...Hit) evs {
	var out evs
	for _, h := range hits {
		for _, e := range m.Observe(h) {
			out = append(out, e.String())
		}
	}
	return out
}

func door(t *testing.T, name, seq string) Door {
	t.Helper()
	s, err := ParseSequence(seq)
	if err != nil {
		t.Fatal(err)
	}
	return Door{Name: name, Sequence: s, SeqTimeout: 10 * time.Second}
}

func TestMachine(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		doors []Door
		hits  []Hit
		want  evs
	}{
		{"complete", []Door{door(t, "open", "7000,8000:udp,9000")},
			[]Hit{tcpHit(srcA, 7000, 0), udpHit(srcA, 8000, s), tcpHit(srcA, 9000, 2*s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: Stage 2", "198.18.0.1: open: Stage 3", "198.18.0.1: open: OPEN SESAME"}},
		{"wrong order resets", []Door{door(t, "open", "7000,8000,9000")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 9000, s), tcpHit(srcA, 8000, 2*s), tcpHit(srcA, 9000, 3*s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: sequence reset: knock out of order (stage 1)"}},
		{"reset knock does not restart; the next first knock does", []Door{door(t, "open", "7000,8000")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 7000, s), tcpHit(srcA, 7000, 2*s), tcpHit(srcA, 8000, 3*s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: sequence reset: knock out of order (stage 1)",
				"198.18.0.1: open: Stage 1", "198.18.0.1: open: Stage 2", "198.18.0.1: open: OPEN SESAME"}},
		{"wrong protocol resets", []Door{door(t, "open", "7000,8000:udp")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 7000, s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: sequence reset: knock out of order (stage 1)"}},
		{"missing knock never opens", []Door{door(t, "open", "7000,8000,9000")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 9000, s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: sequence reset: knock out of order (stage 1)"}},
		{"ports outside every sequence are ignored", []Door{door(t, "open", "7000,8000")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 22, s), udpHit(srcA, 7000, s), tcpHit(srcA, 8000, 2*s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: Stage 2", "198.18.0.1: open: OPEN SESAME"}},
		{"timeout counts from the first knock", []Door{door(t, "open", "7000,8000,9000")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 8000, 9*s), tcpHit(srcA, 9000, 10*s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: Stage 2", "198.18.0.1: open: sequence timeout (stage 2)"}},
		{"sources are separate", []Door{door(t, "open", "7000,8000")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcB, 7000, s), tcpHit(srcB, 8000, s), tcpHit(srcA, 8000, 2*s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.5: open: Stage 1", "198.18.0.5: open: Stage 2", "198.18.0.5: open: OPEN SESAME",
				"198.18.0.1: open: Stage 2", "198.18.0.1: open: OPEN SESAME"}},
		{"a knock of another door resets", []Door{door(t, "open", "7000,8000"), door(t, "close", "9000,8000")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 9000, s), tcpHit(srcA, 8000, 2*s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: sequence reset: knock out of order (stage 1)"}},
		{"after opening the source starts afresh", []Door{door(t, "open", "7000")},
			[]Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 7000, s)},
			evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: OPEN SESAME", "198.18.0.1: open: Stage 1", "198.18.0.1: open: OPEN SESAME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(NewMachine(tt.doors), tt.hits...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMachineTCPFlags(t *testing.T) {
	d := door(t, "open", "7000,8000")
	d.TCPFlags = FlagMatch{Set: wire.TCPSyn, Clear: wire.TCPAck}
	m := NewMachine([]Door{d})
	ack := tcpHit(srcA, 8000, time.Second)
	ack.Flags = wire.TCPAck
	synack := tcpHit(srcA, 7000, time.Second)
	synack.Flags = wire.TCPSyn | wire.TCPAck
	got := run(m, tcpHit(srcA, 7000, 0), ack, synack, tcpHit(srcA, 8000, 2*time.Second))
	want := evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: Stage 2", "198.18.0.1: open: OPEN SESAME"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packets with other flags must be ignored (-want +got):\n%s", diff)
	}
}

func TestMachineTarget(t *testing.T) {
	d := door(t, "open", "7000")
	d.Target = netip.MustParseAddr("198.18.0.9")
	m := NewMachine([]Door{d})
	if got := run(m, tcpHit(srcA, 7000, 0)); got != nil {
		t.Errorf("a knock on another address counted: %v", got)
	}
	h := tcpHit(srcA, 7000, 0)
	h.Dst = d.Target
	if got := run(m, h); len(got) != 2 {
		t.Errorf("a knock on the target: %v", got)
	}
}

// TestMachineFloodKeepsProgress: with the attempts full, a first knock
// drops the oldest attempt still at stage 1, never one further on; a
// source past its first knock completes its sequence through a flood of
// first knocks from other sources (the flood took every place and the
// real knock was refused).
func TestMachineFloodKeepsProgress(t *testing.T) {
	m := NewMachine([]Door{door(t, "open", "7000,8000,9000")})
	m.MaxAttempts = 3
	hits := []Hit{tcpHit(srcA, 7000, 0), tcpHit(srcA, 8000, 0)}
	flood := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}) }
	for i := range 10 {
		hits = append(hits, tcpHit(flood(i), 7000, 0))
	}
	got := run(m, append(hits, tcpHit(srcA, 9000, 0))...)
	want := evs{"198.18.0.1: open: Stage 1", "198.18.0.1: open: Stage 2",
		"203.0.113.0: open: Stage 1", "203.0.113.1: open: Stage 1"}
	for i := 2; i < 10; i++ {
		want = append(want, fmt.Sprintf("203.0.113.%d: open: attempt dropped at stage 1: too many attempts in progress", i-2),
			fmt.Sprintf("203.0.113.%d: open: Stage 1", i))
	}
	want = append(want, "198.18.0.1: open: Stage 3", "198.18.0.1: open: OPEN SESAME")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n := m.Attempts(); n != 2 {
		t.Errorf("%d attempts left, want the 2 newest of the flood", n)
	}
	// The newest flood sources are still there: their second knock counts.
	if got := run(m, tcpHit(flood(9), 8000, time.Second)); len(got) != 1 || got[0] != "203.0.113.9: open: Stage 2" {
		t.Errorf("the newest first knock was not kept: %q", got)
	}
}

// TestMachineFullOfProgress: when every attempt is past its first knock,
// the one nearest its timeout makes room.
func TestMachineFullOfProgress(t *testing.T) {
	long := door(t, "long", "7000,8000,9000")
	long.SeqTimeout = time.Hour
	m := NewMachine([]Door{door(t, "open", "7100,8100,9100"), long})
	m.MaxAttempts = 2
	got := run(m, tcpHit(srcB, 7000, 0), tcpHit(srcB, 8000, 0), tcpHit(srcA, 7100, 0), tcpHit(srcA, 8100, 0), tcpHit(dst, 7000, 0))
	if len(got) != 6 || got[4] != "198.18.0.1: open: attempt dropped at stage 2: too many attempts in progress" {
		t.Errorf("events %q", got)
	}
}

// TestMachineTimeouts: expired attempts of every source
// are reported at the next hit, each once.
func TestMachineTimeouts(t *testing.T) {
	m := NewMachine([]Door{door(t, "open", "7000,8000")})
	s := time.Second
	got := run(m, tcpHit(srcA, 7000, 0), tcpHit(srcB, 7000, s), tcpHit(dst, 7000, 20*s), tcpHit(dst, 8000, 21*s))
	want := evs{"198.18.0.1: open: Stage 1", "198.18.0.5: open: Stage 1",
		"198.18.0.1: open: sequence timeout (stage 1)", "198.18.0.5: open: sequence timeout (stage 1)",
		"198.18.0.2: open: Stage 1", "198.18.0.2: open: Stage 2", "198.18.0.2: open: OPEN SESAME"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n := m.Attempts(); n != 0 {
		t.Errorf("%d attempts left", n)
	}
}

func TestMachineNoAllocsIgnored(t *testing.T) {
	m := NewMachine([]Door{door(t, "open", "7000,8000")})
	h := tcpHit(srcA, 22, 0)
	if n := testing.AllocsPerRun(100, func() { m.Observe(h) }); n != 0 {
		t.Errorf("an ignored hit allocates %v times", n)
	}
}

// check verifies the machine's indexes against each other.
func (m *Machine) check(t *testing.T) {
	t.Helper()
	n := 0
	for src, as := range m.bySrc {
		if len(as) == 0 {
			t.Fatalf("%v: empty list kept", src)
		}
		for _, a := range as {
			n++
			if a.src != src || a.heap < 0 || a.heap >= len(m.expiry) || m.expiry[a.heap] != a {
				t.Fatalf("attempt %+v misplaced", a)
			}
			if a.fresh != (a.stage == 1) {
				t.Fatalf("attempt at stage %d: fresh %v", a.stage, a.fresh)
			}
		}
	}
	if n != m.n || n != len(m.expiry) {
		t.Fatalf("%d attempts by source, count %d, %d in the heap", n, m.n, len(m.expiry))
	}
	for i := 1; i < len(m.expiry); i++ {
		if m.less(i, (i-1)/2) {
			t.Fatalf("heap out of order at %d", i)
		}
	}
	fresh := 0
	for a := m.freshHead; a != nil; a = a.next {
		if fresh++; fresh > n || !a.fresh || (a.next == nil) != (a == m.freshTail) {
			t.Fatal("fresh list broken")
		}
	}
}

// FuzzMachine feeds hits made from the input to a small machine and
// checks its bounds and indexes after each.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 2, 1, 3, 2, 9, 0, 0})
	f.Add([]byte("\x00\x00\x01\x01\x02\x02\x03\x03\x04\x04\x05\x05\x06\x06"))
	f.Fuzz(func(t *testing.T, b []byte) {
		short := Door{Name: "short", SeqTimeout: 3 * time.Second}
		short.Sequence, _ = ParseSequence("7000,8000:udp,9000")
		other := Door{Name: "other", SeqTimeout: time.Hour}
		other.Sequence, _ = ParseSequence("7000,9000,7000,8000:udp")
		one := Door{Name: "one"}
		one.Sequence, _ = ParseSequence("8000:udp")
		m := NewMachine([]Door{short, other, one})
		m.MaxAttempts = 3
		knocks := []Knock{{7000, ports.ProtoTCP}, {8000, ports.ProtoUDP}, {9000, ports.ProtoTCP}, {22, ports.ProtoTCP}}
		at := time.Duration(0)
		for i := 0; i+1 < len(b); i += 2 {
			at += time.Duration(b[i]>>4) * time.Second
			k := knocks[int(b[i])%len(knocks)]
			src := netip.AddrFrom4([4]byte{198, 18, 0, b[i+1] % 8})
			m.Observe(Hit{Time: t0.Add(at), Src: src, Dst: dst, Proto: k.Proto, Port: k.Port, Flags: wire.TCPSyn})
			if m.Attempts() > 3 {
				t.Fatalf("%d attempts", m.Attempts())
			}
			m.check(t)
			if b[i+1] == 0xff {
				m.SetSequence(1, nil)
				m.check(t)
			}
		}
	})
}
