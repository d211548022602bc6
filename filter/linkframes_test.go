package filter

import (
	"encoding/binary"
	"fmt"

	"github.com/portkit/ports/pcapfile"
)

// Link-level frames for the differential test, built around network
// packets taken from the captures: MPLS label stacks, PPPoE discovery
// and session frames, 802.3 frames with 802.2 LLC (I, S and U control
// fields, SNAP, Novell raw), the EtherTypes that have names
// (DECnet, LAT, AppleTalk, ...), VLAN-tagged copies of those, and on
// Linux cooked links the packet types of inbound and outbound packets
// and the 802.2 and 802.3 protocols. Each frame also comes cut short
// at a few lengths.

// linkFrames returns the frames of this file for link, built around
// the IPv4 and IPv6 packets in l3 (a few of each).
func linkFrames(link pcapfile.LinkType, l3 []l3Packet) []capPkt {
	var v4, v6 []l3Packet
	for _, p := range l3 {
		switch {
		case p.etherType == etherIPv4 && len(p.data) >= 40 && len(v4) < 4 && len(p.data) == p.origLen:
			v4 = append(v4, p)
		case p.etherType == etherIPv6 && len(p.data) >= 60 && len(v6) < 3 && len(p.data) == p.origLen:
			v6 = append(v6, p)
		}
	}
	ips := append(append([]l3Packet(nil), v4...), v6...)
	var out []capPkt
	add := func(what string, frame []byte) {
		out = append(out, capPkt{data: frame, origLen: len(frame), link: link, what: what})
		for _, n := range []int{13, 15, 17, 19, 21, 23, 25, 27, 30, 35} {
			if n < len(frame) {
				out = append(out, capPkt{data: frame[:n], origLen: len(frame), link: link,
					what: fmt.Sprintf("%s (cut to %d)", what, n)})
			}
		}
	}
	// payloads of link type link with protocol field proto.
	type payload struct {
		what  string
		proto uint16
		data  []byte
	}
	var pays []payload
	for i, p := range ips {
		// MPLS: one label, two and three, the bottom one marked.
		for depth := 1; depth <= 3; depth++ {
			var stack []byte
			for d := range depth {
				label := uint32(100*(i+1) + d)
				w := label<<12 | 5<<9 | 64 // traffic class 5, TTL 64
				if d == depth-1 {
					w |= 1 << 8
				}
				stack = binary.BigEndian.AppendUint32(stack, w)
			}
			pays = append(pays, payload{fmt.Sprintf("%s (MPLS, %d labels)", p.what, depth), etherMPLS, append(stack, p.data...)})
		}
		// A label stack whose bottom bit is never set.
		pays = append(pays, payload{p.what + " (MPLS, no bottom of stack)", etherMPLS,
			append(binary.BigEndian.AppendUint32(nil, 7<<12|64), p.data...)})
		// PPPoE session: version/type 0x11, code 0, session, length, PPP protocol.
		ppp := uint16(0x21)
		if p.etherType == etherIPv6 {
			ppp = 0x57
		}
		sess := []byte{0x11, 0x00, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(sess[2:], uint16(0x1000+i))
		binary.BigEndian.PutUint16(sess[4:], uint16(len(p.data)+2))
		sess = binary.BigEndian.AppendUint16(sess, ppp)
		pays = append(pays, payload{p.what + " (PPPoE session)", etherPPPoES, append(sess, p.data...)})
		if i == 0 {
			// MPLS inside PPPoE (PPP protocol 0x0281), and PPP
			// protocols of the other names.
			mp := append([]byte{0x11, 0, 0x00, 0x07, 0, 0}, 0x02, 0x81)
			mp = binary.BigEndian.AppendUint32(mp, 33<<12|1<<8|64)
			pays = append(pays, payload{p.what + " (MPLS in PPPoE)", etherPPPoES, append(mp, p.data...)})
			for _, pt := range []uint16{0x27, 0x29, 0x23, 0x31, 0x2b, 0x25, 0x0806, 0x8035} {
				x := append([]byte{0x11, 0, 0x00, 0x09, 0, 0}, byte(pt>>8), byte(pt))
				pays = append(pays, payload{fmt.Sprintf("PPPoE session, PPP protocol %#x", pt), etherPPPoES, append(x, p.data[:28]...)})
			}
		}
	}
	// PPPoE discovery: PADI, PADO.
	for _, code := range []byte{0x09, 0x07} {
		d := []byte{0x11, code, 0, 0, 0, 4, 0x01, 0x01, 0, 0}
		pays = append(pays, payload{fmt.Sprintf("PPPoE discovery code %#x", code), etherPPPoED, d})
	}
	// EtherTypes with names, and others.
	for _, et := range []uint16{etherMOPDL, etherMOPRC, etherDECnet, etherLAT, etherSCA, etherATalk, etherAARP, etherIPX, etherLoopback, 0x0600, 0x88cc} {
		pays = append(pays, payload{fmt.Sprintf("EtherType %#04x", et), et, make([]byte, 46)})
	}
	// 802.2 LLC frames: DSAP, SSAP, control, then data.
	llcs := []struct {
		what string
		hdr  []byte
	}{
		{"STP BPDU (LLC UI)", []byte{0x42, 0x42, 0x03}},
		{"ISO (LLC UI)", []byte{0xfe, 0xfe, 0x03}},
		{"NetBEUI (LLC UI)", []byte{0xf0, 0xf0, 0x03}},
		{"NetBEUI (LLC I)", []byte{0xf0, 0xf0, 0x00, 0x02}},
		{"IPX (LLC)", []byte{0xe0, 0xe0, 0x03}},
		{"IP SAP (LLC)", []byte{0x06, 0x06, 0x03}},
		{"Novell raw 802.3", []byte{0xff, 0xff, 0x00}},
		{"SNAP AppleTalk", []byte{0xaa, 0xaa, 0x03, 0x08, 0x00, 0x07, 0x80, 0x9b}},
		{"SNAP AARP", []byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x80, 0xf3}},
		{"SNAP IPX", []byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x81, 0x37}},
		{"SNAP IPv4", []byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00}},
		{"LLC RR", []byte{0x42, 0x42, 0x01, 0x02}},
		{"LLC RNR", []byte{0x42, 0x42, 0x05, 0x02}},
		{"LLC REJ", []byte{0x42, 0x42, 0x09, 0x02}},
		{"LLC UA", []byte{0x42, 0x42, 0x73}},
		{"LLC DISC", []byte{0x42, 0x42, 0x53}},
		{"LLC DM", []byte{0x42, 0x42, 0x1f}},
		{"LLC SABME", []byte{0x42, 0x42, 0x7f}},
		{"LLC TEST", []byte{0x42, 0x42, 0xe3}},
		{"LLC XID", []byte{0x42, 0x42, 0xaf}},
		{"LLC FRMR", []byte{0x42, 0x42, 0x87}},
		{"LLC SAP 0x64", []byte{0x64, 0x64, 0x03}},
	}
	for _, l := range llcs {
		data := append(append([]byte(nil), l.hdr...), make([]byte, 40)...)
		// On Ethernet the length; on SLL the protocol is 4 (802.2).
		pays = append(pays, payload{l.what, 0, data})
	}

	for _, pl := range pays {
		switch link {
		case pcapfile.LinkTypeEthernet:
			typ := pl.proto
			if typ == 0 {
				typ = uint16(len(pl.data))
			}
			hdr := []byte{0x01, 0x80, 0xc2, 0, 0, 0, 0, 6, 7, 8, 9, 10}
			f := append(binary.BigEndian.AppendUint16(append([]byte(nil), hdr...), typ), pl.data...)
			add(pl.what, f)
			// A VLAN-tagged copy.
			tagged := append(append([]byte(nil), hdr...), 0x81, 0x00, 0x00, 0x2a, byte(typ>>8), byte(typ))
			add(pl.what+" (802.1Q)", append(tagged, pl.data...))
		case pcapfile.LinkTypeLinuxSLL:
			typ := pl.proto
			if typ == 0 {
				typ = sllP8022
			}
			if pl.what == "Novell raw 802.3" {
				typ = sllP8023
			}
			for _, pt := range []uint16{0, 4} {
				hdr := []byte{0, byte(pt), 0, 1, 0, 6, 0, 6, 7, 8, 9, 10, 0, 0}
				add(fmt.Sprintf("%s (SLL type %d)", pl.what, pt), append(binary.BigEndian.AppendUint16(hdr, typ), pl.data...))
			}
		case pcapfile.LinkTypeLinuxSLL2:
			typ := pl.proto
			if typ == 0 {
				typ = uint16(pl.data[0]) // libpcap 1.10 compares a SAP with the protocol field
			}
			for _, pt := range []byte{0, 4} {
				hdr := binary.BigEndian.AppendUint16(nil, typ)
				hdr = append(hdr, 0, 0, 0, 0, 0, 2, 0, 1, pt, 6, 0, 6, 7, 8, 9, 10, 0, 0)
				add(fmt.Sprintf("%s (SLL2 type %d)", pl.what, pt), append(hdr, pl.data...))
			}
		}
	}
	if link == pcapfile.LinkTypeLinuxSLL || link == pcapfile.LinkTypeLinuxSLL2 {
		// Every packet type, for inbound and outbound.
		for _, p := range ips[:min(2, len(ips))] {
			for pt := range 5 {
				var f []byte
				if link == pcapfile.LinkTypeLinuxSLL {
					f = []byte{0, byte(pt), 0, 1, 0, 6, 0, 6, 7, 8, 9, 10, 0, 0, byte(p.etherType >> 8), byte(p.etherType)}
				} else {
					f = []byte{byte(p.etherType >> 8), byte(p.etherType), 0, 0, 0, 0, 0, 2, 0, 1, byte(pt), 6, 0, 6, 7, 8, 9, 10, 0, 0}
				}
				add(fmt.Sprintf("%s (packet type %d)", p.what, pt), append(f, p.data...))
			}
		}
	}
	return out
}
