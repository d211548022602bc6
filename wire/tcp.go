package wire

import (
	"encoding/binary"
	"iter"
	"strconv"

	"github.com/portkit/ports"
)

// TCPFlags are the 12 bits that follow the TCP data offset: the control
// bits, the AE bit (RFC 9768, formerly NS) and the three reserved bits.
type TCPFlags uint16

// TCP control bits.
const (
	TCPFin TCPFlags = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
	TCPAE // accurate ECN (RFC 9768); was NS (RFC 3540)
)

// tcpFlagChars lists tcpdump's letter for each flag, in its order.
var tcpFlagChars = [...]struct {
	f TCPFlags
	c byte
}{
	{TCPFin, 'F'}, {TCPSyn, 'S'}, {TCPRst, 'R'}, {TCPPsh, 'P'}, {TCPAck, '.'},
	{TCPUrg, 'U'}, {TCPEce, 'E'}, {TCPCwr, 'W'}, {TCPAE, 'e'},
}

// String formats f as tcpdump does, brackets included: "[S]", "[S.]",
// "[P.]", "[F.]", "[R]", "[SEWe]" (SYN with ECE, CWR and AE), "[none]".
// The reserved bits are not shown.
func (f TCPFlags) String() string {
	var b [16]byte
	n := copy(b[:], "[")
	for _, fc := range tcpFlagChars {
		if f&fc.f != 0 {
			b[n] = fc.c
			n++
		}
	}
	if n == 1 {
		n += copy(b[n:], "none")
	}
	b[n] = ']'
	return string(b[:n+1])
}

// Has reports whether all the flags in g are set in f.
func (f TCPFlags) Has(g TCPFlags) bool { return f&g == g }

// TCP is a TCP header.
type TCP struct {
	SrcPort, DstPort ports.Port
	Seq, Ack         uint32 // raw sequence and acknowledgment numbers
	DataOffset       uint8  // header length in 32-bit words, 5-15
	Flags            TCPFlags
	Window           uint16 // unscaled; the scale is in the SYNs' WScale option
	Checksum         Checksum
	Urgent           uint16 // urgent pointer
	Options          TCPOptions
}

// HeaderLen returns the header length in bytes, options included.
func (t *TCP) HeaderLen() int { return int(t.DataOffset) * 4 }

// TCPOptionKind is the kind byte of a TCP option.
type TCPOptionKind uint8

// TCP option kinds (IANA "TCP Option Kind Numbers").
const (
	TCPOptEOL           TCPOptionKind = 0
	TCPOptNOP           TCPOptionKind = 1
	TCPOptMSS           TCPOptionKind = 2
	TCPOptWScale        TCPOptionKind = 3
	TCPOptSACKPermitted TCPOptionKind = 4
	TCPOptSACK          TCPOptionKind = 5
	TCPOptTimestamps    TCPOptionKind = 8
	TCPOptMD5           TCPOptionKind = 19
	TCPOptUserTimeout   TCPOptionKind = 28
	TCPOptAO            TCPOptionKind = 29
	TCPOptMPTCP         TCPOptionKind = 30
	TCPOptFastOpen      TCPOptionKind = 34
	TCPOptAccECN0       TCPOptionKind = 172
	TCPOptAccECN1       TCPOptionKind = 174
	TCPOptExp1          TCPOptionKind = 253
	TCPOptExp2          TCPOptionKind = 254
)

// String returns tcpdump's name for the option ("mss", "wscale",
// "sackOK", "sack", "TS", "nop", "eol"), or "opt-N".
func (k TCPOptionKind) String() string {
	switch k {
	case TCPOptEOL:
		return "eol"
	case TCPOptNOP:
		return "nop"
	case TCPOptMSS:
		return "mss"
	case TCPOptWScale:
		return "wscale"
	case TCPOptSACKPermitted:
		return "sackOK"
	case TCPOptSACK:
		return "sack"
	case TCPOptTimestamps:
		return "TS"
	case TCPOptMD5:
		return "md5"
	case TCPOptUserTimeout:
		return "uto"
	case TCPOptAO:
		return "tcp-ao"
	case TCPOptMPTCP:
		return "mptcp"
	case TCPOptFastOpen:
		return "tfo"
	case TCPOptAccECN0:
		return "accecn0"
	case TCPOptAccECN1:
		return "accecn1"
	case TCPOptExp1, TCPOptExp2:
		return "exp"
	}
	return "opt-" + strconv.Itoa(int(k))
}

// SACKBlock is one block of a SACK option: the bytes from Left up to,
// not including, Right.
type SACKBlock struct{ Left, Right uint32 }

// TCPOptions holds the options of a TCP header, those a connection
// tracker needs parsed out of Raw.
type TCPOptions struct {
	// Raw is the option bytes (as captured), aliasing the data given to
	// Decode. [TCPOptions.All] walks it.
	Raw []byte

	HasMSS        bool
	MSS           uint16 // maximum segment size
	HasWScale     bool
	WScale        uint8 // window scale shift count as sent; RFC 7323 caps its use at 14
	SACKPermitted bool
	NumSACK       uint8        // SACK blocks: SACK[:NumSACK]
	SACK          [4]SACKBlock // at most 4 fit in 40 bytes of options
	HasTimestamps bool
	TSval, TSecr  uint32

	// Malformed is set when an option has an impossible length (for a
	// known kind, a length other than its own) or overruns the header.
	// The options before it are parsed. (tcpdump prints "[bad opt]".)
	Malformed bool
}

// parse fills o from raw. complete is false when the capture cut the
// options short: an option cut off is then not malformed.
func (o *TCPOptions) parse(raw []byte, complete bool) {
	o.Raw = raw
	for i := 0; i < len(raw); {
		kind := TCPOptionKind(raw[i])
		if kind == TCPOptEOL {
			return
		}
		if kind == TCPOptNOP {
			i++
			continue
		}
		if i+1 >= len(raw) {
			o.Malformed = complete
			return
		}
		n := int(raw[i+1])
		if n < 2 {
			o.Malformed = true
			return
		}
		if i+n > len(raw) {
			o.Malformed = complete
			return
		}
		v := raw[i+2 : i+n]
		switch kind {
		case TCPOptMSS:
			if len(v) != 2 {
				o.Malformed = true
				return
			}
			o.HasMSS, o.MSS = true, binary.BigEndian.Uint16(v)
		case TCPOptWScale:
			if len(v) != 1 {
				o.Malformed = true
				return
			}
			o.HasWScale, o.WScale = true, v[0]
		case TCPOptSACKPermitted:
			if len(v) != 0 {
				o.Malformed = true
				return
			}
			o.SACKPermitted = true
		case TCPOptSACK:
			if len(v)%8 != 0 {
				o.Malformed = true
				return
			}
			for j := 0; j+8 <= len(v) && o.NumSACK < uint8(len(o.SACK)); j += 8 {
				o.SACK[o.NumSACK] = SACKBlock{binary.BigEndian.Uint32(v[j:]), binary.BigEndian.Uint32(v[j+4:])}
				o.NumSACK++
			}
		case TCPOptTimestamps:
			if len(v) != 8 {
				o.Malformed = true
				return
			}
			o.HasTimestamps = true
			o.TSval, o.TSecr = binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:])
		}
		i += n
	}
}

// All yields each option in Raw, in order: its kind and its value (the
// bytes after the kind and length; nil for EOL and NOP). It stops after
// EOL, and before an option whose length is impossible or overruns Raw.
func (o *TCPOptions) All() iter.Seq2[TCPOptionKind, []byte] {
	raw := o.Raw
	return func(yield func(TCPOptionKind, []byte) bool) {
		for i := 0; i < len(raw); {
			kind := TCPOptionKind(raw[i])
			if kind == TCPOptEOL || kind == TCPOptNOP {
				if !yield(kind, nil) || kind == TCPOptEOL {
					return
				}
				i++
				continue
			}
			if i+1 >= len(raw) {
				return
			}
			n := int(raw[i+1])
			if n < 2 || i+n > len(raw) {
				return
			}
			if !yield(kind, raw[i+2:i+n:i+n]) {
				return
			}
			i += n
		}
	}
}

// decodeTCP decodes a TCP header at off of a segment that ends at end on
// the wire.
func (p *Packet) decodeTCP(data []byte, off, end int, verify bool) {
	if !p.need(LayerTCP, data, off, 20, end, "segment shorter than a TCP header") {
		return
	}
	h := data[off : off+20]
	t := &p.TCP
	t.SrcPort = ports.Port(binary.BigEndian.Uint16(h[0:]))
	t.DstPort = ports.Port(binary.BigEndian.Uint16(h[2:]))
	t.Seq = binary.BigEndian.Uint32(h[4:])
	t.Ack = binary.BigEndian.Uint32(h[8:])
	of := binary.BigEndian.Uint16(h[12:])
	t.DataOffset = uint8(of >> 12)
	t.Flags = TCPFlags(of & 0x0fff)
	t.Window = binary.BigEndian.Uint16(h[14:])
	t.Checksum.Value = binary.BigEndian.Uint16(h[16:])
	t.Urgent = binary.BigEndian.Uint16(h[18:])
	p.Layers |= 1 << LayerTCP
	hl := t.HeaderLen()
	if hl < 20 {
		p.fail(LayerTCP, off+12, "data offset below 5 words", ErrMalformed)
		return
	}
	if off+hl > end {
		p.fail(LayerTCP, off+12, "data offset beyond the end of the segment", ErrMalformed)
		return
	}
	if off+hl > len(data) {
		if e := len(data); e > off+20 {
			t.Options.parse(data[off+20:e:e], false)
		}
		p.setPayload(LayerTCP, data, off+hl, end)
		return
	}
	if hl > 20 {
		t.Options.parse(data[off+20:off+hl:off+hl], true)
	}
	p.setPayload(LayerTCP, data, off+hl, end)
	if verify && end <= len(data) {
		acc := csumAdd(pseudoSum(p.IP.Src, p.IP.Dst, ports.ProtoTCP, end-off), data[off:end])
		t.Checksum = csumVerify(acc, t.Checksum.Value, false)
	}
}

// UDP is a UDP header.
type UDP struct {
	SrcPort, DstPort ports.Port
	Length           uint16 // header and data; 0 in an IPv6 jumbogram
	Checksum         Checksum
}

// decodeUDP decodes a UDP header at off of a datagram that ends at end on
// the wire (by the IP header).
func (p *Packet) decodeUDP(data []byte, off, end int, verify bool) {
	if !p.need(LayerUDP, data, off, 8, end, "datagram shorter than a UDP header") {
		return
	}
	u := &p.UDP
	u.SrcPort = ports.Port(binary.BigEndian.Uint16(data[off:]))
	u.DstPort = ports.Port(binary.BigEndian.Uint16(data[off+2:]))
	u.Length = binary.BigEndian.Uint16(data[off+4:])
	u.Checksum.Value = binary.BigEndian.Uint16(data[off+6:])
	p.Layers |= 1 << LayerUDP
	if p.IP.Version == 4 && u.Checksum.Value == 0 {
		u.Checksum.Status = ChecksumNone
		verify = false
	}
	// In a first fragment, Length covers the whole datagram, not this
	// fragment.
	if !p.IP.IsFragment() {
		switch l := int(u.Length); {
		case l == 0 && p.IP.Version == 6:
			// A jumbogram (RFC 2675): the IP length rules.
		case l < 8:
			p.fail(LayerUDP, off+4, "length below 8", ErrMalformed)
			verify = false
		case off+l > end:
			p.fail(LayerUDP, off+4, "length beyond the end of the IP payload", ErrMalformed)
			verify = false
		default:
			end = off + l
		}
	}
	p.setPayload(LayerUDP, data, off+8, end)
	if verify && end <= len(data) {
		acc := csumAdd(pseudoSum(p.IP.Src, p.IP.Dst, ports.ProtoUDP, end-off), data[off:end])
		u.Checksum = csumVerify(acc, u.Checksum.Value, true)
	}
}
