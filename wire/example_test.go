package wire_test

import (
	"fmt"
	"net/netip"

	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/wire"
)

// A SYN probe with the options Linux sends, built and decoded again.
func Example() {
	probe := wire.Packet{
		Layers: wire.LayerSet(0).Add(wire.LayerIPv4).Add(wire.LayerTCP),
		IP: wire.IP{
			Version: 4, TTL: 64, Flags: wire.IPDontFragment,
			Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.7"),
		},
		TCP: wire.TCP{
			SrcPort: 40000, DstPort: 443, Seq: 1, Flags: wire.TCPSyn, Window: 64240,
			Options: wire.TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSval: 7, HasWScale: true, WScale: 7},
		},
	}
	frame, err := probe.AppendTo(nil, wire.EncodeOptions{FixLengths: true, ComputeChecksums: true})
	if err != nil {
		fmt.Println(err)
		return
	}

	var p wire.Packet // reuse it for every frame
	if err := p.Decode(pcapfile.LinkTypeRaw, frame, len(frame)); err != nil {
		fmt.Println(err)
		return
	}
	src, dst, _ := p.Endpoints()
	fmt.Println(p.Layers, src, ">", dst, p.TCP.Flags, "length", p.IP.TotalLen)
	fmt.Println("ip cksum", p.IP.Checksum, "tcp cksum", p.TCP.Checksum)
	for kind, value := range p.TCP.Options.All() {
		fmt.Printf("%v:%x ", kind, value)
	}
	fmt.Println()
	// Output:
	// ip/tcp 192.0.2.1:40000 > 198.51.100.7:443 [S] length 60
	// ip cksum 0x4e80 (correct) tcp cksum 0xc2cf (correct)
	// mss:05b4 sackOK: TS:0000000700000000 nop: wscale:07
}

// A frame cut short by the capture's snapshot length decodes as far as
// it goes.
func ExamplePacket_Decode_truncated() {
	frame := []byte{
		0x45, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, // IPv4, 60 bytes, TCP
		10, 0, 0, 1, 10, 0, 0, 2,
		0x00, 0x50, 0x9c, 0x40, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // TCP 80 > 40000
		0x50, 0x12, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, // no options, [S.]
		'h', 'e', 'l', // 3 of 20 bytes of data captured
	}
	var p wire.Packet
	err := p.Decode(pcapfile.LinkTypeIPv4, frame, 60)
	fmt.Println(err, p.Layers, p.TCP.SrcPort, p.TCP.DstPort, p.TCP.Flags)
	fmt.Printf("truncated %v [|%v], payload %d of %d bytes, tcp cksum %v\n",
		p.Truncated, p.TruncatedAt, len(p.Payload), p.PayloadLen, p.TCP.Checksum.Status)
	// Output:
	// <nil> ip/tcp 80 40000 [S.]
	// truncated true [|tcp], payload 3 of 20 bytes, tcp cksum unknown
}
