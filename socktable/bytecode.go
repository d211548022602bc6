package socktable

import (
	"encoding/binary"

	"github.com/portkit/ports"
)

// inet_diag bytecode ops for addresses (linux/inet_diag.h).
const (
	bcSCond = 7 // INET_DIAG_BC_S_COND: struct inet_diag_hostcond follows
	bcDCond = 8 // INET_DIAG_BC_D_COND

	// maxBytecode keeps every jump within the ops' 16-bit offsets and
	// the attribute within its 16-bit length. A longer filter runs in
	// user space only.
	maxBytecode = 65531
)

// bcPrim is one test of a term: a port bound (S_GE ... D_LE, with port)
// or an address condition (S_COND, D_COND, with f's prefix and, if f
// has a single port, that port).
type bcPrim struct {
	code uint8
	port uint16
	f    AddrFilter
}

func (p bcPrim) size() int {
	if p.code == bcSCond || p.code == bcDCond {
		return 4 + 8 + p.f.Prefix.Addr().BitLen()/8 // op, hostcond, address
	}
	return 8 // op, then an op whose no field holds the port
}

// bytecode compiles the filters of o that the kernel can run (port
// ranges and address filters) into inet_diag bytecode, or returns nil
// when there is none or it would be too long. The socket must pass every
// group (LocalPorts, RemotePorts, LocalAddrs, RemoteAddrs): a group
// passes when one of its terms does, a term when all its tests do. A
// test that fails jumps to the group's next term, or past the end
// (reject) from the last; a term that passes jumps to the next group.
// This is what ss's ssfilter makes of `( sport >= :a and sport <= :b or
// ... ) and ( src P or ... )`. match applies the same filters in user
// space, so the kernel's filtering only saves copying.
func (o *Options) bytecode() []byte {
	var groups [][][]bcPrim
	ranges := func(rs []ports.Range, ge, le uint8) {
		if len(rs) == 0 {
			return
		}
		var g [][]bcPrim
		for _, r := range rs {
			g = append(g, []bcPrim{{code: ge, port: uint16(r.First)}, {code: le, port: uint16(r.Last)}})
		}
		groups = append(groups, g)
	}
	addrs := func(fs []AddrFilter, cond, ge, le uint8) {
		var g [][]bcPrim
		for _, f := range fs {
			var t []bcPrim
			single := f.Ports != (ports.Range{}) && f.Ports.First == f.Ports.Last
			if f.Prefix.IsValid() {
				t = append(t, bcPrim{code: cond, f: f})
			}
			if f.Ports != (ports.Range{}) && !(single && f.Prefix.IsValid()) {
				t = append(t, bcPrim{code: ge, port: uint16(f.Ports.First)}, bcPrim{code: le, port: uint16(f.Ports.Last)})
			}
			if len(t) == 0 {
				return // f matches anything, so the group does
			}
			g = append(g, t)
		}
		if len(g) > 0 {
			groups = append(groups, g)
		}
	}
	ranges(o.LocalPorts, bcSGE, bcSLE)
	ranges(o.RemotePorts, bcDGE, bcDLE)
	addrs(o.LocalAddrs, bcSCond, bcSGE, bcSLE)
	addrs(o.RemoteAddrs, bcDCond, bcDGE, bcDLE)
	if len(groups) == 0 {
		return nil
	}

	// The terms' sizes: their tests, and a JMP after all but a group's
	// last term (which falls through to the next group).
	total := 0
	for _, g := range groups {
		for i, t := range g {
			for _, p := range t {
				total += p.size()
			}
			if i < len(g)-1 {
				total += 4
			}
		}
	}
	if total > maxBytecode {
		return nil
	}
	ne := binary.NativeEndian
	op := func(b []byte, code uint8, yes int, no int) []byte {
		b = append(b, code, uint8(yes))
		return ne.AppendUint16(b, uint16(no))
	}
	reject := total + 4
	b := make([]byte, 0, total)
	for _, g := range groups {
		// Where each term starts, and where the group ends.
		starts := make([]int, len(g)+1)
		starts[0] = len(b)
		for i, t := range g {
			n := 0
			for _, p := range t {
				n += p.size()
			}
			if i < len(g)-1 {
				n += 4
			}
			starts[i+1] = starts[i] + n
		}
		end := starts[len(g)]
		for i, t := range g {
			fail := reject
			if i < len(g)-1 {
				fail = starts[i+1]
			}
			for _, p := range t {
				here := len(b)
				switch p.code {
				case bcSCond, bcDCond:
					a := p.f.Prefix.Addr()
					b = op(b, p.code, p.size(), fail-here)
					family := uint8(afINET6)
					if a.Is4() {
						family = afINET
					}
					b = append(b, family, uint8(p.f.Prefix.Bits()), 0, 0)
					port := int32(-1)
					if p.f.Ports != (ports.Range{}) && p.f.Ports.First == p.f.Ports.Last {
						port = int32(p.f.Ports.First)
					}
					b = ne.AppendUint32(b, uint32(port))
					b = append(b, a.AsSlice()...)
				default:
					b = op(b, p.code, 8, fail-here)
					b = op(b, 0, 0, int(p.port))
				}
			}
			if i < len(g)-1 {
				b = op(b, bcJMP, 4, end-len(b))
			}
		}
	}
	return b
}
