package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// fuzzLinks are the link types FuzzDecode picks from.
var fuzzLinks = []pcapfile.LinkType{
	pcapfile.LinkTypeEthernet, pcapfile.LinkTypeLinuxSLL, pcapfile.LinkTypeLinuxSLL2, pcapfile.LinkTypeNull,
	pcapfile.LinkTypeLoop, pcapfile.LinkTypeRaw, pcapfile.LinkTypeIPv4, pcapfile.LinkTypeIPv6,
}

func fuzzLinkIndex(l pcapfile.LinkType) uint8 {
	for i, x := range fuzzLinks {
		if x == l {
			return uint8(i)
		}
	}
	return 0
}

// dirtyPacket returns a Packet with every layer filled, to check that
// Decode clears what the previous frame left.
func dirtyPacket(t testing.TB) *Packet {
	var p Packet
	for _, s := range specialPackets(t) {
		if s.name == "icmp port unreachable" {
			b := encode(t, &s.p)
			_ = p.Decode(pcapfile.LinkTypeRaw, b, 0)
		}
	}
	p.Link = Link{Type: pcapfile.LinkTypeEthernet, Dst: macA, NumVLANs: 2, Family: 7, AddrLen: 9, IfIndex: 3}
	p.TCP = TCP{SrcPort: 1, Seq: 2, Options: TCPOptions{HasMSS: true, Raw: []byte{1}}}
	p.UDP = UDP{DstPort: 9}
	p.ICMPv6 = ICMPv6{Type: 1, Quoted: Quoted{HasPorts: true}}
	p.Truncated, p.TruncatedAt, p.PayloadLen = true, LayerUDP, 99
	return &p
}

// FuzzDecode decodes arbitrary frames: no panic, the invariants of a
// Packet, decode-encode-decode identity, the same result whatever the
// Packet held before, and agreement with gopacket on the fields both
// decode.
func FuzzDecode(f *testing.F) {
	// Every packet of the sample captures, as captured.
	for _, fr := range allFrames(f) {
		f.Add(fuzzLinkIndex(fr.link), fr.data, uint16(fr.origLen-len(fr.data)))
	}
	// The frames the tests build, whole and cut short.
	for _, s := range sampleFrames(f) {
		f.Add(fuzzLinkIndex(s.link), s.data, uint16(0))
		f.Add(fuzzLinkIndex(s.link), s.data[:len(s.data)/2], uint16(len(s.data)-len(s.data)/2))
	}
	// Edge cases: empty; an IPv4 header with IHL 15 and nothing else; an
	// IPv6 header whose payload is all hop-by-hop padding; total length 0
	// (TSO); a TCP header full of NOPs; a SACK option with a bad length.
	f.Add(fuzzLinkIndex(pcapfile.LinkTypeRaw), []byte{}, uint16(0))
	f.Add(fuzzLinkIndex(pcapfile.LinkTypeRaw), append([]byte{0x4f}, make([]byte, 59)...), uint16(0))
	f.Add(fuzzLinkIndex(pcapfile.LinkTypeIPv6), append([]byte{0x60, 0, 0, 0, 0, 8, 0, 64}, make([]byte, 40)...), uint16(0))
	tso := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 0, 0xf0, 0x02, 0xff, 0xff, 0, 0, 0, 0}
	tso = append(tso, bytes.Repeat([]byte{1}, 40)...)
	f.Add(fuzzLinkIndex(pcapfile.LinkTypeIPv4), tso, uint16(0))
	badSack := append(tso[:40:40], 5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1)
	badSack[32] = 0x80
	f.Add(fuzzLinkIndex(pcapfile.LinkTypeIPv4), badSack, uint16(3))

	dirty := dirtyPacket(f)
	f.Fuzz(func(t *testing.T, li uint8, data []byte, extra uint16) {
		link := fuzzLinks[int(li)%len(fuzzLinks)]
		orig := len(data) + int(extra)
		var p Packet
		err := p.Decode(link, data, orig)
		checkInvariants(t, &p, data, err)

		// Decoding over a used Packet gives the same.
		q := *dirty
		err2 := q.Decode(link, data, orig)
		if !samePacket(&p, &q) || (err == nil) != (err2 == nil) {
			t.Fatalf("Decode into a used Packet (-fresh +used):\n%s", cmp.Diff(p, q, cmpPacket))
		}

		// Decode, encode, decode is the identity.
		if err == nil && !p.Truncated {
			roundTrip(t, link, data, &p)
		}

		// A capture of only the first bytes decodes to a prefix.
		if n := int(extra) % (len(data) + 1); err == nil && n < len(data) {
			var c Packet
			if cerr := c.Decode(link, data[:n], orig); cerr != nil {
				t.Fatalf("first %d of %d bytes: %v", n, len(data), cerr)
			}
			checkInvariants(t, &c, data[:n], nil)
			if c.Layers&^p.Layers != 0 {
				t.Fatalf("first %d bytes: layers %v, whole frame %v", n, c.Layers, p.Layers)
			}
		}

		if extra == 0 {
			compareGopacket(t, link, data, &p, err)
		}
	})
}

// roundTrip checks that encoding p, decoded from data, decodes to p again.
func roundTrip(t *testing.T, link pcapfile.LinkType, data []byte, p *Packet) {
	t.Helper()
	// UDP data shorter than the IP payload leaves bytes that are not in
	// any field; so does Ethernet padding, checked below.
	if p.Layers.Has(LayerUDP) && !p.IsFragment() && udpShort(p) {
		return
	}
	b, err := p.AppendTo(nil, EncodeOptions{})
	if err != nil {
		t.Fatalf("AppendTo(Decode(frame)): %v", err)
	}
	var q Packet
	if err := q.Decode(link, b, 0); err != nil {
		t.Fatalf("Decode(AppendTo(Decode(frame))): %v\nframe % x\nagain % x", err, data, b)
	}
	want := *p
	want.CapLen, want.WireLen = q.CapLen, q.WireLen
	if !samePacket(&want, &q) {
		t.Fatalf("decode, encode, decode (-first +second):\n%s\nframe % x\nagain % x", cmp.Diff(want, q, cmpPacket), data, b)
	}
	// The bytes are the same, but for what no field holds: padding after
	// the IP packet, the byte order of a Null header, the reserved bytes of
	// an SLL2 header, and a non-IP link payload.
	if link == pcapfile.LinkTypeNull || link == pcapfile.LinkTypeLinuxSLL2 {
		return
	}
	if !bytes.HasPrefix(data, b) {
		t.Fatalf("AppendTo(Decode(frame)) is not a prefix of the frame\nframe % x\nagain % x", data, b)
	}
}

// samePacket is cmp.Equal(*a, *b, cmpPacket), faster.
func samePacket(a, b *Packet) bool {
	x, y := *a, *b
	slices := func(p *Packet) [][]byte {
		s := [][]byte{p.Payload, p.IP.Options, p.TCP.Options.Raw, p.ICMPv4.Quoted.IP.Options, p.ICMPv6.Quoted.IP.Options}
		p.Payload, p.IP.Options, p.TCP.Options.Raw, p.ICMPv4.Quoted.IP.Options, p.ICMPv6.Quoted.IP.Options = nil, nil, nil, nil, nil
		p.err, p.hasErr = DecodeError{}, false
		return s
	}
	sx, sy := slices(&x), slices(&y)
	for i := range sx {
		if !bytes.Equal(sx[i], sy[i]) {
			return false
		}
	}
	return reflect.DeepEqual(x, y)
}

// udpShort reports whether the UDP length ends before the IP payload.
func udpShort(p *Packet) bool {
	ipEnd := int(p.IP.HeaderLen) + 8 + p.PayloadLen
	switch {
	case p.IP.Version == 4 && p.IP.TotalLen != 0:
		return int(p.IP.TotalLen) != ipEnd
	case p.IP.Version == 6 && p.IP.PayloadLen != 0:
		return int(p.IP.PayloadLen)+40 != ipEnd
	}
	return true // lengths from the frame: padding would be payload
}

// compareGopacket checks the fields that both p and gopacket decoded from
// data. Deliberate differences are skipped here and listed in the
// package documentation ("Differences from gopacket and tshark").
func compareGopacket(t *testing.T, link pcapfile.LinkType, data []byte, p *Packet, err error) {
	t.Helper()
	gp := gopacket.NewPacket(data, layers.LinkType(link), gopacket.DecodeOptions{})
	// A layer whose decoding failed can still be in the packet, half
	// filled, just before the DecodeFailure: leave it out.
	var good []gopacket.Layer
	for _, l := range gp.Layers() {
		if l.LayerType() == gopacket.LayerTypeDecodeFailure {
			if len(good) > 0 {
				good = good[:len(good)-1]
			}
			break
		}
		good = append(good, l)
	}
	layer := func(lt gopacket.LayerType) gopacket.Layer {
		for _, l := range good {
			if l.LayerType() == lt {
				return l
			}
		}
		return nil
	}
	errorf := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%v frame % x\n"+format, append([]any{link, data}, args...)...)
	}

	if l, ok := layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok && p.Layers.Has(LayerEthernet) {
		if [6]byte(l.SrcMAC) != p.Link.Src || [6]byte(l.DstMAC) != p.Link.Dst {
			errorf("ethernet %v > %v, gopacket %v > %v", p.Link.Src, p.Link.Dst, l.SrcMAC, l.DstMAC)
		}
	}
	// gopacket decodes 802.1Q and 802.1ad tags, not 0x9100 or 0x9200.
	var tags []gopacket.Layer
	for _, l := range good {
		if l.LayerType() == layers.LayerTypeDot1Q {
			tags = append(tags, l)
		}
	}
	for i, l := range tags {
		d := l.(*layers.Dot1Q)
		if i >= int(p.Link.NumVLANs) {
			break
		}
		v := p.Link.VLANs[i]
		if d.VLANIdentifier != v.ID || d.Priority != v.PCP || d.DropEligible != v.DEI {
			errorf("VLAN %d: %+v, gopacket %+v", i, v, d)
		}
	}
	if l, ok := layer(layers.LayerTypeLinuxSLL).(*layers.LinuxSLL); ok && p.Layers.Has(LayerSLL) {
		if uint16(l.PacketType) != uint16(p.Link.PacketType) || l.AddrLen != p.Link.AddrLen || l.AddrType != p.Link.HAType {
			errorf("SLL %+v, gopacket %+v", p.Link, l)
		}
	}
	if l, ok := layer(layers.LayerTypeLinuxSLL2).(*layers.LinuxSLL2); ok && p.Layers.Has(LayerSLL2) {
		if uint8(l.PacketType) != uint8(p.Link.PacketType) || l.InterfaceIndex != p.Link.IfIndex || uint16(l.ARPHardwareType) != p.Link.HAType ||
			uint16(l.ProtocolType) != uint16(firstEtherType(&p.Link)) {
			errorf("SLL2 %+v, gopacket %+v", p.Link, l)
		}
	}

	ip4, _ := layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip4 != nil && p.Layers.Has(LayerIPv4) && p.IP.Version == 4 {
		ip := &p.IP
		totalOK := ip4.Length == ip.TotalLen || ip.TotalLen == 0 // gopacket replaces a TSO 0 with the length it assumes
		if !totalOK || ip4.IHL != ip.IHL || ip4.TOS != ip.TOS || uint32(ip4.Id) != ip.ID ||
			uint8(ip4.Flags) != uint8(ip.Flags) || ip4.FragOffset*8 != ip.FragOffset || ip4.TTL != ip.TTL ||
			uint8(ip4.Protocol) != uint8(ip.Protocol) || ip4.Checksum != ip.Checksum.Value ||
			!addrIs(ip4.SrcIP, ip.Src) || !addrIs(ip4.DstIP, ip.Dst) {
			errorf("IPv4 %+v\ngopacket %+v", *ip, ip4)
		}
	}
	ip6, _ := layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip6 != nil && p.Layers.Has(LayerIPv6) && p.IP.Version == 6 {
		ip := &p.IP
		nh := uint8(ip.Protocol)
		if ip.NumExt > 0 {
			nh = uint8(ip.Ext[0])
		}
		if ip6.TrafficClass != ip.TOS || ip6.FlowLabel != ip.FlowLabel || ip6.HopLimit != ip.TTL ||
			uint8(ip6.NextHeader) != nh || !addrIs(ip6.SrcIP, ip.Src) || !addrIs(ip6.DstIP, ip.Dst) ||
			ip6.Length != ip.PayloadLen && !gopacketJumbo(ip6) {
			errorf("IPv6 %+v\ngopacket %+v", *ip, ip6)
		}
	}
	// The transport layers are compared only where both decoded the same
	// IP header: gopacket also decodes tunnels (IP in IP, GRE) and the
	// first IPv6 fragment never reaches its transport in gopacket.
	if !sameTransportPath(good, p) {
		return
	}
	clean := err == nil && !p.Truncated && gp.ErrorLayer() == nil && !gp.Metadata().Truncated
	if l, ok := layer(layers.LayerTypeTCP).(*layers.TCP); ok && p.Layers.Has(LayerTCP) {
		tc := &p.TCP
		var fl TCPFlags
		for i, b := range []bool{l.FIN, l.SYN, l.RST, l.PSH, l.ACK, l.URG, l.ECE, l.CWR, l.NS} {
			if b {
				fl |= 1 << i
			}
		}
		if uint16(l.SrcPort) != uint16(tc.SrcPort) || uint16(l.DstPort) != uint16(tc.DstPort) || l.Seq != tc.Seq || l.Ack != tc.Ack ||
			l.DataOffset != tc.DataOffset || fl != tc.Flags&0x1ff || l.Window != tc.Window || l.Checksum != tc.Checksum.Value || l.Urgent != tc.Urgent {
			errorf("TCP %+v\ngopacket %+v", *tc, l)
		}
		if !tc.Options.Malformed {
			compareTCPOptions(t, errorf, l.Options, &tc.Options)
		}
		if clean && !bytes.Equal(l.Payload, p.Payload) {
			errorf("TCP payload % x\ngopacket % x", p.Payload, l.Payload)
		}
	}
	if l, ok := layer(layers.LayerTypeUDP).(*layers.UDP); ok && p.Layers.Has(LayerUDP) {
		u := &p.UDP
		if uint16(l.SrcPort) != uint16(u.SrcPort) || uint16(l.DstPort) != uint16(u.DstPort) || l.Length != u.Length || l.Checksum != u.Checksum.Value {
			errorf("UDP %+v\ngopacket %+v", *u, l)
		}
		if clean && !bytes.Equal(l.Payload, p.Payload) && !p.IsFragment() {
			errorf("UDP payload % x\ngopacket % x", p.Payload, l.Payload)
		}
	}
	if l, ok := layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && p.Layers.Has(LayerICMPv4) {
		m := &p.ICMPv4
		if l.TypeCode.Type() != uint8(m.Type) || l.TypeCode.Code() != m.Code || l.Checksum != m.Checksum.Value ||
			l.Id != m.ID() || l.Seq != m.Seq() {
			errorf("ICMPv4 %+v\ngopacket %+v", *m, l)
		}
	}
	if l, ok := layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok && p.Layers.Has(LayerICMPv6) {
		m := &p.ICMPv6
		if l.TypeCode.Type() != uint8(m.Type) || l.TypeCode.Code() != m.Code || l.Checksum != m.Checksum.Value {
			errorf("ICMPv6 %+v\ngopacket %+v", *m, l)
		}
	}
}

// firstEtherType returns the protocol field of the link header.
func firstEtherType(l *Link) EtherType {
	if l.NumVLANs > 0 {
		return l.VLANs[0].TPID
	}
	return l.EtherType
}

func addrIs(ip []byte, a netip.Addr) bool {
	b, ok := netip.AddrFromSlice(ip)
	return ok && b.Unmap() == a.Unmap()
}

// gopacketJumbo reports whether gopacket replaced a zero payload length.
func gopacketJumbo(ip6 *layers.IPv6) bool { return ip6.HopByHop != nil && ip6.HopByHop.Options != nil }

// sameTransportPath reports whether gopacket's first transport layer
// follows the same IP header as p's: no second IP header in between, no
// extension header gopacket does not walk, not an IPv6 fragment.
func sameTransportPath(ls []gopacket.Layer, p *Packet) bool {
	nIP := 0
	for _, l := range ls {
		switch l.LayerType() {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			nIP++
		case layers.LayerTypeIPv6Fragment:
			return false
		}
	}
	if nIP != 1 {
		return false
	}
	for _, e := range p.IP.Ext[:p.IP.NumExt] {
		switch e {
		case ExtMobility, ExtHIP, ExtShim6, ExtAH:
			return false
		}
	}
	return true
}

// compareTCPOptions compares the parsed options with gopacket's list.
func compareTCPOptions(t *testing.T, errorf func(string, ...any), opts []layers.TCPOption, o *TCPOptions) {
	t.Helper()
	var w TCPOptions
	for _, op := range opts {
		d := op.OptionData
		switch op.OptionType {
		case layers.TCPOptionKindEndList:
			goto done
		case layers.TCPOptionKindMSS:
			if len(d) == 2 {
				w.HasMSS, w.MSS = true, binary.BigEndian.Uint16(d)
			}
		case layers.TCPOptionKindWindowScale:
			if len(d) == 1 {
				w.HasWScale, w.WScale = true, d[0]
			}
		case layers.TCPOptionKindSACKPermitted:
			w.SACKPermitted = true
		case layers.TCPOptionKindSACK:
			for i := 0; i+8 <= len(d) && w.NumSACK < 4; i += 8 {
				w.SACK[w.NumSACK] = SACKBlock{binary.BigEndian.Uint32(d[i:]), binary.BigEndian.Uint32(d[i+4:])}
				w.NumSACK++
			}
		case layers.TCPOptionKindTimestamps:
			if len(d) == 8 {
				w.HasTimestamps, w.TSval, w.TSecr = true, binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
			}
		}
	}
done:
	w.Raw, w.Malformed = o.Raw, o.Malformed
	if diff := cmp.Diff(w, *o, cmpPacket); diff != "" {
		errorf("TCP options (-gopacket +wire):\n%s", diff)
	}
}

// FuzzEncode builds packets from fuzzed fields with lengths and checksums
// computed, and checks that they decode to the same fields, with good
// checksums: decode(encode(x)) == x.
func FuzzEncode(f *testing.F) {
	f.Add(uint8(0), uint8(4), uint8(0), uint16(40000), uint16(80), uint32(1), uint16(0x012), uint16(501), []byte{2, 4, 5, 0xb4}, []byte("data"))
	f.Add(uint8(2), uint8(6), uint8(1), uint16(53), uint16(5353), uint32(0), uint16(0), uint16(0), []byte(nil), []byte{})
	f.Add(uint8(3), uint8(4), uint8(2), uint16(0), uint16(0), uint32(0x10002), uint16(8), uint16(0), []byte{1, 2, 3}, bytes.Repeat([]byte{0xff}, 1500))
	f.Add(uint8(7), uint8(6), uint8(2), uint16(0), uint16(0), uint32(7), uint16(128), uint16(0), []byte{}, []byte("ping"))
	f.Fuzz(func(t *testing.T, li, v, tr uint8, sp, dp uint16, seq uint32, flags, win uint16, opts, payload []byte) {
		link := fuzzLinks[int(li)%len(fuzzLinks)]
		ver := uint8(4)
		if v%2 == 1 || link == pcapfile.LinkTypeIPv6 {
			ver = 6
		}
		if link == pcapfile.LinkTypeIPv4 {
			ver = 4
		}
		trs := transports(ver)
		layer := trs[int(tr)%len(trs)]
		p := template(link, ver, layer)
		p.Payload = payload
		switch layer {
		case LayerTCP:
			p.TCP.SrcPort, p.TCP.DstPort, p.TCP.Seq, p.TCP.Flags, p.TCP.Window = ports.Port(sp), ports.Port(dp), seq, TCPFlags(flags&0x0fff), win
			p.TCP.Options = TCPOptions{Raw: opts}
		case LayerUDP:
			p.UDP.SrcPort, p.UDP.DstPort = ports.Port(sp), ports.Port(dp)
		case LayerICMPv4:
			p.ICMPv4.Type, p.ICMPv4.Code, p.ICMPv4.Rest = ICMPv4Type(flags), uint8(win), seq
		case LayerICMPv6:
			p.ICMPv6.Type, p.ICMPv6.Code, p.ICMPv6.Rest = ICMPv6Type(flags), uint8(win), seq
		}
		b, err := p.AppendTo(nil, probe)
		if err != nil {
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("AppendTo error %v (%T)", err, err)
			}
			return // options too long, or a packet over 65535 bytes
		}
		var d Packet
		if err := d.Decode(link, b, 0); err != nil {
			t.Fatalf("Decode(AppendTo(x)): %v\n% x", err, b)
		}
		checkInvariants(t, &d, b, nil)
		if d.Layers != p.Layers || !bytes.Equal(d.Payload, payload) || d.IP.Src != p.IP.Src || d.IP.Dst != p.IP.Dst {
			t.Fatalf("Decode(AppendTo(x)): layers %v, payload %d bytes; want %v, %d bytes", d.Layers, len(d.Payload), p.Layers, len(payload))
		}
		for l, c := range checksums(&d) {
			if c.Status != ChecksumGood {
				t.Fatalf("%v checksum %v", l, c)
			}
		}
		switch layer {
		case LayerTCP:
			got := d.TCP
			if got.SrcPort != p.TCP.SrcPort || got.DstPort != p.TCP.DstPort || got.Seq != seq || got.Flags != p.TCP.Flags ||
				got.Window != win || got.HeaderLen() != 20+(len(opts)+3)/4*4 || !bytes.HasPrefix(got.Options.Raw, opts) {
				t.Fatalf("TCP %+v, want %+v", got, p.TCP)
			}
		case LayerUDP:
			if d.UDP.SrcPort != p.UDP.SrcPort || d.UDP.DstPort != p.UDP.DstPort || int(d.UDP.Length) != 8+len(payload) {
				t.Fatalf("UDP %+v", d.UDP)
			}
		case LayerICMPv4:
			if d.ICMPv4.Type != p.ICMPv4.Type || d.ICMPv4.Code != p.ICMPv4.Code || d.ICMPv4.Rest != seq {
				t.Fatalf("ICMPv4 %+v", d.ICMPv4)
			}
		case LayerICMPv6:
			if d.ICMPv6.Type != p.ICMPv6.Type || d.ICMPv6.Code != p.ICMPv6.Code || d.ICMPv6.Rest != seq {
				t.Fatalf("ICMPv6 %+v", d.ICMPv6)
			}
		}
	})
}
