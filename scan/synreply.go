package scan

import (
	"net/netip"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/wire"
)

// Kinds of reply to a SYN probe.
const (
	replyOther  uint8 = iota // not a reply to a probe: ignored
	replySYNACK              // a TCP SYN-ACK
	replyRST                 // a TCP RST
	replyICMP                // an ICMP or ICMPv6 destination unreachable quoting a TCP probe
)

// TCP flags, as reply.Flags holds them.
const (
	tcpFIN = uint8(wire.TCPFin)
	tcpSYN = uint8(wire.TCPSyn)
	tcpRST = uint8(wire.TCPRst)
	tcpACK = uint8(wire.TCPAck)
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
// allocates and never reads past b. Package wire decodes; checksums are
// not verified, since the cookie check rejects what a bad one could
// bring.
func parseReply(r *reply, b []byte, v6, icmp bool) bool {
	*r = reply{}
	var p wire.Packet
	d := wire.Decoder{SkipChecksums: true}
	switch {
	case !v6:
		_ = d.Decode(&p, pcapfile.LinkTypeIPv4, b, 0) // errors leave what could be decoded
		r.TTL = p.IP.TTL
	case icmp:
		_ = d.DecodeTransport(&p, wire.ProtoICMPv6, netip.IPv6Unspecified(), netip.IPv6Unspecified(), b)
	default:
		_ = d.DecodeTransport(&p, ports.ProtoTCP, netip.IPv6Unspecified(), netip.IPv6Unspecified(), b)
	}
	if icmp {
		return icmpReply(r, &p, v6)
	}
	if !p.Layers.Has(wire.LayerTCP) {
		return false
	}
	t := &p.TCP
	if !v6 {
		r.Target, r.Local = p.IP.Src, p.IP.Dst
	}
	r.TPort, r.LPort = uint16(t.SrcPort), uint16(t.DstPort)
	r.Seq, r.Ack, r.Flags = t.Seq, t.Ack, uint8(t.Flags)
	switch {
	case t.Flags.Has(wire.TCPRst):
		r.Kind = replyRST
	case t.Flags.Has(wire.TCPSyn | wire.TCPAck):
		r.Kind = replySYNACK
	default:
		return false
	}
	return true
}

// parseICMP reads an ICMP (v6 false) or ICMPv6 message, without its IP
// header, that may answer a probe: a destination unreachable quoting a
// TCP segment.
func parseICMP(r *reply, b []byte, v6 bool) bool {
	*r = reply{}
	var p wire.Packet
	d := wire.Decoder{SkipChecksums: true}
	if v6 {
		_ = d.DecodeTransport(&p, wire.ProtoICMPv6, netip.IPv6Unspecified(), netip.IPv6Unspecified(), b)
	} else {
		_ = d.DecodeTransport(&p, wire.ProtoICMP, netip.IPv4Unspecified(), netip.IPv4Unspecified(), b)
	}
	return icmpReply(r, &p, v6)
}

// icmpReply fills r from the decoded ICMP or ICMPv6 message in p, if it
// is a destination unreachable that quotes the IP header and at least the
// 8 bytes of TCP header with the ports and sequence number. r.From is the
// IPv4 sender (p's IP source, when p has an IP header).
func icmpReply(r *reply, p *wire.Packet, v6 bool) bool {
	var q *wire.Quoted
	switch {
	case !v6 && p.Layers.Has(wire.LayerICMPv4) && p.ICMPv4.Type == wire.ICMPv4Unreachable:
		r.ICMPType, r.ICMPCode, q = uint8(p.ICMPv4.Type), p.ICMPv4.Code, &p.ICMPv4.Quoted
		if p.Layers.Has(wire.LayerIPv4) {
			r.From = p.IP.Src
		}
	case v6 && p.Layers.Has(wire.LayerICMPv6) && p.ICMPv6.Type == wire.ICMPv6Unreachable:
		r.ICMPType, r.ICMPCode, q = uint8(p.ICMPv6.Type), p.ICMPv6.Code, &p.ICMPv6.Quoted
	default:
		return false
	}
	if q.IP.Protocol != ports.ProtoTCP || !q.HasSeq {
		return false
	}
	r.Local, r.Target = q.IP.Src, q.IP.Dst
	r.LPort, r.TPort, r.Seq = uint16(q.SrcPort), uint16(q.DstPort), q.Seq
	r.Kind = replyICMP
	return true
}

// appendSYN appends a TCP SYN from src:sport to dst:dport with sequence
// number seq and an MSS option, with its checksum.
func appendSYN(b []byte, src, dst netip.Addr, sport, dport uint16, seq uint32) []byte {
	t := wire.TCP{SrcPort: ports.Port(sport), DstPort: ports.Port(dport), Seq: seq, Flags: wire.TCPSyn,
		Window: 1024, Options: wire.TCPOptions{HasMSS: true, MSS: 1460}} // window as nmap's
	b, _ = wire.AppendTCPSegment(b, src, dst, &t, nil) // 4 bytes of options always fit
	return b
}

// tcpChecksum is the checksum of the TCP segment seg from src to dst: the
// value to store in a segment whose field is zero, 0 over one whose
// checksum is right.
func tcpChecksum(src, dst netip.Addr, seg []byte) uint16 {
	return wire.TransportChecksum(src, dst, ports.ProtoTCP, seg)
}
