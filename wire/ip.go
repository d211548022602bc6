package wire

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
)

// IP protocol numbers beyond the transport protocols of package ports.
const (
	ProtoICMP   ports.Proto = 1
	ProtoICMPv6 ports.Proto = 58
)

// IPFlags are the fragmentation flags of an IPv4 header, and the M flag
// of an IPv6 Fragment header (as IPMoreFragments).
type IPFlags uint8

// IP flags, as they sit in the 3-bit field of the IPv4 header.
const (
	IPMoreFragments IPFlags = 1 << 0 // MF
	IPDontFragment  IPFlags = 1 << 1 // DF
	IPReserved      IPFlags = 1 << 2 // the reserved (evil) bit
)

// String formats f as tcpdump -v does: "[DF]", "[+]" for MF, "[none]".
func (f IPFlags) String() string {
	b := make([]byte, 0, 16)
	b = append(b, '[')
	add := func(s string) {
		if len(b) > 1 {
			b = append(b, ", "...)
		}
		b = append(b, s...)
	}
	if f&IPMoreFragments != 0 {
		add("+")
	}
	if f&IPDontFragment != 0 {
		add("DF")
	}
	if f&IPReserved != 0 {
		add("rsvd")
	}
	if len(b) == 1 {
		b = append(b, "none"...)
	}
	return string(append(b, ']'))
}

// ExtHeader is the type of an IPv6 extension header: its Next Header
// value.
type ExtHeader uint8

// IPv6 extension headers that Decode walks (RFC 8200, RFC 7045). ESP is
// not walked: what follows it is encrypted.
const (
	ExtHopByHop ExtHeader = 0
	ExtRouting  ExtHeader = 43
	ExtFragment ExtHeader = 44
	ExtAH       ExtHeader = 51
	ExtDestOpts ExtHeader = 60
	ExtMobility ExtHeader = 135
	ExtHIP      ExtHeader = 139
	ExtShim6    ExtHeader = 140
)

func isExtHeader(nh uint8) bool {
	switch ExtHeader(nh) {
	case ExtHopByHop, ExtRouting, ExtFragment, ExtAH, ExtDestOpts, ExtMobility, ExtHIP, ExtShim6:
		return true
	}
	return false
}

// String returns a short name: "hop-by-hop", "routing", "fragment", "ah",
// "dstopts", "mobility", "hip", "shim6", or "ext(N)".
func (e ExtHeader) String() string {
	switch e {
	case ExtHopByHop:
		return "hop-by-hop"
	case ExtRouting:
		return "routing"
	case ExtFragment:
		return "fragment"
	case ExtAH:
		return "ah"
	case ExtDestOpts:
		return "dstopts"
	case ExtMobility:
		return "mobility"
	case ExtHIP:
		return "hip"
	case ExtShim6:
		return "shim6"
	}
	return "ext(" + strconv.Itoa(int(e)) + ")"
}

// MaxExtHeaders is how many IPv6 extension headers [IP] records; longer
// chains are still walked.
const MaxExtHeaders = 8

// IP is an IPv4 or IPv6 header. Fields marked IPv4 or IPv6 are zero for
// the other version.
type IP struct {
	Version  uint8      // 4 or 6; 0 when no IP header was decoded
	Src, Dst netip.Addr // never zoned
	TOS      uint8      // IPv4 type of service, IPv6 traffic class: DSCP<<2 | ECN
	TTL      uint8      // IPv4 time to live, IPv6 hop limit

	// Protocol is the IPv4 Protocol field, or for IPv6 the Next Header
	// that ends the extension header chain: the transport protocol, even
	// in a non-first fragment that does not carry its header. It can be
	// ProtoICMP or ProtoICMPv6, or 50 (ESP) and 59 (no next header).
	Protocol ports.Proto

	// HeaderLen is the bytes of IP header, IPv4 options or IPv6
	// extension headers included.
	HeaderLen uint16

	// Options holds the raw IPv4 options, or the raw IPv6 extension
	// headers: the bytes between the fixed header and the transport
	// header. It aliases the data given to Decode (as captured: shorter
	// than HeaderLen implies when cut).
	Options []byte

	// Fragmentation, from the IPv4 header or the IPv6 Fragment header.
	ID         uint32  // IPv4 Identification (16 bits), or the IPv6 Fragment header's Identification
	Flags      IPFlags // IPv4 DF and MF; IPv6: MF from the Fragment header's M flag
	FragOffset uint16  // fragment offset in bytes (a multiple of 8)

	// IPv4.
	IHL      uint8    // header length in 32-bit words
	TotalLen uint16   // Total Length; 0 is taken to mean "to the end of the frame" (TCP segmentation offload)
	Checksum Checksum // header checksum

	// IPv6.
	FlowLabel  uint32                   // 20 bits
	PayloadLen uint16                   // Payload Length; 0 (jumbogram, or GSO) is taken to mean "to the end of the frame"
	Ext        [MaxExtHeaders]ExtHeader // extension headers in order: Ext[:NumExt]
	NumExt     uint8                    // extension headers recorded (at most MaxExtHeaders)
}

// IsFragment reports whether the packet is a fragment: MF set or a
// non-zero offset. An IPv6 "atomic fragment" (a Fragment header with
// offset 0 and M clear) is not.
func (ip *IP) IsFragment() bool { return ip.Flags&IPMoreFragments != 0 || ip.FragOffset != 0 }

// ECN returns the explicit congestion notification bits of TOS: 0 not
// ECN-capable, 1 ECT(1), 2 ECT(0), 3 CE.
func (ip *IP) ECN() uint8 { return ip.TOS & 3 }

// decodeIPv4 decodes an IPv4 header at off of a frame that ends at wire.
func (p *Packet) decodeIPv4(data []byte, off, wire int, verify bool) {
	if !p.need(LayerIPv4, data, off, 20, wire, "packet shorter than an IPv4 header") {
		return
	}
	if data[off]>>4 != 4 {
		p.setPayload(LayerIPv4, data, off, wire)
		p.fail(LayerIPv4, off, "version is not 4", ErrMalformed)
		return
	}
	ip := &p.IP
	fillIPv4(ip, data[off:off+20])
	p.Layers |= 1 << LayerIPv4
	hl := int(ip.IHL) * 4
	if hl < 20 {
		p.fail(LayerIPv4, off, "header length below 20 bytes", ErrMalformed)
		return
	}
	end := off + int(ip.TotalLen)
	switch {
	case ip.TotalLen == 0:
		end = wire
	case int(ip.TotalLen) < hl:
		p.fail(LayerIPv4, off+2, "total length below the header length", ErrMalformed)
		return
	case end > wire:
		p.fail(LayerIPv4, off+2, "total length beyond the end of the frame", ErrMalformed)
		end = wire
	}
	if off+hl > end {
		p.fail(LayerIPv4, off, "header length beyond the end of the packet", ErrMalformed)
		return
	}
	if off+hl > len(data) {
		if e := len(data); e > off+20 {
			ip.Options = data[off+20 : e : e] // as much as was captured
		}
		p.setPayload(LayerIPv4, data, off+hl, end)
		return
	}
	if hl > 20 {
		ip.Options = data[off+20 : off+hl : off+hl]
	}
	if verify {
		ip.Checksum = csumVerify(csumAdd(0, data[off:off+hl]), ip.Checksum.Value, false)
	}
	p.decodeTransport(data, off+hl, end, verify)
}

// fillIPv4 copies the fixed fields of the 20-byte IPv4 header h.
func fillIPv4(ip *IP, h []byte) {
	_ = h[19]
	ip.Version = 4
	ip.IHL = h[0] & 15
	ip.HeaderLen = uint16(ip.IHL) * 4
	ip.TOS = h[1]
	ip.TotalLen = binary.BigEndian.Uint16(h[2:])
	ip.ID = uint32(binary.BigEndian.Uint16(h[4:]))
	ff := binary.BigEndian.Uint16(h[6:])
	ip.Flags = IPFlags(ff >> 13)
	ip.FragOffset = ff << 3
	ip.TTL = h[8]
	ip.Protocol = ports.Proto(h[9])
	ip.Checksum.Value = binary.BigEndian.Uint16(h[10:])
	ip.Src = netip.AddrFrom4([4]byte(h[12:16]))
	ip.Dst = netip.AddrFrom4([4]byte(h[16:20]))
}

// decodeIPv6 decodes an IPv6 header and its extension headers at off of a
// frame that ends at wire.
func (p *Packet) decodeIPv6(data []byte, off, wire int, verify bool) {
	if !p.need(LayerIPv6, data, off, 40, wire, "packet shorter than an IPv6 header") {
		return
	}
	if data[off]>>4 != 6 {
		p.setPayload(LayerIPv6, data, off, wire)
		p.fail(LayerIPv6, off, "version is not 6", ErrMalformed)
		return
	}
	ip := &p.IP
	fillIPv6(ip, data[off:off+40])
	p.Layers |= 1 << LayerIPv6
	end := off + 40 + int(ip.PayloadLen)
	switch {
	case ip.PayloadLen == 0 && ip.Protocol != 59:
		end = wire
	case end > wire:
		p.fail(LayerIPv6, off+4, "payload length beyond the end of the frame", ErrMalformed)
		end = wire
	}
	pos, res := walkExt(ip, data, off+40, end)
	ip.HeaderLen = uint16(min(pos, len(data)) - off)
	if e := min(pos, len(data)); e > off+40 {
		ip.Options = data[off+40 : e : e]
	}
	switch res {
	case extTruncated:
		p.setPayload(LayerIPv6, data, pos, end)
		return
	case extMalformed:
		p.setPayload(LayerIPv6, data, pos, end)
		p.fail(LayerIPv6, pos, "extension header beyond the end of the packet", ErrMalformed)
		return
	}
	p.decodeTransport(data, pos, end, verify)
}

// fillIPv6 copies the fixed fields of the 40-byte IPv6 header h. Protocol
// is set to the first Next Header.
func fillIPv6(ip *IP, h []byte) {
	_ = h[39]
	ip.Version = 6
	vtf := binary.BigEndian.Uint32(h)
	ip.TOS = uint8(vtf >> 20)
	ip.FlowLabel = vtf & 0xfffff
	ip.PayloadLen = binary.BigEndian.Uint16(h[4:])
	ip.Protocol = ports.Proto(h[6])
	ip.TTL = h[7]
	ip.HeaderLen = 40
	ip.Src = netip.AddrFrom16([16]byte(h[8:24]))
	ip.Dst = netip.AddrFrom16([16]byte(h[24:40]))
}

const (
	extOK = iota
	extTruncated
	extMalformed
)

// walkExt walks the IPv6 extension headers that start at pos, ip.Protocol
// holding the first Next Header, in a packet that ends at end on the
// wire. It records them in ip, leaves the final Next Header in
// ip.Protocol and returns where the upper-layer header starts (or where
// the walk stopped).
func walkExt(ip *IP, data []byte, pos, end int) (int, int) {
	for isExtHeader(uint8(ip.Protocol)) && !ip.nonFirstFragment() {
		e := ExtHeader(ip.Protocol)
		n := 8
		if e != ExtFragment {
			n = 2
		}
		if pos+n > end {
			return pos, extMalformed
		}
		if pos+n > len(data) {
			return pos, extTruncated
		}
		switch e {
		case ExtFragment:
			// n is 8: Next Header, reserved, offset|res|M, identification.
			fo := binary.BigEndian.Uint16(data[pos+2:])
			ip.FragOffset = fo &^ 7
			if fo&1 != 0 {
				ip.Flags |= IPMoreFragments
			}
			ip.ID = binary.BigEndian.Uint32(data[pos+4:])
		case ExtAH:
			n = (int(data[pos+1]) + 2) * 4
		default:
			n = (int(data[pos+1]) + 1) * 8
		}
		if pos+n > end {
			return pos, extMalformed
		}
		if pos+n > len(data) {
			return pos, extTruncated
		}
		if ip.NumExt < MaxExtHeaders {
			ip.Ext[ip.NumExt] = e
			ip.NumExt++
		}
		ip.Protocol = ports.Proto(data[pos])
		pos += n
	}
	return pos, extOK
}

func (ip *IP) nonFirstFragment() bool { return ip.FragOffset != 0 }

// decodeTransport decodes the transport header at off of an IP packet
// that ends at end on the wire.
func (p *Packet) decodeTransport(data []byte, off, end int, verify bool) {
	ipLayer := LayerIPv4
	if p.IP.Version == 6 {
		ipLayer = LayerIPv6
	}
	if p.IP.FragOffset != 0 {
		// A non-first fragment: no transport header here.
		p.setPayload(ipLayer, data, off, end)
		return
	}
	verify = verify && !p.IP.IsFragment()
	switch {
	case p.IP.Protocol == ports.ProtoTCP:
		p.decodeTCP(data, off, end, verify)
	case p.IP.Protocol == ports.ProtoUDP:
		p.decodeUDP(data, off, end, verify)
	case p.IP.Protocol == ProtoICMP && p.IP.Version == 4:
		p.decodeICMPv4(data, off, end, verify)
	case p.IP.Protocol == ProtoICMPv6 && p.IP.Version == 6:
		p.decodeICMPv6(data, off, end, verify)
	default:
		p.setPayload(ipLayer, data, off, end)
	}
}
