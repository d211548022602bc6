package cli

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// ARP operations (RFC 826, RFC 903 for reverse ARP, RFC 2390 for
// inverse ARP).
var arpOps = map[uint16]string{
	1: "Request", 2: "Reply", 3: "Reverse Request", 4: "Reverse Reply",
	8: "Inverse Request", 9: "Inverse Reply", 10: "NACK Reply",
}

// arpHardware names ARP hardware types as tcpdump does.
var arpHardware = map[uint16]string{
	0: "NET/ROM pseudo", 1: "Ethernet", 2: "Experimental Ethernet", 3: "AX.25 Level 2",
	4: "ProNET", 5: "Chaos", 6: "IEEE 802", 7: "ARCNET", 15: "Frame Relay",
	16: "ATM", 19: "ATM (RFC 2225)", 23: "Metricom", 24: "IEEE 1394", 27: "EUI-64", 32: "InfiniBand",
}

// appendARP formats an ARP packet (a, the bytes after the link header;
// length, its length on the wire, padding included) as tcpdump's
// one-line view does: "ARP, Request who-has A tell B, length 28". It
// returns the line without its newline.
func appendARP(b []byte, a []byte, length int) []byte {
	if len(a) < 8 {
		return append(b, " [|arp]"...)
	}
	hrd, pro := binary.BigEndian.Uint16(a), binary.BigEndian.Uint16(a[2:])
	hln, pln := int(a[4]), int(a[5])
	op := binary.BigEndian.Uint16(a[6:])
	sha := 8
	spa := sha + hln
	tha := spa + pln
	tpa := tha + hln
	if len(a) < tpa+pln {
		return append(b, " [|arp]"...)
	}
	b = append(b, "ARP, "...)
	if pro != 0x0800 && pro != 0x1000 || pln != 4 || hln == 0 {
		// Addresses tcpdump does not know how to print: the types only.
		name, ok := arpHardware[hrd]
		if !ok {
			name = "Unknown Hardware (" + strconv.Itoa(int(hrd)) + ")"
		}
		b = append(b, name...)
		b = append(b, " (len "...)
		b = strconv.AppendInt(b, int64(hln), 10)
		b = append(b, "), "...)
		if pro == 0x0800 {
			b = append(b, "IPv4"...)
		} else if pro == 0x86dd {
			b = append(b, "IPv6"...)
		} else {
			b = append(b, "Unknown Protocol (0x"...)
			b = appendHex16(b, pro)
			b = append(b, ')')
		}
		b = append(b, " (len "...)
		b = strconv.AppendInt(b, int64(pln), 10)
		b = append(b, ')')
		return appendARPLength(b, length)
	}
	name, ok := arpOps[op]
	if !ok {
		name = "Unknown (" + strconv.Itoa(int(op)) + ")"
	}
	b = append(b, name...)
	b = append(b, ' ')
	ip := func(off int) []byte { return netip.AddrFrom4([4]byte(a[off : off+4])).AppendTo(b) }
	switch op {
	case 1:
		b = append(b, "who-has "...)
		b = ip(tpa)
		if nonZero(a[tha:tpa]) {
			b = append(b, " ("...)
			b = appendLinkAddr(b, a[tha:tpa])
			b = append(b, ')')
		}
		b = append(b, " tell "...)
		b = ip(spa)
	case 2:
		b = ip(spa)
		b = append(b, " is-at "...)
		b = appendLinkAddr(b, a[sha:spa])
	case 3, 8:
		b = append(b, "who-is "...)
		b = appendLinkAddr(b, a[tha:tpa])
		b = append(b, " tell "...)
		b = appendLinkAddr(b, a[sha:spa])
	case 4:
		b = appendLinkAddr(b, a[tha:tpa])
		b = append(b, " at "...)
		b = ip(tpa)
	case 9:
		b = appendLinkAddr(b, a[sha:spa])
		b = append(b, " at "...)
		b = ip(spa)
	default:
		// tcpdump follows with a hex dump on lines of their own.
		return b
	}
	return appendARPLength(b, length)
}

func appendARPLength(b []byte, length int) []byte {
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(length), 10)
}

func nonZero(v []byte) bool {
	for _, c := range v {
		if c != 0 {
			return true
		}
	}
	return false
}

// appendLinkAddr formats a hardware address as tcpdump does: bytes in
// hex, colon-separated. (tcpdump prints Frame Relay's as DLCI numbers;
// this does not.)
func appendLinkAddr(b []byte, v []byte) []byte {
	for i, c := range v {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}
