package scan

import (
	"encoding/binary"
	"net/netip"
)

// Kinds of reply to a SYN probe.
const (
	replyOther  uint8 = iota // not a reply to a probe: ignored
	replySYNACK              // a TCP SYN-ACK
	replyRST                 // a TCP RST
	replyICMP                // an ICMP or ICMPv6 destination unreachable quoting a TCP probe
)

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// reply is what parseReply reads from a packet. The probe it answers is
// named from the scanner's side: Target:TPort is the port probed,
// Local:LPort the probe's source.
type reply struct {
	Kind   uint8
	Target netip.Addr // the host probed: the TCP source, or the quoted destination
	Local  netip.Addr // our address: the TCP destination or the quoted source; zero for IPv6 TCP, whose header the socket strips
	TPort  uint16     // the port probed
	LPort  uint16     // the probe's source port
	Flags  uint8      // TCP flags of a SYN-ACK or RST
	Seq    uint32     // TCP sequence number of the reply, or the quoted probe's
	Ack    uint32     // TCP acknowledgment number of the reply
	TTL    uint8      // IPv4 TTL; the caller fills in the IPv6 hop limit
	From   netip.Addr // the sender of an ICMP error (IPv4; the caller fills in IPv6's)

	ICMPType, ICMPCode uint8
}

// parseReply reads a packet received on one of the scan's raw sockets:
// for IPv4 (v6 false) a whole IP datagram, as IPv4 raw sockets deliver
// them; for IPv6 the TCP or ICMPv6 message alone, which is what IPv6 raw
// sockets deliver (the caller then sets Target, for TCP, from the source
// address and TTL from the hop limit). icmp says which socket it came
// from. It reports whether the packet is a reply worth checking; it never
// allocates and never reads past b.
func parseReply(r *reply, b []byte, v6, icmp bool) bool {
	*r = reply{}
	if !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return false
		}
		ihl := int(b[0]&15) * 4
		tot := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < 20 || len(b) < ihl {
			return false
		}
		if tot >= ihl && tot < len(b) {
			b = b[:tot]
		}
		if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 { // a non-first fragment
			return false
		}
		r.TTL = b[8]
		proto := b[9]
		src := netip.AddrFrom4([4]byte(b[12:16]))
		dst := netip.AddrFrom4([4]byte(b[16:20]))
		b = b[ihl:]
		if icmp {
			if proto != 1 {
				return false
			}
			if !parseICMP(r, b, false) {
				return false
			}
			r.From = src
			return true
		}
		if proto != 6 {
			return false
		}
		r.Target, r.Local = src, dst
		return parseTCP(r, b)
	}
	if icmp {
		return parseICMP(r, b, true)
	}
	return parseTCP(r, b)
}

// parseTCP reads a TCP header that may answer a probe.
func parseTCP(r *reply, b []byte) bool {
	if len(b) < 20 {
		return false
	}
	r.TPort = binary.BigEndian.Uint16(b[0:2])
	r.LPort = binary.BigEndian.Uint16(b[2:4])
	r.Seq = binary.BigEndian.Uint32(b[4:8])
	r.Ack = binary.BigEndian.Uint32(b[8:12])
	r.Flags = b[13]
	switch {
	case r.Flags&tcpRST != 0:
		r.Kind = replyRST
	case r.Flags&(tcpSYN|tcpACK) == tcpSYN|tcpACK:
		r.Kind = replySYNACK
	default:
		return false
	}
	return true
}

// parseICMP reads an ICMP (v6 false) or ICMPv6 destination unreachable
// that quotes a TCP segment: the quoted IP header and at least the 8
// bytes of TCP header with the ports and sequence number.
func parseICMP(r *reply, b []byte, v6 bool) bool {
	if len(b) < 8 {
		return false
	}
	r.ICMPType, r.ICMPCode = b[0], b[1]
	if (!v6 && r.ICMPType != 3) || (v6 && r.ICMPType != 1) {
		return false
	}
	q := b[8:]
	var proto uint8
	if !v6 {
		if len(q) < 20 || q[0]>>4 != 4 {
			return false
		}
		ihl := int(q[0]&15) * 4
		if ihl < 20 || len(q) < ihl {
			return false
		}
		proto = q[9]
		r.Local = netip.AddrFrom4([4]byte(q[12:16]))
		r.Target = netip.AddrFrom4([4]byte(q[16:20]))
		q = q[ihl:]
	} else {
		// Our probes carry no extension headers.
		if len(q) < 40 || q[0]>>4 != 6 {
			return false
		}
		proto = q[6]
		r.Local = netip.AddrFrom16([16]byte(q[8:24]))
		r.Target = netip.AddrFrom16([16]byte(q[24:40]))
		q = q[40:]
	}
	if proto != 6 || len(q) < 8 {
		return false
	}
	r.LPort = binary.BigEndian.Uint16(q[0:2])
	r.TPort = binary.BigEndian.Uint16(q[2:4])
	r.Seq = binary.BigEndian.Uint32(q[4:8])
	r.Kind = replyICMP
	return true
}

// icmpReason returns nmap's word for an ICMP (v6 false) or ICMPv6
// destination unreachable code.
func icmpReason(v6 bool, code uint8) string {
	if !v6 {
		switch code {
		case 0:
			return ReasonNetUnreach
		case 1:
			return ReasonHostUnreach
		case 2:
			return ReasonProtoUnreach
		case 3:
			return ReasonPortUnreach
		case 9:
			return ReasonNetProhibited
		case 10:
			return ReasonHostProhibited
		case 13:
			return ReasonAdminProhibited
		}
		return ReasonUnreach
	}
	switch code {
	case 0:
		return ReasonNoRoute
	case 1:
		return ReasonAdminProhibited
	case 2:
		return ReasonBeyondScope
	case 3:
		return ReasonAddrUnreach
	case 4:
		return ReasonPortUnreach
	case 5, 6:
		return ReasonRejectRoute
	}
	return ReasonUnreach
}

// appendSYN appends a TCP SYN from src:sport to dst:dport with sequence
// number seq and an MSS option, with its checksum.
func appendSYN(b []byte, src, dst netip.Addr, sport, dport uint16, seq uint32) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, 0)    // ack
	b = append(b, 6<<4, tcpSYN)                // data offset 24 bytes, SYN
	b = binary.BigEndian.AppendUint16(b, 1024) // window, as nmap
	b = append(b, 0, 0, 0, 0)                  // checksum, urgent pointer
	b = append(b, 2, 4, 0x05, 0xb4)            // MSS 1460
	seg := b[start:]
	binary.BigEndian.PutUint16(seg[16:], tcpChecksum(src, dst, seg))
	return b
}

// tcpChecksum is the Internet checksum of seg with the IPv4 or IPv6
// pseudo-header.
func tcpChecksum(src, dst netip.Addr, seg []byte) uint16 {
	var sum uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum += uint64(binary.BigEndian.Uint16(s[:2])) + uint64(binary.BigEndian.Uint16(s[2:]))
		sum += uint64(binary.BigEndian.Uint16(d[:2])) + uint64(binary.BigEndian.Uint16(d[2:]))
	} else {
		s, d := src.As16(), dst.As16()
		for i := 0; i < 16; i += 2 {
			sum += uint64(binary.BigEndian.Uint16(s[i:])) + uint64(binary.BigEndian.Uint16(d[i:]))
		}
	}
	sum += 6 + uint64(len(seg))
	for i := 0; i+1 < len(seg); i += 2 {
		sum += uint64(binary.BigEndian.Uint16(seg[i:]))
	}
	if len(seg)%2 == 1 {
		sum += uint64(seg[len(seg)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
