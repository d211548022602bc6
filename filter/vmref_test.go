package filter

import (
	"encoding/binary"

	"golang.org/x/net/bpf"
)

// refRun is the first interpreter of the package, one instruction at a
// time over the raw program (no decoding, no fusing): the reference the
// tests hold vm.run to. prog must have passed newVM's checks.
func refRun(prog []bpf.RawInstruction, pkt []byte, wirelen uint32) uint32 {
	var a, x uint32
	var mem [16]uint32
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
			a += refOperand(ins, x)
		case 0x14, 0x1c: // sub
			a -= refOperand(ins, x)
		case 0x24, 0x2c: // mul
			a *= refOperand(ins, x)
		case 0x34, 0x3c: // div
			d := refOperand(ins, x)
			if d == 0 {
				return 0
			}
			a /= d
		case 0x94, 0x9c: // mod
			d := refOperand(ins, x)
			if d == 0 {
				return 0
			}
			a %= d
		case 0x54, 0x5c: // and
			a &= refOperand(ins, x)
		case 0x44, 0x4c: // or
			a |= refOperand(ins, x)
		case 0xa4, 0xac: // xor
			a ^= refOperand(ins, x)
		case 0x64, 0x6c: // lsh
			if s := refOperand(ins, x); s < 32 {
				a <<= s
			} else {
				a = 0
			}
		case 0x74, 0x7c: // rsh
			if s := refOperand(ins, x); s < 32 {
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
			v := refOperand(ins, x)
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

// refOperand is k or X, as the instruction's source bit says.
func refOperand(ins *bpf.RawInstruction, x uint32) uint32 {
	if ins.Op&0x08 != 0 {
		return x
	}
	return ins.K
}
