package wire

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/portkit/ports/pcapfile"
)

// benchFrames are Ethernet frames from the sample captures: a SYN with
// options, a full-size TCP segment, a DNS reply over UDP, IPv6 TCP data,
// and a VLAN-tagged HTTP response.
func benchFrames(b *testing.B) []struct {
	name string
	f    frame
} {
	captureFiles(b)
	pick := func(file string, n int) frame {
		for _, f := range readCapture(b, capturesDir()+"/"+file) {
			if f.n == n {
				return f
			}
		}
		b.Fatalf("%s has no frame %d", file, n)
		return frame{}
	}
	return []struct {
		name string
		f    frame
	}{
		{"tcp-syn", pick("tcpdump_accecn_handshake_badcksum.pcap", 1)},
		{"tcp-1514", pick("tcpdump_accecn_handshake_badcksum.pcap", 6)},
		{"udp-dns", pick("tcpdump_dns_udp.pcap", 2)},
		{"ipv6-tcp", pick("cs_http_ip4and6.pcapng", 16)},
		{"vlan-tcp", pick("tcpdump_ipv4_tcp_http_xml.pcap", 1)},
	}
}

// BenchmarkDecode compares Decode, with and without checksum
// verification, with gopacket's DecodingLayerParser (which verifies no
// checksums) on the same frames.
func BenchmarkDecode(b *testing.B) {
	for _, bf := range benchFrames(b) {
		data := bf.f.data
		b.Run(bf.name+"/wire", func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := p.Decode(pcapfile.LinkTypeEthernet, data, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
		b.Run(bf.name+"/wire-nocsum", func(b *testing.B) {
			var p Packet
			d := Decoder{SkipChecksums: true}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := d.Decode(&p, pcapfile.LinkTypeEthernet, data, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
		b.Run(bf.name+"/gopacket-dlp", func(b *testing.B) {
			var (
				eth   layers.Ethernet
				dot1q layers.Dot1Q
				ip4   layers.IPv4
				ip6   layers.IPv6
				tcp   layers.TCP
				udp   layers.UDP
				icmp4 layers.ICMPv4
				icmp6 layers.ICMPv6
				pl    gopacket.Payload
			)
			parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &icmp4, &icmp6, &pl)
			parser.IgnoreUnsupported = true
			decoded := make([]gopacket.LayerType, 0, 10)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := parser.DecodeLayers(data, &decoded); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
		b.Run(bf.name+"/gopacket-newpacket", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
				if p.ErrorLayer() != nil {
					b.Fatal(p.ErrorLayer().Error())
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkDecodeCaptures decodes every packet of the sample captures in
// turn.
func BenchmarkDecodeCaptures(b *testing.B) {
	fs := allFrames(b)
	var p Packet
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, f := range fs {
			_ = p.Decode(f.link, f.data, f.origLen)
		}
		n += len(fs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkAppendTo builds a TCP SYN probe with options over IPv4, lengths
// and checksums computed.
func BenchmarkAppendTo(b *testing.B) {
	p := template(pcapfile.LinkTypeRaw, 4, LayerTCP)
	p.TCP.Flags, p.Payload = TCPSyn, nil
	p.TCP.Options = TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSval: 1, HasWScale: true, WScale: 7}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.AppendTo(buf[:0], probe); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkChecksum sums the 1480 bytes of a full-size TCP segment.
func BenchmarkChecksum(b *testing.B) {
	buf := make([]byte, 1480)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(buf)))
	var s uint64
	for b.Loop() {
		s += csumAdd(0, buf)
	}
	_ = s
}

// BenchmarkHeaders compares Headers.Decode with Decode (checksums
// skipped) on the IP packets of the benchmark frames, as a raw socket
// hands them over.
func BenchmarkHeaders(b *testing.B) {
	for _, bf := range benchFrames(b) {
		var p Packet
		if err := p.Decode(pcapfile.LinkTypeEthernet, bf.f.data, 0); err != nil {
			b.Fatal(err)
		}
		data := bf.f.data[14+4*int(p.Link.NumVLANs):]
		b.Run(bf.name+"/headers", func(b *testing.B) {
			var h Headers
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
		b.Run(bf.name+"/decode-nocsum", func(b *testing.B) {
			var p Packet
			d := Decoder{SkipChecksums: true}
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(&p, pcapfile.LinkTypeRaw, data, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
