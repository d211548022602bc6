package wire

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// Layer names one protocol header that [Packet.Decode] decodes.
type Layer uint8

// Layers, in the order they can appear in a packet.
const (
	LayerNone     Layer = iota
	LayerEthernet       // Ethernet, VLAN tags included
	LayerSLL            // Linux cooked capture v1
	LayerSLL2           // Linux cooked capture v2
	LayerNull           // BSD loopback (Null and Loop link types)
	LayerIPv4
	LayerIPv6 // extension headers included
	LayerTCP
	LayerUDP
	LayerICMPv4
	LayerICMPv6
	numLayers
)

// String returns the name tcpdump uses in its truncation marks ("[|tcp]"):
// "eth", "sll", "sll2", "null", "ip", "ip6", "tcp", "udp", "icmp" or
// "icmp6"; "none" for LayerNone.
func (l Layer) String() string {
	switch l {
	case LayerNone:
		return "none"
	case LayerEthernet:
		return "eth"
	case LayerSLL:
		return "sll"
	case LayerSLL2:
		return "sll2"
	case LayerNull:
		return "null"
	case LayerIPv4:
		return "ip"
	case LayerIPv6:
		return "ip6"
	case LayerTCP:
		return "tcp"
	case LayerUDP:
		return "udp"
	case LayerICMPv4:
		return "icmp"
	case LayerICMPv6:
		return "icmp6"
	}
	return "layer(" + strconv.Itoa(int(l)) + ")"
}

// LayerSet is a set of layers, one bit per [Layer].
type LayerSet uint16

// Has reports whether l is in s.
func (s LayerSet) Has(l Layer) bool { return s&(1<<l) != 0 }

// Add returns s with l added; adding LayerNone changes nothing.
func (s LayerSet) Add(l Layer) LayerSet {
	if l == LayerNone {
		return s
	}
	return s | 1<<l
}

// String lists the layers in order, joined by "/": "eth/ip/tcp"; "none"
// for the empty set.
func (s LayerSet) String() string {
	if s&^1 == 0 {
		return "none"
	}
	var b strings.Builder
	for l := LayerNone + 1; l < numLayers; l++ {
		if s.Has(l) {
			if b.Len() > 0 {
				b.WriteByte('/')
			}
			b.WriteString(l.String())
		}
	}
	return b.String()
}

// Errors that a [DecodeError] wraps.
var (
	// ErrMalformed: a header is impossible (a length field below its
	// minimum, or beyond the bytes the packet has on the wire, a wrong
	// version). A packet merely cut short by the capture's snapshot
	// length is not malformed: see [Packet.Truncated].
	ErrMalformed = errors.New("malformed packet")
	// ErrUnsupportedLinkType: Decode does not know the link type. It
	// wraps [errors.ErrUnsupported].
	ErrUnsupportedLinkType error = unsupportedLinkType{}
)

type unsupportedLinkType struct{}

func (unsupportedLinkType) Error() string { return "unsupported link type" }
func (unsupportedLinkType) Unwrap() error { return errors.ErrUnsupported }

// DecodeError reports a packet that Decode could not fully make sense
// of. It holds only values, so a copy (*err) can be kept.
type DecodeError struct {
	Layer  Layer  // the header at fault; LayerNone for the link type itself
	Offset int    // byte offset in the frame of the field at fault
	Reason string // what is wrong, lowercase
	Err    error  // ErrMalformed or ErrUnsupportedLinkType
}

func (e *DecodeError) Error() string {
	if e.Layer == LayerNone {
		return "decode: " + e.Reason
	}
	return "decode " + e.Layer.String() + " at byte " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Unwrap returns e.Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// Packet is one decoded frame. The caller owns it and reuses it: Decode
// overwrites every field. The fields of a layer not in Layers are zero
// (Link.Type is always set, and Link may hold the VLAN tags of a frame
// cut short after them).
//
// Payload and the []byte fields of the layers (IP.Options,
// TCP.Options.Raw, Quoted.IP.Options) point into the data passed to
// Decode: they are valid only as long as that data is unchanged (a
// capture reader that reuses its buffer overwrites them with the next
// packet). Copy them to keep them.
type Packet struct {
	// Layers holds each header that was decoded: its fixed part was
	// captured in full (options and extension headers may still be cut
	// short; then TruncatedAt names that layer).
	Layers LayerSet

	Link   Link
	IP     IP     // IPv4 or IPv6: LayerIPv4 or LayerIPv6
	TCP    TCP    // LayerTCP
	UDP    UDP    // LayerUDP
	ICMPv4 ICMPv4 // LayerICMPv4
	ICMPv6 ICMPv6 // LayerICMPv6

	// Payload is the captured part of what follows the last decoded
	// header: TCP or UDP data, the body of an ICMP message after its
	// 8-byte header (for errors: the quoted packet), an IP payload that
	// was not decoded (an unknown protocol, a non-first fragment), a
	// link payload that is not IP (ARP, with any padding), or the bytes of
	// a header that could not be decoded. After an IP header it ends where
	// the IP (or UDP) length says, excluding Ethernet padding. It aliases
	// the data given to Decode.
	Payload []byte

	// PayloadLen is the length of that payload on the wire, from the IP
	// and UDP length fields (or, for non-IP, the frame's length): it is
	// len(Payload) unless the capture cut the packet short.
	PayloadLen int

	CapLen  int // bytes captured: len(data)
	WireLen int // bytes on the wire: the origLen given to Decode, at least CapLen

	// Truncated is true when the capture ended (CapLen < WireLen) inside
	// a decoded header or its payload; TruncatedAt is the innermost
	// layer whose bytes were cut (LayerTCP both when the TCP header and
	// when only the TCP payload is incomplete, as tcpdump's "[|tcp]").
	// Ethernet padding missing from the capture does not count. When the
	// first byte of a raw IP packet is missing, TruncatedAt is LayerNone.
	Truncated   bool
	TruncatedAt Layer

	err    DecodeError
	hasErr bool
}

// IsFragment reports whether p is an IPv4 or IPv6 fragment. Only the
// first fragment carries the transport header; checksums of fragments
// are not verified.
func (p *Packet) IsFragment() bool { return p.IP.IsFragment() }

// Ports returns the TCP or UDP ports. ok is false when p has neither
// header.
func (p *Packet) Ports() (src, dst ports.Port, ok bool) {
	switch {
	case p.Layers.Has(LayerTCP):
		return p.TCP.SrcPort, p.TCP.DstPort, true
	case p.Layers.Has(LayerUDP):
		return p.UDP.SrcPort, p.UDP.DstPort, true
	}
	return 0, 0, false
}

// Endpoints returns the source and destination address and port of a TCP
// or UDP packet. ok is false for anything else.
func (p *Packet) Endpoints() (src, dst netip.AddrPort, ok bool) {
	sp, dp, ok := p.Ports()
	if !ok {
		return netip.AddrPort{}, netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(p.IP.Src, uint16(sp)), netip.AddrPortFrom(p.IP.Dst, uint16(dp)), true
}

// Decoder decodes frames into [Packet] values. The zero Decoder verifies
// checksums.
type Decoder struct {
	// SkipChecksums leaves checksums unverified, ChecksumUnknown (a UDP
	// checksum of zero over IPv4 is still ChecksumNone), saving a pass
	// over each packet's bytes (about 75 ns for 1500 bytes) for callers
	// that do not show checksums.
	SkipChecksums bool
}

// Decode is [Packet.Decode] with the options of d.
func (d Decoder) Decode(p *Packet, link pcapfile.LinkType, data []byte, origLen int) error {
	return p.decode(link, data, origLen, !d.SkipChecksums)
}

// DecodeTransport decodes a transport message that arrived without its
// IP header, as an IPv6 raw socket delivers TCP and ICMPv6: a TCP, UDP,
// ICMPv4 or ICMPv6 header of protocol proto, and what follows it. src and
// dst are the addresses of the header the socket removed (unspecified
// ones will do when checksums are skipped): they fill p.IP.Src, p.IP.Dst
// and p.IP.Version (4 when both are IPv4, else 6), and the checksum's
// pseudo-header. p.Layers then holds only the transport layer, p.Link and
// the other IP fields are zero, and p.IP.Protocol is proto; the rest is
// as [Packet.Decode] does it (an unknown proto leaves data as the
// payload). It never panics and does not allocate.
func (d Decoder) DecodeTransport(p *Packet, proto ports.Proto, src, dst netip.Addr, data []byte) error {
	*p = Packet{}
	p.CapLen, p.WireLen = len(data), len(data)
	p.IP.Version = 6
	if src.Is4() && dst.Is4() {
		p.IP.Version = 4
	}
	p.IP.Src, p.IP.Dst, p.IP.Protocol = src.WithZone(""), dst.WithZone(""), proto
	p.decodeTransport(data, 0, len(data), !d.SkipChecksums)
	return p.result()
}

// Decode decodes the frame data, of link type link, into p: the link
// header, IPv4 or IPv6 (with options, extension headers and fragments),
// and TCP, UDP, ICMPv4 or ICMPv6, verifying their checksums where all
// the bytes were captured. origLen is the frame's length on the wire
// (a pcap record's original length); a value below len(data), such as 0,
// means len(data).
//
// Decode never panics and does not allocate. It decodes as far as the
// bytes allow: a frame cut short by the capture is marked Truncated and
// is not an error. Decode returns a *[DecodeError] for a malformed or
// unsupported frame, with p holding whatever was decoded before and
// after the fault (when the rest could be located). The error points
// into p and is overwritten by the next Decode: copy *err to keep it.
//
// The link types Decode knows are the [pcapfile.LinkType] values Null,
// Ethernet (with any 802.1Q / 802.1ad tags), Raw, Loop, LinuxSLL, IPv4,
// IPv6 and LinuxSLL2; for any other the error wraps
// [ErrUnsupportedLinkType].
//
// Slices in p alias data; see [Packet].
func (p *Packet) Decode(link pcapfile.LinkType, data []byte, origLen int) error {
	return p.decode(link, data, origLen, true)
}

func (p *Packet) decode(link pcapfile.LinkType, data []byte, origLen int, verify bool) error {
	*p = Packet{}
	wire := max(origLen, len(data))
	p.Link.Type = link
	p.CapLen, p.WireLen = len(data), wire

	off := 0
	linkLayer := LayerNone
	switch link {
	case pcapfile.LinkTypeEthernet:
		linkLayer, off = LayerEthernet, p.decodeEthernet(data, wire)
	case pcapfile.LinkTypeLinuxSLL:
		linkLayer, off = LayerSLL, p.decodeSLL(data, wire)
	case pcapfile.LinkTypeLinuxSLL2:
		linkLayer, off = LayerSLL2, p.decodeSLL2(data, wire)
	case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
		linkLayer, off = LayerNull, p.decodeNull(data, wire, link == pcapfile.LinkTypeLoop)
	case pcapfile.LinkTypeIPv4:
		p.Link.EtherType = EtherTypeIPv4
	case pcapfile.LinkTypeIPv6:
		p.Link.EtherType = EtherTypeIPv6
	case pcapfile.LinkTypeRaw:
		switch {
		case len(data) == 0 && wire > 0:
			p.Truncated = true
		case len(data) == 0:
			p.fail(LayerNone, 0, "empty packet", ErrMalformed)
		case data[0]>>4 == 4:
			p.Link.EtherType = EtherTypeIPv4
		case data[0]>>4 == 6:
			p.Link.EtherType = EtherTypeIPv6
		default:
			p.fail(LayerNone, 0, "raw packet is neither IPv4 nor IPv6", ErrMalformed)
		}
		if p.Link.EtherType == 0 {
			return p.result()
		}
	default:
		p.setPayload(LayerNone, data, 0, wire)
		p.fail(LayerNone, 0, "unsupported link type "+link.String(), ErrUnsupportedLinkType)
		return p.result()
	}
	if off < 0 {
		return p.result()
	}
	switch p.Link.EtherType {
	case EtherTypeIPv4:
		p.decodeIPv4(data, off, wire, verify)
	case EtherTypeIPv6:
		p.decodeIPv6(data, off, wire, verify)
	default:
		p.setPayload(linkLayer, data, off, wire)
	}
	return p.result()
}

func (p *Packet) result() error {
	if p.hasErr {
		return &p.err
	}
	return nil
}

// fail records the first error.
func (p *Packet) fail(l Layer, off int, reason string, err error) {
	if !p.hasErr {
		p.hasErr = true
		p.err = DecodeError{Layer: l, Offset: off, Reason: reason, Err: err}
	}
}

// cut marks p truncated in layer l, the innermost so far.
func (p *Packet) cut(l Layer) {
	p.Truncated = true
	p.TruncatedAt = l
}

// need reports whether n bytes at off were captured, where the layer
// ends at end on the wire. If not, the bytes from off become the payload,
// and p is marked truncated in l (the bytes exist on the wire) or an
// error is recorded (they do not).
func (p *Packet) need(l Layer, data []byte, off, n, end int, reason string) bool {
	if off+n <= end && off+n <= len(data) {
		return true
	}
	p.setPayload(l, data, off, end)
	if off+n > end {
		p.fail(l, off, reason, ErrMalformed)
	}
	return false
}

// setPayload sets the payload to the bytes from off to end (on the wire),
// marking p truncated in l if they were not all captured.
func (p *Packet) setPayload(l Layer, data []byte, off, end int) {
	if end < off {
		end = off
	}
	p.PayloadLen = end - off
	ce := min(end, len(data))
	if off < ce {
		p.Payload = data[off:ce:ce]
	}
	if end > len(data) {
		p.cut(l)
	}
}
