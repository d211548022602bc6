package filter

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// This file is an evaluator of filters written from the protocol
// layouts rather than from the compiler's tests: the oracle that the
// differential fuzz test runs against the compiled program in the BPF
// VM. It reads fields in the order the package documentation gives (left
// to right, source before destination, IPv4 before IPv6), and a read
// past the end of the packet rejects it, as a BPF load does.

var serviceCache sync.Map // serviceKey -> servicePorts

type serviceKey struct {
	name  string
	proto Proto
}

// cachedService is resolveService, remembered: the evaluator runs per
// packet.
func cachedService(name string, proto Proto) (servicePorts, bool) {
	k := serviceKey{name, proto}
	if sp, ok := serviceCache.Load(k); ok {
		return sp.(servicePorts), true
	}
	sp, msg := resolveService(name, proto)
	if msg == "" {
		serviceCache.Store(k, sp)
	}
	return sp, msg == ""
}

// verdict is a three-valued truth: a read past the end aborts.
type verdict uint8

const (
	vFalse verdict = iota
	vTrue
	vAbort
)

func vOf(b bool) verdict {
	if b {
		return vTrue
	}
	return vFalse
}

type oracle struct {
	link   pcapfile.LinkType
	pkt    []byte
	wire   uint32
	err    bool // a read went past the end
	sh     int  // the vlan shift of the primitive being evaluated
	shifts map[*Expr]int
	order  binary.ByteOrder
}

// evalOracle reports whether e accepts pkt, a packet of link type link
// whose length on the wire is wire, and whether the verdict is defined:
// when a read goes past the end of the packet (or a division by zero
// ends the program), the verdict depends on which reads the optimized
// program still does, as with libpcap, and is not defined here.
func evalOracle(e *Expr, link pcapfile.LinkType, pkt []byte, wire int) (ok, defined bool) {
	return evalOracleOrder(e, link, binary.NativeEndian, pkt, wire)
}

// evalOracleOrder is evalOracle for a packet of a file in byte order
// order, which a NULL link's address family is written in.
func evalOracleOrder(e *Expr, link pcapfile.LinkType, order binary.ByteOrder, pkt []byte, wire int) (ok, defined bool) {
	if e == nil {
		return true, true
	}
	if !oracleModels(e) {
		return false, false
	}
	o := &oracle{link: link, pkt: pkt, wire: uint32(wire), shifts: map[*Expr]int{}, order: order}
	// A vlan moves what follows it in the text by 4 bytes.
	sh := 0
	var walk func(e *Expr)
	walk = func(e *Expr) {
		if e == nil {
			return
		}
		if e.Op == OpPrim {
			o.shifts[e] = sh
			if e.Prim.Kind == KindVLAN {
				sh += 4
			}
			return
		}
		walk(e.X)
		walk(e.Y)
	}
	walk(e)
	v := o.expr(e)
	return v == vTrue, v != vAbort
}

func (o *oracle) u8(off int) uint32 {
	if off+1 > len(o.pkt) {
		o.err = true
		return 0
	}
	return uint32(o.pkt[off])
}

func (o *oracle) u16(off int) uint32 {
	if off+2 > len(o.pkt) {
		o.err = true
		return 0
	}
	return uint32(binary.BigEndian.Uint16(o.pkt[off:]))
}

func (o *oracle) u32(off int) uint32 {
	if off+4 > len(o.pkt) {
		o.err = true
		return 0
	}
	return binary.BigEndian.Uint32(o.pkt[off:])
}

// check turns a field test into a verdict, aborting if the read failed.
func (o *oracle) check(b bool) verdict {
	if o.err {
		return vAbort
	}
	return vOf(b)
}

// andV and orV evaluate the functions left to right with short circuits.
func andV(fs ...func() verdict) verdict {
	for _, f := range fs {
		if v := f(); v != vTrue {
			return v
		}
	}
	return vTrue
}

func orV(fs ...func() verdict) verdict {
	for _, f := range fs {
		if v := f(); v != vFalse {
			return v
		}
	}
	return vFalse
}

func notV(v verdict) verdict {
	switch v {
	case vTrue:
		return vFalse
	case vFalse:
		return vTrue
	}
	return vAbort
}

func (o *oracle) expr(e *Expr) verdict {
	switch e.Op {
	case OpAnd:
		return andV(func() verdict { return o.expr(e.X) }, func() verdict { return o.expr(e.Y) })
	case OpOr:
		return orV(func() verdict { return o.expr(e.X) }, func() verdict { return o.expr(e.Y) })
	case OpNot:
		return notV(o.expr(e.X))
	}
	o.sh = o.shifts[e]
	return o.prim(e.Prim)
}

// netOffset is where the network header starts.
func (o *oracle) netOffset() int {
	switch o.link {
	case pcapfile.LinkTypeEthernet:
		return 14 + o.sh // destination, source, EtherType
	case pcapfile.LinkTypeLinuxSLL:
		return 16 // packet type, ARPHRD, address length, 8-byte address, protocol
	case pcapfile.LinkTypeLinuxSLL2:
		return 20 // protocol, reserved, ifindex, ARPHRD, packet type, address length, address
	case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
		return 4
	}
	return 0
}

// etherType is the protocol field of the links that have one.
func (o *oracle) etherType() (uint32, bool) {
	switch o.link {
	case pcapfile.LinkTypeEthernet:
		return o.u16(12 + o.sh), true
	case pcapfile.LinkTypeLinuxSLL:
		return o.u16(14), true
	case pcapfile.LinkTypeLinuxSLL2:
		return o.u16(0), true
	}
	return 0, false
}

// family reads the loopback address family: NULL in the host's byte
// order (libpcap's, for a file written in that order), LOOP big-endian.
func (o *oracle) family() uint32 {
	if o.link == pcapfile.LinkTypeNull {
		if len(o.pkt) < 4 {
			o.err = true
			return 0
		}
		return o.order.Uint32(o.pkt)
	}
	return o.u32(0)
}

func (o *oracle) isIPv4() verdict {
	if et, ok := o.etherType(); ok {
		return o.check(et == 0x0800)
	}
	switch o.link {
	case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
		return o.check(o.family() == 2)
	case pcapfile.LinkTypeRaw:
		return o.check(o.u8(0)>>4 == 4)
	case pcapfile.LinkTypeIPv4:
		return vTrue
	}
	return vFalse
}

func (o *oracle) isIPv6() verdict {
	if et, ok := o.etherType(); ok {
		return o.check(et == 0x86dd)
	}
	switch o.link {
	case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
		f := o.family()
		return o.check(f == 24 || f == 28 || f == 30)
	case pcapfile.LinkTypeRaw:
		return o.check(o.u8(0)>>4 == 6)
	case pcapfile.LinkTypeIPv6:
		return vTrue
	}
	return vFalse
}

func (o *oracle) isEtherType(t uint32) verdict {
	if et, ok := o.etherType(); ok {
		return o.check(et == t)
	}
	return vFalse
}

func (o *oracle) prim(p Primitive) verdict {
	nl := o.netOffset()
	switch p.Kind {
	case KindProto:
		switch p.Proto {
		case ProtoIP:
			return o.isIPv4()
		case ProtoIP6:
			return o.isIPv6()
		case ProtoARP:
			return o.isEtherType(0x0806)
		case ProtoRARP:
			return o.isEtherType(0x8035)
		case ProtoICMP, ProtoIGMP, ProtoIGRP, ProtoVRRP, ProtoCARP:
			n := protoNumber(p.Proto)
			return andV(o.isIPv4, func() verdict { return o.check(o.u8(nl+9) == n) })
		case ProtoICMP6:
			return andV(o.isIPv6, func() verdict { return o.ip6Next(nl, 58) })
		}
		n := uint32(protoNumber(p.Proto))
		return orV(
			func() verdict { return andV(o.isIPv4, func() verdict { return o.check(o.u8(nl+9) == n) }) },
			func() verdict { return andV(o.isIPv6, func() verdict { return o.ip6Next(nl, n) }) })
	case KindHost, KindNet:
		if p.Net.Addr().Is4() {
			ip := func() verdict {
				return andV(o.isIPv4, func() verdict { return o.addrs(p, nl+12, nl+16) })
			}
			arp := func(t uint32) func() verdict {
				return func() verdict {
					return andV(func() verdict { return o.isEtherType(t) }, func() verdict { return o.addrs(p, nl+14, nl+24) })
				}
			}
			switch p.Proto {
			case ProtoIP:
				return ip()
			case ProtoARP:
				return arp(0x0806)()
			case ProtoRARP:
				return arp(0x8035)()
			}
			return orV(ip, arp(0x0806), arp(0x8035))
		}
		return andV(o.isIPv6, func() verdict { return o.addrs(p, nl+8, nl+24) })
	case KindPort, KindPortRange:
		if p.Service != "" {
			if p.Kind == KindPortRange {
				r, real, msg := resolvePortRange(p.Service, p.Proto)
				if msg != "" {
					return vFalse
				}
				protos := []uint32{6, 17, 132}
				if real != ProtoNone {
					protos = []uint32{protoNumber(real)}
				}
				return o.ports(nl, protos, []ports.Range{r}, p.Dir)
			}
			sp, ok := cachedService(p.Service, p.Proto)
			if !ok {
				return vFalse
			}
			if slices.Equal(sp.tcp, sp.udp) && slices.Equal(sp.tcp, sp.sctp) {
				return o.ports(nl, []uint32{6, 17, 132}, sp.tcp, p.Dir)
			}
			var fs []func() verdict
			for _, x := range []struct {
				proto uint32
				rs    []ports.Range
			}{{132, sp.sctp}, {6, sp.tcp}, {17, sp.udp}} {
				if len(x.rs) > 0 {
					fs = append(fs, func() verdict { return o.ports(nl, []uint32{x.proto}, x.rs, p.Dir) })
				}
			}
			return orV(fs...)
		}
		protos := []uint32{6, 17, 132}
		if p.Proto != ProtoNone {
			protos = []uint32{uint32(protoNumber(p.Proto))}
		}
		return o.ports(nl, protos, []ports.Range{p.Ports}, p.Dir)
	case KindRel:
		return o.relation(p.Rel)
	case KindIPProto:
		v4 := func() verdict {
			return andV(o.isIPv4, func() verdict { return o.check(o.u8(nl+9) == p.Num) })
		}
		v6 := func() verdict { return andV(o.isIPv6, func() verdict { return o.ip6Next(nl, p.Num) }) }
		switch p.Proto {
		case ProtoIP:
			return v4()
		case ProtoIP6:
			return v6()
		}
		return orV(v4, v6)
	case KindEtherHost:
		at := func(off int) func() verdict {
			return func() verdict {
				for i := range 6 {
					j := []int{2, 3, 4, 5, 0, 1}[i]
					if o.u8(off+j) != uint32(p.MAC[j]) {
						if o.err {
							return vAbort
						}
						return vFalse
					}
				}
				return o.check(true)
			}
		}
		switch p.Dir {
		case DirSrc:
			return at(6)()
		case DirDst:
			return at(0)()
		case DirSrcAndDst:
			return andV(at(6), at(0))
		}
		return orV(at(6), at(0))
	case KindEtherProto:
		switch {
		case o.hasEtherType():
			return o.isEtherType(p.Num)
		case p.Num == 0x0800:
			return o.isIPv4()
		case p.Num == 0x86dd:
			return o.isIPv6()
		}
		return vFalse
	case KindBroadcast:
		for i := range 6 {
			if o.u8([]int{2, 3, 4, 5, 0, 1}[i]) != 0xff {
				return o.check(false)
			}
		}
		return o.check(true)
	case KindMulticast:
		switch p.Proto {
		case ProtoIP:
			return andV(o.isIPv4, func() verdict { return o.check(o.u8(nl+16) >= 224) })
		case ProtoIP6:
			return andV(o.isIPv6, func() verdict { return o.check(o.u8(nl+24) == 0xff) })
		}
		return o.check(o.u8(0)&1 != 0)
	case KindVLAN:
		return andV(func() verdict {
			et := o.u16(12 + o.sh)
			return o.check(et == 0x8100 || et == 0x88a8 || et == 0x9100)
		}, func() verdict {
			if !p.HasNum {
				return vTrue
			}
			return o.check(o.u16(14+o.sh)&0xfff == p.Num)
		})
	}
	return vFalse
}

func (o *oracle) hasEtherType() bool {
	_, ok := o.etherType()
	return ok
}

// relation evaluates r as libpcap's code does: the protocol tests of
// its loads first, then the values, then the comparison.
func (o *oracle) relation(r *Relation) verdict {
	var checks []func() verdict
	o.arithChecks(r.X, &checks)
	o.arithChecks(r.Y, &checks)
	return andV(append(checks, func() verdict {
		x, ok1 := o.arith(r.X)
		y, ok2 := o.arith(r.Y)
		if o.err || !ok1 || !ok2 {
			return vAbort
		}
		switch r.Op {
		case RelEq:
			return vOf(x == y)
		case RelNe:
			return vOf(x != y)
		case RelLt:
			return vOf(x < y)
		case RelLe:
			return vOf(x <= y)
		case RelGt:
			return vOf(x > y)
		}
		return vOf(x >= y)
	})...)
}

// arithChecks appends the protocol tests of the loads in a.
func (o *oracle) arithChecks(a *Arith, checks *[]func() verdict) {
	if a == nil {
		return
	}
	switch a.Op {
	case ArithConst, ArithLen:
		return
	case ArithLoad:
		o.arithChecks(a.X, checks)
		nl := o.netOffset()
		switch a.Proto {
		case ProtoIP:
			*checks = append(*checks, o.isIPv4)
		case ProtoIP6:
			*checks = append(*checks, o.isIPv6)
		case ProtoARP:
			*checks = append(*checks, func() verdict { return o.isEtherType(0x0806) })
		case ProtoRARP:
			*checks = append(*checks, func() verdict { return o.isEtherType(0x8035) })
		case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoIGMP, ProtoIGRP, ProtoPIM, ProtoVRRP, ProtoCARP:
			n := protoNumber(a.Proto)
			*checks = append(*checks, o.isIPv4,
				func() verdict { return o.check(o.u8(nl+9) == n) },
				func() verdict { return o.check(o.u16(nl+6)&0x1fff == 0) })
		case ProtoICMP6:
			*checks = append(*checks, o.isIPv6, func() verdict { return o.check(o.u8(nl+6) == 58) })
		}
		return
	}
	o.arithChecks(a.X, checks)
	o.arithChecks(a.Y, checks)
}

// arith computes a; false for a division by zero, which ends a BPF
// program.
func (o *oracle) arith(a *Arith) (uint32, bool) {
	switch a.Op {
	case ArithConst:
		return a.K, true
	case ArithLen:
		return o.wire, true
	case ArithNeg:
		x, ok := o.arith(a.X)
		return -x, ok
	case ArithLoad:
		off, ok := o.arith(a.X)
		if !ok {
			return 0, false
		}
		// As the compiled code: a constant offset is added to the
		// header's in 32 bits; X+k of an indirect load does not wrap.
		base, ihl := uint32(0), uint32(0)
		hasIHL := false
		nl := uint32(o.netOffset())
		switch a.Proto {
		case ProtoIP, ProtoIP6, ProtoARP, ProtoRARP:
			base = nl
		case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoIGMP, ProtoIGRP, ProtoPIM, ProtoVRRP, ProtoCARP:
			base, hasIHL = nl, true
			ihl = (o.u8(int(nl)) & 0xf) * 4
			if o.err {
				return 0, true
			}
		case ProtoICMP6:
			base = nl + 40
		}
		var at uint64
		switch {
		case constArith(a.X):
			at = uint64(base + off)
			if hasIHL {
				at += uint64(ihl)
			}
		case hasIHL:
			at = uint64(off+ihl) + uint64(base)
		default:
			at = uint64(off) + uint64(base)
		}
		if at+uint64(a.Size) > uint64(len(o.pkt)) {
			o.err = true
			return 0, true
		}
		var v uint32
		for i := range int(a.Size) {
			v = v<<8 | uint32(o.pkt[int(at)+i])
		}
		return v, true
	}
	x, ok1 := o.arith(a.X)
	y, ok2 := o.arith(a.Y)
	if !ok1 || !ok2 {
		return 0, false
	}
	switch a.Op {
	case ArithAdd:
		return x + y, true
	case ArithSub:
		return x - y, true
	case ArithMul:
		return x * y, true
	case ArithDiv:
		if y == 0 {
			return 0, false
		}
		return x / y, true
	case ArithMod:
		if y == 0 {
			return 0, false
		}
		return x % y, true
	case ArithAnd:
		return x & y, true
	case ArithOr:
		return x | y, true
	case ArithXor:
		return x ^ y, true
	case ArithLsh:
		if y > 31 {
			return 0, true
		}
		return x << y, true
	case ArithRsh:
		if y > 31 {
			return 0, true
		}
		return x >> y, true
	}
	return 0, false
}

// ip6Next tests the IPv6 next header, or the next header of a Fragment
// header right after the fixed header.
func (o *oracle) ip6Next(nl int, proto uint32) verdict {
	nh := o.u8(nl + 6)
	if o.err {
		return vAbort
	}
	if nh == proto {
		return vTrue
	}
	if nh != 44 {
		return vFalse
	}
	return o.check(o.u8(nl+40) == proto)
}

// addrs tests the source address at src and the destination at dst
// against p.Net, as p.Dir says.
func (o *oracle) addrs(p Primitive, src, dst int) verdict {
	in := func(off int) verdict {
		if p.Mask != 0 && p.Net.Addr().Is4() {
			v := o.u32(off)
			if o.err {
				return vAbort
			}
			m := p.Mask
			return vOf(v&m == binary.BigEndian.Uint32(p.Net.Addr().AsSlice())&m)
		}
		return o.inPrefix(p.Net, off)
	}
	s := func() verdict { return in(src) }
	d := func() verdict { return in(dst) }
	switch p.Dir {
	case DirSrc:
		return s()
	case DirDst:
		return d()
	case DirSrcAndDst:
		return andV(s, d)
	}
	return orV(s, d)
}

// inPrefix tests the address at off against pfx, reading it a 32-bit
// word at a time and stopping at the first word that differs or lies
// past the prefix.
func (o *oracle) inPrefix(pfx netip.Prefix, off int) verdict {
	want := pfx.Addr().AsSlice()
	for w := 0; w*32 < pfx.Bits(); w++ {
		v := o.u32(off + 4*w)
		if o.err {
			return vAbort
		}
		var got [4]byte
		binary.BigEndian.PutUint32(got[:], v)
		for i := range 4 {
			bit := 32*w + 8*i
			if bit >= pfx.Bits() {
				break
			}
			mask := byte(0xff)
			if pfx.Bits()-bit < 8 {
				mask = ^byte(0) << (8 - (pfx.Bits() - bit))
			}
			if got[i]&mask != want[4*w+i]&mask {
				return vFalse
			}
		}
	}
	return vTrue
}

// ports tests a transport header of one of protos for ports in rs: over
// IPv4 only in the first fragment, after IHL*4 bytes; over IPv6 only
// right after the fixed header.
func (o *oracle) ports(nl int, protos []uint32, rs []ports.Range, d Dir) verdict {
	in := func(off func() int) func() verdict {
		return func() verdict {
			port := o.u16(off())
			if o.err {
				return vAbort
			}
			for _, r := range rs {
				if r.Contains(ports.Port(port)) {
					return vTrue
				}
			}
			return vFalse
		}
	}
	dirs := func(src, dst func() int) verdict {
		switch d {
		case DirSrc:
			return in(src)()
		case DirDst:
			return in(dst)()
		case DirSrcAndDst:
			return andV(in(src), in(dst))
		}
		return orV(in(src), in(dst))
	}
	hasProto := func(off int) func() verdict {
		return func() verdict {
			return o.check(slices.Contains(protos, o.u8(off)))
		}
	}
	v4 := func() verdict {
		return andV(o.isIPv4, hasProto(nl+9),
			func() verdict { return o.check(o.u16(nl+6)&0x1fff == 0) },
			func() verdict {
				ihl := int(o.u8(nl)&0x0f) * 4
				if o.err {
					return vAbort
				}
				return dirs(func() int { return nl + ihl }, func() int { return nl + ihl + 2 })
			})
	}
	v6 := func() verdict {
		return andV(o.isIPv6, hasProto(nl+6),
			func() verdict { return dirs(func() int { return nl + 40 }, func() int { return nl + 42 }) })
	}
	return orV(v4, v6)
}

// constArith reports whether a reads nothing from the packet.
func constArith(a *Arith) bool {
	if a == nil {
		return true
	}
	switch a.Op {
	case ArithConst:
		return true
	case ArithLen, ArithLoad:
		return false
	}
	return constArith(a.X) && constArith(a.Y)
}

// oracleModels reports whether the evaluator models every primitive of
// e. It leaves out the link-level encapsulations (mpls, pppoes, pppoed,
// llc, inbound, outbound), protochain (whose programs libpcap does not
// optimize) and the link protocols that libpcap tests
// through 802.2 LLC and SNAP (an "ether proto" of 1500 or less, IPX,
// AppleTalk, AARP): TestDifferentialTcpdump checks those against
// tcpdump itself.
func oracleModels(e *Expr) bool {
	if e == nil {
		return true
	}
	if e.Op != OpPrim {
		return oracleModels(e.X) && oracleModels(e.Y)
	}
	switch p := e.Prim; p.Kind {
	case KindMPLS, KindPPPoED, KindPPPoES, KindLLC, KindInbound, KindOutbound, KindProtochain:
		return false
	case KindBroadcast:
		return p.Proto != ProtoIP
	case KindEtherProto:
		return p.Num > etherMTU && p.Num != etherIPX && p.Num != etherATalk && p.Num != etherAARP
	}
	return true
}
