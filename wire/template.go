package wire

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/portkit/ports"
)

// TCPTemplate builds copies of one TCP segment that differ only in their
// addresses, ports and sequence number, as a scanner sends the same SYN
// to many ports. The checksum of the rest (the other header fields, the
// options, the payload, and the protocol and length of the
// pseudo-header) is summed once, by [NewTCPTemplate]; [TCPTemplate.Append]
// adds only the addresses, ports and sequence number.
type TCPTemplate struct {
	seg  []byte // the segment with zero ports, sequence number and checksum
	base uint64 // its partial sum, with the pseudo-header's protocol and length
}

// NewTCPTemplate returns a template of the segment with header t and
// payload, as [AppendTCPSegment] builds it; t's ports, sequence number,
// Data Offset and checksum are ignored. The error, an *[EncodeError], is
// for options longer than 40 bytes or a segment longer than 65535 bytes.
func NewTCPTemplate(t *TCP, payload []byte) (*TCPTemplate, error) {
	h := *t
	h.SrcPort, h.DstPort, h.Seq = 0, 0, 0
	seg, err := appendTCPHeader(nil, &h, true)
	if err != nil {
		return nil, err
	}
	seg = append(seg, payload...)
	if len(seg) > 0xffff {
		return nil, &EncodeError{LayerTCP, "segment longer than 65535 bytes"}
	}
	seg[16], seg[17] = 0, 0
	// The pseudo-header's protocol and length, as pseudoSum adds them
	// (the IPv6 form's upper length word is 0 here).
	base := csumAdd(uint64(ports.ProtoTCP)<<8+uint64(bits.ReverseBytes16(uint16(len(seg)))), seg)
	return &TCPTemplate{seg: seg, base: base}, nil
}

// Len returns the length of the segments t builds.
func (t *TCPTemplate) Len() int { return len(t.seg) }

// Append appends the segment from src:sport to dst:dport with sequence
// number seq and its checksum: the bytes [AppendTCPSegment] appends for
// the template's header with those fields. src and dst are both IPv4 or
// both IPv6. It does not allocate when b has room.
func (t *TCPTemplate) Append(b []byte, src, dst netip.Addr, sport, dport ports.Port, seq uint32) []byte {
	start := len(b)
	b = append(b, t.seg...)
	seg := b[start:]
	_ = seg[17]
	binary.BigEndian.PutUint16(seg[0:], uint16(sport))
	binary.BigEndian.PutUint16(seg[2:], uint16(dport))
	binary.BigEndian.PutUint32(seg[4:], seq)
	acc, c := bits.Add64(t.base, binary.LittleEndian.Uint64(seg), 0)
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(s[:]))+uint64(binary.LittleEndian.Uint32(d[:])), c)
	} else {
		s, d := src.As16(), dst.As16()
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(s[:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(s[8:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(d[:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(d[8:]), c)
	}
	acc, c = bits.Add64(acc, c, 0)
	binary.BigEndian.PutUint16(seg[16:], csumFinish(acc+c, false))
	return b
}
