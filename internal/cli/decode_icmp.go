package cli

import (
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

// ipv6Frag finds the Fragment header of an IPv6 packet: where it starts
// (from the IPv6 header) and the bytes that follow it on the wire, as
// tcpdump's "frag (offset|length)" shows them.
func ipv6Frag(ip *wire.IP) (length int, ok bool) {
	pos := 0
	for i := 0; i < int(ip.NumExt); i++ {
		e := ip.Ext[i]
		if e == wire.ExtFragment {
			return 40 + int(ip.PayloadLen) - (40 + pos) - 8, true
		}
		if pos+2 > len(ip.Options) {
			return 0, false
		}
		switch e {
		case wire.ExtAH:
			pos += (int(ip.Options[pos+1]) + 2) * 4
		default:
			pos += (int(ip.Options[pos+1]) + 1) * 8
		}
	}
	return 0, false
}

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
				b = append(b, '#')
				b = strconv.AppendUint(b, uint64(m.Code), 10)
				b = append(b, ' ')
				b = dst()
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
	default:
		b = append(b, m.Type.String()...)
		b = appendQuoted(b, q)
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(p.PayloadLen+8), 10)
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
	b = append(b, m.Type.String()...)
	switch m.Type {
	case wire.ICMPv6EchoRequest, wire.ICMPv6EchoReply:
		b = append(b, ", id "...)
		b = strconv.AppendUint(b, uint64(m.ID()), 10)
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(m.Seq()), 10)
	case wire.ICMPv6NeighborSolicit, wire.ICMPv6NeighborAdvert:
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
	default:
		b = appendQuoted(b, &m.Quoted)
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(p.PayloadLen+8), 10)
}
