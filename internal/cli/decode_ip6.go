package cli

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/portkit/ports/wire"
)

// appendIPv6Ext prints an IPv6 packet's extension headers as tcpdump's
// one-line view does, after the addresses: "fd00::1 > fd00::2: HBH
// DSTOPT frag (0|12) RT6 (...) ". It reports whether it printed them
// (then the upper layer follows without its addresses) and whether the
// line is complete (a later fragment: tcpdump decodes nothing of it). A
// chain with a header it does not print (AH, mobility...) is left to the
// plain form.
func appendIPv6Ext(b []byte, ip *wire.IP) (out []byte, printed, done bool) {
	if ip.Version != 6 || ip.NumExt == 0 || int(ip.NumExt) == wire.MaxExtHeaders {
		return b, false, false
	}
	for _, e := range ip.Ext[:ip.NumExt] {
		switch e {
		case wire.ExtHopByHop, wire.ExtDestOpts, wire.ExtRouting, wire.ExtFragment, wire.ExtAH:
		default:
			return b, false, false
		}
	}
	b = ip.Src.AppendTo(b)
	b = append(b, " > "...)
	b = ip.Dst.AppendTo(b)
	b = append(b, ": "...)
	opts := ip.Options
	pos := 0
	for _, e := range ip.Ext[:ip.NumExt] {
		n := 8
		if e != wire.ExtFragment {
			if pos+2 > len(opts) {
				return b, true, false
			}
			n = (int(opts[pos+1]) + 1) * 8
			if e == wire.ExtAH {
				n = (int(opts[pos+1]) + 2) * 4
			}
		}
		if pos+n > len(opts) {
			return b, true, false
		}
		h := opts[pos : pos+n]
		switch e {
		case wire.ExtHopByHop:
			b = append(b, "HBH "...)
		case wire.ExtDestOpts:
			b = append(b, "DSTOPT "...)
		case wire.ExtRouting:
			var known bool
			if b, known = appendRT6(b, h); !known {
				return b, true, true
			}
		case wire.ExtAH:
			if len(h) < 12 {
				return b, true, false
			}
			b = append(b, "AH(spi=0x"...)
			b = appendHexBytes(b, h[4:8])
			b = append(b, ",seq=0x"...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(h[8:])), 16)
			if len(h) > 12 {
				b = append(b, ",icv=0x"...)
				b = appendHexBytes(b, h[12:])
			}
			b = append(b, "): "...)
		case wire.ExtFragment:
			off := binary.BigEndian.Uint16(h[2:]) &^ 7
			b = append(b, "frag ("...)
			b = strconv.AppendUint(b, uint64(off), 10)
			b = append(b, '|')
			b = strconv.AppendInt(b, int64(int(ip.PayloadLen)-pos-8), 10)
			b = append(b, ')')
			if off != 0 {
				return b, true, true
			}
			b = append(b, ' ')
		}
		pos += n
	}
	return b, true, false
}

// appendRT6 prints a Routing header as tcpdump does: "RT6 (len=2,
// type=0 [Deprecated], segleft=1, [0]fd00::9) ". It reports false for
// a type tcpdump does not decode, where the line ends.
func appendRT6(b []byte, h []byte) ([]byte, bool) {
	hlen, typ, left := h[1], h[2], h[3]
	b = append(b, "RT6 (len="...)
	b = strconv.AppendUint(b, uint64(hlen), 10)
	b = append(b, ", type="...)
	b = strconv.AppendUint(b, uint64(typ), 10)
	if typ == 0 {
		b = append(b, " [Deprecated]"...)
	}
	b = append(b, ", segleft="...)
	b = strconv.AppendUint(b, uint64(left), 10)
	addrs := h[8:]
	switch typ {
	case 0, 2:
	case 4: // segment routing (RFC 8754)
		b = append(b, ", last-entry="...)
		b = strconv.AppendUint(b, uint64(h[4]), 10)
		b = append(b, ", tag="...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(h[6:])), 16)
		addrs = addrs[:min(len(addrs), (int(h[4])+1)*16)]
	default:
		// tcpdump stops at a type it does not know.
		return append(b, " (unknown type) (invalid)"...), false
	}
	for i := 0; i+16 <= len(addrs); i += 16 {
		b = append(b, ", ["...)
		b = strconv.AppendInt(b, int64(i/16), 10)
		b = append(b, ']')
		b = netip.AddrFrom16([16]byte(addrs[i : i+16])).AppendTo(b)
	}
	return append(b, ") "...), true
}
