package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// protochain walks the header chain after an IPv4 or IPv6 header, as
// libpcap's gen_protochain does, and leaves in A the protocol it stopped
// at: the one looked for, or the first that is not a header it walks
// over. Over IPv6 it walks Hop-by-Hop (0), Destination Options (60),
// Routing (43) and Fragment (44) headers (next header at byte 0, length
// (byte 1 + 1) * 8) and AH (51); over IPv4 only AH. For AH libpcap sets
// the offset to the AH header's length, (byte 1 + 2) * 4, from the start
// of the network header, instead of adding it; that is kept, since it
// decides which bytes are read.
//
// libpcap compiles the walk to a loop with a backward jump. Its own
// interpreter runs that; the kernel refuses it (and libpcap then
// filters in user space). So a Matcher gets the loop, run by the
// package's interpreter, and a program for the kernel gets the loop
// unrolled chainUnroll times, rejecting a packet whose chain is longer.
type chain struct {
	v6    bool
	nl    uint32 // the network header's offset
	proto uint32 // the protocol looked for
}

// chainUnroll is how many headers the kernel's program walks over before
// it gives up and rejects the packet. One step is 27 instructions over
// IPv6 and 14 over IPv4, so "protochain N" takes about 500.
const chainUnroll = 12

func (c *chain) String() string {
	v := 4
	if c.v6 {
		v = 6
	}
	return fmt.Sprintf("protochain%d[%d]=%d", v, c.nl, c.proto)
}

// casm assembles straight-line code with jumps to named labels, forward
// or backward.
type casm struct {
	prog   []bpf.Instruction
	labels map[string]int
	fixes  []cfix
}

type cfix struct {
	pc     int
	jt, jf string // a JumpIf's targets ("" falls through)
	ja     string // a Jump's target
	isJump bool
	cond   bpf.JumpTest
	val    uint32
}

func (a *casm) add(ins ...bpf.Instruction) { a.prog = append(a.prog, ins...) }
func (a *casm) label(l string)             { a.labels[l] = len(a.prog) }

func (a *casm) jeq(val uint32, jt, jf string) {
	a.fixes = append(a.fixes, cfix{pc: len(a.prog), jt: jt, jf: jf, cond: bpf.JumpEqual, val: val})
	a.prog = append(a.prog, nil)
}

func (a *casm) jump(to string) {
	a.fixes = append(a.fixes, cfix{pc: len(a.prog), ja: to, isJump: true})
	a.prog = append(a.prog, nil)
}

// resolve fills in the jumps. A conditional jump must go forward and
// at most 255 instructions; a Jump may go backward (its skip then
// wraps, as libpcap's loops are encoded).
func (a *casm) resolve() ([]bpf.Instruction, error) {
	skip := func(pc int, l string) (int, error) {
		if l == "" {
			return 0, nil
		}
		at, ok := a.labels[l]
		if !ok {
			return 0, fmt.Errorf("filter: protochain: no label %s", l)
		}
		return at - pc - 1, nil
	}
	for _, f := range a.fixes {
		if f.isJump {
			s, err := skip(f.pc, f.ja)
			if err != nil {
				return nil, err
			}
			a.prog[f.pc] = bpf.Jump{Skip: uint32(int32(s))}
			continue
		}
		st, err := skip(f.pc, f.jt)
		if err != nil {
			return nil, err
		}
		sf, err := skip(f.pc, f.jf)
		if err != nil {
			return nil, err
		}
		if st < 0 || sf < 0 || st > 255 || sf > 255 {
			return nil, fmt.Errorf("filter: protochain: conditional jump out of reach")
		}
		a.prog[f.pc] = bpf.JumpIf{Cond: f.cond, Val: f.val, SkipTrue: uint8(st), SkipFalse: uint8(sf)}
	}
	return a.prog, nil
}

// IPv6 headers the walk goes over as extension headers, and AH.
var chainExt = [...]uint32{0, 60, 43, 44}

const ipprotoAH = 51

// chain computes the walk into A, with scratch slot slot. With unroll
// it is the kernel's form (see chain).
func (c *calc) chain(ch *chain, slot int, unroll bool) error {
	a := &casm{labels: make(map[string]int)}
	n := ch.nl
	if ch.v6 {
		a.add(bpf.LoadAbsolute{Off: n + ip6Next, Size: 1}, bpf.LoadConstant{Dst: bpf.RegX, Val: ip6HdrLen})
	} else {
		a.add(bpf.LoadAbsolute{Off: n + ip4Proto, Size: 1}, bpf.LoadMemShift{Off: n})
	}
	steps := 1
	if unroll {
		steps = chainUnroll
	}
	for i := 0; i < steps; i++ {
		head, ext, ah, next, exit := fmt.Sprint("h", i), fmt.Sprint("e", i), fmt.Sprint("a", i), fmt.Sprint("h", i+1), fmt.Sprint("x", i)
		if !unroll {
			next = head
		}
		a.label(head)
		a.jeq(ch.proto, exit, "")
		if ch.v6 {
			for _, p := range chainExt {
				a.jeq(p, ext, "")
			}
		}
		a.jeq(ipprotoAH, ah, exit)
		a.label(exit)
		a.jump("end") // the end is out of a conditional jump's reach when unrolled
		if ch.v6 {
			// next header at 0, length in 8-byte units less one at 1
			a.label(ext)
			a.add(bpf.LoadIndirect{Off: n, Size: 1}, bpf.StoreScratch{Src: bpf.RegA, N: slot},
				bpf.LoadIndirect{Off: n + 1, Size: 1},
				bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 8},
				bpf.ALUOpX{Op: bpf.ALUOpAdd}, bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: slot})
			a.jump(next)
		}
		// AH: next header at 0, length in 4-byte units less two at 1;
		// X becomes the length (libpcap's), not X plus it.
		a.label(ah)
		a.add(bpf.LoadIndirect{Off: n, Size: 1}, bpf.StoreScratch{Src: bpf.RegA, N: slot},
			bpf.TXA{}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1}, bpf.TAX{},
			bpf.LoadIndirect{Off: n, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2}, bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 4},
			bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: slot})
		if !unroll {
			a.jump(head)
		}
	}
	if unroll {
		a.label(fmt.Sprint("h", steps))
		a.add(bpf.RetConstant{Val: 0})
	}
	a.label("end")
	prog, err := a.resolve()
	if err != nil {
		return err
	}
	c.add(prog...)
	return nil
}

// hasProtochain reports whether e has a protochain primitive.
func (e *Expr) hasProtochain() bool {
	if e == nil {
		return false
	}
	if e.Op == OpPrim {
		return e.Prim.Kind == KindProtochain
	}
	return e.X.hasProtochain() || e.Y.hasProtochain()
}
