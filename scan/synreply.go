package scan

import (
	"net/netip"
	"sync"

	"github.com/portkit/ports"
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
//
// The order of the fields matters to speed: no two fields that
// parseReply fills from adjacent fields of a wire.Headers (the ports,
// Seq and Ack, the ICMP type and code) are adjacent here. The compiler
// would merge the two copies into one load of both, and a load that
// spans two of the stores Decode has just made cannot take its value
// from them: it waits for them to reach the cache (the reply copy took
// about 5 ns so, longer than the decoding).
type reply struct {
	Kind     uint8
	ICMPType uint8
	TPort    uint16     // the port probed
	Seq      uint32     // TCP sequence number of the reply, or the quoted probe's
	Target   netip.Addr // the host probed: the TCP source, or the quoted destination
	LPort    uint16     // the probe's source port
	ICMPCode uint8
	Flags    uint8      // TCP flags of a SYN-ACK or RST
	Ack      uint32     // TCP acknowledgment number of the reply
	Local    netip.Addr // our address: the TCP destination or the quoted source; zero for IPv6 TCP, whose header the socket strips
	TTL      uint8      // IPv4 TTL; the caller fills in the IPv6 hop limit
	From     netip.Addr // the sender of an ICMP error (IPv4; the caller fills in IPv6's)
}

// parseReply reads a packet received on one of the scan's raw sockets:
// for IPv4 (v6 false) a whole IP datagram, as IPv4 raw sockets deliver
// them; for IPv6 the TCP or ICMPv6 message alone, which is what IPv6 raw
// sockets deliver (the caller then sets Target, for TCP, from the source
// address and TTL from the hop limit). icmp says which socket it came
// from. It reports whether the packet is a reply worth checking; it never
// allocates and never reads past b. Package wire decodes the headers,
// into h, the caller's scratch (so that it is not cleared for each
// packet); checksums are not verified, since the cookie check rejects
// what a bad one could bring.
func parseReply(r *reply, h *wire.Headers, b []byte, v6, icmp bool) bool {
	switch {
	case !v6:
		_ = h.Decode(b) // errors leave what could be decoded
		if !h.Layers.Has(wire.LayerIPv4) {
			*r = reply{}
			return false
		}
	case icmp:
		_ = h.DecodeTransport(wire.ProtoICMPv6, netip.IPv6Unspecified(), netip.IPv6Unspecified(), b)
	default:
		_ = h.DecodeTransport(ports.ProtoTCP, netip.IPv6Unspecified(), netip.IPv6Unspecified(), b)
	}
	if icmp {
		return icmpReply(r, h, v6)
	}
	var kind uint8
	switch {
	case !h.Layers.Has(wire.LayerTCP):
	case h.TCPFlags.Has(wire.TCPRst):
		kind = replyRST
	case h.TCPFlags.Has(wire.TCPSyn | wire.TCPAck):
		kind = replySYNACK
	}
	if kind == replyOther {
		*r = reply{}
		return false
	}
	// Every field, one by one: reply{...} would be built on the stack
	// and copied.
	r.Kind, r.TPort, r.LPort, r.Flags = kind, uint16(h.SrcPort), uint16(h.DstPort), uint8(h.TCPFlags)
	r.Seq, r.Ack, r.TTL = h.Seq, h.Ack, h.TTL
	r.From, r.ICMPType, r.ICMPCode = netip.Addr{}, 0, 0
	if v6 {
		r.Target, r.Local = netip.Addr{}, netip.Addr{} // the caller's
	} else {
		r.Target, r.Local = h.Src, h.Dst
	}
	return true
}

// parseICMP reads an ICMP (v6 false) or ICMPv6 message, without its IP
// header, that may answer a probe: a destination unreachable quoting a
// TCP segment. h is scratch, as for parseReply.
func parseICMP(r *reply, h *wire.Headers, b []byte, v6 bool) bool {
	if v6 {
		_ = h.DecodeTransport(wire.ProtoICMPv6, netip.IPv6Unspecified(), netip.IPv6Unspecified(), b)
	} else {
		_ = h.DecodeTransport(wire.ProtoICMP, netip.IPv4Unspecified(), netip.IPv4Unspecified(), b)
	}
	return icmpReply(r, h, v6)
}

// icmpReply fills r from the decoded ICMP or ICMPv6 message in h, if it
// is a destination unreachable that quotes the IP header and at least the
// 8 bytes of TCP header with the ports and sequence number. r.From is the
// IPv4 sender (h's IP source, when h has an IP header).
func icmpReply(r *reply, h *wire.Headers, v6 bool) bool {
	var ok bool
	if v6 {
		ok = h.Layers.Has(wire.LayerICMPv6) && h.ICMPType == uint8(wire.ICMPv6Unreachable)
	} else {
		ok = h.Layers.Has(wire.LayerICMPv4) && h.ICMPType == uint8(wire.ICMPv4Unreachable)
	}
	q := &h.Quoted
	if !ok || q.Protocol != ports.ProtoTCP || !q.HasSeq {
		*r = reply{}
		return false
	}
	r.Kind, r.LPort, r.TPort, r.Flags = replyICMP, uint16(q.SrcPort), uint16(q.DstPort), 0
	r.Seq, r.Ack, r.TTL, r.ICMPType, r.ICMPCode = q.Seq, 0, h.TTL, h.ICMPType, h.ICMPCode
	r.Local, r.Target, r.From = q.Src, q.Dst, netip.Addr{}
	if h.Layers.Has(wire.LayerIPv4) {
		r.From = h.Src
	}
	return true
}

var synTemplate = sync.OnceValue(func() *wire.TCPTemplate {
	t, err := wire.NewTCPTemplate(&wire.TCP{Flags: wire.TCPSyn, Window: 1024, // window as nmap's
		Options: wire.TCPOptions{HasMSS: true, MSS: 1460}}, nil)
	if err != nil {
		panic(err) // 4 bytes of options always fit
	}
	return t
})

// appendSYN appends a TCP SYN from src:sport to dst:dport with sequence
// number seq and an MSS option, with its checksum.
func appendSYN(b []byte, src, dst netip.Addr, sport, dport uint16, seq uint32) []byte {
	return synTemplate().Append(b, src, dst, ports.Port(sport), ports.Port(dport), seq)
}

// tcpChecksum is the checksum of the TCP segment seg from src to dst: the
// value to store in a segment whose field is zero, 0 over one whose
// checksum is right.
func tcpChecksum(src, dst netip.Addr, seg []byte) uint16 {
	return wire.TransportChecksum(src, dst, ports.ProtoTCP, seg)
}
