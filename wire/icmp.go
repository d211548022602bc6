package wire

import (
	"encoding/binary"
	"strconv"

	"github.com/portkit/ports"
)

// ICMPv4Type is the type of an ICMP (v4) message.
type ICMPv4Type uint8

// ICMPv4 message types (RFC 792 and successors).
const (
	ICMPv4EchoReply      ICMPv4Type = 0
	ICMPv4Unreachable    ICMPv4Type = 3
	ICMPv4SourceQuench   ICMPv4Type = 4
	ICMPv4Redirect       ICMPv4Type = 5
	ICMPv4EchoRequest    ICMPv4Type = 8
	ICMPv4RouterAdvert   ICMPv4Type = 9
	ICMPv4RouterSolicit  ICMPv4Type = 10
	ICMPv4TimeExceeded   ICMPv4Type = 11
	ICMPv4ParamProblem   ICMPv4Type = 12
	ICMPv4Timestamp      ICMPv4Type = 13
	ICMPv4TimestampReply ICMPv4Type = 14
)

// IsError reports whether t is an error message, one that quotes the
// packet that caused it: unreachable, source quench, redirect, time
// exceeded, parameter problem.
func (t ICMPv4Type) IsError() bool {
	switch t {
	case ICMPv4Unreachable, ICMPv4SourceQuench, ICMPv4Redirect, ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// String returns the message name ("echo request", "unreachable"), or
// "type-N".
func (t ICMPv4Type) String() string {
	switch t {
	case ICMPv4EchoReply:
		return "echo reply"
	case ICMPv4Unreachable:
		return "unreachable"
	case ICMPv4SourceQuench:
		return "source quench"
	case ICMPv4Redirect:
		return "redirect"
	case ICMPv4EchoRequest:
		return "echo request"
	case ICMPv4RouterAdvert:
		return "router advertisement"
	case ICMPv4RouterSolicit:
		return "router solicitation"
	case ICMPv4TimeExceeded:
		return "time exceeded"
	case ICMPv4ParamProblem:
		return "parameter problem"
	case ICMPv4Timestamp:
		return "timestamp query"
	case ICMPv4TimestampReply:
		return "timestamp reply"
	case 15:
		return "information request"
	case 16:
		return "information reply"
	case 17:
		return "address mask request"
	case 18:
		return "address mask reply"
	}
	return "type-" + strconv.Itoa(int(t))
}

// ICMPv6Type is the type of an ICMPv6 message.
type ICMPv6Type uint8

// ICMPv6 message types (RFC 4443, RFC 4861, RFC 3810).
const (
	ICMPv6Unreachable     ICMPv6Type = 1
	ICMPv6PacketTooBig    ICMPv6Type = 2
	ICMPv6TimeExceeded    ICMPv6Type = 3
	ICMPv6ParamProblem    ICMPv6Type = 4
	ICMPv6EchoRequest     ICMPv6Type = 128
	ICMPv6EchoReply       ICMPv6Type = 129
	ICMPv6RouterSolicit   ICMPv6Type = 133
	ICMPv6RouterAdvert    ICMPv6Type = 134
	ICMPv6NeighborSolicit ICMPv6Type = 135
	ICMPv6NeighborAdvert  ICMPv6Type = 136
	ICMPv6Redirect        ICMPv6Type = 137
)

// IsError reports whether t is an error message (types 0-127), which
// quotes the packet that caused it.
func (t ICMPv6Type) IsError() bool { return t < 128 }

// String returns the message name ("echo request", "neighbor
// solicitation"), or "type-N".
func (t ICMPv6Type) String() string {
	switch t {
	case ICMPv6Unreachable:
		return "destination unreachable"
	case ICMPv6PacketTooBig:
		return "packet too big"
	case ICMPv6TimeExceeded:
		return "time exceeded"
	case ICMPv6ParamProblem:
		return "parameter problem"
	case ICMPv6EchoRequest:
		return "echo request"
	case ICMPv6EchoReply:
		return "echo reply"
	case 130:
		return "multicast listener query"
	case 131:
		return "multicast listener report"
	case 132:
		return "multicast listener done"
	case ICMPv6RouterSolicit:
		return "router solicitation"
	case ICMPv6RouterAdvert:
		return "router advertisement"
	case ICMPv6NeighborSolicit:
		return "neighbor solicitation"
	case ICMPv6NeighborAdvert:
		return "neighbor advertisement"
	case ICMPv6Redirect:
		return "redirect"
	case 143:
		return "multicast listener report v2"
	}
	return "type-" + strconv.Itoa(int(t))
}

// ICMPv4 is an ICMP message header, and the packet an error quotes.
type ICMPv4 struct {
	Type     ICMPv4Type
	Code     uint8
	Checksum Checksum // over the whole message
	Rest     uint32   // bytes 4-7, by type: identifier and sequence number, next-hop MTU, gateway, pointer
	Quoted   Quoted   // for error messages (Type.IsError)
}

// ID returns the identifier of an echo, timestamp or information message.
func (m *ICMPv4) ID() uint16 { return uint16(m.Rest >> 16) }

// Seq returns the sequence number of an echo, timestamp or information
// message.
func (m *ICMPv4) Seq() uint16 { return uint16(m.Rest) }

// MTU returns the next-hop MTU of a "fragmentation needed" unreachable
// (code 4), RFC 1191.
func (m *ICMPv4) MTU() uint16 { return uint16(m.Rest) }

// ICMPv6 is an ICMPv6 message header, and the packet an error quotes.
type ICMPv6 struct {
	Type     ICMPv6Type
	Code     uint8
	Checksum Checksum // over the pseudo-header and the whole message
	Rest     uint32   // bytes 4-7, by type: identifier and sequence number, MTU, pointer, flags
	Quoted   Quoted   // for error messages (Type.IsError)
}

// ID returns the identifier of an echo request or reply.
func (m *ICMPv6) ID() uint16 { return uint16(m.Rest >> 16) }

// Seq returns the sequence number of an echo request or reply.
func (m *ICMPv6) Seq() uint16 { return uint16(m.Rest) }

// MTU returns the MTU of a packet too big message.
func (m *ICMPv6) MTU() uint32 { return m.Rest }

// Quoted is the start of the packet that an ICMP error quotes: its IP
// header (ICMPv4 errors carry that and the first 8 bytes of the payload,
// ICMPv6 errors as much as fits in the minimum MTU). It is decoded into
// fixed fields, not into another Packet. Nothing in a quote is an error:
// what cannot be decoded is left zero, with Truncated set when the quote
// ended early.
type Quoted struct {
	// IP is the quoted IP header; IP.Version is 0 when there is none.
	// Its checksum is not verified, and IP.Options aliases the data
	// given to Decode.
	IP IP

	// Transport holds the first TransportLen (at most 8) bytes of the
	// quoted transport header; 0 for a non-first fragment.
	Transport    [8]byte
	TransportLen uint8

	// HasPorts is set when the quote holds the ports of a TCP, UDP,
	// UDP-Lite, SCTP or DCCP header.
	HasPorts         bool
	SrcPort, DstPort ports.Port
	// HasSeq is set when the quote holds a TCP sequence number, Seq.
	HasSeq bool
	Seq    uint32

	// Truncated is set when the quote ends before its IP header (and the
	// extension headers) and 8 bytes of transport header.
	Truncated bool
}

// protoUDPLite is UDP-Lite (RFC 3828), whose header starts with ports.
const protoUDPLite ports.Proto = 136

// decodeQuoted decodes the packet quoted in an ICMP error, b, expected to
// be IP version v.
func decodeQuoted(q *Quoted, b []byte, v uint8) {
	pos := 0
	switch v {
	case 4:
		if len(b) < 20 || b[0]>>4 != 4 || b[0]&15 < 5 {
			q.Truncated = len(b) < 20
			return
		}
		fillIPv4(&q.IP, b[:20])
		pos = int(q.IP.IHL) * 4
		if pos > len(b) {
			q.Truncated = true
			return
		}
		if pos > 20 {
			q.IP.Options = b[20:pos:pos]
		}
	case 6:
		if len(b) < 40 || b[0]>>4 != 6 {
			q.Truncated = len(b) < 40
			return
		}
		fillIPv6(&q.IP, b[:40])
		var res int
		pos, res = walkExt(&q.IP, b, 40, len(b))
		q.IP.HeaderLen = uint16(pos)
		if pos > 40 {
			q.IP.Options = b[40:pos:pos]
		}
		if res != extOK {
			q.Truncated = true
			return
		}
	}
	if q.IP.FragOffset != 0 {
		return
	}
	t := b[pos:]
	q.TransportLen = uint8(copy(q.Transport[:], t))
	q.Truncated = len(t) < 8
	switch q.IP.Protocol {
	case ports.ProtoTCP, ports.ProtoUDP, ports.ProtoSCTP, ports.ProtoDCCP, protoUDPLite:
		if len(t) >= 4 {
			q.HasPorts = true
			q.SrcPort = ports.Port(binary.BigEndian.Uint16(t))
			q.DstPort = ports.Port(binary.BigEndian.Uint16(t[2:]))
		}
		if q.IP.Protocol == ports.ProtoTCP && len(t) >= 8 {
			q.HasSeq = true
			q.Seq = binary.BigEndian.Uint32(t[4:])
		}
	}
}

// decodeICMPv4 decodes an ICMP message at off of an IPv4 packet that ends
// at end on the wire.
func (p *Packet) decodeICMPv4(data []byte, off, end int, verify bool) {
	if !p.need(LayerICMPv4, data, off, 8, end, "message shorter than an ICMP header") {
		return
	}
	m := &p.ICMPv4
	m.Type = ICMPv4Type(data[off])
	m.Code = data[off+1]
	m.Checksum.Value = binary.BigEndian.Uint16(data[off+2:])
	m.Rest = binary.BigEndian.Uint32(data[off+4:])
	p.Layers |= 1 << LayerICMPv4
	p.setPayload(LayerICMPv4, data, off+8, end)
	if verify && end <= len(data) {
		m.Checksum = csumVerify(csumAdd(0, data[off:end]), m.Checksum.Value, false)
	}
	if m.Type.IsError() {
		decodeQuoted(&m.Quoted, p.Payload, 4)
	}
}

// decodeICMPv6 decodes an ICMPv6 message at off of an IPv6 packet that
// ends at end on the wire.
func (p *Packet) decodeICMPv6(data []byte, off, end int, verify bool) {
	if !p.need(LayerICMPv6, data, off, 8, end, "message shorter than an ICMPv6 header") {
		return
	}
	m := &p.ICMPv6
	m.Type = ICMPv6Type(data[off])
	m.Code = data[off+1]
	m.Checksum.Value = binary.BigEndian.Uint16(data[off+2:])
	m.Rest = binary.BigEndian.Uint32(data[off+4:])
	p.Layers |= 1 << LayerICMPv6
	p.setPayload(LayerICMPv6, data, off+8, end)
	if verify && end <= len(data) {
		acc := csumAdd(pseudoSum(p.IP.Src, p.IP.Dst, ProtoICMPv6, end-off), data[off:end])
		m.Checksum = csumVerify(acc, m.Checksum.Value, false)
	}
	if m.Type.IsError() {
		decodeQuoted(&m.Quoted, p.Payload, 6)
	}
}
