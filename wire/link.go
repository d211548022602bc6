package wire

import (
	"encoding/binary"
	"strconv"

	"github.com/portkit/ports/pcapfile"
)

// EtherType is the protocol field of an Ethernet frame, an 802.1Q tag or
// a Linux cooked header. Values below 0x0600 are not protocols but the
// length of an IEEE 802.3 frame.
type EtherType uint16

// EtherTypes that the decoder acts on or names.
const (
	EtherTypeIPv4     EtherType = 0x0800
	EtherTypeARP      EtherType = 0x0806
	EtherTypeVLAN     EtherType = 0x8100 // 802.1Q customer tag (C-tag)
	EtherTypeIPv6     EtherType = 0x86dd
	EtherTypeQinQ     EtherType = 0x88a8 // 802.1ad service tag (S-tag)
	EtherTypeVLAN9100 EtherType = 0x9100 // pre-standard QinQ tag
	EtherTypeVLAN9200 EtherType = 0x9200 // pre-standard QinQ tag
)

// IsVLAN reports whether t introduces a VLAN tag: 0x8100, 0x88a8, 0x9100
// or 0x9200.
func (t EtherType) IsVLAN() bool {
	return t == EtherTypeVLAN || t == EtherTypeQinQ || t == EtherTypeVLAN9100 || t == EtherTypeVLAN9200
}

// String returns tcpdump's name ("IPv4", "802.1Q-QinQ"), "length N" for an
// 802.3 length, or the value in hex.
func (t EtherType) String() string {
	switch t {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "802.1Q"
	case EtherTypeIPv6:
		return "IPv6"
	case EtherTypeQinQ:
		return "802.1Q-QinQ"
	case EtherTypeVLAN9100:
		return "802.1Q-9100"
	case EtherTypeVLAN9200:
		return "802.1Q-9200"
	case 0x8035:
		return "Reverse ARP"
	case 0x8847:
		return "MPLS unicast"
	case 0x8848:
		return "MPLS multicast"
	case 0x8863:
		return "PPPoE D"
	case 0x8864:
		return "PPPoE S"
	case 0x888e:
		return "EAPOL"
	case 0x88cc:
		return "LLDP"
	}
	if t < 0x0600 {
		return "length " + strconv.Itoa(int(t))
	}
	b := appendHex16(make([]byte, 0, 6), uint16(t))
	return string(b)
}

// VLAN is one 802.1Q or 802.1ad tag.
type VLAN struct {
	TPID EtherType // the tag's EtherType: 0x8100, 0x88a8, 0x9100 or 0x9200
	PCP  uint8     // priority code point, 0-7
	DEI  bool      // drop eligible indicator
	ID   uint16    // VLAN identifier, 0-4095
}

// SLLPacketType is the packet type of a Linux cooked header: where the
// packet was going.
type SLLPacketType uint16

// Linux packet types (PACKET_HOST... in linux/if_packet.h).
const (
	SLLHost      SLLPacketType = 0 // to us
	SLLBroadcast SLLPacketType = 1 // to all
	SLLMulticast SLLPacketType = 2 // to a group
	SLLOtherHost SLLPacketType = 3 // to someone else (promiscuous mode)
	SLLOutgoing  SLLPacketType = 4 // sent by us
)

// String returns tcpdump's abbreviation: "In", "B", "M", "P" or "Out".
func (t SLLPacketType) String() string {
	switch t {
	case SLLHost:
		return "In"
	case SLLBroadcast:
		return "B"
	case SLLMulticast:
		return "M"
	case SLLOtherHost:
		return "P"
	case SLLOutgoing:
		return "Out"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// MaxVLANs is how many VLAN tags [Link] records. Frames with more tags
// are still decoded; the inner tags beyond the first MaxVLANs are skipped.
const MaxVLANs = 4

// Link is the link-layer header of a packet. Which fields are set depends
// on Type.
type Link struct {
	Type      pcapfile.LinkType
	HeaderLen uint16 // bytes of link-layer header, VLAN tags included

	// EtherType is the protocol of what follows the link header: the
	// Ethernet type after any VLAN tags, or the protocol field of a Linux
	// cooked header. For Null, Loop and the raw link types, which have no
	// such field, it is set to EtherTypeIPv4 or EtherTypeIPv6 when the
	// packet holds one.
	EtherType EtherType

	// Ethernet.
	Dst, Src [6]byte        // MAC addresses
	VLANs    [MaxVLANs]VLAN // tags, outermost first: VLANs[:NumVLANs]
	NumVLANs uint8          // tags recorded (at most MaxVLANs); also set under Linux cooked headers

	// Linux cooked capture (SLL and SLL2).
	PacketType SLLPacketType // direction
	HAType     uint16        // ARPHRD_ type of the interface (1 = Ethernet)
	AddrLen    uint16        // link-layer address length, as in the header (may exceed 8)
	Addr       [8]byte       // the sender's link-layer address, first min(AddrLen, 8) bytes
	IfIndex    uint32        // SLL2 only: the interface index

	// Null and Loop.
	Family uint32 // the address family: 2 = IPv4; 24, 28 or 30 = IPv6 (BSDs, macOS)
}

// Address families of BSD loopback headers.
const (
	afInet        = 2
	afInet6BSD    = 24 // NetBSD, OpenBSD, BSD/OS; also Npcap's loopback adapter
	afInet6FreeBS = 28 // FreeBSD, DragonFly BSD
	afInet6Darwin = 30 // macOS
)

// decodeEthernet decodes an Ethernet header and its tags; it returns the
// offset of the network header, or -1 when there is none.
func (p *Packet) decodeEthernet(data []byte, wire int) int {
	if !p.need(LayerEthernet, data, 0, 14, wire, "frame shorter than an Ethernet header") {
		return -1
	}
	copy(p.Link.Dst[:], data[0:6])
	copy(p.Link.Src[:], data[6:12])
	p.Link.EtherType = EtherType(binary.BigEndian.Uint16(data[12:]))
	p.Layers |= LayerSet(1) << LayerEthernet
	return p.decodeTags(LayerEthernet, data, 14, wire)
}

// decodeTags decodes the VLAN tags that start at off if p.Link.EtherType
// announces one.
func (p *Packet) decodeTags(l Layer, data []byte, off, wire int) int {
	for p.Link.EtherType.IsVLAN() {
		if !p.need(l, data, off, 4, wire, "frame ends inside a VLAN tag") {
			p.Link.HeaderLen = uint16(off)
			return -1
		}
		tci := binary.BigEndian.Uint16(data[off:])
		if p.Link.NumVLANs < MaxVLANs {
			p.Link.VLANs[p.Link.NumVLANs] = VLAN{TPID: p.Link.EtherType, PCP: uint8(tci >> 13), DEI: tci&0x1000 != 0, ID: tci & 0x0fff}
			p.Link.NumVLANs++
		}
		p.Link.EtherType = EtherType(binary.BigEndian.Uint16(data[off+2:]))
		off += 4
	}
	p.Link.HeaderLen = uint16(off)
	return off
}

// decodeSLL decodes a Linux cooked header, version 1.
func (p *Packet) decodeSLL(data []byte, wire int) int {
	if !p.need(LayerSLL, data, 0, 16, wire, "frame shorter than a Linux cooked header") {
		return -1
	}
	p.Link.PacketType = SLLPacketType(binary.BigEndian.Uint16(data[0:]))
	p.Link.HAType = binary.BigEndian.Uint16(data[2:])
	p.Link.AddrLen = binary.BigEndian.Uint16(data[4:])
	copy(p.Link.Addr[:], data[6:14])
	p.Link.EtherType = EtherType(binary.BigEndian.Uint16(data[14:]))
	p.Layers |= LayerSet(1) << LayerSLL
	return p.decodeTags(LayerSLL, data, 16, wire)
}

// decodeSLL2 decodes a Linux cooked header, version 2.
func (p *Packet) decodeSLL2(data []byte, wire int) int {
	if !p.need(LayerSLL2, data, 0, 20, wire, "frame shorter than a Linux cooked v2 header") {
		return -1
	}
	p.Link.EtherType = EtherType(binary.BigEndian.Uint16(data[0:]))
	p.Link.IfIndex = binary.BigEndian.Uint32(data[4:])
	p.Link.HAType = binary.BigEndian.Uint16(data[8:])
	p.Link.PacketType = SLLPacketType(data[10])
	p.Link.AddrLen = uint16(data[11])
	copy(p.Link.Addr[:], data[12:20])
	p.Layers |= LayerSet(1) << LayerSLL2
	return p.decodeTags(LayerSLL2, data, 20, wire)
}

// decodeNull decodes a BSD loopback header: host byte order for Null
// (detected as tcpdump does: a family never has bits in the upper half,
// so little-endian unless only big-endian gives such a value), network
// byte order for Loop.
func (p *Packet) decodeNull(data []byte, wire int, loop bool) int {
	if !p.need(LayerNull, data, 0, 4, wire, "frame shorter than a loopback header") {
		return -1
	}
	var f uint32
	if loop {
		f = binary.BigEndian.Uint32(data)
	} else {
		f = binary.LittleEndian.Uint32(data)
		if be := binary.BigEndian.Uint32(data); f&0xffff0000 != 0 && be&0xffff0000 == 0 {
			f = be
		}
	}
	p.Link.Family = f
	p.Link.HeaderLen = 4
	p.Layers |= LayerSet(1) << LayerNull
	switch f {
	case afInet:
		p.Link.EtherType = EtherTypeIPv4
	case afInet6BSD, afInet6FreeBS, afInet6Darwin:
		p.Link.EtherType = EtherTypeIPv6
	}
	return 4
}
