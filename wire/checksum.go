package wire

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
)

// ChecksumStatus is the outcome of verifying a checksum.
type ChecksumStatus uint8

// Checksum statuses. The zero value is ChecksumUnknown.
const (
	// ChecksumUnknown: not verified, because bytes it covers were not
	// captured, the packet is an IP fragment (the transport checksum
	// covers the reassembled datagram), or verification was turned off
	// ([Decoder.SkipChecksums]).
	ChecksumUnknown ChecksumStatus = iota
	// ChecksumGood: the checksum is correct.
	ChecksumGood
	// ChecksumBad: the checksum is wrong; [Checksum.Expected] holds the
	// right value. Packets captured on the host that sends them often
	// show this: the network card computes the checksum after the
	// capture point (checksum offload), so a bad checksum on an outgoing
	// packet is usually not a fault on the wire.
	ChecksumBad
	// ChecksumNone: a UDP checksum of zero over IPv4, meaning the sender
	// computed none (RFC 768).
	ChecksumNone
)

// String returns "unknown", "good", "bad" or "none".
func (s ChecksumStatus) String() string {
	switch s {
	case ChecksumUnknown:
		return "unknown"
	case ChecksumGood:
		return "good"
	case ChecksumBad:
		return "bad"
	case ChecksumNone:
		return "none"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Checksum is a checksum field and the result of verifying it.
type Checksum struct {
	Value    uint16         // as found in the packet
	Status   ChecksumStatus // the outcome of verification
	Expected uint16         // the correct value when Status is ChecksumGood or ChecksumBad, else 0
}

// String formats c as tcpdump -v does: "0x1c46 (correct)",
// "0x209c (incorrect -> 0xe443)", "0x0000 (none)" or "0x1c46 (unverified)".
func (c Checksum) String() string {
	b := make([]byte, 0, 32)
	b = appendHex16(b, c.Value)
	switch c.Status {
	case ChecksumGood:
		b = append(b, " (correct)"...)
	case ChecksumBad:
		b = append(b, " (incorrect -> "...)
		b = appendHex16(b, c.Expected)
		b = append(b, ')')
	case ChecksumNone:
		b = append(b, " (none)"...)
	default:
		b = append(b, " (unverified)"...)
	}
	return string(b)
}

func appendHex16(b []byte, v uint16) []byte {
	const hex = "0123456789abcdef"
	return append(b, '0', 'x', hex[v>>12], hex[v>>8&15], hex[v>>4&15], hex[v&15])
}

// The Internet checksum (RFC 1071) is a ones'-complement sum of 16-bit
// big-endian words. It is independent of byte order up to a final byte
// swap, so the sum here adds 64-bit little-endian words with end-around
// carry and swaps the folded result once. Every piece added must start
// at an even offset of the checksummed stream (all pseudo-header parts
// have even lengths).

// csumAdd adds b to the partial sum acc.
func csumAdd(acc uint64, b []byte) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) > 0 {
		var t [8]byte
		copy(t[:], b)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(t[:]), c)
	}
	acc, c = bits.Add64(acc, c, 0)
	return acc + c
}

// csumFold folds a partial sum to 16 bits, in the swapped (little-endian)
// domain of csumAdd.
func csumFold(acc uint64) uint16 {
	s := acc&0xffffffff + acc>>32
	s = s&0xffffffff + s>>32
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

// csumVerify judges a checksum field of value v, given the partial sum acc
// of everything it covers, the field included.
func csumVerify(acc uint64, v uint16, udp bool) Checksum {
	s := csumFold(acc)
	if s == 0xffff {
		return Checksum{Value: v, Status: ChecksumGood, Expected: v}
	}
	// Take the field back out: s - v is s + ^v in ones' complement.
	w := uint32(s) + uint32(^bits.ReverseBytes16(v))
	w = w&0xffff + w>>16
	if w == 0 {
		// -0 and +0 are the same sum; only all-zero data sums to +0, and
		// a pseudo-header or version field is never zero.
		w = 0xffff
	}
	e := bits.ReverseBytes16(^uint16(w))
	if udp && e == 0 {
		e = 0xffff
	}
	return Checksum{Value: v, Status: ChecksumBad, Expected: e}
}

// csumFinish turns the partial sum of a message whose checksum field is
// zero into the value to store in that field.
func csumFinish(acc uint64, udp bool) uint16 {
	e := bits.ReverseBytes16(^csumFold(acc))
	if udp && e == 0 {
		e = 0xffff
	}
	return e
}

// pseudoSum returns the partial sum of the TCP/UDP/ICMPv6 pseudo-header
// (RFC 9293 section 3.1, RFC 8200 section 8.1). Mixed or invalid addresses
// give the IPv6 form of whatever the addresses hold.
func pseudoSum(src, dst netip.Addr, proto ports.Proto, length int) uint64 {
	// The words are added in csumAdd's swapped domain, where a 16-bit
	// word's position does not matter: proto is the word 0x00PP, and
	// the length one (IPv4) or two (IPv6) big-endian words.
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		return uint64(binary.LittleEndian.Uint32(s[:])) + uint64(binary.LittleEndian.Uint32(d[:])) +
			uint64(proto)<<8 + uint64(bits.ReverseBytes16(uint16(length)))
	}
	s, d := src.As16(), dst.As16()
	acc := csumAdd(csumAdd(0, s[:]), d[:])
	acc, c := bits.Add64(acc, uint64(proto)<<8+uint64(bits.ReverseBytes16(uint16(length)))+
		uint64(bits.ReverseBytes16(uint16(uint32(length)>>16))), 0)
	return acc + c
}

// InternetChecksum returns the Internet checksum (RFC 1071) of b: the
// ones' complement of the ones'-complement sum of its 16-bit words, as an
// IPv4 header or an ICMP message carries it. Computed with the field
// zeroed, it is the value to store; over bytes whose checksum is in
// place, it is 0 when that checksum is right.
func InternetChecksum(b []byte) uint16 { return csumFinish(csumAdd(0, b), false) }

// TransportChecksum is [InternetChecksum] of the TCP, UDP or ICMPv6
// message seg of protocol proto preceded by the pseudo-header of src and
// dst (RFC 9293 section 3.1, RFC 8200 section 8.1). A UDP sender
// transmits a result of 0 as 0xffff (RFC 768), which this leaves to the
// caller, so that 0 keeps meaning "right" when verifying.
func TransportChecksum(src, dst netip.Addr, proto ports.Proto, seg []byte) uint16 {
	return csumFinish(csumAdd(pseudoSum(src, dst, proto, len(seg)), seg), false)
}
