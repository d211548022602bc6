package cli

import (
	"encoding/binary"
	"strconv"

	"github.com/portkit/ports/wire"
)

// tcpdumpEtherNames are the EtherTypes tcpdump 4.99 names (its
// ethertype_values) but has no decoder for: it prints
// "ethertype NAME (0x....)" where it prints "Unknown" for one it does not
// name, then the same hex dump.
var tcpdumpEtherNames = map[wire.EtherType]string{
	0x0600: "NS",
	0x1000: "Trail",
	0x6001: "MOP DL",
	0x6002: "MOP RC",
	0x6004: "LAT",
	0x6007: "SCA",
	0x6558: "TEB",
	0x8038: "Lanbridge",
	0x803c: "DEC DNS",
	0x803e: "DEC DTS",
	0x805b: "VEXP",
	0x805c: "VPROD",
	0x893a: "IEEE1905.1",
}

// appendLoopback prints an Ethernet configuration testing protocol
// (loopback, EtherType 0x9000: Cisco keepalives) frame as tcpdump's
// loopback_print does. m is the captured frame after the Ethernet
// header, n its length on the wire: tcpdump checks the fields against n
// and marks " [|loopback]" where the capture ends first.
func appendLoopback(b []byte, m []byte, n int) []byte {
	const cut = " [|loopback]"
	// rest ends the line as tcpdump does: its last check is that the
	// n bytes left were all captured.
	rest := func(b []byte) []byte {
		if len(m) < n {
			b = append(b, cut...)
		}
		return b
	}
	invalid := func(b []byte) []byte { return rest(append(b, " (invalid)"...)) }
	u16 := func() (uint16, bool) {
		if len(m) < 2 {
			return 0, false
		}
		v := binary.LittleEndian.Uint16(m)
		m, n = m[2:], n-2
		return v, true
	}
	b = append(b, "Loopback"...)
	if n < 2 {
		return invalid(b)
	}
	skip, ok := u16()
	if !ok {
		return append(b, cut...)
	}
	b = append(b, ", skipCount "...)
	b = strconv.AppendUint(b, uint64(skip), 10)
	if skip%8 != 0 {
		b = append(b, " (bogus)"...)
	}
	if int(skip) > n {
		return invalid(b)
	}
	if int(skip) > len(m) {
		return append(b, cut...)
	}
	m, n = m[skip:], n-int(skip)
	if n < 2 {
		return invalid(b)
	}
	fn, ok := u16()
	if !ok {
		return append(b, cut...)
	}
	switch fn {
	case 1:
		b = append(b, ", Reply"...)
		if n < 2 {
			return invalid(b)
		}
		v, ok := u16()
		if !ok {
			return append(b, cut...)
		}
		b = append(b, ", receipt number "...)
		b = strconv.AppendUint(b, uint64(v), 10)
	case 2:
		b = append(b, ", Forward Data"...)
		if n < 6 {
			return invalid(b)
		}
		if len(m) < 6 {
			return append(b, cut...)
		}
		b = append(b, ", forwarding address "...)
		b = appendLinkAddr(b, m[:6])
		m, n = m[6:], n-6
	default:
		b = append(b, ",  invalid ("...) // tcpdump's tok2str format
		return rest(append(strconv.AppendUint(b, uint64(fn), 10), ')'))
	}
	b = append(b, ", data ("...)
	b = strconv.AppendInt(b, int64(n), 10)
	return rest(append(b, " octets)"...))
}
