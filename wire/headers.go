package wire

import (
	"encoding/binary"
	"net/netip"

	"github.com/portkit/ports"
)

// Headers holds the fixed fields of an IP packet's network and transport
// headers and, for an ICMP error, of the packet it quotes: what a reader
// of replies to probes needs, such as a SYN scanner reading its raw
// sockets. [Headers.Decode] fills it several times faster than
// [Packet.Decode] (docs/BENCHMARKS.md): it records no options, extension
// headers or payload bounds, verifies no checksum, and does not clear
// the Headers first. So only some fields are set by each Decode: Layers,
// the IP fields (zero when there is no IP header) and those of the
// transport layer in Layers (and Quoted, for any ICMP message); the
// fields of the other transport layers keep what an earlier Decode left
// in them. Read only the fields of the layers in Layers.
//
// For those fields Headers.Decode gives what [Decoder.Decode] of a
// [pcapfile.LinkTypeRaw] packet gives with SkipChecksums, and the same
// errors (the tests compare the two on fuzzed packets). A Headers holds
// no slices: nothing aliases the decoded data.
type Headers struct {
	// Layers holds LayerIPv4 or LayerIPv6 and the transport layer, as
	// [Packet.Layers] does: a layer is there when its fixed part is in
	// the data.
	Layers LayerSet

	// From the IP header, as in [IP]; Protocol is the last Next Header
	// of an IPv6 extension header chain, and IPFlags and FragOffset come
	// from an IPv6 Fragment header.
	Version    uint8
	Src, Dst   netip.Addr
	TTL        uint8 // IPv4 time to live, IPv6 hop limit
	Protocol   ports.Proto
	IPFlags    IPFlags
	FragOffset uint16

	// TCP or UDP (LayerTCP or LayerUDP).
	SrcPort, DstPort ports.Port

	// TCP, as in [TCP] (options are not read): LayerTCP.
	Seq, Ack   uint32
	DataOffset uint8
	TCPFlags   TCPFlags
	Window     uint16

	// UDP: LayerUDP.
	Length uint16

	// ICMPv4 or ICMPv6 (which, Layers says): the type and code as in
	// [ICMPv4] and [ICMPv6], the 4 bytes after the checksum, and for an
	// error message the packet it quotes (zero for other messages).
	ICMPType, ICMPCode uint8
	ICMPRest           uint32
	Quoted             QuotedHeaders

	err DecodeError
}

// QuotedHeaders is the part of an ICMP error's quote ([Quoted]) that
// [Headers] keeps. Version is 0 when the quote has no IP header.
type QuotedHeaders struct {
	Version          uint8
	Src, Dst         netip.Addr
	Protocol         ports.Proto
	HasPorts         bool // as [Quoted.HasPorts]
	SrcPort, DstPort ports.Port
	HasSeq           bool // as [Quoted.HasSeq]
	Seq              uint32
	Truncated        bool // as [Quoted.Truncated]

	// Transport holds the first TransportLen (at most 8) bytes of the
	// quoted transport header, as [Quoted.Transport]: for a quoted ICMP
	// echo request, its type, code, checksum, identifier and sequence
	// number.
	Transport    [8]byte
	TransportLen uint8
}

// Decode decodes the IPv4 or IPv6 packet data, as an IPv4 raw socket
// delivers it, into h: the IP header and the fixed part of the TCP, UDP,
// ICMPv4 or ICMPv6 header, with the quote of an ICMP error. data is the
// whole packet (nothing was cut short by a capture). Decode never panics
// and does not allocate; like [Packet.Decode] it decodes as far as it
// can and returns a *[DecodeError] for a malformed packet, which points
// into h and is overwritten by the next Decode.
func (h *Headers) Decode(data []byte) error {
	var failed bool
	switch {
	case len(data) == 0:
		h.noIP()
		failed = h.fail(false, LayerNone, 0, "empty packet")
	case data[0]>>4 == 4:
		failed = h.decodeIPv4(data)
	case data[0]>>4 == 6:
		failed = h.decodeIPv6(data)
	default:
		h.noIP()
		failed = h.fail(false, LayerNone, 0, "raw packet is neither IPv4 nor IPv6")
	}
	if failed {
		return &h.err
	}
	return nil
}

// DecodeTransport decodes a transport message that arrived without its
// IP header, as an IPv6 raw socket delivers TCP and ICMPv6, as
// [Decoder.DecodeTransport] does: src and dst are the addresses of the
// header the socket removed (unspecified ones will do), filling Src, Dst
// and Version (4 when both are IPv4, else 6), and Protocol is proto;
// Layers then holds only the transport layer.
func (h *Headers) DecodeTransport(proto ports.Proto, src, dst netip.Addr, data []byte) error {
	v := uint8(6)
	if src.Is4() && dst.Is4() {
		v = 4
	}
	if src.Zone() != "" || dst.Zone() != "" {
		src, dst = src.WithZone(""), dst.WithZone("")
	}
	h.Version, h.Protocol, h.TTL, h.IPFlags, h.FragOffset = v, proto, 0, 0, 0
	h.Src, h.Dst = src, dst
	if h.decodeTransport(data, 0, 0, ipInfo{v: v, proto: proto}, false) {
		return &h.err
	}
	return nil
}

// Performance: a Decode is a few nanoseconds, so clearing the 200-odd
// bytes of a Headers would be a good part of it (and a caller's own
// variable is cleared once already). The decoding functions take what
// they need of the headers decoded before as arguments rather than
// reading it back from h, and store each field once.

// noIP sets the IP fields of a packet without an IP header.
func (h *Headers) noIP() {
	h.Layers, h.Version, h.TTL, h.Protocol, h.IPFlags, h.FragOffset = 0, 0, 0, 0, 0, 0
	h.Src, h.Dst = netip.Addr{}, netip.Addr{}
}

// ipInfo is what the transport decoding needs of the IP header.
type ipInfo struct {
	v     uint8
	proto ports.Proto
	frag  uint16 // fragment offset
	mf    bool   // more fragments
}

// fail records an error unless one was (failed), and returns true. It
// is kept out of line: the hot paths stay small.
//
//go:noinline
func (h *Headers) fail(failed bool, l Layer, off int, reason string) bool {
	if !failed {
		h.err = DecodeError{Layer: l, Offset: off, Reason: reason, Err: ErrMalformed}
	}
	return true
}

// decodeIPv4 decodes an IPv4 packet; it reports whether it failed. The
// reasons are Packet.Decode's.
func (h *Headers) decodeIPv4(data []byte) bool {
	if len(data) < 20 {
		h.noIP()
		return h.fail(false, LayerIPv4, 0, "packet shorter than an IPv4 header")
	}
	b := data[:20]
	ff := binary.BigEndian.Uint16(b[6:])
	ip := ipInfo{v: 4, proto: ports.Proto(b[9]), frag: ff << 3, mf: ff&(1<<13) != 0}
	h.Version, h.Protocol = 4, ip.proto
	h.IPFlags, h.FragOffset = IPFlags(ff>>13), ip.frag
	h.TTL = b[8]
	h.Src = netip.AddrFrom4([4]byte(b[12:16]))
	h.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	const layers = LayerSet(1 << LayerIPv4)
	hl := int(b[0]&15) * 4
	if hl < 20 {
		h.Layers = layers
		return h.fail(false, LayerIPv4, 0, "header length below 20 bytes")
	}
	failed := false
	end := int(binary.BigEndian.Uint16(b[2:]))
	switch {
	case end == 0:
		end = len(data)
	case end < hl:
		h.Layers = layers
		return h.fail(false, LayerIPv4, 2, "total length below the header length")
	case end > len(data):
		failed = h.fail(false, LayerIPv4, 2, "total length beyond the end of the frame")
		end = len(data)
	}
	if hl > end {
		h.Layers = layers
		return h.fail(failed, LayerIPv4, 0, "header length beyond the end of the packet")
	}
	return h.decodeTransport(data[:end], hl, layers, ip, failed)
}

// decodeIPv6 decodes an IPv6 packet; it reports whether it failed.
func (h *Headers) decodeIPv6(data []byte) bool {
	if len(data) < 40 {
		h.noIP()
		return h.fail(false, LayerIPv6, 0, "packet shorter than an IPv6 header")
	}
	b := data[:40]
	plen := int(binary.BigEndian.Uint16(b[4:]))
	ip := ipInfo{v: 6, proto: ports.Proto(b[6])}
	h.Version, h.TTL, h.IPFlags, h.FragOffset = 6, b[7], 0, 0
	h.Src = netip.AddrFrom16([16]byte(b[8:24]))
	h.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	const layers = LayerSet(1 << LayerIPv6)
	failed := false
	end := 40 + plen
	switch {
	case plen == 0 && ip.proto != 59:
		end = len(data)
	case end > len(data):
		failed = h.fail(false, LayerIPv6, 4, "payload length beyond the end of the frame")
		end = len(data)
	}
	pos := 40
	if isExtHeader(uint8(ip.proto)) {
		var x IP // the walk's scratch: Headers keeps no list of extension headers
		x.Protocol = ip.proto
		var res int
		pos, res = walkExt(&x, data, pos, end)
		ip.proto, ip.frag, ip.mf = x.Protocol, x.FragOffset, x.Flags&IPMoreFragments != 0
		h.IPFlags, h.FragOffset = x.Flags, x.FragOffset
		if res != extOK {
			// Only extMalformed: data is whole, so nothing is cut short.
			h.Protocol, h.Layers = ip.proto, layers
			return h.fail(failed, LayerIPv6, pos, "extension header beyond the end of the packet")
		}
	}
	h.Protocol = ip.proto
	return h.decodeTransport(data[:end], pos, layers, ip, failed)
}

// decodeTransport decodes the transport header at off of the IP packet
// data (which ends where the IP header says), and sets Layers to layers
// and the transport layer. failed says whether an error was recorded;
// it returns whether one is now.
func (h *Headers) decodeTransport(data []byte, off int, layers LayerSet, ip ipInfo, failed bool) bool {
	if ip.frag != 0 {
		h.Layers = layers
		return failed // a non-first fragment: no transport header here
	}
	switch {
	case ip.proto == ports.ProtoTCP:
		if len(data)-off < 20 {
			h.Layers = layers
			return h.fail(failed, LayerTCP, off, "segment shorter than a TCP header")
		}
		t := data[off : off+20]
		h.SrcPort = ports.Port(binary.BigEndian.Uint16(t[0:]))
		h.DstPort = ports.Port(binary.BigEndian.Uint16(t[2:]))
		h.Seq = binary.BigEndian.Uint32(t[4:])
		h.Ack = binary.BigEndian.Uint32(t[8:])
		of := binary.BigEndian.Uint16(t[12:])
		h.DataOffset, h.TCPFlags = uint8(of>>12), TCPFlags(of&0x0fff)
		h.Window = binary.BigEndian.Uint16(t[14:])
		h.Layers = layers | 1<<LayerTCP
		switch hl := int(of>>12) * 4; {
		case hl < 20:
			return h.fail(failed, LayerTCP, off+12, "data offset below 5 words")
		case hl > len(data)-off:
			return h.fail(failed, LayerTCP, off+12, "data offset beyond the end of the segment")
		}
	case ip.proto == ports.ProtoUDP:
		if len(data)-off < 8 {
			h.Layers = layers
			return h.fail(failed, LayerUDP, off, "datagram shorter than a UDP header")
		}
		u := data[off : off+8]
		h.SrcPort = ports.Port(binary.BigEndian.Uint16(u[0:]))
		h.DstPort = ports.Port(binary.BigEndian.Uint16(u[2:]))
		l := int(binary.BigEndian.Uint16(u[4:]))
		h.Length = uint16(l)
		h.Layers = layers | 1<<LayerUDP
		if ip.mf {
			return failed // a first fragment: Length covers the whole datagram
		}
		switch {
		case l == 0 && ip.v == 6: // a jumbogram
		case l < 8:
			return h.fail(failed, LayerUDP, off+4, "length below 8")
		case l > len(data)-off:
			return h.fail(failed, LayerUDP, off+4, "length beyond the end of the IP payload")
		}
	case ip.proto == ProtoICMP && ip.v == 4:
		if len(data)-off < 8 {
			h.Layers = layers
			return h.fail(failed, LayerICMPv4, off, "message shorter than an ICMP header")
		}
		m := data[off:]
		h.ICMPType, h.ICMPCode = m[0], m[1]
		h.ICMPRest = binary.BigEndian.Uint32(m[4:8])
		h.Layers = layers | 1<<LayerICMPv4
		h.Quoted = QuotedHeaders{}
		if ICMPv4Type(m[0]).IsError() {
			h.Quoted.decode(m[8:], 4)
		}
	case ip.proto == ProtoICMPv6 && ip.v == 6:
		if len(data)-off < 8 {
			h.Layers = layers
			return h.fail(failed, LayerICMPv6, off, "message shorter than an ICMPv6 header")
		}
		m := data[off:]
		h.ICMPType, h.ICMPCode = m[0], m[1]
		h.ICMPRest = binary.BigEndian.Uint32(m[4:8])
		h.Layers = layers | 1<<LayerICMPv6
		h.Quoted = QuotedHeaders{}
		if ICMPv6Type(m[0]).IsError() {
			h.Quoted.decode(m[8:], 6)
		}
	default:
		h.Layers = layers
	}
	return failed
}

// ICMP returns the type, code and the 4 bytes after the checksum of
// the ICMP (in an ICMPv4 error) or ICMPv6 (in an ICMPv6 error) message
// that q quotes, such as an echo request's identifier and sequence
// number; ok is false when the quote holds no such 8 bytes.
func (q *QuotedHeaders) ICMP() (typ, code uint8, rest uint32, ok bool) {
	if q.TransportLen < 8 || !(q.Version == 4 && q.Protocol == ProtoICMP || q.Version == 6 && q.Protocol == ProtoICMPv6) {
		return 0, 0, 0, false
	}
	return q.Transport[0], q.Transport[1], binary.BigEndian.Uint32(q.Transport[4:]), true
}

// decode reads the quote b of an ICMP error, expected to be IP version
// v, as decodeQuoted does.
func (q *QuotedHeaders) decode(b []byte, v uint8) {
	var proto ports.Proto
	var pos int
	var frag uint16
	if v == 4 {
		if len(b) < 20 || b[0]>>4 != 4 || b[0]&15 < 5 {
			q.Truncated = len(b) < 20
			return
		}
		proto = ports.Proto(b[9])
		q.Version, q.Protocol = 4, proto
		frag = binary.BigEndian.Uint16(b[6:]) << 3
		q.Src = netip.AddrFrom4([4]byte(b[12:16]))
		q.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		pos = int(b[0]&15) * 4
		if pos > len(b) {
			q.Truncated = true
			return
		}
	} else {
		if len(b) < 40 || b[0]>>4 != 6 {
			q.Truncated = len(b) < 40
			return
		}
		proto = ports.Proto(b[6])
		q.Version = 6
		q.Src = netip.AddrFrom16([16]byte(b[8:24]))
		q.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		pos = 40
		if isExtHeader(b[6]) {
			var x IP
			x.Protocol = proto
			var res int
			pos, res = walkExt(&x, b, pos, len(b))
			proto, frag = x.Protocol, x.FragOffset
			if res != extOK {
				q.Protocol, q.Truncated = proto, true
				return
			}
		}
		q.Protocol = proto
	}
	if frag != 0 {
		return
	}
	t := b[pos:]
	if len(t) >= 8 {
		q.Transport, q.TransportLen = [8]byte(t), 8 // one 8-byte store, not a memmove call
	} else {
		q.TransportLen = uint8(copy(q.Transport[:], t))
	}
	q.Truncated = len(t) < 8
	switch proto {
	case ports.ProtoTCP, ports.ProtoUDP, ports.ProtoSCTP, ports.ProtoDCCP, protoUDPLite:
		if len(t) >= 4 {
			q.HasPorts = true
			q.SrcPort = ports.Port(binary.BigEndian.Uint16(t))
			q.DstPort = ports.Port(binary.BigEndian.Uint16(t[2:]))
		}
		if proto == ports.ProtoTCP && len(t) >= 8 {
			q.HasSeq = true
			q.Seq = binary.BigEndian.Uint32(t[4:])
		}
	}
}
