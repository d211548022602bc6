package wire

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// TestCapturesDecode decodes every packet of the sample captures: no
// error, no allocation, and the invariants of a Packet hold.
func TestCapturesDecode(t *testing.T) {
	var p Packet
	for _, f := range allFrames(t) {
		err := p.Decode(f.link, f.data, f.origLen)
		if err != nil {
			t.Errorf("%s #%d: %v", f.file, f.n, err)
			continue
		}
		checkInvariants(t, &p, f.data, err)
		if n := testing.AllocsPerRun(20, func() { _ = p.Decode(f.link, f.data, f.origLen) }); n != 0 {
			t.Errorf("%s #%d: Decode allocates %v times", f.file, f.n, n)
		}
	}
}

// checkInvariants checks what holds for any decoded frame.
func checkInvariants(t testing.TB, p *Packet, data []byte, err error) {
	t.Helper()
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || de.Offset < 0 || de.Offset > len(data) || de.Reason == "" ||
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedLinkType) {
			t.Fatalf("error %v (%T) is not a *DecodeError within the frame", err, err)
		}
	}
	if p.CapLen != len(data) || p.WireLen < p.CapLen {
		t.Fatalf("CapLen %d, WireLen %d for %d bytes", p.CapLen, p.WireLen, len(data))
	}
	if p.Truncated != (p.TruncatedAt != LayerNone) && !(p.Truncated && p.Layers == 0) {
		t.Fatalf("Truncated %v at %v", p.Truncated, p.TruncatedAt)
	}
	if p.Truncated && p.CapLen == p.WireLen {
		t.Fatalf("truncated at %v with the whole frame captured", p.TruncatedAt)
	}
	if len(p.Payload) > p.PayloadLen || p.PayloadLen < 0 {
		t.Fatalf("%d bytes of payload, PayloadLen %d", len(p.Payload), p.PayloadLen)
	}
	if len(p.Payload) > 0 && !within(p.Payload, data) {
		t.Fatal("Payload does not alias the frame")
	}
	if len(p.Payload) < p.PayloadLen && !p.Truncated && err == nil {
		t.Fatalf("%d of %d payload bytes without truncation", len(p.Payload), p.PayloadLen)
	}
	l := p.Layers
	ip := l.Has(LayerIPv4) || l.Has(LayerIPv6)
	if l.Has(LayerIPv4) && l.Has(LayerIPv6) {
		t.Fatalf("layers %v", l)
	}
	n := 0
	for _, tr := range []Layer{LayerTCP, LayerUDP, LayerICMPv4, LayerICMPv6} {
		if l.Has(tr) {
			n++
		}
	}
	if n > 1 || n == 1 && !ip || l.Has(LayerICMPv4) && !l.Has(LayerIPv4) || l.Has(LayerICMPv6) && !l.Has(LayerIPv6) {
		t.Fatalf("layers %v", l)
	}
	if ip && (p.IP.Src.Zone() != "" || p.IP.Src.BitLen() != map[uint8]int{4: 32, 6: 128}[p.IP.Version]) {
		t.Fatalf("IP version %d, source %v", p.IP.Version, p.IP.Src)
	}
	if n == 1 && p.IP.FragOffset != 0 {
		t.Fatalf("transport layer in a non-first fragment at %d", p.IP.FragOffset)
	}
	for layer, c := range checksums(p) {
		switch c.Status {
		case ChecksumGood:
			if c.Expected != c.Value {
				t.Fatalf("%v checksum %+v", layer, c)
			}
		case ChecksumBad:
			if c.Expected == c.Value {
				t.Fatalf("%v checksum %+v", layer, c)
			}
		}
		if c.Status != ChecksumUnknown && c.Status != ChecksumNone && layer != LayerIPv4 && (p.IsFragment() || len(p.Payload) < p.PayloadLen) {
			t.Fatalf("%v checksum %v verified without all the bytes", layer, c)
		}
	}
	if o := p.TCP.Options; len(o.Raw) > 40 || o.NumSACK > 4 {
		t.Fatalf("TCP options %+v", o)
	}
	if int(p.Link.NumVLANs) > MaxVLANs || int(p.IP.NumExt) > MaxExtHeaders {
		t.Fatalf("%d VLANs, %d extension headers", p.Link.NumVLANs, p.IP.NumExt)
	}
	for _, b := range [][]byte{p.IP.Options, p.TCP.Options.Raw, p.ICMPv4.Quoted.IP.Options, p.ICMPv6.Quoted.IP.Options} {
		if len(b) > 0 && !within(b, data) {
			t.Fatal("a slice does not alias the frame")
		}
	}
}

// within reports whether b lies inside data.
func within(b, data []byte) bool {
	for i := range data {
		if &data[i] == &b[0] {
			return i+len(b) <= len(data) && cap(b) <= len(data)-i
		}
	}
	return false
}

// frames reads one sample capture by name.
func frames(t *testing.T, name string) []frame {
	t.Helper()
	return readCapture(t, filepath.Join(capturesDir(), name))
}

func decodeFrame(t *testing.T, f frame) *Packet {
	t.Helper()
	p := new(Packet)
	if err := p.Decode(f.link, f.data, f.origLen); err != nil {
		t.Fatalf("%s #%d: %v", f.file, f.n, err)
	}
	return p
}

// TestCaptureFacts checks what SOURCES.txt and tcpdump's reference
// output say about the sample captures.
func TestCaptureFacts(t *testing.T) {
	captureFiles(t)

	t.Run("accecn handshake", func(t *testing.T) {
		fs := frames(t, "tcpdump_accecn_handshake_badcksum.pcap")
		// tcpdump -v: 31.133.146.248.16433 > 66.228.43.12.80: Flags [SEWe],
		// cksum 0x209c (incorrect -> 0xe443), seq 1948076589, win 65535,
		// options [mss 1460,nop,wscale 6,sackOK,TS val 112147477 ecr 0],
		// length 0; (tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto
		// TCP (6), length 60)
		p := decodeFrame(t, fs[0])
		want := Packet{
			Layers: layerSet(LayerEthernet, LayerIPv4, LayerTCP),
			Link: Link{Type: pcapfile.LinkTypeEthernet, HeaderLen: 14, EtherType: EtherTypeIPv4,
				Src: [6]byte{0x00, 0x0c, 0x29, 0xf7, 0x80, 0x12}, Dst: [6]byte{0x18, 0xfd, 0x74, 0x07, 0x45, 0xcd}},
			IP: IP{Version: 4, Src: netip.MustParseAddr("31.133.146.248"), Dst: netip.MustParseAddr("66.228.43.12"),
				TTL: 64, Protocol: ports.ProtoTCP, HeaderLen: 20, Flags: IPDontFragment, IHL: 5, TotalLen: 60,
				Checksum: Checksum{Value: 0x1a4f, Status: ChecksumGood, Expected: 0x1a4f}},
			TCP: TCP{SrcPort: 16433, DstPort: 80, Seq: 1948076589, DataOffset: 10, Flags: TCPSyn | TCPEce | TCPCwr | TCPAE,
				Window: 65535, Checksum: Checksum{Value: 0x209c, Status: ChecksumBad, Expected: 0xe443},
				Options: TCPOptions{Raw: fs[0].data[54:74], HasMSS: true, MSS: 1460, HasWScale: true, WScale: 6,
					SACKPermitted: true, HasTimestamps: true, TSval: 112147477}},
			CapLen: 74, WireLen: 74,
		}
		if diff := cmp.Diff(want, *p, cmpPacket); diff != "" {
			t.Errorf("frame 1 (-want +got):\n%s", diff)
		}
		var kinds []string
		for k := range p.TCP.Options.All() {
			kinds = append(kinds, k.String())
		}
		if diff := cmp.Diff([]string{"mss", "nop", "wscale", "sackOK", "TS"}, kinds); diff != "" {
			t.Errorf("options (-want +got):\n%s", diff)
		}
		// The client's checksums are offloaded (bad), the server's good.
		wantFlags := []string{"[SEWe]", "[S.W]", "[.W]", "[P.Ee]", "[.Ee]", "[.Ee]"}
		wantSum := map[int]uint16{0: 0xe443, 2: 0x3b19, 3: 0x9373}
		for i, f := range fs {
			p := decodeFrame(t, f)
			client := p.IP.Src == netip.MustParseAddr("31.133.146.248")
			if st := p.TCP.Checksum.Status; client && st != ChecksumBad || !client && st != ChecksumGood {
				t.Errorf("#%d from %v: checksum %v", f.n, p.IP.Src, p.TCP.Checksum)
			}
			if e, ok := wantSum[i]; ok && p.TCP.Checksum.Expected != e {
				t.Errorf("#%d: checksum %v, want -> %#04x", f.n, p.TCP.Checksum, e)
			}
			if i < len(wantFlags) && p.TCP.Flags.String() != wantFlags[i] {
				t.Errorf("#%d: flags %v, want %s", f.n, p.TCP.Flags, wantFlags[i])
			}
		}
	})

	t.Run("dnssec bad udp checksums", func(t *testing.T) {
		// tcpdump -vv: [bad udp cksum 0xfe49 -> 0xb5ef!] and so on.
		want := []uint16{0xb5ef, 0x4239, 0x28d8, 0x60dd, 0xf266, 0x1227}
		fs := frames(t, "tcpdump_dnssec_bad_udp_cksum.pcap")
		if len(fs) != len(want) {
			t.Fatalf("%d frames", len(fs))
		}
		for i, f := range fs {
			p := decodeFrame(t, f)
			if c := p.UDP.Checksum; c.Status != ChecksumBad || c.Expected != want[i] {
				t.Errorf("#%d: %v, want incorrect -> %#04x", f.n, c, want[i])
			}
		}
		if p := decodeFrame(t, fs[1]); p.PayloadLen != 3012 || len(p.Payload) != 3012 || p.UDP.Length != 3020 {
			t.Errorf("#2: UDP length %d, payload %d", p.UDP.Length, p.PayloadLen)
		}
	})

	t.Run("tcp rst truncated", func(t *testing.T) {
		fs := frames(t, "tcpdump_tcp_rst_data_trunc.pcap")
		p := decodeFrame(t, fs[0])
		if !p.Truncated || p.TruncatedAt != LayerTCP || p.TCP.Flags.String() != "[R.]" || p.TCP.Seq != 1617159969 ||
			p.PayloadLen != 58 || len(p.Payload) != 57 || p.TCP.Checksum.Status != ChecksumUnknown {
			t.Errorf("truncated %v at %v, flags %v, seq %d, payload %d of %d, checksum %v",
				p.Truncated, p.TruncatedAt, p.TCP.Flags, p.TCP.Seq, len(p.Payload), p.PayloadLen, p.TCP.Checksum)
		}
	})

	t.Run("dns udp snaplen 98", func(t *testing.T) {
		fs := frames(t, "tcpdump_dns_udp_snaplen98.pcap")
		if p := decodeFrame(t, fs[0]); p.Truncated || p.UDP.Checksum.Status != ChecksumGood {
			t.Errorf("#1: truncated %v, checksum %v", p.Truncated, p.UDP.Checksum)
		}
		if p := decodeFrame(t, fs[1]); !p.Truncated || p.TruncatedAt != LayerUDP || p.PayloadLen != 224 || len(p.Payload) != 56 ||
			p.UDP.SrcPort != 53 || p.UDP.Checksum.Status != ChecksumUnknown {
			t.Errorf("#2: truncated %v at %v, payload %d of %d, %+v", p.Truncated, p.TruncatedAt, len(p.Payload), p.PayloadLen, p.UDP)
		}
	})

	t.Run("qinq arp", func(t *testing.T) {
		for _, f := range frames(t, "tcpdump_8021ad_qinq.pcap") {
			p := decodeFrame(t, f)
			wantTags := [MaxVLANs]VLAN{{TPID: EtherTypeQinQ, ID: 200}, {TPID: EtherTypeVLAN, ID: 2001}}
			if p.Layers != layerSet(LayerEthernet) || p.Link.NumVLANs != 2 || p.Link.VLANs != wantTags ||
				p.Link.EtherType != EtherTypeARP || p.Link.HeaderLen != 22 || len(p.Payload) != 42 || p.IP.Version != 0 {
				t.Errorf("#%d: layers %v, link %+v, payload %d", f.n, p.Layers, p.Link, len(p.Payload))
			}
			if _, _, ok := p.Ports(); ok {
				t.Errorf("#%d: ports in ARP", f.n)
			}
		}
	})

	t.Run("null loopback ipv6", func(t *testing.T) {
		fs := frames(t, "gopacket_test_loopback_null_ipv6.pcap")
		if len(fs) != 24 {
			t.Fatalf("%d frames", len(fs))
		}
		for _, f := range fs {
			p := decodeFrame(t, f)
			if f.link != pcapfile.LinkTypeNull || p.Link.Family != 30 || p.IP.Version != 6 || p.IP.Src != netip.IPv6Loopback() ||
				!p.Layers.Has(LayerTCP) || p.Link.HeaderLen != 4 {
				t.Errorf("#%d: link %v family %d, %v > %v, layers %v", f.n, f.link, p.Link.Family, p.IP.Src, p.IP.Dst, p.Layers)
			}
		}
	})

	t.Run("sll handshake", func(t *testing.T) {
		fs := frames(t, "tcpdump_tcp_handshake_sll_nano.pcap")
		want := []struct {
			dir   SLLPacketType
			flags string
		}{{SLLOutgoing, "[S]"}, {SLLHost, "[S.]"}, {SLLOutgoing, "[.]"}}
		for i, f := range fs {
			p := decodeFrame(t, f)
			if f.link != pcapfile.LinkTypeLinuxSLL || p.Link.PacketType != want[i].dir || p.Link.HAType != 512 || p.Link.AddrLen != 0 || // ARPHRD_PPP, as tshark shows

				p.TCP.Flags.String() != want[i].flags || p.TCP.Checksum.Status != ChecksumGood {
				t.Errorf("#%d: link %+v, flags %v, checksum %v", f.n, p.Link, p.TCP.Flags, p.TCP.Checksum)
			}
			if dst := p.TCP.DstPort; i != 1 && dst != 80 {
				t.Errorf("#%d: destination port %d", f.n, dst)
			}
		}
	})

	t.Run("ipv6 fragments", func(t *testing.T) {
		fs := frames(t, "cs_ipv6_fragments.pcapng")
		nfrag := 0
		for _, f := range fs {
			p := decodeFrame(t, f)
			if p.IP.NumExt == 0 || p.IP.Ext[0] != ExtFragment {
				continue
			}
			nfrag++
			if !p.IsFragment() || p.IP.Protocol != ProtoICMPv6 || p.Layers.Has(LayerICMPv6) != (p.IP.FragOffset == 0) ||
				p.ICMPv6.Checksum.Status != ChecksumUnknown {
				t.Errorf("#%d: offset %d, flags %v, layers %v, checksum %v", f.n, p.IP.FragOffset, p.IP.Flags, p.Layers, p.ICMPv6.Checksum)
			}
		}
		if nfrag != 20 {
			t.Errorf("%d packets with a Fragment header, want 20", nfrag)
		}
		// tcpdump: frag (0xcde00817:0|1448) ICMP6, echo request, id 59968, seq 1
		// then frag (0xcde00817:1448|60).
		p := decodeFrame(t, fs[0])
		if p.IP.ID != 0xcde00817 || p.IP.FragOffset != 0 || p.PayloadLen+8 != 1448 || p.ICMPv6.Type != ICMPv6EchoRequest ||
			p.ICMPv6.ID() != 59968 || p.ICMPv6.Seq() != 1 {
			t.Errorf("#1: id %#x offset %d, payload %d, %+v", p.IP.ID, p.IP.FragOffset, p.PayloadLen, p.ICMPv6)
		}
		p = decodeFrame(t, fs[1])
		if p.IP.ID != 0xcde00817 || p.IP.FragOffset != 1448 || p.PayloadLen != 60 || p.IP.Flags&IPMoreFragments != 0 {
			t.Errorf("#2: id %#x offset %d flags %v, payload %d", p.IP.ID, p.IP.FragOffset, p.IP.Flags, p.PayloadLen)
		}
	})

	t.Run("ipv4 fragments", func(t *testing.T) {
		// tcpdump -v: offsets 0, 1480, 2960, flags [+], [+], [none];
		// the sender's header checksums are 0 (offloaded):
		// bad cksum 0 (->d577)!, (->d4be)!, (->f7a9)!
		fs := frames(t, "cs_ip_frag_source.pcapng")
		wantOff := []uint16{0, 1480, 2960, 0, 1480, 2960}
		wantSum := []uint16{0xd577, 0xd4be, 0xf7a9}
		for i, f := range fs {
			p := decodeFrame(t, f)
			if !p.IsFragment() || p.IP.FragOffset != wantOff[i] || (p.IP.Flags&IPMoreFragments != 0) != (wantOff[i] != 2960) ||
				p.Layers.Has(LayerICMPv4) != (wantOff[i] == 0) {
				t.Errorf("#%d: offset %d, flags %v, layers %v", f.n, p.IP.FragOffset, p.IP.Flags, p.Layers)
			}
			if i < 3 && (p.IP.Checksum.Status != ChecksumBad || p.IP.Checksum.Expected != wantSum[i]) ||
				i >= 3 && p.IP.Checksum.Status != ChecksumGood {
				t.Errorf("#%d: header checksum %v", f.n, p.IP.Checksum)
			}
		}
	})

	t.Run("http xml", func(t *testing.T) {
		p := decodeFrame(t, frames(t, "tcpdump_ipv4_tcp_http_xml.pcap")[0])
		if p.TCP.SrcPort != 80 || p.TCP.DstPort != 5767 || p.TCP.Checksum.Status != ChecksumGood || p.Link.NumVLANs != 1 {
			t.Errorf("%v > %v, checksum %v, %d VLAN tags", p.TCP.SrcPort, p.TCP.DstPort, p.TCP.Checksum, p.Link.NumVLANs)
		}
	})

	t.Run("gso ipv6", func(t *testing.T) {
		// tcpdump -v: cksum 0xac4e (incorrect -> 0xd25e), seq 1110639583:1110646723
		p := decodeFrame(t, frames(t, "tcpdump_gso_ipv6_tcp_badcksum.pcap")[0])
		if c := p.TCP.Checksum; c.Status != ChecksumBad || c.Value != 0xac4e || c.Expected != 0xd25e || p.PayloadLen != 7140 || p.IP.FlowLabel != 0x6e481 {
			t.Errorf("checksum %v, payload %d, flow label %#x", c, p.PayloadLen, p.IP.FlowLabel)
		}
	})

	t.Run("ldp vlan", func(t *testing.T) {
		n := 0
		for _, f := range frames(t, "tcpdump_ldp_vlan_tcp_udp.pcap") {
			if decodeFrame(t, f).Link.NumVLANs > 0 {
				n++
			}
		}
		if n != 5 {
			t.Errorf("%d VLAN-tagged frames, want 5", n)
		}
	})

	t.Run("mixed link types", func(t *testing.T) {
		fs := frames(t, "gopacket_pcapng_be_test006_mixed_linktypes.pcapng")
		p := decodeFrame(t, fs[1])
		if fs[1].link != pcapfile.LinkTypeNull || p.Link.Family != 2 || !p.Layers.Has(LayerUDP) || p.UDP.DstPort != 17500 {
			t.Errorf("#2: link %v, %+v, layers %v", fs[1].link, p.Link, p.Layers)
		}
		p = decodeFrame(t, fs[0])
		if !p.Truncated || p.TruncatedAt != LayerUDP || p.UDP.DstPort != 67 {
			t.Errorf("#1 (96 of 314 bytes): truncated %v at %v, %+v", p.Truncated, p.TruncatedAt, p.UDP)
		}
	})

	t.Run("empty", func(t *testing.T) {
		if fs := frames(t, "tcpdump_empty.pcapng"); len(fs) != 0 {
			t.Errorf("%d frames", len(fs))
		}
	})
}
