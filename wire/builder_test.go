package wire

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// Addresses from the documentation ranges (RFC 5737, RFC 3849).
var (
	macA = [6]byte{0x02, 0x00, 0x5e, 0x00, 0x53, 0x0a}
	macB = [6]byte{0x02, 0x00, 0x5e, 0x00, 0x53, 0x0b}
	ip4A = netip.MustParseAddr("192.0.2.1")
	ip4B = netip.MustParseAddr("198.51.100.2")
	ip6A = netip.MustParseAddr("2001:db8::a")
	ip6B = netip.MustParseAddr("2001:db8::b")
)

// cmpPacket compares Packets field by field; Payload and the other
// slices by content.
var cmpPacket = cmp.Options{
	cmpopts.EquateComparable(netip.Addr{}),
	cmpopts.IgnoreUnexported(Packet{}),
	cmpopts.EquateEmpty(),
}

func layerSet(ls ...Layer) LayerSet {
	var s LayerSet
	for _, l := range ls {
		s = s.Add(l)
	}
	return s
}

// probe is how the tests build frames: lengths and checksums computed.
var probe = EncodeOptions{FixLengths: true, ComputeChecksums: true}

// encode builds the frame p describes, failing the test on error.
func encode(t testing.TB, p *Packet) []byte {
	t.Helper()
	b, err := p.AppendTo(nil, probe)
	if err != nil {
		t.Fatalf("AppendTo: %v", err)
	}
	return b
}

// template returns a Packet to encode: the given link type, IP version
// (0 for none) and transport layer (LayerNone for none).
func template(link pcapfile.LinkType, v uint8, tr Layer) Packet {
	var p Packet
	p.Link.Type = link
	switch link {
	case pcapfile.LinkTypeEthernet:
		p.Layers = p.Layers.Add(LayerEthernet)
		p.Link.Dst, p.Link.Src = macB, macA
	case pcapfile.LinkTypeLinuxSLL, pcapfile.LinkTypeLinuxSLL2:
		if link == pcapfile.LinkTypeLinuxSLL {
			p.Layers = p.Layers.Add(LayerSLL)
		} else {
			p.Layers = p.Layers.Add(LayerSLL2)
			p.Link.IfIndex = 3
		}
		p.Link.PacketType = SLLOutgoing
		p.Link.HAType = 1
		p.Link.AddrLen = 6
		copy(p.Link.Addr[:], macA[:])
	case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
		p.Layers = p.Layers.Add(LayerNull)
	}
	switch v {
	case 4:
		p.Layers = p.Layers.Add(LayerIPv4)
		p.IP = IP{Version: 4, Src: ip4A, Dst: ip4B, TTL: 64, ID: 0x1234, Flags: IPDontFragment}
	case 6:
		p.Layers = p.Layers.Add(LayerIPv6)
		p.IP = IP{Version: 6, Src: ip6A, Dst: ip6B, TTL: 64, FlowLabel: 0x12345, TOS: 0x02}
	}
	if tr != LayerNone {
		p.Layers = p.Layers.Add(tr)
	}
	switch tr {
	case LayerTCP:
		p.IP.Protocol = ports.ProtoTCP
		p.TCP = TCP{SrcPort: 40000, DstPort: 80, Seq: 0x01020304, Ack: 0xa0b0c0d0, Flags: TCPPsh | TCPAck, Window: 501,
			Options: TCPOptions{HasTimestamps: true, TSval: 1000, TSecr: 2000}}
		p.Payload = []byte("GET / HTTP/1.1\r\n\r\n")
	case LayerUDP:
		p.IP.Protocol = ports.ProtoUDP
		p.UDP = UDP{SrcPort: 5353, DstPort: 53}
		p.Payload = []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")
	case LayerICMPv4:
		p.IP.Protocol = ProtoICMP
		p.ICMPv4 = ICMPv4{Type: ICMPv4EchoRequest, Rest: 0x0001_0002}
		p.Payload = []byte("abcdefghijklmnop")
	case LayerICMPv6:
		p.IP.Protocol = ProtoICMPv6
		p.ICMPv6 = ICMPv6{Type: ICMPv6EchoRequest, Rest: 0x0001_0002}
		p.Payload = []byte("abcdefghijklmnop")
	}
	return p
}

// linkTypes lists the link types Decode supports, with the IP versions
// each carries.
var linkTypes = []struct {
	link pcapfile.LinkType
	vs   []uint8
}{
	{pcapfile.LinkTypeEthernet, []uint8{4, 6}},
	{pcapfile.LinkTypeLinuxSLL, []uint8{4, 6}},
	{pcapfile.LinkTypeLinuxSLL2, []uint8{4, 6}},
	{pcapfile.LinkTypeNull, []uint8{4, 6}},
	{pcapfile.LinkTypeLoop, []uint8{4, 6}},
	{pcapfile.LinkTypeRaw, []uint8{4, 6}},
	{pcapfile.LinkTypeIPv4, []uint8{4}},
	{pcapfile.LinkTypeIPv6, []uint8{6}},
}

// transports returns the transport layers over IP version v.
func transports(v uint8) []Layer {
	if v == 4 {
		return []Layer{LayerTCP, LayerUDP, LayerICMPv4}
	}
	return []Layer{LayerTCP, LayerUDP, LayerICMPv6}
}

// sampleFrame is a frame built for a test.
type sampleFrame struct {
	name string
	link pcapfile.LinkType
	data []byte
	tmpl Packet // what data was built from

	wireLen int // when data is cut short: the length on the wire
}

// sampleFrames builds one frame for each link type, IP version and
// transport, and some with options, tags, extension headers, fragments
// and ICMP errors.
func sampleFrames(t testing.TB) []sampleFrame {
	t.Helper()
	var out []sampleFrame
	for _, lt := range linkTypes {
		for _, v := range lt.vs {
			for _, tr := range transports(v) {
				p := template(lt.link, v, tr)
				out = append(out, sampleFrame{name: lt.link.String() + "/" + p.Layers.String(), link: lt.link, data: encode(t, &p), tmpl: p})
			}
		}
	}
	for _, s := range specialPackets(t) {
		out = append(out, sampleFrame{name: s.name, link: s.p.Link.Type, data: encode(t, &s.p), tmpl: s.p})
	}
	return out
}

type namedPacket struct {
	name string
	p    Packet
}

// quotedUDP4 is an IPv4/UDP traceroute probe, as an ICMP error quotes
// it: the IP header and 8 bytes.
func quotedUDP4(t testing.TB) []byte {
	p := template(pcapfile.LinkTypeRaw, 4, LayerUDP)
	p.IP.Src, p.IP.Dst, p.IP.TTL = ip4B, netip.MustParseAddr("203.0.113.9"), 1
	p.UDP.SrcPort, p.UDP.DstPort = 33434, 33435
	b, err := p.AppendTo(nil, probe)
	if err != nil {
		t.Fatal(err)
	}
	return b[:28]
}

// quotedTCP6 is an IPv6 packet with a hop-by-hop header and a TCP SYN.
func quotedTCP6(t testing.TB) []byte {
	p := template(pcapfile.LinkTypeRaw, 6, LayerTCP)
	p.IP.Src, p.IP.Dst = ip6B, netip.MustParseAddr("2001:db8:ffff::9")
	p.IP.Protocol = ports.ProtoTCP
	p.IP.Ext[0], p.IP.NumExt = ExtHopByHop, 1
	p.IP.Options = []byte{6, 0, 1, 4, 0, 0, 0, 0} // next TCP, PadN
	p.TCP.SrcPort, p.TCP.DstPort, p.TCP.Seq, p.TCP.Flags = 51000, 443, 0xdeadbeef, TCPSyn
	b, err := p.AppendTo(nil, probe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// specialPackets are packets with the rarer features.
func specialPackets(t testing.TB) []namedPacket {
	var out []namedPacket
	add := func(name string, p Packet) { out = append(out, namedPacket{name, p}) }

	p := template(pcapfile.LinkTypeEthernet, 4, LayerTCP)
	p.TCP.Flags = TCPSyn | TCPEce | TCPCwr | TCPAE
	p.Payload = nil
	p.TCP.Options = TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSval: 7, HasWScale: true, WScale: 7}
	add("tcp syn options", p)

	p = template(pcapfile.LinkTypeEthernet, 6, LayerTCP)
	p.TCP.Options = TCPOptions{NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}, HasTimestamps: true, TSval: 1, TSecr: 2}
	add("tcp sack", p)

	p = template(pcapfile.LinkTypeEthernet, 4, LayerUDP)
	p.Link.VLANs[0] = VLAN{TPID: EtherTypeQinQ, ID: 200, PCP: 5}
	p.Link.VLANs[1] = VLAN{TPID: EtherTypeVLAN, ID: 2001, DEI: true}
	p.Link.NumVLANs = 2
	add("qinq udp", p)

	p = template(pcapfile.LinkTypeLinuxSLL, 6, LayerUDP)
	p.Link.VLANs[0] = VLAN{TPID: EtherTypeVLAN, ID: 7}
	p.Link.NumVLANs = 1
	add("sll vlan udp", p)

	p = template(pcapfile.LinkTypeEthernet, 4, LayerTCP)
	p.IP.Options = []byte{7, 7, 4, 0, 0, 0, 0, 1} // record route with one empty slot, then NOP
	add("ipv4 options", p)

	p = template(pcapfile.LinkTypeRaw, 4, LayerICMPv4)
	p.ICMPv4 = ICMPv4{Type: ICMPv4Unreachable, Code: 3}
	p.Payload = quotedUDP4(t)
	add("icmp port unreachable", p)

	p = template(pcapfile.LinkTypeIPv6, 6, LayerICMPv6)
	p.ICMPv6 = ICMPv6{Type: ICMPv6TimeExceeded}
	p.Payload = quotedTCP6(t)
	add("icmp6 time exceeded", p)

	// IPv6 hop-by-hop, destination options and a first fragment of UDP.
	p = template(pcapfile.LinkTypeEthernet, 6, LayerUDP)
	p.IP.Ext = [MaxExtHeaders]ExtHeader{ExtHopByHop, ExtDestOpts, ExtFragment}
	p.IP.NumExt = 3
	p.IP.Options = []byte{
		60, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop -> dstopts, PadN
		44, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // dstopts (16 bytes) -> fragment
		17, 0, 0, 1, 0xca, 0xfe, 0xf0, 0x0d, // fragment: offset 0, M, id
	}
	p.IP.Flags, p.IP.ID = IPMoreFragments, 0xcafef00d
	add("ipv6 ext first fragment", p)

	// The second IPv6 fragment: no UDP header.
	p = template(pcapfile.LinkTypeEthernet, 6, LayerNone)
	p.IP.Protocol = ports.ProtoUDP
	p.IP.Ext[0], p.IP.NumExt = ExtFragment, 1
	p.IP.Options = []byte{17, 0, 0x05, 0xa8, 0xca, 0xfe, 0xf0, 0x0d} // offset 1448
	p.IP.FragOffset, p.IP.ID = 1448, 0xcafef00d
	p.Payload = []byte("rest of the datagram")
	add("ipv6 second fragment", p)

	// IPv4 fragments of an echo request.
	p = template(pcapfile.LinkTypeEthernet, 4, LayerICMPv4)
	p.IP.Flags = IPMoreFragments
	add("ipv4 first fragment", p)
	p = template(pcapfile.LinkTypeEthernet, 4, LayerNone)
	p.IP.Protocol = ProtoICMP
	p.IP.Flags, p.IP.FragOffset = 0, 1480
	p.Payload = []byte("last fragment")
	add("ipv4 last fragment", p)

	// Not IP.
	p = template(pcapfile.LinkTypeEthernet, 0, LayerNone)
	p.Link.EtherType = EtherTypeARP
	p.Payload = make([]byte, 28)
	add("arp", p)
	return out
}

func be16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }
