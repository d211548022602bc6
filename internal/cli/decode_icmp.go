package cli

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

// appendICMPv4 formats an ICMP message as tcpdump's one-line view does:
// "ICMP echo request, id 1, seq 2, length 64".
func appendICMPv4(b []byte, p *wire.Packet) []byte {
	m := &p.ICMPv4
	q := &m.Quoted
	b = append(b, "ICMP "...)
	dst := func() []byte { return q.IP.Dst.AppendTo(b) }
	switch {
	case m.Type == wire.ICMPv4EchoRequest || m.Type == wire.ICMPv4EchoReply:
		b = append(b, m.Type.String()...)
		b = append(b, ", id "...)
		b = strconv.AppendUint(b, uint64(m.ID()), 10)
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(m.Seq()), 10)
	case m.Type == wire.ICMPv4Unreachable && q.IP.Version == 4:
		switch m.Code {
		case 0, 1:
			b = append(b, [...]string{"net ", "host "}[m.Code]...)
			b = dst()
			b = append(b, " unreachable"...)
		case 2:
			b = dst()
			b = append(b, " protocol "...)
			b = strconv.AppendUint(b, uint64(q.IP.Protocol), 10)
			b = append(b, " unreachable"...)
		case 3:
			b = dst()
			switch q.IP.Protocol {
			case ports.ProtoTCP:
				b = append(b, " tcp port "...)
			case ports.ProtoUDP:
				b = append(b, " udp port "...)
			default:
				b = append(b, " protocol "...)
				b = strconv.AppendUint(b, uint64(q.IP.Protocol), 10)
				b = append(b, " port "...)
			}
			b = strconv.AppendUint(b, uint64(q.DstPort), 10)
			b = append(b, " unreachable"...)
		case 4:
			b = dst()
			b = append(b, " unreachable - need to frag"...)
			if mtu := m.MTU(); mtu != 0 {
				b = append(b, " (mtu "...)
				b = strconv.AppendUint(b, uint64(mtu), 10)
				b = append(b, ')')
			}
		default:
			if f, ok := unreachText[m.Code]; ok {
				b = append(b, f[0]...)
				b = dst()
				b = append(b, f[1]...)
			} else {
				b = dst()
				b = append(b, " unreachable - #"...)
				b = strconv.AppendUint(b, uint64(m.Code), 10)
			}
		}
	case m.Type == wire.ICMPv4TimeExceeded:
		switch m.Code {
		case 0:
			b = append(b, "time exceeded in-transit"...)
		case 1:
			b = append(b, "ip reassembly time exceeded"...)
		default:
			b = append(b, "time exceeded-#"...)
			b = strconv.AppendUint(b, uint64(m.Code), 10)
		}
	case m.Type == wire.ICMPv4Redirect && m.Code <= 3 && q.IP.Version == 4:
		b = append(b, [...]string{"redirect ", "redirect ", "redirect-tos ", "redirect-tos "}[m.Code]...)
		b = dst()
		b = append(b, [...]string{" to net ", " to host ", " to net ", " to host "}[m.Code]...)
		b = appendIPv4(b, m.Rest)
	case m.Type == wire.ICMPv4ParamProblem:
		if m.Code == 0 {
			b = append(b, "parameter problem - octet "...)
			b = strconv.AppendUint(b, uint64(m.Rest>>24), 10)
		} else {
			b = append(b, "parameter problem - code "...)
			b = strconv.AppendUint(b, uint64(m.Code), 10)
		}
	case m.Type == wire.ICMPv4SourceQuench:
		b = append(b, "source quench"...)
	case m.Type == wire.ICMPv4Timestamp || m.Type == wire.ICMPv4TimestampReply:
		b = append(b, [...]string{"time stamp query id ", "time stamp reply id "}[m.Type-wire.ICMPv4Timestamp]...)
		b = strconv.AppendUint(b, uint64(m.ID()), 10)
		b = append(b, " seq "...)
		b = strconv.AppendUint(b, uint64(m.Seq()), 10)
		if m.Type == wire.ICMPv4TimestampReply && len(p.Payload) >= 12 {
			for i, w := range [...]string{": org ", ", recv ", ", xmit "} {
				b = append(b, w...)
				b = appendMsOfDay(b, binary.BigEndian.Uint32(p.Payload[4*i:]))
			}
		}
	case m.Type == wire.ICMPv4RouterAdvert:
		n := int(m.Rest >> 24)
		b = append(b, "router advertisement lifetime "...)
		b = strconv.AppendUint(b, uint64(uint16(m.Rest)), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ':')
		for i := 0; i < n && 8*i+8 <= len(p.Payload); i++ {
			e := p.Payload[8*i:]
			b = append(b, " {"...)
			b = appendIPv4(b, binary.BigEndian.Uint32(e))
			b = append(b, ' ')
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(e[4:])), 10)
			b = append(b, '}')
		}
	case m.Type == 18 && len(p.Payload) >= 4:
		b = append(b, "address mask is 0x"...)
		b = appendHexBytes(b, p.Payload[:4])
	case m.Type > 18:
		b = append(b, "type-#"...)
		b = strconv.AppendUint(b, uint64(m.Type), 10)
	default:
		b = append(b, m.Type.String()...)
		b = appendQuoted(b, q)
	}
	return appendICMPLength(b, p)
}

// appendICMPLength ends an ICMP line with the message's length by the IP
// header, as tcpdump takes it (also when the frame is shorter).
func appendICMPLength(b []byte, p *wire.Packet) []byte {
	n := ipPayloadLen(p)
	if n <= 0 || p.IP.Version == 6 && p.IP.PayloadLen == 0 {
		n = p.PayloadLen + 8
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(n), 10)
}

func appendIPv4(b []byte, v uint32) []byte {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).AppendTo(b)
}

// appendMsOfDay formats an ICMP timestamp (milliseconds since midnight
// UTC) as tcpdump does: 00:00:01.000.
func appendMsOfDay(b []byte, ms uint32) []byte {
	if h := ms / 3600000; h >= 100 {
		b = strconv.AppendUint(b, uint64(h), 10) // not a time of day: shown as it is
	} else {
		b = append2(b, int(h))
	}
	b = append(b, ':')
	b = append2(b, int(ms/60000%60))
	b = append(b, ':')
	b = append2(b, int(ms/1000%60))
	b = append(b, '.')
	v := ms % 1000
	return append(b, byte('0'+v/100), byte('0'+v/10%10), byte('0'+v%10))
}

// unreachText is tcpdump's text for the other unreachable codes: before
// and after the quoted destination.
var unreachText = map[uint8][2]string{
	5:  {"", " unreachable - source route failed"},
	6:  {"net ", " unreachable - unknown"},
	7:  {"host ", " unreachable - unknown"},
	8:  {"", " unreachable - source host isolated"},
	9:  {"net ", " unreachable - admin prohibited"},
	10: {"host ", " unreachable - admin prohibited"},
	11: {"net ", " unreachable - tos prohibited"},
	12: {"host ", " unreachable - tos prohibited"},
	13: {"host ", " unreachable - admin prohibited filter"},
	14: {"host ", " unreachable - host precedence violation"},
	15: {"host ", " unreachable - precedence cutoff"},
}

// appendICMPv6 formats an ICMPv6 message as tcpdump's one-line view
// does: "ICMP6, echo request, id 1, seq 2, length 64".
func appendICMPv6(b []byte, p *wire.Packet) []byte {
	m := &p.ICMPv6
	b = append(b, "ICMP6, "...)
	switch m.Type {
	case 200:
		b = append(b, "mtrace response"...)
	case 201:
		b = append(b, "mtrace"...)
	default:
		if name := m.Type.String(); !strings.HasPrefix(name, "type-") {
			b = append(b, name...)
		} else if m.Type >= 138 && m.Type <= 153 {
			b = append(b, name...) // tcpdump names these; ports does not yet
		} else {
			b = append(b, "unknown icmp6 type ("...)
			b = strconv.AppendUint(b, uint64(m.Type), 10)
			b = append(b, ')')
		}
	}
	switch m.Type {
	case wire.ICMPv6EchoRequest, wire.ICMPv6EchoReply:
		b = append(b, ", id "...)
		b = strconv.AppendUint(b, uint64(m.ID()), 10)
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(m.Seq()), 10)
	case wire.ICMPv6NeighborSolicit, wire.ICMPv6NeighborAdvert:
		if len(p.Payload) < 16 && ipPayloadLen(p) >= 24 {
			return append(b, " [|icmp6]"...) // the target cut by the capture
		}
		if len(p.Payload) >= 16 {
			if m.Type == wire.ICMPv6NeighborSolicit {
				b = append(b, ", who has "...)
			} else {
				b = append(b, ", tgt is "...)
			}
			b = netip.AddrFrom16([16]byte(p.Payload[:16])).AppendTo(b)
		}
	case wire.ICMPv6PacketTooBig:
		b = append(b, ", mtu "...)
		b = strconv.AppendUint(b, uint64(m.MTU()), 10)
	case wire.ICMPv6Unreachable:
		q := &m.Quoted
		if q.IP.Version != 6 {
			break
		}
		switch m.Code {
		case 0:
			b = append(b, ", unreachable route "...)
			b = q.IP.Dst.AppendTo(b)
		case 1:
			b = append(b, ",  unreachable prohibited "...) // two spaces: tcpdump's
			b = q.IP.Dst.AppendTo(b)
		case 3:
			b = append(b, ", unreachable address "...)
			b = q.IP.Dst.AppendTo(b)
		case 4:
			if !q.HasPorts {
				break
			}
			b = append(b, ", unreachable port, "...)
			b = q.IP.Dst.AppendTo(b)
			switch q.IP.Protocol {
			case ports.ProtoTCP:
				b = append(b, " tcp port "...)
			case ports.ProtoUDP:
				b = append(b, " udp port "...)
			default:
				b = append(b, " protocol "...)
				b = strconv.AppendUint(b, uint64(q.IP.Protocol), 10)
				b = append(b, " port "...)
			}
			b = strconv.AppendUint(b, uint64(q.DstPort), 10)
		default:
			b = appendQuoted(b, q)
		}
	case wire.ICMPv6TimeExceeded:
		if m.Code == 0 && m.Quoted.IP.Version == 6 {
			b = append(b, " in-transit for "...)
			b = m.Quoted.IP.Dst.AppendTo(b)
		} else {
			b = appendQuoted(b, &m.Quoted)
		}
	case wire.ICMPv6ParamProblem:
		if m.Code <= 2 {
			b = append(b, [...]string{", erroneous - octet ", ", next header - octet ", ", option - octet "}[m.Code]...)
			b = strconv.AppendUint(b, uint64(m.Rest), 10)
		}
	case 130, 131, 132: // MLD (RFC 2710): tcpdump runs the name into the delay
		if len(p.Payload) >= 16 {
			b = append(b, "max resp delay: "...)
			b = strconv.AppendUint(b, uint64(m.Rest>>16), 10)
			b = append(b, " addr: "...)
			b = netip.AddrFrom16([16]byte(p.Payload[:16])).AppendTo(b)
		}
	case 143: // MLDv2 report
		b = append(b, ", "...)
		b = strconv.AppendUint(b, uint64(uint16(m.Rest)), 10)
		b = append(b, " group record(s)"...)
	case wire.ICMPv6Redirect:
		if len(p.Payload) >= 32 {
			// The destination, then the better first hop (the target).
			b = append(b, ", "...)
			b = netip.AddrFrom16([16]byte(p.Payload[16:32])).AppendTo(b)
			b = append(b, " to "...)
			b = netip.AddrFrom16([16]byte(p.Payload[:16])).AppendTo(b)
		}
	default:
		b = appendQuoted(b, &m.Quoted)
	}
	return appendICMPLength(b, p)
}
