package filter

import (
	"fmt"
	"strings"

	"github.com/portkit/ports/pcapfile"
	"golang.org/x/net/bpf"
)

// lowerLink lowers the link-layer primitives: ether host, ether proto,
// broadcast, multicast and vlan.
func lowerLink(p Primitive, ll *linkLayer) (*node, error) {
	nl := ll.nl()
	switch p.Kind {
	case KindEtherHost:
		if ll.link != pcapfile.LinkTypeEthernet || ll.ppp {
			return nil, fmt.Errorf("filter: ethernet addresses supported only on Ethernet links, not %v", ll.linkName())
		}
		m := p.MAC
		// As libpcap: the last four bytes, then the first two.
		at := func(off uint32) *node {
			return and(eq(4, off+2, uint32(m[2])<<24|uint32(m[3])<<16|uint32(m[4])<<8|uint32(m[5])),
				eq(2, off, uint32(m[0])<<8|uint32(m[1])))
		}
		src, dst := func() *node { return at(6) }, func() *node { return at(0) }
		switch p.Dir {
		case DirSrc:
			return src(), nil
		case DirDst:
			return dst(), nil
		case DirSrcAndDst:
			return and(src(), dst()), nil
		}
		return or(src(), dst()), nil
	case KindEtherProto:
		return ll.etherType(p.Num), nil
	case KindBroadcast:
		if p.Proto == ProtoIP {
			// As tcpdump reading a file, whose netmask is 0: all ones
			// or all zeros is the broadcast address.
			return and(ll.ipv4(), or(eq(4, nl+ip4Dst, 0), eq(4, nl+ip4Dst, 0xffffffff))), nil
		}
		if ll.link != pcapfile.LinkTypeEthernet || ll.ppp {
			return nil, fmt.Errorf("filter: broadcast: not a broadcast link (%v)", ll.linkName())
		}
		return and(eq(4, 2, 0xffffffff), eq(2, 0, 0xffff)), nil
	case KindMulticast:
		switch p.Proto {
		case ProtoEther, ProtoNone:
			if ll.link != pcapfile.LinkTypeEthernet || ll.ppp {
				return nil, fmt.Errorf("filter: multicast: not a broadcast link (%v)", ll.linkName())
			}
			return cmpNode(1, 0, bpf.JumpBitsSet, 1), nil
		case ProtoIP:
			return and(ll.ipv4(), cmpNode(1, nl+ip4Dst, bpf.JumpGreaterOrEqual, 224)), nil
		case ProtoIP6:
			return and(ll.ipv6(), eq(1, nl+ip6Dst, 0xff)), nil
		}
		return nil, fmt.Errorf("filter: '%v' multicast is not supported", p.Proto)
	case KindVLAN:
		if ll.link != pcapfile.LinkTypeEthernet || ll.ppp {
			return nil, fmt.Errorf("filter: no VLAN support for link type %v", ll.linkName())
		}
		if ll.mpls > 0 {
			return nil, fmt.Errorf("filter: no VLAN match after MPLS")
		}
		off := ll.typeOff + ll.shift
		n := or(eq(2, off, 0x8100), eq(2, off, 0x88a8), eq(2, off, 0x9100))
		if p.HasNum {
			if p.Num > 4095 {
				return nil, fmt.Errorf("filter: VLAN tag %d greater than maximum 4095", p.Num)
			}
			n = and(n, maskEq(2, off+2, 0x0fff, p.Num))
		}
		ll.shift += 4
		return n, nil
	case KindMPLS:
		if ll.link != pcapfile.LinkTypeEthernet && !ll.ppp {
			return nil, fmt.Errorf("filter: no MPLS support for link type %v", ll.linkName())
		}
		var n *node
		switch {
		case ll.mpls > 0:
			// Another label: the one before is not the bottom of the stack.
			n = not(cmpNode(1, nl-2, bpf.JumpBitsSet, 1))
		case ll.ppp:
			n = eq(2, ll.typeOff, pppMPLS)
		default:
			n = ll.etherType(etherMPLS)
		}
		if p.HasNum {
			if p.Num > 1<<20-1 {
				return nil, fmt.Errorf("filter: MPLS label %d greater than maximum 1048575", p.Num)
			}
			n = and(n, maskEq(4, nl, 0xfffff000, p.Num<<12))
		}
		ll.mpls++
		ll.mplsOff += 4
		return n, nil
	case KindPPPoED:
		return ll.etherType(etherPPPoED), nil
	case KindPPPoES:
		n := ll.etherType(etherPPPoES)
		if p.HasNum {
			if p.Num > 0xffff {
				return nil, fmt.Errorf("filter: PPPoE session number %d greater than maximum 65535", p.Num)
			}
			n = and(n, maskEq(4, nl, 0xffff, p.Num))
		}
		// From here on the link is PPP, its header after PPPoE's.
		ll.ppp, ll.hasType = true, true
		ll.linkOff, ll.typeOff = nl+pppoeHdrLen, nl+pppoeHdrLen
		ll.nlBase, ll.shift, ll.mplsOff = nl+pppoeHdrLen+2, 0, 0
		return n, nil
	case KindLLC:
		if ll.link != pcapfile.LinkTypeEthernet || ll.ppp {
			return nil, fmt.Errorf("filter: 'llc' not supported for %v", ll.linkName())
		}
		// As libpcap: an 802.3 length, and not Novell's raw 802.3
		// (0xffff where the LLC header would be).
		llc := ll.llcOff()
		n := and(not(cmpNode(2, ll.typeOff+ll.shift, bpf.JumpGreaterThan, etherMTU)), not(eq(2, llc, 0xffff)))
		switch t, ok := llcTypes[p.LLC]; {
		case p.LLC == "":
		case p.LLC == "i":
			n = and(n, not(cmpNode(1, llc+2, bpf.JumpBitsSet, 1)))
		case ok:
			n = and(n, maskEq(1, llc+2, t.mask, t.val))
		default:
			return nil, fmt.Errorf("filter: unknown LLC type name '%s'", p.LLC)
		}
		return n, nil
	case KindInbound, KindOutbound:
		var out *node
		switch {
		case ll.ppp:
		case ll.link == pcapfile.LinkTypeLinuxSLL:
			out = eq(2, 0, sllOutgoing)
		case ll.link == pcapfile.LinkTypeLinuxSLL2:
			out = eq(1, 10, sllOutgoing)
		}
		if out == nil {
			return nil, fmt.Errorf("filter: inbound/outbound not supported on %v when reading savefiles", ll.linkName())
		}
		if p.Kind == KindInbound {
			return not(out), nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("filter: invalid primitive %v", p)
}

// parseMAC parses an Ethernet address as tcpdump does: six hex bytes of
// one or two digits separated by ':', '-' or '.' ("1:2:3:4:5:6"), three
// groups of four digits joined by '.' ("0102.0304.0506"), or twelve
// digits.
func parseMAC(w string) ([6]byte, bool) {
	var m [6]byte
	hex := func(s string) (uint64, bool) {
		if s == "" {
			return 0, false
		}
		var v uint64
		for _, c := range []byte(s) {
			switch {
			case '0' <= c && c <= '9':
				v = v<<4 | uint64(c-'0')
			case 'a' <= c && c <= 'f':
				v = v<<4 | uint64(c-'a'+10)
			case 'A' <= c && c <= 'F':
				v = v<<4 | uint64(c-'A'+10)
			default:
				return 0, false
			}
		}
		return v, true
	}
	for _, sep := range []string{":", "-", "."} {
		parts := strings.Split(w, sep)
		if len(parts) == 6 {
			for i, p := range parts {
				v, ok := hex(p)
				if !ok || len(p) > 2 {
					return m, false
				}
				m[i] = byte(v)
			}
			return m, true
		}
	}
	if parts := strings.Split(w, "."); len(parts) == 3 {
		for i, p := range parts {
			v, ok := hex(p)
			if !ok || len(p) != 4 {
				return m, false
			}
			m[2*i], m[2*i+1] = byte(v>>8), byte(v)
		}
		return m, true
	}
	if len(w) == 12 {
		v, ok := hex(w)
		if !ok {
			return m, false
		}
		for i := range 6 {
			m[i] = byte(v >> (40 - 8*i))
		}
		return m, true
	}
	return m, false
}
