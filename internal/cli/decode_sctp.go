package cli

import (
	"encoding/binary"
	"strconv"

	"github.com/portkit/ports/wire"
)

// sctpChunkNames are tcpdump's names of SCTP chunk types.
var sctpChunkNames = map[byte]string{
	0: "DATA", 1: "INIT", 2: "INIT ACK", 3: "SACK", 4: "HB REQ", 5: "HB ACK",
	6: "ABORT", 7: "SHUTDOWN", 8: "SHUTDOWN ACK", 9: "OP ERR", 10: "COOKIE ECHO",
	11: "COOKIE ACK", 12: "ECN ECHO", 13: "ECN CWR", 14: "SHUTDOWN COMPLETE",
	0xc0: "FOR CUM TSN", 0xc1: "REL CTRL", 0xc2: "REL CTRL ACK",
}

// sctpPPIDNames are tcpdump's names of DATA payload protocol identifiers.
var sctpPPIDNames = map[uint32]string{
	1: "ISDN Q.921", 2: "M2UA", 3: "M3UA", 4: "SUA", 5: "M2PA", 6: "V5.2",
	7: "H.248", 8: "BICC", 9: "TALI", 10: "DUA", 11: "ASAP", 12: "ENRP",
	13: "H.323", 14: "Q.IPC", 15: "SIMCO", 16: "DDPSC", 17: "DDPSSC",
	18: "S1AP", 19: "RUA", 20: "HNBAP", 21: "ForCES HP", 22: "ForCES MP",
	23: "ForCES LP", 24: "SBc-AP", 25: "NBAP", 27: "X2AP",
}

// appendSCTP prints an SCTP packet as tcpdump 4.99's sctp_print does
// without -v: the ports, then each chunk, "sctp (1) [INIT] [init tag: 1]
// ... , (2) [COOKIE ACK] ". m is the captured packet, n its length by
// the IP header. The ForCES protocol a DATA chunk may carry is not
// decoded (tcpdump does).
func appendSCTP(b []byte, p *wire.Packet, m []byte, n int) []byte {
	const cut = " [|sctp]"
	be := binary.BigEndian
	if n < 12 {
		b = append(b, "truncated-sctp - "...)
		b = strconv.AppendInt(b, int64(12-n), 10)
		return append(b, " bytes missing!"...)
	}
	if len(m) < 12 {
		return append(b, cut...)
	}
	b = p.IP.Src.AppendTo(b)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(be.Uint16(m)), 10)
	b = append(b, " > "...)
	b = p.IP.Dst.AppendTo(b)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(be.Uint16(m[2:])), 10)
	b = append(b, ": sctp"...)
	m, n = m[12:], n-12
	sep := " ("
	for i := 1; n != 0; i++ {
		if n < 4 {
			b = append(b, sep...)
			b = strconv.AppendInt(b, int64(i), 10)
			return append(b, ") [chunk descriptor cut off at end of packet]"...)
		}
		if len(m) < 4 {
			return append(b, cut...)
		}
		id, flags, clen := m[0], m[1], int(be.Uint16(m[2:]))
		if clen < 4 {
			b = append(b, sep...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ") [Bad chunk length "...)
			b = strconv.AppendInt(b, int64(clen), 10)
			return append(b, ", < size of chunk descriptor]"...)
		}
		align := (4 - clen%4) % 4
		if n < align {
			b = append(b, sep...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ") [Bad chunk length "...)
			b = strconv.AppendInt(b, int64(clen), 10)
			return append(b, ", > remaining data in packet]"...)
		}
		if len(m) < clen {
			return append(b, cut...)
		}
		c := m[4:clen]
		b = append(b, sep...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ") ["...)
		if name, ok := sctpChunkNames[id]; ok {
			b = append(b, name...)
		} else {
			b = append(b, "Unknown chunk type: 0x"...)
			b = strconv.AppendUint(b, uint64(id), 16)
		}
		b = append(b, "] "...)
		bogus := func(b []byte) []byte {
			b = append(b, "bogus chunk length "...)
			return append(strconv.AppendInt(b, int64(clen), 10), ']')
		}
		u32 := func(at int) uint64 { return uint64(be.Uint32(c[at:])) }
		u16 := func(at int) uint64 { return uint64(be.Uint16(c[at:])) }
		switch id {
		case 0:
			if flags&4 != 0 {
				b = append(b, "(U)"...)
			}
			if flags&2 != 0 {
				b = append(b, "(B)"...)
			}
			if flags&1 != 0 {
				b = append(b, "(E)"...)
			}
			if flags&7 != 0 {
				b = append(b, ' ')
			}
			if len(c) < 12 {
				return bogus(b)
			}
			ppid := be.Uint32(c[8:])
			b = append(b, "[TSN: "...)
			b = append(strconv.AppendUint(b, u32(0), 10), "] [SID: "...)
			b = append(strconv.AppendUint(b, u16(4), 10), "] [SSEQ "...)
			b = append(strconv.AppendUint(b, u16(6), 10), "] [PPID "...)
			if name, ok := sctpPPIDNames[ppid]; ok {
				b = append(b, name...)
			} else {
				b = append(b, "0x"...)
				b = strconv.AppendUint(b, uint64(ppid), 16)
			}
			b = append(b, "] "...)
			if len(c) == 12 {
				return bogus(b)
			}
		case 1, 2:
			if len(c) < 16 {
				return bogus(b)
			}
			b = append(b, "[init tag: "...)
			b = append(strconv.AppendUint(b, u32(0), 10), "] [rwnd: "...)
			b = append(strconv.AppendUint(b, u32(4), 10), "] [OS: "...)
			b = append(strconv.AppendUint(b, u16(8), 10), "] [MIS: "...)
			b = append(strconv.AppendUint(b, u16(10), 10), "] [init TSN: "...)
			b = append(strconv.AppendUint(b, u32(12), 10), "] "...)
		case 3:
			if len(c) < 12 {
				return bogus(b)
			}
			b = append(b, "[cum ack "...)
			b = append(strconv.AppendUint(b, u32(0), 10), "] [a_rwnd "...)
			b = append(strconv.AppendUint(b, u32(4), 10), "] [#gap acks "...)
			b = append(strconv.AppendUint(b, u16(8), 10), "] [#dup tsns "...)
			b = append(strconv.AppendUint(b, u16(10), 10), "] "...)
			gaps, dups := int(u16(8)), int(u16(10))
			at := 12
			for g := 1; g <= gaps; g++ {
				if len(c) < at+4 {
					return bogus(b)
				}
				b = append(b, "\n\t\t[gap ack block #"...)
				b = strconv.AppendInt(b, int64(g), 10)
				b = append(b, ": start = "...)
				b = strconv.AppendUint(b, u32(0)+u16(at), 10)
				b = append(b, ", end = "...)
				b = strconv.AppendUint(b, u32(0)+u16(at+2), 10)
				b = append(b, "] "...)
				at += 4
			}
			for d := 1; d <= dups; d++ {
				if len(c) < at+4 {
					return bogus(b)
				}
				b = append(b, "\n\t\t[dup TSN #"...)
				b = strconv.AppendInt(b, int64(d), 10)
				b = append(b, ": "...)
				b = strconv.AppendUint(b, u32(at), 10)
				b = append(b, "] "...)
				at += 4
			}
		}
		m, n = m[min(clen+align, len(m)):], n-clen-align
		if n < 0 {
			n = 0
		}
		sep = ", ("
	}
	return b
}
