package filter

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// vm runs a classic BPF program over a packet as the kernel and
// libpcap's bpf_filter do: a load past the end of the captured data or
// a division by zero ends the program with 0, and "len" is the
// packet's length on the wire, which x/net/bpf's VM does not know (it
// gives the captured length). It takes the programs Compile makes.
//
// The program is decoded once, in newVM, into instructions of its own
// (vins): a dense operation code, so that run's switch is a jump table,
// jump targets made absolute, and the shapes that make up most of what
// the compiler emits fused into one instruction each: a load and the
// conditional jump that tests it ("ldh [12]; jeq #0x800"), with an "and
// #k" between them ("ld [30]; and #0xffff0000; jeq ..."), and the
// IPv4 header length load before a load relative to it ("ldxb
// 4*([14]&0xf); ldh [x + 16]; jeq #443"). A fused instruction does
// what its parts do (A and X hold the same values after it), and the
// parts stay in the program for the jumps that land on them. x/net/bpf's
// VM is not used: it does not know the wire length, and it was slower.
type vm struct {
	raw  []bpf.RawInstruction
	code []vins
}

// vins is a decoded instruction. jt and jf are absolute: a jump's
// targets, or for a fused instruction those of the jump it ends with;
// v is a fused jump's operand, m a fused "and"'s mask (all ones
// without one) or the second offset of an msh fusion.
type vins struct {
	op     vop
	jt, jf uint32
	k      uint32
	m, v   uint32
}

// vop is a vins operation.
type vop uint8

const (
	opRetK vop = iota
	opRetA
	opLdAbsW
	opLdAbsH
	opLdAbsB
	opLdIndW
	opLdIndH
	opLdIndB
	opLdLen
	opLdImm
	opLdMem
	opLdxImm
	opLdxLen
	opLdxMem
	opLdxMsh
	opSt
	opStx
	opAddK
	opSubK
	opMulK
	opDivK
	opModK
	opAndK
	opOrK
	opXorK
	opLshK
	opRshK
	opAddX
	opSubX
	opMulX
	opDivX
	opModX
	opAndX
	opOrX
	opXorX
	opLshX
	opRshX
	opNeg
	opJa
	opJaBack
	opJEqK
	opJGtK
	opJGeK
	opJSetK
	opJEqX
	opJGtX
	opJGeX
	opJSetX
	opTax
	opTxa
	// fused: a load, perhaps an "and", and a conditional jump on k
	opLdAbsWJEq
	opLdAbsWJGt
	opLdAbsWJGe
	opLdAbsWJSet
	opLdAbsHJEq
	opLdAbsHJGt
	opLdAbsHJGe
	opLdAbsHJSet
	opLdAbsBJEq
	opLdAbsBJGt
	opLdAbsBJGe
	opLdAbsBJSet
	opLdIndWJEq
	opLdIndWJGt
	opLdIndWJGe
	opLdIndWJSet
	opLdIndHJEq
	opLdIndHJGt
	opLdIndHJGe
	opLdIndHJSet
	opLdIndBJEq
	opLdIndBJGt
	opLdIndBJGe
	opLdIndBJSet
	opMshIndWJEq
	opMshIndWJGt
	opMshIndWJGe
	opMshIndWJSet
	opMshIndHJEq
	opMshIndHJGt
	opMshIndHJGe
	opMshIndHJSet
	opMshIndBJEq
	opMshIndBJGt
	opMshIndBJGe
	opMshIndBJSet
)

var errBadProgram = errors.New("filter: program cannot run")

func newVM(prog []bpf.Instruction) (*vm, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, err
	}
	return newRawVM(raw)
}

// newRawVM checks raw (jumps inside the program, scratch slots under
// 16, a return at the end) and decodes it.
func newRawVM(raw []bpf.RawInstruction) (*vm, error) {
	for pc, ins := range raw {
		switch ins.Op & 0x07 {
		case 0x05: // jmp
			if ins.Op == 0x05 {
				// As libpcap's interpreter, a ja's offset is signed:
				// protochain's loop jumps back.
				if to := int64(pc) + 1 + int64(int32(ins.K)); to < 0 || to >= int64(len(raw)) {
					return nil, fmt.Errorf("%w: jump out of the program at %d", errBadProgram, pc)
				}
			} else if pc+1+int(max(ins.Jt, ins.Jf)) >= len(raw) {
				return nil, fmt.Errorf("%w: jump out of the program at %d", errBadProgram, pc)
			}
		}
		switch ins.Op {
		case 0x60, 0x61, 0x02, 0x03: // ld M[k], ldx M[k], st, stx
			if ins.K >= 16 {
				return nil, fmt.Errorf("%w: scratch slot %d at %d", errBadProgram, ins.K, pc)
			}
		}
	}
	if len(raw) == 0 || raw[len(raw)-1].Op&0x07 != 0x06 {
		return nil, fmt.Errorf("%w: it does not end with a return", errBadProgram)
	}
	return &vm{raw: raw, code: decode(raw)}, nil
}

// run returns what the program returns for pkt, whose length on the
// wire is wirelen.
func (m *vm) run(pkt []byte, wirelen uint32) uint32 {
	var a, x uint32
	var mem [16]uint32
	code := m.code
	n := uint64(len(pkt))
	// A protochain walk's state is its offset, under n, so a walk that
	// jumps back more than n times runs forever (libpcap's does, on an
	// AH header that points back at itself); it rejects here.
	back := n
	pc := uint32(0)
	for {
		in := &code[pc]
		switch in.op {
		case opLdAbsWJEq:
			o := uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o) & in.m
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsWJGt:
			o := uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o) & in.m
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsWJGe:
			o := uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o) & in.m
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsWJSet:
			o := uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o) & in.m
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsHJEq:
			o := uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o) & in.m
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsHJGt:
			o := uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o) & in.m
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsHJGe:
			o := uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o) & in.m
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsHJSet:
			o := uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o) & in.m
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsBJEq:
			o := uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o]) & in.m
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsBJGt:
			o := uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o]) & in.m
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsBJGe:
			o := uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o]) & in.m
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdAbsBJSet:
			o := uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o]) & in.m
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndWJEq:
			o := uint64(x) + uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndWJGt:
			o := uint64(x) + uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndWJGe:
			o := uint64(x) + uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndWJSet:
			o := uint64(x) + uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndHJEq:
			o := uint64(x) + uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndHJGt:
			o := uint64(x) + uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndHJGe:
			o := uint64(x) + uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndHJSet:
			o := uint64(x) + uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndBJEq:
			o := uint64(x) + uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndBJGt:
			o := uint64(x) + uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndBJGe:
			o := uint64(x) + uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opLdIndBJSet:
			o := uint64(x) + uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndWJEq:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndWJGt:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndWJGe:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndWJSet:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndHJEq:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndHJGt:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndHJGe:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndHJSet:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndBJEq:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			if a == in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndBJGt:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			if a > in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndBJGe:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			if a >= in.v {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opMshIndBJSet:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			o := uint64(x) + uint64(in.m)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			if a&in.v != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opRetK:
			return in.k
		case opRetA:
			return a
		case opLdAbsW:
			o := uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			pc++
		case opLdAbsH:
			o := uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			pc++
		case opLdAbsB:
			o := uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			pc++
		case opLdIndW:
			o := uint64(x) + uint64(in.k)
			if o+4 > n {
				return 0
			}
			a = be32(pkt, o)
			pc++
		case opLdIndH:
			o := uint64(x) + uint64(in.k)
			if o+2 > n {
				return 0
			}
			a = be16(pkt, o)
			pc++
		case opLdIndB:
			o := uint64(x) + uint64(in.k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
			pc++
		case opLdLen:
			a = wirelen
			pc++
		case opLdImm:
			a = in.k
			pc++
		case opLdMem:
			a = mem[in.k&15]
			pc++
		case opLdxImm:
			x = in.k
			pc++
		case opLdxLen:
			x = wirelen
			pc++
		case opLdxMem:
			x = mem[in.k&15]
			pc++
		case opLdxMsh:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(pkt[in.k]&0x0f) * 4
			pc++
		case opSt:
			mem[in.k&15] = a
			pc++
		case opStx:
			mem[in.k&15] = x
			pc++
		case opAddK:
			a += in.k
			pc++
		case opSubK:
			a -= in.k
			pc++
		case opMulK:
			a *= in.k
			pc++
		case opDivK: // k is not 0: decode made a division by 0 a return
			a /= in.k
			pc++
		case opModK:
			a %= in.k
			pc++
		case opAndK:
			a &= in.k
			pc++
		case opOrK:
			a |= in.k
			pc++
		case opXorK:
			a ^= in.k
			pc++
		case opLshK: // k < 32: decode made a larger one a load of 0
			a <<= in.k
			pc++
		case opRshK:
			a >>= in.k
			pc++
		case opAddX:
			a += x
			pc++
		case opSubX:
			a -= x
			pc++
		case opMulX:
			a *= x
			pc++
		case opDivX:
			if x == 0 {
				return 0
			}
			a /= x
			pc++
		case opModX:
			if x == 0 {
				return 0
			}
			a %= x
			pc++
		case opAndX:
			a &= x
			pc++
		case opOrX:
			a |= x
			pc++
		case opXorX:
			a ^= x
			pc++
		case opLshX:
			if x < 32 {
				a <<= x
			} else {
				a = 0
			}
			pc++
		case opRshX:
			if x < 32 {
				a >>= x
			} else {
				a = 0
			}
			pc++
		case opNeg:
			a = -a
			pc++
		case opJa:
			pc = in.jt
		case opJaBack:
			if back == 0 {
				return 0
			}
			back--
			pc = in.jt
		case opJEqK:
			if a == in.k {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opJGtK:
			if a > in.k {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opJGeK:
			if a >= in.k {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opJSetK:
			if a&in.k != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opJEqX:
			if a == x {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opJGtX:
			if a > x {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opJGeX:
			if a >= x {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opJSetX:
			if a&x != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case opTax:
			x = a
			pc++
		case opTxa:
			a = x
			pc++
		default:
			return 0
		}
	}
}

// decode turns a program that passed newVM's checks into vins, one for
// each instruction, then fuses the shapes vm's comment names.
func decode(raw []bpf.RawInstruction) []vins {
	code := make([]vins, len(raw))
	for pc, r := range raw {
		code[pc] = decodeOne(uint32(pc), r)
	}
	for pc := range code {
		if f, ok := fuse(code, pc); ok {
			code[pc] = f
		}
	}
	return code
}

// decodeOne decodes the instruction r at pc.
func decodeOne(pc uint32, r bpf.RawInstruction) vins {
	k := r.K
	in := vins{k: k}
	// Jump targets, for the jumps; newVM checked that they are in the
	// program.
	jt, jf := pc+1+uint32(r.Jt), pc+1+uint32(r.Jf)
	op, ok := decodeOp(r.Op)
	switch {
	case !ok:
		// newVM lets nothing else through; as before, an unknown
		// operation rejects the packet.
		op, in.k = opRetK, 0
	case (op == opDivK || op == opModK) && k == 0:
		op = opRetK // a division by zero ends the program with 0
	case (op == opLshK || op == opRshK) && k >= 32:
		op, in.k = opLdImm, 0
	case op == opJa:
		in.jt = uint32(int64(pc) + 1 + int64(int32(k)))
		if int32(k) < 0 {
			op = opJaBack
		}
	case op >= opJEqK && op <= opJSetX:
		in.jt, in.jf = jt, jf
	}
	in.op = op
	return in
}

// decodeOp maps a classic BPF operation code to its vop.
func decodeOp(op uint16) (vop, bool) {
	switch op {
	case 0x06:
		return opRetK, true
	case 0x16:
		return opRetA, true
	case 0x20:
		return opLdAbsW, true
	case 0x28:
		return opLdAbsH, true
	case 0x30:
		return opLdAbsB, true
	case 0x40:
		return opLdIndW, true
	case 0x48:
		return opLdIndH, true
	case 0x50:
		return opLdIndB, true
	case 0x80:
		return opLdLen, true
	case 0x00:
		return opLdImm, true
	case 0x60:
		return opLdMem, true
	case 0x01:
		return opLdxImm, true
	case 0x81:
		return opLdxLen, true
	case 0x61:
		return opLdxMem, true
	case 0xb1:
		return opLdxMsh, true
	case 0x02:
		return opSt, true
	case 0x03:
		return opStx, true
	case 0x84:
		return opNeg, true
	case 0x05:
		return opJa, true
	case 0x07:
		return opTax, true
	case 0x87:
		return opTxa, true
	case 0x04:
		return opAddK, true
	case 0x14:
		return opSubK, true
	case 0x24:
		return opMulK, true
	case 0x34:
		return opDivK, true
	case 0x94:
		return opModK, true
	case 0x54:
		return opAndK, true
	case 0x44:
		return opOrK, true
	case 0xa4:
		return opXorK, true
	case 0x64:
		return opLshK, true
	case 0x74:
		return opRshK, true
	case 0x0c:
		return opAddX, true
	case 0x1c:
		return opSubX, true
	case 0x2c:
		return opMulX, true
	case 0x3c:
		return opDivX, true
	case 0x9c:
		return opModX, true
	case 0x5c:
		return opAndX, true
	case 0x4c:
		return opOrX, true
	case 0xac:
		return opXorX, true
	case 0x6c:
		return opLshX, true
	case 0x7c:
		return opRshX, true
	case 0x15:
		return opJEqK, true
	case 0x25:
		return opJGtK, true
	case 0x35:
		return opJGeK, true
	case 0x45:
		return opJSetK, true
	case 0x1d:
		return opJEqX, true
	case 0x2d:
		return opJGtX, true
	case 0x3d:
		return opJGeX, true
	case 0x4d:
		return opJSetX, true
	}
	return 0, false
}

// fuse returns the fused instruction that starts at pc, if the
// instructions from pc make one of the fused shapes. Those after pc are
// not fused yet.
func fuse(code []vins, pc int) (vins, bool) {
	at := func(i int) *vins {
		if pc+i < len(code) {
			return &code[pc+i]
		}
		return nil
	}
	condK := func(in *vins) (vop, bool) {
		if in != nil && in.op >= opJEqK && in.op <= opJSetK {
			return in.op - opJEqK, true
		}
		return 0, false
	}
	c := code[pc]
	switch c.op {
	case opLdAbsW, opLdAbsH, opLdAbsB:
		mask := ^uint32(0)
		j := at(1)
		if j != nil && j.op == opAndK {
			mask, j = j.k, at(2)
		}
		if cond, ok := condK(j); ok {
			return vins{op: opLdAbsWJEq + (c.op-opLdAbsW)*4 + cond, k: c.k, m: mask, v: j.k, jt: j.jt, jf: j.jf}, true
		}
	case opLdIndW, opLdIndH, opLdIndB:
		if j := at(1); j != nil {
			if cond, ok := condK(j); ok {
				return vins{op: opLdIndWJEq + (c.op-opLdIndW)*4 + cond, k: c.k, v: j.k, jt: j.jt, jf: j.jf}, true
			}
		}
	case opLdxMsh:
		if l := at(1); l != nil && l.op >= opLdIndW && l.op <= opLdIndB {
			if j := at(2); j != nil {
				if cond, ok := condK(j); ok {
					return vins{op: opMshIndWJEq + (l.op-opLdIndW)*4 + cond, k: c.k, m: l.k, v: j.k, jt: j.jt, jf: j.jf}, true
				}
			}
		}
	}
	return vins{}, false
}

// be32 and be16 read at o, which run has checked is in pkt: cheaper
// than binary.BigEndian's slicing.
func be32(pkt []byte, o uint64) uint32 {
	b := pkt[o : o+4 : o+4]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be16(pkt []byte, o uint64) uint32 {
	return uint32(pkt[o])<<8 | uint32(pkt[o+1])
}
