package filter

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// vm runs a classic BPF program over a packet as the kernel and
// libpcap's bpf_filter do: a load past the end of the captured data or
// a division by zero ends the program with 0, and "len" is the
// packet's length on the wire, which x/net/bpf's VM does not know (it
// gives the captured length). It takes the programs Compile makes.
type vm struct {
	prog []bpf.RawInstruction
}

var errBadProgram = errors.New("filter: program cannot run")

func newVM(prog []bpf.Instruction) (*vm, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, err
	}
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
	return &vm{prog: raw}, nil
}

// run returns what the program returns for pkt, whose length on the
// wire is wirelen.
func (m *vm) run(pkt []byte, wirelen uint32) uint32 {
	var a, x uint32
	var mem [16]uint32
	prog := m.prog
	n := uint32(len(pkt))
	// A protochain walk's state is its offset, under n, so a walk that
	// jumps back more than n times runs forever (libpcap's does, on an
	// AH header that points back at itself); it rejects here.
	back := n
	for pc := 0; pc < len(prog); pc++ {
		ins := &prog[pc]
		k := ins.K
		switch ins.Op {
		case 0x20: // ld [k]
			if k > n || n-k < 4 {
				return 0
			}
			a = binary.BigEndian.Uint32(pkt[k:])
		case 0x28: // ldh [k]
			if k > n || n-k < 2 {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k:]))
		case 0x30: // ldb [k]
			if k >= n {
				return 0
			}
			a = uint32(pkt[k])
		case 0x40, 0x48, 0x50: // ld [x+k]
			o := uint64(x) + uint64(k)
			size := uint64(4)
			if ins.Op == 0x48 {
				size = 2
			} else if ins.Op == 0x50 {
				size = 1
			}
			if o+size > uint64(n) {
				return 0
			}
			switch size {
			case 4:
				a = binary.BigEndian.Uint32(pkt[o:])
			case 2:
				a = uint32(binary.BigEndian.Uint16(pkt[o:]))
			default:
				a = uint32(pkt[o])
			}
		case 0x80: // ld #len
			a = wirelen
		case 0x00: // ld #k
			a = k
		case 0x60: // ld M[k]
			a = mem[k&15]
		case 0x01: // ldx #k
			x = k
		case 0x81: // ldx #len
			x = wirelen
		case 0x61: // ldx M[k]
			x = mem[k&15]
		case 0xb1: // ldx 4*([k]&0xf)
			if k >= n {
				return 0
			}
			x = uint32(pkt[k]&0x0f) * 4
		case 0x02: // st M[k]
			mem[k&15] = a
		case 0x03: // stx M[k]
			mem[k&15] = x
		case 0x04, 0x0c: // add
			a += operand(ins, x)
		case 0x14, 0x1c: // sub
			a -= operand(ins, x)
		case 0x24, 0x2c: // mul
			a *= operand(ins, x)
		case 0x34, 0x3c: // div
			d := operand(ins, x)
			if d == 0 {
				return 0
			}
			a /= d
		case 0x94, 0x9c: // mod
			d := operand(ins, x)
			if d == 0 {
				return 0
			}
			a %= d
		case 0x54, 0x5c: // and
			a &= operand(ins, x)
		case 0x44, 0x4c: // or
			a |= operand(ins, x)
		case 0xa4, 0xac: // xor
			a ^= operand(ins, x)
		case 0x64, 0x6c: // lsh
			if s := operand(ins, x); s < 32 {
				a <<= s
			} else {
				a = 0
			}
		case 0x74, 0x7c: // rsh
			if s := operand(ins, x); s < 32 {
				a >>= s
			} else {
				a = 0
			}
		case 0x84: // neg
			a = -a
		case 0x05: // ja
			if int32(k) < 0 {
				if back == 0 {
					return 0
				}
				back--
			}
			pc += int(int32(k))
		case 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d: // jeq, jgt, jge, jset
			v := operand(ins, x)
			var ok bool
			switch ins.Op &^ 0x08 {
			case 0x15:
				ok = a == v
			case 0x25:
				ok = a > v
			case 0x35:
				ok = a >= v
			default:
				ok = a&v != 0
			}
			if ok {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case 0x06: // ret #k
			return k
		case 0x16: // ret a
			return a
		case 0x07: // tax
			x = a
		case 0x87: // txa
			a = x
		default:
			return 0
		}
	}
	return 0
}

// operand is k or X, as the instruction's source bit says.
func operand(ins *bpf.RawInstruction, x uint32) uint32 {
	if ins.Op&0x08 != 0 {
		return x
	}
	return ins.K
}
