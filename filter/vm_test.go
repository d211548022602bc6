package filter

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/portkit/ports/pcapfile"
	"golang.org/x/net/bpf"
)

// vmOps are the operation codes of classic BPF that the interpreter
// runs, and a few it does not (0x0e, 0x55, 0xc4), which reject.
var vmOps = []uint16{
	0x06, 0x16, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x80, 0x00, 0x60,
	0x01, 0x81, 0x61, 0xb1, 0x02, 0x03, 0x84, 0x05, 0x07, 0x87,
	0x04, 0x14, 0x24, 0x34, 0x94, 0x54, 0x44, 0xa4, 0x64, 0x74,
	0x0c, 0x1c, 0x2c, 0x3c, 0x9c, 0x5c, 0x4c, 0xac, 0x6c, 0x7c,
	0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d,
	0x0e, 0x55, 0xc4,
}

// fuzzProgram makes a program from b, 8 bytes an instruction: an
// operation from vmOps, jump offsets, a byte that says how to take the
// others, and k. Offsets and k are mostly drawn small, so that loads land in the packet and jumps in the program
// (newRawVM refuses the others, as it must), and the shapes vm fuses
// (a load before a jump, "and", ldxb 4*([k]&0xf) before ld [x+k])
// come up often.
func fuzzProgram(b []byte) []bpf.RawInstruction {
	var prog []bpf.RawInstruction
	for len(b) >= 8 && len(prog) < 64 {
		op := vmOps[int(b[0])%len(vmOps)]
		k := binary.BigEndian.Uint32(b[4:])
		switch b[3] % 4 {
		case 0:
			k %= 64 // an offset in the packet, a shift, a slot
		case 1:
			k %= 16
		case 2:
			k = uint32(int32(int8(k))) // a ja back or forward
		}
		jt, jf := b[1], b[2]
		if b[3]&4 != 0 {
			jt, jf = jt%8, jf%8
		}
		prog = append(prog, bpf.RawInstruction{Op: op, Jt: jt, Jf: jf, K: k})
		b = b[8:]
	}
	return append(prog, bpf.RawInstruction{Op: 0x16}) // ret a
}

// FuzzVM checks the decoded, fused interpreter against refRun, the
// plain one it replaced, on random programs and packets: the same
// return value, or both refuse the program.
func FuzzVM(f *testing.F) {
	// Seeds: the compiled programs of the benchmark filters and of the
	// differential test's primitives, on one of their packets each.
	pkts := seedPackets(f)[pcapfile.LinkTypeEthernet]
	for i, s := range append([]string{"tcp port 80", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
		"dst net 172.16.0.0/16 and dst port 443", "ip6 protochain 6", "len > 100 and ip[2:2] / 4 = 25"}, diffPrimitives...) {
		prog, err := Compile(s, pcapfile.LinkTypeEthernet, 0)
		if err != nil {
			continue
		}
		raw, err := bpf.Assemble(prog)
		if err != nil {
			f.Fatalf("%q: %v", s, err)
		}
		var b []byte
		for _, r := range raw {
			b = append(b, byte(opIndex(r.Op)), r.Jt, r.Jf, 3)
			b = binary.BigEndian.AppendUint32(b, r.K)
		}
		f.Add(b, pkts[i%len(pkts)], uint32(len(pkts[i%len(pkts)])))
	}
	f.Add([]byte{}, []byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, code, pkt []byte, wirelen uint32) {
		raw := fuzzProgram(code)
		m, err := newRawVM(raw)
		if err != nil {
			return
		}
		if got, want := m.run(pkt, wirelen), refRun(raw, pkt, wirelen); got != want {
			t.Fatalf("run returns %d, the reference %d; packet % x, program:\n%s", got, want, pkt, rawListing(raw))
		}
	})
}

// opIndex is the index of op in vmOps, for seeds from real programs.
func opIndex(op uint16) int {
	for i, o := range vmOps {
		if o == op {
			return i
		}
	}
	panic("operation not in vmOps")
}

func rawListing(raw []bpf.RawInstruction) string {
	var b strings.Builder
	for i, r := range raw {
		fmt.Fprintf(&b, "(%03d) %v\n", i, r.Disassemble())
	}
	return b.String()
}

// TestVMAgainstReference runs the compiled program of every primitive
// of the differential test, and the benchmark filters, for every link
// type, over every seed packet of that link type (whole and cut at
// every length), in the decoded interpreter and in refRun, and wants
// the same return value; and it checks that the benchmark filters'
// programs are fused.
func TestVMAgainstReference(t *testing.T) {
	pkts := seedPackets(t)
	filters := append([]string{"tcp port 80", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
		"dst net 172.16.0.0/16 and dst port 443", "ip6 protochain 6", "ip protochain 51",
		"len > 100 and ip[2:2] / 4 = 25", "tcp[13] % 3 = 1 or ip[8] * 2 > 100 or ip[0] << 40 = 0"}, diffPrimitives...)
	runs := 0
	for _, link := range linkTypes {
		for _, s := range filters {
			prog, err := Compile(s, link, 0)
			if err != nil {
				continue
			}
			m, err := newVM(prog)
			if err != nil {
				t.Fatalf("%q on %v: %v", s, link, err)
			}
			for _, p := range pkts[link] {
				for n := len(p); n >= 0; n -= 1 + n/8 {
					runs++
					if got, want := m.run(p[:n], uint32(len(p))), refRun(m.raw, p[:n], uint32(len(p))); got != want {
						t.Fatalf("%q on %v: run returns %d, the reference %d; packet % x\n%s", s, link, got, want, p[:n], listing(prog))
					}
				}
			}
		}
	}
	if runs < 100000 {
		t.Errorf("only %d runs", runs)
	}
	for _, s := range filters[:3] {
		m, err := NewMatcher(s, pcapfile.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		fused := 0
		for _, in := range m.vm.code {
			if in.op >= opLdAbsWJEq {
				fused++
			}
		}
		if fused < 3 {
			t.Errorf("%q: %d fused instructions, want 3 or more", s, fused)
		}
	}
}

// TestVMFusedShapes runs every fused shape (a load at an absolute
// offset with and without "and", a load at x+k, and ldxb 4*([k]&0xf)
// before one; each load size and each conditional jump) over random
// packets of every length up to 80 bytes, with the jump's operand
// just under, at and just over the loaded value, and wants refRun's
// return value. Two tails after the jump return A, and X, on each
// branch, so that a fused instruction must leave both as its parts do.
func TestVMFusedShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 5))
	var pkts [][]byte
	for range 16 {
		p := make([]byte, rng.IntN(81))
		for i := range p {
			p[i] = byte(rng.UintN(256))
		}
		if len(p) > 0 && rng.IntN(2) == 0 {
			p[0] &= 0x03 // a small header length: x+k in the packet
		}
		pkts = append(pkts, p)
	}
	tails := [][]bpf.RawInstruction{
		{{Op: 0x16}, {Op: 0x04, K: 7}, {Op: 0x16}},                         // jt: ret a; jf: add #7; ret a
		{{Op: 0x87}, {Op: 0x16}, {Op: 0x87}, {Op: 0x04, K: 7}, {Op: 0x16}}, // txa first on each branch
	}
	type shape struct {
		name string
		head []bpf.RawInstruction // before the jump
	}
	var shapes []shape
	for _, size := range []uint16{0x00, 0x08, 0x10} { // w, h, b
		for _, k := range []uint32{0, 3, 14, 77, 1 << 31} {
			shapes = append(shapes,
				shape{fmt.Sprintf("ld%#x [%d]", size, k), []bpf.RawInstruction{{Op: 0x20 + size, K: k}}},
				shape{fmt.Sprintf("ld%#x [%d]; and", size, k), []bpf.RawInstruction{{Op: 0x20 + size, K: k}, {Op: 0x54, K: 0x0ff0f00f}}},
				shape{fmt.Sprintf("ldx #2; ld%#x [x+%d]", size, k), []bpf.RawInstruction{{Op: 0x01, K: 2}, {Op: 0x40 + size, K: k}}},
				shape{fmt.Sprintf("ldxmsh [0]; ld%#x [x+%d]", size, k), []bpf.RawInstruction{{Op: 0xb1, K: 0}, {Op: 0x40 + size, K: k}}},
				shape{fmt.Sprintf("ldxmsh [%d]; ld%#x [x+1]", k, size), []bpf.RawInstruction{{Op: 0xb1, K: k}, {Op: 0x40 + size, K: 1}}},
			)
		}
	}
	runs, fused := 0, 0
	for _, s := range shapes {
		// What A holds after the head, for the jump's operands.
		probe := append(append([]bpf.RawInstruction{}, s.head...), bpf.RawInstruction{Op: 0x16})
		for _, jop := range []uint16{0x15, 0x25, 0x35, 0x45} { // jeq, jgt, jge, jset
			for _, p := range pkts {
				for n := len(p); n >= 0; n-- {
					l := refRun(probe, p[:n], uint32(len(p)))
					for _, v := range []uint32{l - 1, l, l + 1, 0} {
						for ti, tail := range tails {
							jf := uint8(1)
							if ti == 1 {
								jf = 2
							}
							prog := append(append(append([]bpf.RawInstruction{}, s.head...), bpf.RawInstruction{Op: jop, Jt: 0, Jf: jf, K: v}), tail...)
							m, err := newRawVM(prog)
							if err != nil {
								t.Fatalf("%s: %v", s.name, err)
							}
							if m.code[len(s.head)-1].op >= opLdAbsWJEq || (len(s.head) > 1 && m.code[0].op >= opLdAbsWJEq) {
								fused++
							}
							runs++
							if got, want := m.run(p[:n], uint32(len(p))), refRun(prog, p[:n], uint32(len(p))); got != want {
								t.Fatalf("%s, jump %#x #%d: run returns %d, the reference %d; packet % x\n%s", s.name, jop, v, got, want, p[:n], rawListing(prog))
							}
						}
					}
				}
			}
		}
	}
	if fused != runs {
		t.Errorf("%d of %d programs fused, want all", fused, runs)
	}
}

// BenchmarkVM runs the programs of bench/wire.sh's filters over the
// seed Ethernet packets in the decoded interpreter (vm), in refRun, the
// plain interpreter it replaced (ref), and in x/net/bpf's VM (xbpf,
// which gives len the captured length).
func BenchmarkVM(b *testing.B) {
	pkts := seedPackets(b)[pcapfile.LinkTypeEthernet]
	for _, f := range []string{"tcp port 80", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "dst net 172.16.0.0/16 and dst port 443"} {
		prog, err := Compile(f, pcapfile.LinkTypeEthernet, 0)
		if err != nil {
			b.Fatal(err)
		}
		m, err := newVM(prog)
		if err != nil {
			b.Fatal(err)
		}
		xvm, err := bpf.NewVM(prog)
		if err != nil {
			b.Fatal(err)
		}
		run := map[string]func(p []byte) bool{
			"vm":   func(p []byte) bool { return m.run(p, uint32(len(p))) != 0 },
			"ref":  func(p []byte) bool { return refRun(m.raw, p, uint32(len(p))) != 0 },
			"xbpf": func(p []byte) bool { n, _ := xvm.Run(p); return n != 0 },
		}
		for _, name := range []string{"vm", "ref", "xbpf"} {
			b.Run(f+"/"+name, func(b *testing.B) {
				r := run[name]
				b.ReportAllocs()
				n, kept := 0, 0
				for b.Loop() {
					if r(pkts[n%len(pkts)]) {
						kept++
					}
					n++
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
			})
		}
	}
}
