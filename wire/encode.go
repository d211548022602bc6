package wire

import (
	"encoding/binary"
	"net/netip"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// EncodeOptions controls [Packet.AppendTo]. The zero value writes every
// field as it is in the Packet, which reproduces a decoded frame.
type EncodeOptions struct {
	// FixLengths computes the length fields from what is written: the
	// IPv4 IHL and Total Length, the IPv6 Payload Length, the TCP Data
	// Offset and the UDP Length. IPv4 and TCP options are padded with
	// zero bytes (end of options) to a multiple of 4.
	FixLengths bool
	// ComputeChecksums computes the IPv4 header checksum and the TCP,
	// UDP, ICMPv4 and ICMPv6 checksums (using IP.Src and IP.Dst for the
	// pseudo-header, whether or not the IP layer is written).
	ComputeChecksums bool
}

// EncodeError reports a Packet that AppendTo cannot write.
type EncodeError struct {
	Layer  Layer
	Reason string
}

func (e *EncodeError) Error() string { return "encode " + e.Layer.String() + ": " + e.Reason }

// AppendTo appends the frame p describes to b and returns the extended
// buffer: the headers of the layers in p.Layers, then p.Payload. It is
// the inverse of Decode, and builds probes.
//
// The link header is written when its layer is in p.Layers, in the form
// p.Link.Type gives (Null in little-endian byte order); a zero EtherType
// or Family is derived from the IP version. IPv4 or IPv6 is
// written when in p.Layers, with p.IP.Options as the IPv4 options or the
// raw IPv6 extension headers (whose types are p.IP.Ext[:p.IP.NumExt], the
// last one's Next Header being p.IP.Protocol). A zero p.IP.Protocol under
// a transport layer, without extension headers, becomes that transport's
// number. Then one of TCP, UDP, ICMPv4 and ICMPv6: TCP options are
// p.TCP.Options.Raw when not nil, else built from the parsed fields
// (mss, sackOK, TS, nop, wscale, then SACK blocks). An ICMP error's
// quote is not built from Quoted: it is part of p.Payload.
//
// Without a link and IP layer, AppendTo writes a bare transport header
// and payload, such as an IPv6 raw socket sends; with ComputeChecksums
// its checksum still covers the pseudo-header of p.IP.Src and p.IP.Dst.
func (p *Packet) AppendTo(b []byte, o EncodeOptions) ([]byte, error) {
	l := p.Layers
	if l.Has(LayerIPv4) && l.Has(LayerIPv6) {
		return b, &EncodeError{LayerIPv6, "both IPv4 and IPv6 layers"}
	}
	n := 0
	for _, t := range [...]Layer{LayerTCP, LayerUDP, LayerICMPv4, LayerICMPv6} {
		if l.Has(t) {
			n++
		}
	}
	if n > 1 {
		return b, &EncodeError{LayerNone, "more than one transport layer"}
	}
	var err error
	if b, err = p.appendLink(b); err != nil {
		return b, err
	}
	ipOff := len(b)
	switch {
	case l.Has(LayerIPv4):
		b, err = p.appendIPv4(b, o)
	case l.Has(LayerIPv6):
		b, err = p.appendIPv6(b)
	}
	if err != nil {
		return b, err
	}
	tOff := len(b)
	var proto ports.Proto
	switch {
	case l.Has(LayerTCP):
		proto = ports.ProtoTCP
		if b, err = p.appendTCP(b, o); err != nil {
			return b, err
		}
	case l.Has(LayerUDP):
		proto = ports.ProtoUDP
		u := &p.UDP
		b = binary.BigEndian.AppendUint16(b, uint16(u.SrcPort))
		b = binary.BigEndian.AppendUint16(b, uint16(u.DstPort))
		b = binary.BigEndian.AppendUint16(b, u.Length)
		b = binary.BigEndian.AppendUint16(b, u.Checksum.Value)
	case l.Has(LayerICMPv4):
		proto = ProtoICMP
		b = append(b, byte(p.ICMPv4.Type), p.ICMPv4.Code)
		b = binary.BigEndian.AppendUint16(b, p.ICMPv4.Checksum.Value)
		b = binary.BigEndian.AppendUint32(b, p.ICMPv4.Rest)
	case l.Has(LayerICMPv6):
		proto = ProtoICMPv6
		b = append(b, byte(p.ICMPv6.Type), p.ICMPv6.Code)
		b = binary.BigEndian.AppendUint16(b, p.ICMPv6.Checksum.Value)
		b = binary.BigEndian.AppendUint32(b, p.ICMPv6.Rest)
	}
	b = append(b, p.Payload...)

	if o.FixLengths {
		switch {
		case l.Has(LayerIPv4):
			if len(b)-ipOff > 0xffff {
				return b, &EncodeError{LayerIPv4, "packet longer than 65535 bytes"}
			}
			binary.BigEndian.PutUint16(b[ipOff+2:], uint16(len(b)-ipOff))
		case l.Has(LayerIPv6):
			if len(b)-ipOff-40 > 0xffff {
				return b, &EncodeError{LayerIPv6, "payload longer than 65535 bytes"}
			}
			binary.BigEndian.PutUint16(b[ipOff+4:], uint16(len(b)-ipOff-40))
		}
		if proto == ports.ProtoUDP {
			binary.BigEndian.PutUint16(b[tOff+4:], uint16(len(b)-tOff))
		}
	}
	if o.ComputeChecksums {
		var at int
		var acc uint64
		switch proto {
		case ports.ProtoTCP:
			at, acc = tOff+16, pseudoSum(p.IP.Src, p.IP.Dst, proto, len(b)-tOff)
		case ports.ProtoUDP:
			at, acc = tOff+6, pseudoSum(p.IP.Src, p.IP.Dst, proto, len(b)-tOff)
		case ProtoICMP:
			at = tOff + 2
		case ProtoICMPv6:
			at, acc = tOff+2, pseudoSum(p.IP.Src, p.IP.Dst, proto, len(b)-tOff)
		}
		if proto != 0 {
			b[at], b[at+1] = 0, 0
			c := csumFinish(csumAdd(acc, b[tOff:]), proto == ports.ProtoUDP)
			binary.BigEndian.PutUint16(b[at:], c)
		}
		if l.Has(LayerIPv4) {
			hl := int(b[ipOff]&15) * 4
			b[ipOff+10], b[ipOff+11] = 0, 0
			if ipOff+hl <= len(b) {
				binary.BigEndian.PutUint16(b[ipOff+10:], csumFinish(csumAdd(0, b[ipOff:ipOff+hl]), false))
			}
		}
	}
	return b, nil
}

func (p *Packet) appendLink(b []byte) ([]byte, error) {
	lk := &p.Link
	et := lk.EtherType
	if et == 0 {
		switch {
		case p.Layers.Has(LayerIPv4):
			et = EtherTypeIPv4
		case p.Layers.Has(LayerIPv6):
			et = EtherTypeIPv6
		}
	}
	tags := lk.VLANs[:min(int(lk.NumVLANs), MaxVLANs)]
	first := et // the protocol field of the link header
	if len(tags) > 0 {
		first = tagTPID(tags[0])
	}
	check := func(want pcapfile.LinkType, l Layer) error {
		if lk.Type != want {
			return &EncodeError{l, "layer does not match link type " + lk.Type.String()}
		}
		return nil
	}
	switch {
	case p.Layers.Has(LayerEthernet):
		if err := check(pcapfile.LinkTypeEthernet, LayerEthernet); err != nil {
			return b, err
		}
		b = append(b, lk.Dst[:]...)
		b = append(b, lk.Src[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(first))
	case p.Layers.Has(LayerSLL):
		if err := check(pcapfile.LinkTypeLinuxSLL, LayerSLL); err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint16(b, uint16(lk.PacketType))
		b = binary.BigEndian.AppendUint16(b, lk.HAType)
		b = binary.BigEndian.AppendUint16(b, lk.AddrLen)
		b = append(b, lk.Addr[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(first))
	case p.Layers.Has(LayerSLL2):
		if err := check(pcapfile.LinkTypeLinuxSLL2, LayerSLL2); err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint16(b, uint16(first))
		b = append(b, 0, 0)
		b = binary.BigEndian.AppendUint32(b, lk.IfIndex)
		b = binary.BigEndian.AppendUint16(b, lk.HAType)
		b = append(b, byte(lk.PacketType), byte(lk.AddrLen))
		b = append(b, lk.Addr[:]...)
	case p.Layers.Has(LayerNull):
		if lk.Type != pcapfile.LinkTypeNull && lk.Type != pcapfile.LinkTypeLoop {
			return b, &EncodeError{LayerNull, "layer does not match link type " + lk.Type.String()}
		}
		f := lk.Family
		if f == 0 {
			switch {
			case p.Layers.Has(LayerIPv4):
				f = afInet
			case p.Layers.Has(LayerIPv6):
				f = afInet6BSD
			}
		}
		if lk.Type == pcapfile.LinkTypeLoop {
			b = binary.BigEndian.AppendUint32(b, f)
		} else {
			b = binary.LittleEndian.AppendUint32(b, f)
		}
		return b, nil
	default:
		return b, nil
	}
	for i, t := range tags {
		next := et
		if i+1 < len(tags) {
			next = tagTPID(tags[i+1])
		}
		tci := uint16(t.PCP&7)<<13 | t.ID&0x0fff
		if t.DEI {
			tci |= 0x1000
		}
		b = binary.BigEndian.AppendUint16(b, tci)
		b = binary.BigEndian.AppendUint16(b, uint16(next))
	}
	return b, nil
}

// tagTPID returns the TPID of t, 802.1Q when unset.
func tagTPID(t VLAN) EtherType {
	if t.TPID == 0 {
		return EtherTypeVLAN
	}
	return t.TPID
}

// transportProto returns the protocol number of the transport layer in
// p.Layers, or 0.
func (p *Packet) transportProto() ports.Proto {
	switch {
	case p.Layers.Has(LayerTCP):
		return ports.ProtoTCP
	case p.Layers.Has(LayerUDP):
		return ports.ProtoUDP
	case p.Layers.Has(LayerICMPv4):
		return ProtoICMP
	case p.Layers.Has(LayerICMPv6):
		return ProtoICMPv6
	}
	return 0
}

func (p *Packet) appendIPv4(b []byte, o EncodeOptions) ([]byte, error) {
	ip := &p.IP
	if !ip.Src.Is4() || !ip.Dst.Is4() {
		return b, &EncodeError{LayerIPv4, "source or destination is not an IPv4 address"}
	}
	opts := ip.Options
	ihl := ip.IHL
	pad := 0
	if o.FixLengths {
		pad = (4 - len(opts)%4) % 4
		if len(opts)+pad > 40 {
			return b, &EncodeError{LayerIPv4, "options longer than 40 bytes"}
		}
		ihl = uint8(5 + (len(opts)+pad)/4)
	}
	proto := ip.Protocol
	if proto == 0 {
		proto = p.transportProto()
	}
	b = append(b, 4<<4|ihl&15, ip.TOS)
	b = binary.BigEndian.AppendUint16(b, ip.TotalLen)
	b = binary.BigEndian.AppendUint16(b, uint16(ip.ID))
	b = binary.BigEndian.AppendUint16(b, uint16(ip.Flags&7)<<13|ip.FragOffset>>3)
	b = append(b, ip.TTL, byte(proto))
	b = binary.BigEndian.AppendUint16(b, ip.Checksum.Value)
	s, d := ip.Src.As4(), ip.Dst.As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = append(b, opts...)
	for range pad {
		b = append(b, 0)
	}
	return b, nil
}

func (p *Packet) appendIPv6(b []byte) ([]byte, error) {
	ip := &p.IP
	if !ip.Src.Is6() || !ip.Dst.Is6() {
		return b, &EncodeError{LayerIPv6, "source or destination is not an IPv6 address"}
	}
	nh := byte(ip.Protocol)
	if ip.NumExt > 0 {
		nh = byte(ip.Ext[0])
	} else if nh == 0 {
		nh = byte(p.transportProto())
	}
	b = binary.BigEndian.AppendUint32(b, 6<<28|uint32(ip.TOS)<<20|ip.FlowLabel&0xfffff)
	b = binary.BigEndian.AppendUint16(b, ip.PayloadLen)
	b = append(b, nh, ip.TTL)
	s, d := ip.Src.As16(), ip.Dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = append(b, ip.Options...)
	return b, nil
}

func (p *Packet) appendTCP(b []byte, o EncodeOptions) ([]byte, error) {
	return appendTCPHeader(b, &p.TCP, o.FixLengths)
}

// appendTCPHeader appends the TCP header t; with fix, the options are
// padded to a multiple of 4 and the Data Offset is computed.
func appendTCPHeader(b []byte, t *TCP, fix bool) ([]byte, error) {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, uint16(t.SrcPort))
	b = binary.BigEndian.AppendUint16(b, uint16(t.DstPort))
	b = binary.BigEndian.AppendUint32(b, t.Seq)
	b = binary.BigEndian.AppendUint32(b, t.Ack)
	b = binary.BigEndian.AppendUint16(b, uint16(t.DataOffset)<<12|uint16(t.Flags&0x0fff))
	b = binary.BigEndian.AppendUint16(b, t.Window)
	b = binary.BigEndian.AppendUint16(b, t.Checksum.Value)
	b = binary.BigEndian.AppendUint16(b, t.Urgent)
	if t.Options.Raw != nil {
		b = append(b, t.Options.Raw...)
	} else {
		b = t.Options.appendParsed(b)
	}
	if !fix {
		return b, nil
	}
	for (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	hl := len(b) - start
	if hl > 60 {
		return b, &EncodeError{LayerTCP, "options longer than 40 bytes"}
	}
	b[start+12] = byte(hl/4)<<4 | b[start+12]&0x0f
	return b, nil
}

// AppendTCPSegment appends a TCP segment from src to dst, the header t
// and then payload, with the Data Offset and checksum computed (the
// values in t are ignored) and the options padded to a multiple of 4:
// what a raw socket sends when the kernel writes the IP header. The
// options are t.Options.Raw when not nil, else built from the parsed
// fields, as in [Packet.AppendTo]. It does not allocate when b has room;
// the error, an *[EncodeError], is for options longer than 40 bytes.
func AppendTCPSegment(b []byte, src, dst netip.Addr, t *TCP, payload []byte) ([]byte, error) {
	start := len(b)
	b, err := appendTCPHeader(b, t, true)
	if err != nil {
		return b[:start], err
	}
	b = append(b, payload...)
	seg := b[start:]
	seg[16], seg[17] = 0, 0
	binary.BigEndian.PutUint16(seg[16:], csumFinish(csumAdd(pseudoSum(src, dst, ports.ProtoTCP, len(seg)), seg), false))
	return b, nil
}

// appendParsed appends the options o holds, in the order Linux sends them
// in a SYN.
func (o *TCPOptions) appendParsed(b []byte) []byte {
	if o.HasMSS {
		b = append(b, byte(TCPOptMSS), 4)
		b = binary.BigEndian.AppendUint16(b, o.MSS)
	}
	switch {
	case o.SACKPermitted && o.HasTimestamps:
		b = append(b, byte(TCPOptSACKPermitted), 2)
	case o.SACKPermitted:
		b = append(b, byte(TCPOptNOP), byte(TCPOptNOP), byte(TCPOptSACKPermitted), 2)
	case o.HasTimestamps:
		b = append(b, byte(TCPOptNOP), byte(TCPOptNOP))
	}
	if o.HasTimestamps {
		b = append(b, byte(TCPOptTimestamps), 10)
		b = binary.BigEndian.AppendUint32(b, o.TSval)
		b = binary.BigEndian.AppendUint32(b, o.TSecr)
	}
	if o.HasWScale {
		b = append(b, byte(TCPOptNOP), byte(TCPOptWScale), 3, o.WScale)
	}
	if n := min(int(o.NumSACK), len(o.SACK)); n > 0 {
		b = append(b, byte(TCPOptNOP), byte(TCPOptNOP), byte(TCPOptSACK), byte(2+8*n))
		for _, s := range o.SACK[:n] {
			b = binary.BigEndian.AppendUint32(b, s.Left)
			b = binary.BigEndian.AppendUint32(b, s.Right)
		}
	}
	return b
}

// AppendICMPv4Message appends an ICMP message, its type, code, the 4
// bytes after the checksum (rest: an echo's identifier and sequence
// number) and then data, with its checksum: what an IPv4 raw socket of
// protocol ICMP sends. It does not allocate when b has room.
func AppendICMPv4Message(b []byte, typ ICMPv4Type, code uint8, rest uint32, data []byte) []byte {
	start := len(b)
	b = append(b, byte(typ), code, 0, 0)
	b = binary.BigEndian.AppendUint32(b, rest)
	b = append(b, data...)
	m := b[start:]
	binary.BigEndian.PutUint16(m[2:], csumFinish(csumAdd(0, m), false))
	return b
}

// AppendICMPv6Message appends an ICMPv6 message from src to dst, as
// AppendICMPv4Message does, with its checksum over the IPv6 pseudo-header
// (an IPv6 raw socket of protocol ICMPv6 computes it again, RFC 3542
// section 3.1).
func AppendICMPv6Message(b []byte, src, dst netip.Addr, typ ICMPv6Type, code uint8, rest uint32, data []byte) []byte {
	start := len(b)
	b = append(b, byte(typ), code, 0, 0)
	b = binary.BigEndian.AppendUint32(b, rest)
	b = append(b, data...)
	m := b[start:]
	binary.BigEndian.PutUint16(m[2:], csumFinish(csumAdd(pseudoSum(src, dst, ProtoICMPv6, len(m)), m), false))
	return b
}
