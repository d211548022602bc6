package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// withDerived returns tmpl with the fields that encoding computes (lengths,
// checksums, raw options, quotes) taken from got, so that a diff shows
// only fields that differ from what was encoded.
func withDerived(tmpl Packet, got *Packet) Packet {
	w := tmpl
	w.Link.HeaderLen = got.Link.HeaderLen
	if w.Link.EtherType == 0 {
		w.Link.EtherType = got.Link.EtherType
	}
	if w.Link.Family == 0 {
		w.Link.Family = got.Link.Family
	}
	w.IP.IHL, w.IP.HeaderLen = got.IP.IHL, got.IP.HeaderLen
	w.IP.TotalLen, w.IP.PayloadLen = got.IP.TotalLen, got.IP.PayloadLen
	w.IP.Checksum = got.IP.Checksum
	if w.IP.Options == nil {
		w.IP.Options = got.IP.Options
	}
	w.TCP.DataOffset, w.TCP.Checksum = got.TCP.DataOffset, got.TCP.Checksum
	w.TCP.Options.Raw = got.TCP.Options.Raw
	w.UDP.Length, w.UDP.Checksum = got.UDP.Length, got.UDP.Checksum
	w.ICMPv4.Checksum, w.ICMPv4.Quoted = got.ICMPv4.Checksum, got.ICMPv4.Quoted
	w.ICMPv6.Checksum, w.ICMPv6.Quoted = got.ICMPv6.Checksum, got.ICMPv6.Quoted
	w.CapLen, w.WireLen, w.PayloadLen = got.CapLen, got.WireLen, got.PayloadLen
	return w
}

// checksums lists the checksums of the decoded layers.
func checksums(p *Packet) map[Layer]Checksum {
	m := map[Layer]Checksum{}
	if p.Layers.Has(LayerIPv4) {
		m[LayerIPv4] = p.IP.Checksum
	}
	for l, c := range map[Layer]Checksum{LayerTCP: p.TCP.Checksum, LayerUDP: p.UDP.Checksum, LayerICMPv4: p.ICMPv4.Checksum, LayerICMPv6: p.ICMPv6.Checksum} {
		if p.Layers.Has(l) {
			m[l] = c
		}
	}
	return m
}

func TestDecodeSamples(t *testing.T) {
	for _, f := range sampleFrames(t) {
		t.Run(f.name, func(t *testing.T) {
			var p Packet
			if err := p.Decode(f.link, f.data, len(f.data)); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := withDerived(f.tmpl, &p)
			if diff := cmp.Diff(want, p, cmpPacket); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
			// What encoding computed is right.
			if p.Truncated || p.CapLen != len(f.data) || p.WireLen != len(f.data) || p.PayloadLen != len(p.Payload) {
				t.Errorf("Truncated %v, CapLen %d, WireLen %d, PayloadLen %d, len(Payload) %d; frame of %d bytes",
					p.Truncated, p.CapLen, p.WireLen, p.PayloadLen, len(p.Payload), len(f.data))
			}
			for l, c := range checksums(&p) {
				want := ChecksumGood
				if l != LayerIPv4 && p.IsFragment() {
					want = ChecksumUnknown
				}
				if c.Status != want {
					t.Errorf("%v checksum %v, want %v", l, c, want)
				}
			}
			// Encoding the decoded packet as it is gives the frame back.
			again, err := p.AppendTo(nil, EncodeOptions{})
			if err != nil {
				t.Fatalf("AppendTo: %v", err)
			}
			if !bytes.Equal(again, f.data) {
				t.Errorf("AppendTo(Decode(frame)) = % x\nwant % x", again, f.data)
			}
		})
	}
}

// TestDecodeEthernetTCP checks one frame field by field, against bytes
// written out by hand.
func TestDecodeEthernetTCP(t *testing.T) {
	frame := []byte{
		// Ethernet: dst, src, 802.1Q tag (PCP 3, VID 100), IPv4.
		0x02, 0x00, 0x5e, 0x00, 0x53, 0x0b, 0x02, 0x00, 0x5e, 0x00, 0x53, 0x0a,
		0x81, 0x00, 0x60, 0x64, 0x08, 0x00,
		// IPv4: IHL 5, TOS 0x10, total 52, ID 0xbeef, DF, TTL 63, TCP, checksum (below), addresses.
		0x45, 0x10, 0x00, 0x34, 0xbe, 0xef, 0x40, 0x00, 0x3f, 0x06, 0x00, 0x00,
		192, 0, 2, 1, 198, 51, 100, 2,
		// TCP: 443 -> 50000, seq, ack, offset 8 words, [P.], window 1024, checksum (below), urgent 0.
		0x01, 0xbb, 0xc3, 0x50, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
		0x80, 0x18, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
		// Options: nop, nop, SACK with one block.
		0x01, 0x01, 0x05, 0x0a, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x20,
	}
	// Fill in the checksums that the first decode reports missing.
	var p Packet
	if err := p.Decode(pcapfile.LinkTypeEthernet, frame, 0); err != nil {
		t.Fatal(err)
	}
	ipc, tcpc := p.IP.Checksum.Expected, p.TCP.Checksum.Expected
	frame[18+10], frame[18+11] = byte(ipc>>8), byte(ipc)
	frame[18+20+16], frame[18+20+17] = byte(tcpc>>8), byte(tcpc)
	if err := p.Decode(pcapfile.LinkTypeEthernet, frame, 0); err != nil {
		t.Fatal(err)
	}
	want := Packet{
		Layers: layerSet(LayerEthernet, LayerIPv4, LayerTCP),
		Link: Link{Type: pcapfile.LinkTypeEthernet, HeaderLen: 18, EtherType: EtherTypeIPv4, Dst: macB, Src: macA,
			VLANs: [MaxVLANs]VLAN{{TPID: EtherTypeVLAN, PCP: 3, ID: 100}}, NumVLANs: 1},
		IP: IP{Version: 4, Src: ip4A, Dst: ip4B, TOS: 0x10, TTL: 63, Protocol: ports.ProtoTCP, HeaderLen: 20,
			ID: 0xbeef, Flags: IPDontFragment, IHL: 5, TotalLen: 52,
			Checksum: Checksum{Value: ipc, Status: ChecksumGood, Expected: ipc}},
		TCP: TCP{SrcPort: 443, DstPort: 50000, Seq: 0x11223344, Ack: 0x55667788, DataOffset: 8, Flags: TCPPsh | TCPAck,
			Window: 1024, Checksum: Checksum{Value: tcpc, Status: ChecksumGood, Expected: tcpc},
			Options: TCPOptions{Raw: frame[58:70], NumSACK: 1, SACK: [4]SACKBlock{{0x10, 0x20}}}},
		CapLen: 70, WireLen: 70,
	}
	if diff := cmp.Diff(want, p, cmpPacket); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
	if s, d, ok := p.Endpoints(); !ok || s != netip.MustParseAddrPort("192.0.2.1:443") || d != netip.MustParseAddrPort("198.51.100.2:50000") {
		t.Errorf("Endpoints() = %v, %v, %v", s, d, ok)
	}
}

func TestDecodeQuoted(t *testing.T) {
	ps := specialPackets(t)
	get := func(name string) Packet {
		for _, s := range ps {
			if s.name == name {
				return s.p
			}
		}
		t.Fatalf("no sample %q", name)
		return Packet{}
	}

	t.Run("icmp", func(t *testing.T) {
		in := get("icmp port unreachable")
		var p Packet
		b := encode(t, &in)
		if err := p.Decode(pcapfile.LinkTypeRaw, b, 0); err != nil {
			t.Fatal(err)
		}
		q := p.ICMPv4.Quoted
		want := Quoted{
			IP: IP{Version: 4, Src: ip4B, Dst: netip.MustParseAddr("203.0.113.9"), TTL: 1, Protocol: ports.ProtoUDP,
				HeaderLen: 20, IHL: 5, TotalLen: 40, ID: 0x1234, Flags: IPDontFragment, Checksum: Checksum{Value: be16(b, 28+10)}},
			Transport:    [8]byte(b[48:56]),
			TransportLen: 8,
			HasPorts:     true, SrcPort: 33434, DstPort: 33435,
		}
		if diff := cmp.Diff(want, q, cmpPacket); diff != "" {
			t.Errorf("Quoted (-want +got):\n%s", diff)
		}
		if p.ICMPv4.Checksum.Status != ChecksumGood {
			t.Errorf("checksum %v", p.ICMPv4.Checksum)
		}
		// Cut the quote short: ports stay, the rest goes.
		if err := p.Decode(pcapfile.LinkTypeRaw, b[:28+20+4], len(b)); err != nil {
			t.Fatal(err)
		}
		q = p.ICMPv4.Quoted
		if !q.Truncated || !q.HasPorts || q.SrcPort != 33434 || q.TransportLen != 4 || !p.Truncated || p.TruncatedAt != LayerICMPv4 {
			t.Errorf("cut quote: %+v, truncated %v at %v", q, p.Truncated, p.TruncatedAt)
		}
		if err := p.Decode(pcapfile.LinkTypeRaw, b[:28+10], len(b)); err != nil {
			t.Fatal(err)
		}
		if q := p.ICMPv4.Quoted; !q.Truncated || q.IP.Version != 0 || q.HasPorts {
			t.Errorf("quote without a whole IP header: %+v", q)
		}
	})

	t.Run("icmp6", func(t *testing.T) {
		in := get("icmp6 time exceeded")
		var p Packet
		b := encode(t, &in)
		if err := p.Decode(pcapfile.LinkTypeIPv6, b, 0); err != nil {
			t.Fatal(err)
		}
		q := p.ICMPv6.Quoted
		if q.IP.Version != 6 || q.IP.Src != ip6B || q.IP.Protocol != ports.ProtoTCP || q.IP.NumExt != 1 || q.IP.Ext[0] != ExtHopByHop ||
			q.IP.HeaderLen != 48 || !q.HasPorts || q.SrcPort != 51000 || q.DstPort != 443 || !q.HasSeq || q.Seq != 0xdeadbeef || q.Truncated {
			t.Errorf("Quoted = %+v", q)
		}
		if p.ICMPv6.Checksum.Status != ChecksumGood || p.ICMPv6.Type.String() != "time exceeded" {
			t.Errorf("ICMPv6 = %+v", p.ICMPv6)
		}
	})
}

// mutation changes a sample frame into a malformed one.
type mutation struct {
	name   string
	sample string       // sampleFrames name
	change func([]byte) // in place
	keep   int          // bytes to keep, on the wire too; 0 for all
	layers LayerSet     // what is still decoded
	layer  Layer        // DecodeError.Layer
	offset int          // DecodeError.Offset
}

func TestDecodeErrors(t *testing.T) {
	const ip = 14      // IP header offset in an Ethernet frame
	const tp = ip + 20 // transport offset
	eth, eip, eipt, eipu := layerSet(LayerEthernet), layerSet(LayerEthernet, LayerIPv4), layerSet(LayerEthernet, LayerIPv4, LayerTCP), layerSet(LayerEthernet, LayerIPv4, LayerUDP)
	tests := []mutation{
		{name: "ihl 4", sample: "EN10MB/eth/ip/tcp", change: func(b []byte) { b[ip] = 0x44 }, layers: eip, layer: LayerIPv4, offset: ip},
		{name: "version 5", sample: "EN10MB/eth/ip/tcp", change: func(b []byte) { b[ip] = 0x55 }, layers: eth, layer: LayerIPv4, offset: ip},
		{name: "version 4 in ipv6", sample: "EN10MB/eth/ip6/tcp", change: func(b []byte) { b[ip] = 0x45 }, layers: eth, layer: LayerIPv6, offset: ip},
		{name: "total length 19", sample: "EN10MB/eth/ip/tcp", change: func(b []byte) { b[ip+2], b[ip+3] = 0, 19 }, layers: eip, layer: LayerIPv4, offset: ip + 2},
		{name: "total length beyond frame", sample: "EN10MB/eth/ip/tcp", change: func(b []byte) { b[ip+2] = 0x7f }, layers: eipt, layer: LayerIPv4, offset: ip + 2},
		{name: "ihl beyond total length", sample: "EN10MB/eth/ip/udp", change: func(b []byte) { b[ip] = 0x4f; b[ip+2], b[ip+3] = 0, 40 }, layers: eip, layer: LayerIPv4, offset: ip + 2},
		{name: "tcp data offset 4", sample: "EN10MB/eth/ip/tcp", change: func(b []byte) { b[tp+12] = 0x40 }, layers: eipt, layer: LayerTCP, offset: tp + 12},
		{name: "tcp data offset beyond segment", sample: "EN10MB/eth/ip/tcp", change: func(b []byte) { b[tp+12] = 0xf0 }, layers: eipt, layer: LayerTCP, offset: tp + 12},
		{name: "tcp header beyond ip", sample: "EN10MB/eth/ip/tcp", change: func(b []byte) { b[ip+2], b[ip+3] = 0, 30 }, layers: eip, layer: LayerTCP, offset: tp},
		{name: "udp length 7", sample: "EN10MB/eth/ip/udp", change: func(b []byte) { b[tp+4], b[tp+5] = 0, 7 }, layers: eipu, layer: LayerUDP, offset: tp + 4},
		{name: "udp length beyond ip", sample: "EN10MB/eth/ip/udp", change: func(b []byte) { b[tp+4] = 0x10 }, layers: eipu, layer: LayerUDP, offset: tp + 4},
		{name: "icmp shorter than 8", sample: "EN10MB/eth/ip/icmp", change: func(b []byte) { b[ip+2], b[ip+3] = 0, 24 }, layers: eip, layer: LayerICMPv4, offset: tp},
		{name: "ipv6 payload beyond frame", sample: "EN10MB/eth/ip6/udp", change: func(b []byte) { b[ip+4] = 0x7f }, layers: layerSet(LayerEthernet, LayerIPv6, LayerUDP), layer: LayerIPv6, offset: ip + 4},
		{name: "ipv6 ext beyond payload", sample: "ipv6 ext first fragment", change: func(b []byte) { b[ip+40+8+1] = 9 }, layers: layerSet(LayerEthernet, LayerIPv6), layer: LayerIPv6, offset: ip + 40 + 8},
		{name: "ethernet too short", sample: "EN10MB/eth/ip/tcp", keep: 10, layer: LayerEthernet},
		{name: "vlan tag cut", sample: "qinq udp", keep: 16, layers: eth, layer: LayerEthernet, offset: 14},
		{name: "raw version 7", sample: "RAW/ip/udp", change: func(b []byte) { b[0] = 0x75 }, layer: LayerNone},
		{name: "ipv4 link version 6", sample: "IPV4/ip/udp", change: func(b []byte) { b[0] = 0x65 }, layer: LayerIPv4},
	}
	samples := map[string][]byte{}
	for _, f := range sampleFrames(t) {
		samples[f.name] = f.data
	}
	links := map[string]pcapfile.LinkType{"RAW/ip/udp": pcapfile.LinkTypeRaw, "IPV4/ip/udp": pcapfile.LinkTypeIPv4}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := samples[tt.sample]
			if !ok {
				t.Fatalf("no sample %q", tt.sample)
			}
			b = slices.Clone(b)
			if tt.change != nil {
				tt.change(b)
			}
			if tt.keep > 0 {
				b = b[:tt.keep]
			}
			link := pcapfile.LinkTypeEthernet
			if l, ok := links[tt.sample]; ok {
				link = l
			}
			var p Packet
			err := p.Decode(link, b, len(b))
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v (%T), want a *DecodeError wrapping ErrMalformed", err, err)
			}
			if de.Layer != tt.layer || de.Offset != tt.offset {
				t.Errorf("error %q at %v byte %d, want %v byte %d", de, de.Layer, de.Offset, tt.layer, tt.offset)
			}
			if p.Layers != tt.layers {
				t.Errorf("Layers %v, want %v", p.Layers, tt.layers)
			}
			if p.Truncated {
				t.Errorf("Truncated at %v: the whole frame was captured", p.TruncatedAt)
			}
			if n := testing.AllocsPerRun(100, func() { _ = p.Decode(link, b, len(b)) }); n != 0 {
				t.Errorf("Decode of a malformed frame allocates %v times", n)
			}
		})
	}
}

func TestDecodeUnsupportedLink(t *testing.T) {
	var p Packet
	err := p.Decode(pcapfile.LinkType(147), []byte{1, 2, 3}, 10)
	if !errors.Is(err, ErrUnsupportedLinkType) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Decode(linktype 147) = %v, want ErrUnsupportedLinkType", err)
	}
	if err.Error() != "decode: unsupported link type 147" {
		t.Errorf("Error() = %q", err)
	}
	var q Packet
	if err := q.Decode(pcapfile.LinkTypeIEEE80211, []byte{1, 2, 3}, 0); err == nil || err.Error() != "decode: unsupported link type IEEE802_11" {
		t.Errorf("Decode(IEEE802_11) = %v", err)
	}
	if p.Layers != 0 || len(p.Payload) != 3 || p.PayloadLen != 10 || !p.Truncated || p.TruncatedAt != LayerNone {
		t.Errorf("p = %+v", p)
	}
	// The error is p's: copy it to keep it.
	saved := *err.(*DecodeError)
	_ = p.Decode(pcapfile.LinkTypeEthernet, nil, 0)
	if saved.Reason == "" || saved.Err != ErrUnsupportedLinkType {
		t.Errorf("copied error %+v", saved)
	}
}

// TestDecodeTruncated decodes every prefix of every sample, as a capture
// with a small snapshot length would hold it.
func TestDecodeTruncated(t *testing.T) {
	for _, f := range sampleFrames(t) {
		t.Run(f.name, func(t *testing.T) {
			var full, p Packet
			if err := full.Decode(f.link, f.data, 0); err != nil {
				t.Fatal(err)
			}
			for n := range len(f.data) {
				b := f.data[:n]
				if err := p.Decode(f.link, b, len(f.data)); err != nil {
					t.Fatalf("cut at %d: %v", n, err)
				}
				if !p.Truncated || p.CapLen != n || p.WireLen != len(f.data) {
					t.Fatalf("cut at %d: Truncated %v CapLen %d WireLen %d", n, p.Truncated, p.CapLen, p.WireLen)
				}
				// The layers decoded are those of the whole frame that fit.
				if p.Layers&^full.Layers != 0 {
					t.Fatalf("cut at %d: layers %v, not within %v", n, p.Layers, full.Layers)
				}
				if !full.Layers.Has(p.TruncatedAt) && p.TruncatedAt != LayerNone {
					t.Fatalf("cut at %d: truncated at %v, not one of %v", n, p.TruncatedAt, full.Layers)
				}
				if p.Layers.Has(LayerIPv4) || p.Layers.Has(LayerIPv6) {
					if p.IP.Src != full.IP.Src || p.IP.Dst != full.IP.Dst {
						t.Fatalf("cut at %d: addresses %v > %v", n, p.IP.Src, p.IP.Dst)
					}
				}
				if p.Layers.Has(LayerTCP) && (p.TCP.Seq != full.TCP.Seq || p.TCP.Flags != full.TCP.Flags) ||
					p.Layers.Has(LayerUDP) && p.UDP != (UDP{full.UDP.SrcPort, full.UDP.DstPort, full.UDP.Length, Checksum{Value: full.UDP.Checksum.Value}}) {
					t.Fatalf("cut at %d: transport differs", n)
				}
				if len(p.Payload) > p.PayloadLen {
					t.Fatalf("cut at %d: %d bytes of payload, PayloadLen %d", n, len(p.Payload), p.PayloadLen)
				}
				for l, c := range checksums(&p) {
					if l != LayerIPv4 && c.Status != ChecksumUnknown {
						t.Fatalf("cut at %d: %v checksum %v, want unverified", n, l, c)
					}
				}
			}
		})
	}
}

// TestDecodeTruncatedLayer checks where a cut frame is marked truncated.
func TestDecodeTruncatedLayer(t *testing.T) {
	p := template(pcapfile.LinkTypeEthernet, 4, LayerTCP)
	b := encode(t, &p)
	tests := []struct {
		n          int
		layers     LayerSet
		at         Layer
		payloadLen int
	}{
		{10, 0, LayerEthernet, len(b)},
		{14, layerSet(LayerEthernet), LayerIPv4, len(b) - 14},
		{33, layerSet(LayerEthernet), LayerIPv4, len(b) - 14},
		{34, layerSet(LayerEthernet, LayerIPv4), LayerTCP, len(b) - 34},
		{60, layerSet(LayerEthernet, LayerIPv4, LayerTCP), LayerTCP, len(p.Payload)},
		{len(b) - 1, layerSet(LayerEthernet, LayerIPv4, LayerTCP), LayerTCP, len(p.Payload)},
	}
	for _, tt := range tests {
		var d Packet
		if err := d.Decode(pcapfile.LinkTypeEthernet, b[:tt.n], len(b)); err != nil {
			t.Fatalf("cut at %d: %v", tt.n, err)
		}
		if d.Layers != tt.layers || !d.Truncated || d.TruncatedAt != tt.at || d.PayloadLen != tt.payloadLen {
			t.Errorf("cut at %d: layers %v, truncated %v at %v, payload %d; want %v, at %v, payload %d",
				tt.n, d.Layers, d.Truncated, d.TruncatedAt, d.PayloadLen, tt.layers, tt.at, tt.payloadLen)
		}
	}
	// Missing padding is not truncation.
	p = template(pcapfile.LinkTypeEthernet, 4, LayerUDP)
	b = encode(t, &p)
	var d Packet
	if err := d.Decode(pcapfile.LinkTypeEthernet, b, len(b)+10); err != nil || d.Truncated {
		t.Errorf("frame missing only its padding: err %v, truncated %v at %v", err, d.Truncated, d.TruncatedAt)
	}
	// A raw packet with nothing captured.
	if err := d.Decode(pcapfile.LinkTypeRaw, nil, 40); err != nil || !d.Truncated || d.TruncatedAt != LayerNone {
		t.Errorf("empty raw capture: err %v, truncated %v at %v", err, d.Truncated, d.TruncatedAt)
	}
}

func TestDecodeChecksums(t *testing.T) {
	samples := map[string]sampleFrame{}
	for _, f := range sampleFrames(t) {
		samples[f.name] = f
	}
	// A byte changed in what a checksum covers: the checksum is bad, and
	// Expected is what encoding the changed packet computes.
	tests := []struct {
		sample string
		off    int // byte to change, from the end when negative
		layer  Layer
	}{
		{"EN10MB/eth/ip/tcp", -1, LayerTCP},
		{"EN10MB/eth/ip6/tcp", -1, LayerTCP},
		{"LINUX_SLL/sll/ip/udp", -1, LayerUDP},
		{"LINUX_SLL2/sll2/ip6/udp", -1, LayerUDP},
		{"NULL/null/ip/icmp", -1, LayerICMPv4},
		{"LOOP/null/ip6/icmp6", -1, LayerICMPv6},
		{"RAW/ip/udp", 8, LayerIPv4},
		{"ipv4 options", 14 + 22, LayerIPv4},
		{"EN10MB/eth/ip6/tcp", 14 + 8, LayerTCP}, // source address: in the pseudo-header
	}
	for _, tt := range tests {
		t.Run(tt.sample+"/"+tt.layer.String(), func(t *testing.T) {
			f, ok := samples[tt.sample]
			if !ok {
				t.Fatalf("no sample %q", tt.sample)
			}
			b := slices.Clone(f.data)
			off := tt.off
			if off < 0 {
				off += len(b)
			}
			b[off] ^= 0x5a
			var p Packet
			if err := p.Decode(f.link, b, 0); err != nil {
				t.Fatal(err)
			}
			got := checksums(&p)[tt.layer]
			if got.Status != ChecksumBad || got.Value == got.Expected {
				t.Fatalf("%v checksum %v, want bad", tt.layer, got)
			}
			fixed, err := p.AppendTo(nil, EncodeOptions{ComputeChecksums: true})
			if err != nil {
				t.Fatal(err)
			}
			var q Packet
			if err := q.Decode(f.link, fixed, 0); err != nil {
				t.Fatal(err)
			}
			if c := checksums(&q)[tt.layer]; c.Status != ChecksumGood || c.Value != got.Expected {
				t.Errorf("recomputed checksum %v, want %#04x (the expected value reported)", c, got.Expected)
			}
			// Decoder.SkipChecksums leaves them all unknown.
			if err := (Decoder{SkipChecksums: true}).Decode(&p, f.link, b, 0); err != nil {
				t.Fatal(err)
			}
			for l, c := range checksums(&p) {
				if c.Status != ChecksumUnknown {
					t.Errorf("SkipChecksums: %v checksum %v", l, c)
				}
			}
		})
	}

	// UDP checksum zero: none over IPv4, bad over IPv6 (RFC 8200 makes it
	// mandatory).
	for _, name := range []string{"RAW/ip/udp", "RAW/ip6/udp"} {
		f := samples[name]
		b := slices.Clone(f.data)
		hl := 20
		if b[0]>>4 == 6 {
			hl = 40
		}
		b[hl+6], b[hl+7] = 0, 0
		var p Packet
		if err := p.Decode(pcapfile.LinkTypeRaw, b, 0); err != nil {
			t.Fatal(err)
		}
		want := ChecksumNone
		if hl == 40 {
			want = ChecksumBad
		}
		if p.UDP.Checksum.Status != want {
			t.Errorf("%s with UDP checksum 0: %v, want %v", name, p.UDP.Checksum, want)
		}
	}
}

func TestDecodeNoAllocs(t *testing.T) {
	var p Packet
	for _, f := range sampleFrames(t) {
		for _, n := range []int{len(f.data), len(f.data) * 2 / 3} {
			b := f.data[:n]
			allocs := testing.AllocsPerRun(100, func() {
				if err := p.Decode(f.link, b, len(f.data)); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s (%d of %d bytes): Decode allocates %v times, want 0", f.name, n, len(f.data), allocs)
			}
		}
	}
}

func TestEncodeNoAllocs(t *testing.T) {
	p := template(pcapfile.LinkTypeEthernet, 4, LayerTCP)
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.AppendTo(buf[:0], probe); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendTo allocates %v times, want 0", allocs)
	}
}

// TestEncodeBareTCP builds a TCP header alone, as an IPv6 raw socket
// sends it: its checksum still covers the pseudo-header.
func TestEncodeBareTCP(t *testing.T) {
	p := template(pcapfile.LinkTypeIPv6, 6, LayerTCP)
	full := encode(t, &p)
	p.Layers = layerSet(LayerTCP)
	bare := encode(t, &p)
	if !bytes.Equal(bare, full[40:]) {
		t.Errorf("bare TCP = % x\nwant       % x", bare, full[40:])
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Packet)
		layer  Layer
	}{
		{"two ip layers", func(p *Packet) { p.Layers = p.Layers.Add(LayerIPv6) }, LayerIPv6},
		{"two transports", func(p *Packet) { p.Layers = p.Layers.Add(LayerUDP) }, LayerNone},
		{"link mismatch", func(p *Packet) { p.Link.Type = pcapfile.LinkTypeLinuxSLL }, LayerEthernet},
		{"ipv6 address in ipv4", func(p *Packet) { p.IP.Src = ip6A }, LayerIPv4},
		{"ip options too long", func(p *Packet) { p.IP.Options = make([]byte, 41) }, LayerIPv4},
		{"tcp options too long", func(p *Packet) { p.TCP.Options.Raw = make([]byte, 41) }, LayerTCP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := template(pcapfile.LinkTypeEthernet, 4, LayerTCP)
			tt.change(&p)
			_, err := p.AppendTo(nil, probe)
			var ee *EncodeError
			if !errors.As(err, &ee) || ee.Layer != tt.layer {
				t.Errorf("AppendTo error %v, want an *EncodeError in %v", err, tt.layer)
			}
		})
	}
	p := template(pcapfile.LinkTypeRaw, 6, LayerUDP)
	p.IP.Dst = ip4B
	if _, err := p.AppendTo(nil, probe); err == nil {
		t.Error("AppendTo with an IPv4 address in IPv6: no error")
	}
}

// refChecksum is RFC 1071 word by word.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumSum(t *testing.T) {
	// RFC 1071 section 3's example sums to 0xddf2.
	if got := csumFinish(csumAdd(0, []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}), false); got != ^uint16(0xddf2) {
		t.Errorf("RFC 1071 example: %#04x, want %#04x", got, ^uint16(0xddf2))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		// All ones stress the end-around carries.
		if n%3 == 0 {
			for i := range b {
				b[i] = 0xff
			}
		}
		want := refChecksum(b)
		if got := csumFinish(csumAdd(0, b), false); got != want {
			t.Fatalf("%d bytes: %#04x, want %#04x", n, got, want)
		}
		// Summing in pieces that start at even offsets gives the same.
		if n > 0 {
			k := r.IntN(n) &^ 1
			if got := csumFinish(csumAdd(csumAdd(0, b[:k]), b[k:]), false); got != want {
				t.Fatalf("%d bytes split at %d: %#04x, want %#04x", n, k, got, want)
			}
		}
		// Writing the checksum into the data makes it verify.
		if n >= 4 {
			b[2] |= 1 // not all zero
			want = refChecksum(b)
			b[0], b[1] = 0, 0
			v := csumFinish(csumAdd(0, b), false)
			b[0], b[1] = byte(v>>8), byte(v)
			if got := csumVerify(csumAdd(0, b), v, false); got.Status != ChecksumGood {
				t.Fatalf("%d bytes: %v after writing the checksum", n, got)
			}
			b[0] ^= 1
			if got := csumVerify(csumAdd(0, b), be16(b, 0), false); got.Status != ChecksumBad || got.Expected != v {
				t.Fatalf("%d bytes: %v after changing the checksum, want bad, expected %#04x", n, got, v)
			}
		}
	}
}

// TestDecodeLengthZero: an IP length of zero, as TCP segmentation offload
// and GSO captures show, means "to the end of the frame" (as Wireshark
// and gopacket take it for IPv4).
func TestDecodeLengthZero(t *testing.T) {
	for _, v := range []uint8{4, 6} {
		p := template(pcapfile.LinkTypeEthernet, v, LayerTCP)
		p.Payload = bytes.Repeat([]byte("x"), 3000)
		b := encode(t, &p)
		if v == 4 {
			b[14+2], b[14+3] = 0, 0
		} else {
			b[14+4], b[14+5] = 0, 0
		}
		var d Packet
		if err := d.Decode(pcapfile.LinkTypeEthernet, b, 0); err != nil {
			t.Fatalf("IPv%d: %v", v, err)
		}
		if d.PayloadLen != 3000 || len(d.Payload) != 3000 || d.TCP.Checksum.Status != ChecksumGood || d.IP.TotalLen != 0 || d.IP.PayloadLen != 0 {
			t.Errorf("IPv%d with length 0: payload %d of %d, checksum %v", v, len(d.Payload), d.PayloadLen, d.TCP.Checksum)
		}
	}
	// IPv6 with no next header and a zero length is empty, padding aside.
	p := template(pcapfile.LinkTypeEthernet, 6, LayerNone)
	p.IP.Protocol = 59
	b := append(encode(t, &p), 0, 0, 0, 0, 0, 0)
	var d Packet
	if err := d.Decode(pcapfile.LinkTypeEthernet, b, 0); err != nil || d.PayloadLen != 0 {
		t.Errorf("IPv6 no next header: %v, payload %d", err, d.PayloadLen)
	}
}

// TestDecodeLongChains: more VLAN tags and extension headers than Link
// and IP record are still walked.
func TestDecodeLongChains(t *testing.T) {
	p := template(pcapfile.LinkTypeEthernet, 4, LayerUDP)
	b := encode(t, &p)
	// Six tags after the MAC addresses.
	tagged := slices.Clone(b[:12])
	for i := range 6 {
		tagged = append(tagged, 0x81, 0x00, 0x00, byte(i+1))
	}
	tagged = append(tagged, b[12:]...)
	var d Packet
	if err := d.Decode(pcapfile.LinkTypeEthernet, tagged, 0); err != nil {
		t.Fatal(err)
	}
	if d.Link.NumVLANs != MaxVLANs || d.Link.VLANs[3].ID != 4 || d.Link.HeaderLen != 14+24 || d.UDP.DstPort != 53 {
		t.Errorf("six tags: %+v, UDP %+v", d.Link, d.UDP)
	}

	// Ten destination options headers.
	p = template(pcapfile.LinkTypeRaw, 6, LayerUDP)
	p.IP.NumExt = 10
	for i := range MaxExtHeaders {
		p.IP.Ext[i] = ExtDestOpts
	}
	for i := range 10 {
		next := byte(ExtDestOpts)
		if i == 9 {
			next = 17
		}
		p.IP.Options = append(p.IP.Options, next, 0, 1, 4, 0, 0, 0, 0)
	}
	b = encode(t, &p)
	if err := d.Decode(pcapfile.LinkTypeRaw, b, 0); err != nil {
		t.Fatal(err)
	}
	if d.IP.NumExt != MaxExtHeaders || d.IP.HeaderLen != 40+80 || d.IP.Protocol != 17 || d.UDP.Checksum.Status != ChecksumGood {
		t.Errorf("ten extension headers: %d recorded, header %d bytes, protocol %v, UDP %+v", d.IP.NumExt, d.IP.HeaderLen, d.IP.Protocol, d.UDP)
	}
}
