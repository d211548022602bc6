package wire

import (
	"net/netip"
)

// Neighbor is the body of an ICMPv6 neighbour solicitation or
// advertisement (RFC 4861 sections 4.3 and 4.4): what a host discovery
// reads from an answer to its solicitation. [Neighbor.Decode] reads it
// from the ICMPv6 message that [Headers] or [Decoder.DecodeTransport]
// decoded; [Neighbor.AppendTo] writes one.
type Neighbor struct {
	Type ICMPv6Type // ICMPv6NeighborSolicit or ICMPv6NeighborAdvert
	// Flags holds an advertisement's Router, Solicited and Override bits
	// (0x80, 0x40, 0x20), the first byte after the checksum.
	Flags  uint8
	Target netip.Addr // the target address, IPv6

	// LinkAddr is the Ethernet address of the last Source (in a
	// solicitation) or Target (in an advertisement) Link-Layer Address
	// option of 8 bytes, when HasLinkAddr.
	HasLinkAddr bool
	LinkAddr    [6]byte

	err DecodeError
}

// NDP option types (RFC 4861 section 4.6).
const (
	ndpOptSourceLinkAddr = 1
	ndpOptTargetLinkAddr = 2
)

// Decode reads the ICMPv6 neighbour solicitation or advertisement msg,
// from its type byte on, into n. It does not verify the checksum and
// does not allocate; an error is a *[DecodeError] that points into n
// and is overwritten by the next Decode. A message of another type or shorter than 24 bytes
// is an error; so is an option of length 0 or running past the end, but
// then Type, Flags and Target are set, with the link-layer address of
// the options before it. Nothing in n aliases msg.
func (n *Neighbor) Decode(msg []byte) error {
	n.Type, n.Flags, n.Target, n.HasLinkAddr, n.LinkAddr = 0, 0, netip.Addr{}, false, [6]byte{}
	if len(msg) < 24 {
		return n.fail(0, "message shorter than a neighbor solicitation")
	}
	t := ICMPv6Type(msg[0])
	var want byte
	switch t {
	case ICMPv6NeighborSolicit:
		want = ndpOptSourceLinkAddr
	case ICMPv6NeighborAdvert:
		want = ndpOptTargetLinkAddr
	default:
		return n.fail(0, "not a neighbor solicitation or advertisement")
	}
	n.Type, n.Flags = t, msg[4]
	n.Target = netip.AddrFrom16([16]byte(msg[8:24]))
	for off := 24; off < len(msg); {
		o := msg[off:]
		if len(o) < 2 || o[1] == 0 {
			return n.fail(off, "neighbor discovery option of length 0")
		}
		l := int(o[1]) * 8
		if l > len(o) {
			return n.fail(off+1, "neighbor discovery option beyond the end of the message")
		}
		if o[0] == want && l == 8 {
			n.HasLinkAddr = true
			n.LinkAddr = [6]byte(o[2:8])
		}
		off += l
	}
	return nil
}

// fail records a decoding error in n and returns it; it points into n
// and is overwritten by the next Decode.
func (n *Neighbor) fail(off int, reason string) error {
	n.err = DecodeError{Layer: LayerICMPv6, Offset: off, Reason: reason, Err: ErrMalformed}
	return &n.err
}

// AppendTo appends n as an ICMPv6 message to b: the header with a zero
// checksum (an IPv6 raw socket of protocol ICMPv6 fills it in), the
// target, and the link-layer address option when HasLinkAddr. Type must
// be ICMPv6NeighborSolicit or ICMPv6NeighborAdvert, and Target IPv6 (an
// IPv4 one is written mapped).
func (n *Neighbor) AppendTo(b []byte) []byte {
	t := n.Target.As16()
	b = append(b, byte(n.Type), 0, 0, 0, n.Flags, 0, 0, 0)
	b = append(b, t[:]...)
	if n.HasLinkAddr {
		opt := byte(ndpOptTargetLinkAddr)
		if n.Type == ICMPv6NeighborSolicit {
			opt = ndpOptSourceLinkAddr
		}
		b = append(b, opt, 1)
		b = append(b, n.LinkAddr[:]...)
	}
	return b
}
