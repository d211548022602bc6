package cli

import (
	"encoding/binary"
	"strconv"
)

// appendIGMP formats an IGMP message as tcpdump 4.99's one-line view
// does ("igmp query v2 [max resp time 50] [gaddr 239.1.2.3]", "igmp v3
// report, 2 group record(s)"). m is the captured message, n its length
// by the IP header (which tcpdump checks the message against). A message
// cut by the capture ends in tcpdump's " [|igmp]" where tcpdump's reads
// stop; DVMRP, PIMv1 and mtrace are named without their contents.
func appendIGMP(b []byte, m []byte, n int) []byte {
	const cut = " [|igmp]"
	if len(m) < 1 {
		return append(b, cut...) // tcpdump reads each field as it prints it
	}
	addr := func(b []byte, at int) ([]byte, bool) {
		if len(m) < at+4 {
			return b, false
		}
		return appendIPv4(b, binary.BigEndian.Uint32(m[at:])), true
	}
	switch m[0] {
	case 0x11:
		b = append(b, "igmp query"...)
		if len(m) < 2 {
			return append(b, cut...)
		}
		if n >= 12 {
			return appendIGMPv3Query(b, m, n)
		}
		if m[1] != 0 {
			b = append(b, " v2"...)
			if m[1] != 100 {
				b = append(b, " [max resp time "...)
				b = append(strconv.AppendUint(b, uint64(m[1]), 10), ']')
			}
		} else {
			b = append(b, " v1"...)
		}
		if len(m) < 8 {
			return append(b, cut...)
		}
		if binary.BigEndian.Uint32(m[4:]) != 0 {
			b = append(b, " [gaddr "...)
			b, _ = addr(b, 4)
			b = append(b, ']')
		}
		if n != 8 {
			b = append(b, " [len "...)
			b = append(strconv.AppendInt(b, int64(n), 10), ']')
		}
	case 0x12, 0x16, 0x17:
		if len(m) < 8 {
			return append(b, cut...) // tcpdump reads the group before printing
		}
		b = append(b, map[byte]string{0x12: "igmp v1 report ", 0x16: "igmp v2 report ", 0x17: "igmp leave "}[m[0]]...)
		b, _ = addr(b, 4)
		if m[0] == 0x12 && n != 8 {
			b = append(b, " [len "...)
			b = append(strconv.AppendInt(b, int64(n), 10), ']')
		}
	case 0x22:
		b = append(b, "igmp v3 report"...)
		if n < 16 || n&3 != 0 {
			b = append(b, " [invalid len "...)
			return append(strconv.AppendInt(b, int64(n), 10), ']')
		}
		if len(m) < 8 {
			return append(b, cut...)
		}
		b = append(b, ", "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(m[6:])), 10)
		b = append(b, " group record(s)"...)
	case 0x13:
		b = append(b, "igmp dvmrp"...)
	case 0x14:
		b = append(b, "igmp pimv1"...)
	case 0x1e, 0x1f:
		// tcpdump's print_mtrace: the query after the 8-byte header
		// (source, destination, response address, its TTL, query id).
		if n < 24 {
			b = append(b, " [invalid len "...)
			return append(strconv.AppendInt(b, int64(n), 10), ']')
		}
		if len(m) < 24 {
			return append(b, cut...)
		}
		b = append(b, [...]string{"mresp ", "mtrace "}[m[0]-0x1e]...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(m[20:])&0xffffff), 10)
		b = append(b, ": "...)
		b, _ = addr(b, 8)
		b = append(b, " to "...)
		b, _ = addr(b, 12)
		b = append(b, " reply-to "...)
		b, _ = addr(b, 16)
		if m[16]>>4 == 14 { // a multicast response address
			b = append(b, " with-ttl "...)
			b = strconv.AppendUint(b, uint64(m[20]), 10)
		}
	default:
		b = append(b, "igmp-"...)
		b = strconv.AppendUint(b, uint64(m[0]), 10)
	}
	return b
}

// appendIGMPv3Query prints the rest of an IGMPv3 query as tcpdump's
// print_igmpv3_query does.
func appendIGMPv3Query(b []byte, m []byte, n int) []byte {
	b = append(b, " v3"...)
	mrc := uint32(m[1])
	mrt := mrc
	if mrc >= 128 {
		mrt = (mrc&0x0f | 0x10) << ((mrc&0x70)>>4 + 3)
	}
	if mrc != 100 {
		b = append(b, " [max resp time "...)
		if mrt < 600 {
			b = strconv.AppendUint(b, uint64(mrt/10), 10)
			b = append(b, '.')
			b = strconv.AppendUint(b, uint64(mrt%10), 10)
			b = append(b, 's')
		} else {
			b = appendRelTime(b, mrt/10)
		}
		b = append(b, ']')
	}
	if len(m) < 8 {
		return append(b, " [|igmp]"...)
	}
	g := binary.BigEndian.Uint32(m[4:])
	if g == 0 {
		return b
	}
	b = append(b, " [gaddr "...)
	b = appendIPv4(b, g)
	if len(m) < 12 {
		return append(b, " [|igmp]"...)
	}
	if ns := int(binary.BigEndian.Uint16(m[10:])); ns > 0 {
		if n < 12+ns*4 {
			return append(b, " [invalid number of sources]]"...)
		}
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(ns), 10)
		b = append(b, " source(s)"...)
	}
	return append(b, ']')
}

// appendRelTime prints seconds as tcpdump's unsigned_relts_print does:
// "1w2d3h4m5s", "0s".
func appendRelTime(b []byte, secs uint32) []byte {
	if secs == 0 {
		return append(b, "0s"...)
	}
	units := [...]struct {
		n    uint32
		name byte
	}{{31536000, 'y'}, {604800, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}
	for _, u := range units {
		if secs >= u.n {
			b = strconv.AppendUint(b, uint64(secs/u.n), 10)
			b = append(b, u.name)
			secs %= u.n
		}
	}
	return b
}
