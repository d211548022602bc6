package cli

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/wire"
)

// ip4Proto builds an Ethernet frame of an IPv4 packet 10.0.0.1 >
// 224.0.0.1 of protocol proto, its header checksum set, around payload.
func ip4Proto(proto byte, payload []byte) []byte {
	be := binary.BigEndian
	h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 1, proto, 0, 0, 10, 0, 0, 1, 224, 0, 0, 1}
	be.PutUint16(h[2:], uint16(20+len(payload)))
	be.PutUint16(h[10:], ^ipSum(h))
	eth := []byte{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00}
	return append(append(eth, h...), payload...)
}

// ipSum is the ones' complement sum of b (even length).
func ipSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// TestDecodeIGMPAsTcpdump: IGMP queries (v1, v2, v3 with their response
// times, groups and sources), reports, leaves, unknown types, bad lengths
// and messages cut by the capture, line by line as tcpdump prints them.
func TestDecodeIGMPAsTcpdump(t *testing.T) {
	g := []byte{239, 1, 2, 3}
	zero := make([]byte, 4)
	igmp := func(typ, code byte, group []byte, extra ...byte) []byte {
		m := append([]byte{typ, code, 0, 0}, group...)
		m = append(m, extra...)
		binary.BigEndian.PutUint16(m[2:], ^ipSum(append(bytes.Clone(m), 0)[:len(m)&^1]))
		return ip4Proto(2, m)
	}
	v3 := func(mrc byte, group []byte, n uint16, srcs int) []byte {
		extra := binary.BigEndian.AppendUint16([]byte{2, 125}, n)
		return igmp(0x11, mrc, group, append(extra, make([]byte, 4*srcs)...)...)
	}
	frames := []frameSpec{
		{data: igmp(0x11, 100, zero)},
		{data: igmp(0x11, 0, zero)},
		{data: igmp(0x11, 50, g)},
		{data: igmp(0x11, 100, zero, 0)}, // 9 bytes: [len 9]
		{data: v3(100, zero, 0, 0)},
		{data: v3(100, g, 2, 2)},
		{data: v3(10, g, 3, 1)}, // more sources than the message holds
		{data: v3(0x8f, g, 0, 0)},
		{data: v3(0xff, zero, 0, 0)},
		{data: v3(250, zero, 0, 0)},
		{data: igmp(0x12, 0, g)},
		{data: igmp(0x12, 0, g, 0, 0, 0, 0)},
		{data: igmp(0x16, 0, g)},
		{data: igmp(0x17, 0, g)},
		{data: igmp(0x22, 0, []byte{0, 0, 0, 2}, append([]byte{4, 0, 0, 0}, append(g, 3, 0, 0, 1)...)...)},
		{data: igmp(0x22, 0, []byte{0, 0, 0, 1})}, // too short
		{data: igmp(0x22, 0, []byte{0, 0, 0, 1}, 1, 2, 3, 4, 5, 6)},
		{data: igmp(0x30, 0, zero)},
		{data: igmp(0x1e, 0, g)},
		{data: igmp(0x1e, 0, g, append(append(append([]byte{10, 0, 0, 7}, g...), 224, 0, 0, 9), 5, 0, 1, 2)...)},
		{data: igmp(0x1f, 0, g, append(append(append([]byte{10, 0, 0, 7}, g...), 10, 0, 0, 9), 5, 0, 1, 2)...)},
		{data: ip4Proto(2, []byte{0x16, 0})},
		{data: ip4Proto(2, []byte{0x11})},
		{data: ip4Proto(2, []byte{0x83, 0xf3, 0})},
		{data: igmp(0x16, 0, g), capLen: 14 + 20 + 6},
		{data: igmp(0x11, 100, g), capLen: 14 + 20 + 6},
		{data: v3(100, g, 2, 2), capLen: 14 + 20 + 10},
		{data: igmp(0x22, 0, []byte{0, 0, 0, 2}, make([]byte, 8)...), capLen: 14 + 20 + 7},
	}
	// IGMP over IPv6, which tcpdump refuses.
	frames = append(frames, frameSpec{data: ipFrame(t, true, func(p *wire.Packet) { p.IP.Protocol = 2 }, wire.LayerNone, []byte{0x16, 0, 0, 0, 239, 1, 2, 3})})
	file := writeFrames(t, "igmp.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// TestDecodeEtherTypesAsTcpdump: EtherTypes tcpdump names without
// decoding them ("ethertype NS (0x0600)") and loopback frames (0x9000,
// Cisco keepalives: skip count, reply, forward data, bogus and cut ones)
// as tcpdump prints them.
func TestDecodeEtherTypesAsTcpdump(t *testing.T) {
	eth := func(et uint16, payload []byte) []byte {
		return append(binary.BigEndian.AppendUint16([]byte{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6}, et), payload...)
	}
	filler := make([]byte, 46)
	for i := range filler {
		filler[i] = byte(i)
	}
	var frames []frameSpec
	for et := range tcpdumpEtherNames {
		frames = append(frames, frameSpec{data: eth(uint16(et), filler)})
	}
	reply := eth(0x9000, append([]byte{0, 0, 1, 0, 0, 0}, make([]byte, 40)...))
	frames = append(frames,
		frameSpec{data: reply},
		frameSpec{data: eth(0x9000, append([]byte{0, 0, 2, 0, 1, 2, 3, 4, 5, 6}, make([]byte, 36)...))},
		frameSpec{data: eth(0x9000, append(append([]byte{8, 0}, make([]byte, 8)...), append([]byte{1, 0, 5, 0}, make([]byte, 32)...)...))},
		frameSpec{data: eth(0x9000, append([]byte{3, 0, 0, 0, 0, 0, 3, 0}, make([]byte, 38)...))},
		frameSpec{data: eth(0x9000, append([]byte{0, 1}, make([]byte, 44)...))}, // skips past the end
		frameSpec{data: reply, capLen: 16},
		frameSpec{data: reply, capLen: 19},
		frameSpec{data: reply, capLen: 21},
		frameSpec{data: eth(0x9000, nil)},
		frameSpec{data: eth(0x9000, []byte{0, 0, 2, 0, 1, 2, 3})},
		frameSpec{data: eth(0x9000, append([]byte{0, 0, 2, 0, 1, 2, 3, 4, 5, 6}, make([]byte, 36)...)), capLen: 20},
		frameSpec{data: eth(0x9000, append([]byte{0, 0, 7, 0}, make([]byte, 36)...)), capLen: 20},
	)
	file := writeFrames(t, "ethertypes.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// TestDecodeMLDv2QueryAndRouterRenumberingAsTcpdump: MLD queries of
// every length (MLDv1 at 24 bytes, MLDv2 from 28 with its group and
// sources, an unknown version between) and router renumbering messages
// (command with its match prefix, result, reset, unknown codes, cut
// ones) as tcpdump prints them.
func TestDecodeMLDv2QueryAndRouterRenumberingAsTcpdump(t *testing.T) {
	be := binary.BigEndian
	src, dst := netip.MustParseAddr("fd00::1").AsSlice(), netip.MustParseAddr("ff02::1").AsSlice()
	group := netip.MustParseAddr("ff05::2").AsSlice()
	ip6 := func(payload []byte) []byte {
		h := append([]byte{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x86, 0xdd, 0x60, 0, 0, 0}, be.AppendUint16(nil, uint16(len(payload)))...)
		h = append(append(append(h, 58, 1), src...), dst...)
		return append(h, payload...)
	}
	query := func(mrc uint16, g []byte, ns uint16, srcs int) []byte {
		m := append(be.AppendUint16([]byte{130, 0, 0, 0}, mrc), 0, 0)
		m = append(append(m, g...), 2, 125)
		m = append(be.AppendUint16(m, ns), make([]byte, 16*srcs)...)
		return ip6(m)
	}
	queryOf := func(n int) []byte { return ip6(query(1000, group, 0, 0)[14+40:][:n]) }
	rr := func(code byte, rest []byte) []byte {
		return ip6(append(append([]byte{138, code, 0, 0, 0, 0, 0, 7}, make([]byte, 8)...), rest...))
	}
	match := func(op, l byte) []byte {
		return append([]byte{op, l, 0, 64, 0, 128, 0, 0}, netip.MustParseAddr("fd00:1::").AsSlice()...)
	}
	frames := []frameSpec{
		{data: query(1000, make([]byte, 16), 0, 0)},
		{data: query(10, group, 2, 2)},
		{data: query(40000, group, 1, 1)},
		{data: query(1000, group, 3, 1)},
		{data: queryOf(24)}, // MLDv1
		{data: queryOf(26)},
		{data: query(1000, group, 2, 2), capLen: 14 + 40 + 20},
		{data: query(1000, group, 2, 2), capLen: 14 + 40 + 25},
		{data: query(1000, group, 2, 2), capLen: 14 + 40 + 30},
		{data: rr(0, nil)},
		{data: rr(0, match(1, 3))},
		{data: rr(0, match(2, 4))},
		{data: rr(0, match(3, 3))},
		{data: rr(0, match(9, 3))},
		{data: rr(1, nil)},
		{data: rr(255, nil)},
		{data: rr(3, nil)},
		{data: rr(1, nil), capLen: 14 + 40 + 12},
	}
	file := writeFrames(t, "mld-rr.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// TestDecodeSCTPAsTcpdump: SCTP packets (INIT, INIT ACK, DATA with its
// flags and payload protocols, SACK with gap blocks and duplicates,
// control chunks, unknown and bad chunks, cut and short packets, over
// IPv4 and IPv6) as tcpdump prints them.
func TestDecodeSCTPAsTcpdump(t *testing.T) {
	be := binary.BigEndian
	chunk := func(typ, flags byte, body ...byte) []byte {
		c := append(be.AppendUint16([]byte{typ, flags}, uint16(4+len(body))), body...)
		return append(c, make([]byte, (4-len(c)%4)%4)...)
	}
	sctp := func(chunks ...[]byte) []byte {
		h := []byte{0x13, 0x88, 0x17, 0x70, 0, 0, 0, 7, 0, 0, 0, 0}
		return ip4Proto(132, append(h, bytes.Join(chunks, nil)...))
	}
	init := []byte{0x11, 0x22, 0x33, 0x44, 0, 1, 0xa0, 0, 0, 10, 0xff, 0xff, 0, 0, 0, 1}
	data := func(flags byte, ppid uint32) []byte {
		return chunk(0, flags, append(be.AppendUint32([]byte{0, 0, 0, 1, 0, 2, 0, 3}, ppid), 'h', 'i')...)
	}
	frames := []frameSpec{
		{data: sctp(chunk(1, 0, init...))},
		{data: sctp(chunk(2, 0, append(init, 0, 7, 0, 4)...))},
		{data: sctp(data(3, 0), data(4, 46), data(0, 1))},
		{data: sctp(chunk(3, 0, 0, 0, 0, 9, 0, 0, 16, 0, 0, 2, 0, 1, 0, 2, 0, 3, 0, 4, 0, 6, 0, 0, 0, 5))},
		{data: sctp(chunk(10, 0, 'a', 'b', 'c'), chunk(11, 0))},
		{data: sctp(chunk(4, 0), chunk(5, 0), chunk(6, 0), chunk(7, 0, 0, 0, 0, 1), chunk(8, 0), chunk(9, 0), chunk(12, 0), chunk(13, 0), chunk(14, 0), chunk(0xc0, 0), chunk(0xc1, 0), chunk(0xc2, 0), chunk(99, 0))},
		{data: sctp(chunk(1, 0, 1, 2, 3))},                // too short an INIT
		{data: sctp(chunk(0, 0, make([]byte, 12)...))},    // DATA without data
		{data: sctp(chunk(0, 3, make([]byte, 8)...))},     // DATA without its header
		{data: sctp([]byte{1, 0, 0, 2})},                  // a chunk length below 4
		{data: sctp(chunk(11, 0), []byte{1, 0})},          // a descriptor cut by the packet
		{data: sctp(chunk(11, 0), []byte{1, 0, 0, 5, 0})}, // no room for the padding
		{data: sctp()},
		{data: ip4Proto(132, []byte{0x13, 0x88, 0x17, 0x70, 0, 0})},
		{data: sctp(chunk(1, 0, init...)), capLen: 14 + 20 + 8},
		{data: sctp(chunk(1, 0, init...)), capLen: 14 + 20 + 20},
		{data: sctp(chunk(11, 0), chunk(1, 0, init...)), capLen: 14 + 20 + 18},
		{data: ipFrame(t, true, func(p *wire.Packet) { p.IP.Protocol = 132 }, wire.LayerNone, append([]byte{0x13, 0x88, 0x17, 0x70, 0, 0, 0, 7, 0, 0, 0, 0}, chunk(11, 0)...))},
	}
	var ppids [][]byte
	for ppid := uint32(1); ppid <= 28; ppid++ {
		if ppid < 21 || ppid > 23 { // ForCES, which tcpdump decodes
			ppids = append(ppids, data(2, ppid))
		}
	}
	frames = append(frames, frameSpec{data: sctp(ppids...)})
	file := writeFrames(t, "sctp.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// TestDecodeARPFrameRelayAsTcpdump: Frame Relay hardware addresses in
// ARP (Q.922 addresses of 2, 3 and 4 bytes, and ones tcpdump cannot
// parse) are printed as tcpdump's DLCI numbers.
func TestDecodeARPFrameRelayAsTcpdump(t *testing.T) {
	a1, a2 := []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}
	fr := func(op uint16, sha, tha []byte) frameSpec {
		return frameSpec{data: arpFrame(0x0806, 15, 0x0800, byte(len(sha)), 4, op, sha, a2, tha, a1, 0)}
	}
	frames := []frameSpec{
		fr(1, []byte{0x18, 0x41}, []byte{0, 0}),
		fr(2, []byte{0x18, 0x41}, []byte{0x20, 0x51}),
		fr(2, []byte{0x18, 0x40, 0x01}, []byte{0x20, 0x51, 0x01}),
		fr(2, []byte{0x18, 0x40, 0x02, 0x05}, []byte{0, 0, 0, 0}),
		fr(2, []byte{0x18, 0x40, 0x02, 0x04}, []byte{0, 0, 0, 0}), // no final EA bit
		fr(2, []byte{0x19, 0x41}, []byte{0, 0}),                   // EA bit in the first byte
		fr(2, []byte{0x18, 0x40}, []byte{0, 0}),                   // cut short
		fr(8, []byte{0x18, 0x41}, []byte{0x20, 0x51}),
		fr(9, []byte{0x18, 0x41}, []byte{0x20, 0x51}),
		fr(1, []byte{0x18, 0x40}, []byte{0x20, 0x51}),
		fr(2, []byte{0x18}, []byte{0}),
		fr(2, []byte{0x19}, []byte{0}),
	}
	file := writeFrames(t, "arp-fr.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}
