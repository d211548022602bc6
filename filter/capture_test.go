package filter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portkit/ports/pcapfile"
)

// Capture files for the tests: the shared captures, read with pcapgo,
// and synthetic captures built from them for every link type.

const pcapDir = "../testdata/pcaps"

// sharedCaptures returns the paths of the shared captures.
func sharedCaptures(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(pcapDir, "*.pcap*"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no captures in %s: %v", pcapDir, err)
	}
	return paths
}

// capPkt is one captured packet.
type capPkt struct {
	data    []byte
	origLen int
	link    pcapfile.LinkType
	order   binary.ByteOrder // of the file it came from
	what    string           // for messages: where the packet came from
}

// readCapture reads a pcap or pcapng file (told apart by the magic
// number, not the name).
func readCapture(path string) ([]capPkt, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pkts []capPkt
	var order binary.ByteOrder = binary.BigEndian
	add := func(data []byte, orig int, link pcapfile.LinkType) {
		pkts = append(pkts, capPkt{data: data, origLen: orig, link: link, order: order,
			what: fmt.Sprintf("%s #%d", filepath.Base(path), len(pkts))})
	}
	if len(raw) >= 12 && binary.LittleEndian.Uint32(raw) == 0x0a0d0d0a {
		if binary.LittleEndian.Uint32(raw[8:]) == 0x1a2b3c4d {
			order = binary.LittleEndian
		}
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, err
		}
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				return pkts, nil
			}
			if err != nil {
				return nil, err
			}
			iface, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				return nil, err
			}
			add(data, ci.Length, pcapfile.LinkType(iface.LinkType))
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if m := binary.LittleEndian.Uint32(raw); m == 0xa1b2c3d4 || m == 0xa1b23c4d {
		order = binary.LittleEndian
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return pkts, nil
		}
		if err != nil {
			return nil, err
		}
		add(data, ci.Length, pcapfile.LinkType(r.LinkType()))
	}
}

// writePcap writes pkts, all of link type link, as a pcap file in the
// given byte order.
func writePcap(path string, link pcapfile.LinkType, order binary.ByteOrder, pkts []capPkt) error {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	order.PutUint32(hdr[0:], 0xa1b2c3d4)
	order.PutUint16(hdr[4:], 2)
	order.PutUint16(hdr[6:], 4)
	order.PutUint32(hdr[16:], 262144)
	order.PutUint32(hdr[20:], uint32(link))
	b.Write(hdr)
	for i, p := range pkts {
		rec := make([]byte, 16)
		order.PutUint32(rec[0:], uint32(1_000_000+i))
		order.PutUint32(rec[8:], uint32(len(p.data)))
		order.PutUint32(rec[12:], uint32(max(p.origLen, len(p.data))))
		b.Write(rec)
		b.Write(p.data)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// l3Packet is a network-layer packet taken out of a capture.
type l3Packet struct {
	etherType uint16 // 0x0800, 0x86dd, 0x0806 or 0x8035
	data      []byte
	origLen   int // on the wire, from the network header on
	what      string
}

// networkPacket strips the link header (and any VLAN tags) from p.
func networkPacket(p capPkt) (l3Packet, bool) {
	d := p.data
	var et uint16
	var off int
	switch p.link {
	case pcapfile.LinkTypeEthernet:
		if len(d) < 14 {
			return l3Packet{}, false
		}
		et, off = binary.BigEndian.Uint16(d[12:]), 14
		for (et == 0x8100 || et == 0x88a8) && len(d) >= off+4 {
			et, off = binary.BigEndian.Uint16(d[off+2:]), off+4
		}
	case pcapfile.LinkTypeLinuxSLL:
		if len(d) < 16 {
			return l3Packet{}, false
		}
		et, off = binary.BigEndian.Uint16(d[14:]), 16
	case pcapfile.LinkTypeNull:
		if len(d) < 4 {
			return l3Packet{}, false
		}
		af := binary.LittleEndian.Uint32(d)
		if af > 0xffff {
			af = binary.BigEndian.Uint32(d)
		}
		switch af {
		case 2:
			et = 0x0800
		case 24, 28, 30:
			et = 0x86dd
		}
		off = 4
	default:
		return l3Packet{}, false
	}
	if et != 0x0800 && et != 0x86dd && et != 0x0806 && et != 0x8035 {
		return l3Packet{}, false
	}
	return l3Packet{etherType: et, data: d[off:], origLen: p.origLen - off, what: p.what}, true
}

// variants returns l3 and altered copies of it: as first and later
// IPv4 fragments, with an IPv6 Fragment or Hop-by-Hop header, and cut
// short at several lengths.
func variants(p l3Packet) []l3Packet {
	out := []l3Packet{p}
	d := p.data
	alter := func(what string, data []byte, extra int) {
		out = append(out, l3Packet{etherType: p.etherType, data: data, origLen: p.origLen + extra, what: p.what + " " + what})
	}
	switch {
	case p.etherType == 0x0806:
		rarp := p
		rarp.etherType, rarp.what = 0x8035, p.what+" (as RARP)"
		out = append(out, rarp)
	case p.etherType == 0x0800 && len(d) >= 20:
		if ihl := int(d[0]&0xf) * 4; d[9] == 6 && len(d) >= ihl+14 && d[6]&0x1f == 0 && d[7] == 0 {
			// Other TCP flags, for tcp[tcpflags] filters.
			for _, fl := range []byte{0x02, 0x12, 0x11, 0x04, 0x18, 0xc2, 0x29} {
				x := bytes.Clone(d)
				x[ihl+13] = fl
				alter(fmt.Sprintf("(tcp flags %#x)", fl), x, 0)
			}
		}
		if ihl := int(d[0]&0xf) * 4; d[9] == 1 && len(d) >= ihl+2 {
			for _, ty := range []byte{0, 3, 8, 11} {
				x := bytes.Clone(d)
				x[ihl] = ty
				alter(fmt.Sprintf("(icmp type %d)", ty), x, 0)
			}
		}
		if ihl := int(d[0]&0xf) * 4; (d[9] == 6 || d[9] == 17) && len(d) >= ihl+4 {
			// The same ports over SCTP, for sctp port filters.
			x := bytes.Clone(d)
			x[9] = ipprotoSCTP
			alter("(as sctp)", x, 0)
			// And one of the other protocols with primitives.
			other := []byte{2, 9, 47, 50, 51, 103, 112}
			y := bytes.Clone(d)
			y[9] = other[int(d[ihl+1])%len(other)]
			alter(fmt.Sprintf("(as protocol %d)", y[9]), y, 0)
		}
		if ihl := int(d[0]&0xf) * 4; (d[9] == 6 || d[9] == 17) && d[0] == 0x45 {
			// An AH header (24 bytes) before the transport header, for
			// protochain.
			ah := []byte{d[9], 4, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			x := append(append(append([]byte(nil), d[:ihl]...), ah...), d[ihl:]...)
			x[9] = ipprotoAH
			binary.BigEndian.PutUint16(x[2:], binary.BigEndian.Uint16(d[2:])+uint16(len(ah)))
			alter("(AH header)", x, len(ah))
		}
		if d[0] == 0x45 {
			// Options: a 24-byte header, the transport header after it.
			x := append(append(append([]byte(nil), d[:20]...), 1, 1, 1, 0), d[20:]...)
			x[0] = 0x46
			alter("(ip options)", x, 4)
		}
		first := bytes.Clone(d)
		binary.BigEndian.PutUint16(first[6:], 0x2000) // MF, offset 0
		alter("(first fragment)", first, 0)
		later := bytes.Clone(d)
		binary.BigEndian.PutUint16(later[6:], 0x2000|185) // MF, offset 1480
		alter("(later fragment)", later, 0)
	case p.etherType == 0x86dd && len(d) >= 40:
		ext := func(nh byte, hdr [8]byte) []byte {
			x := make([]byte, 0, len(d)+8)
			x = append(x, d[:40]...)
			hdr[0] = d[6]
			x = append(x, hdr[:]...)
			x = append(x, d[40:]...)
			x[6] = nh
			binary.BigEndian.PutUint16(x[4:], binary.BigEndian.Uint16(d[4:])+8)
			return x
		}
		alter("(fragment header, first)", ext(44, [8]byte{2: 0, 3: 1, 7: 9}), 8)
		alter("(fragment header, later)", ext(44, [8]byte{2: 0x05, 3: 0xc9, 7: 9}), 8)
		alter("(hop-by-hop header)", ext(0, [8]byte{2: 1, 3: 4}), 8)
		if nh := d[6]; nh == 6 || nh == 17 || nh == 58 {
			// Header chains for protochain: each header is given as its
			// type and bytes, the next-header byte filled in.
			chain := func(hdrs ...[]byte) ([]byte, int) {
				x := append([]byte(nil), d[:40]...)
				x[6] = hdrs[0][0]
				n := 0
				for i, h := range hdrs {
					h = bytes.Clone(h[1:])
					h[0] = nh
					if i+1 < len(hdrs) {
						h[0] = hdrs[i+1][0]
					}
					x = append(x, h...)
					n += len(h)
				}
				x = append(x, d[40:]...)
				binary.BigEndian.PutUint16(x[4:], binary.BigEndian.Uint16(d[4:])+uint16(n))
				return x, n
			}
			// A header is its type, then its bytes (the first is the
			// next-header byte, overwritten).
			hbh := []byte{0, 0, 0, 1, 4, 0, 0, 0, 0}
			dst16 := []byte{60, 0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			rt := []byte{43, 0, 0, 0, 0, 0, 0, 0, 0}
			frag := []byte{44, 0, 0, 0, 1, 0, 0, 0, 9}
			ah := []byte{51, 0, 4, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			x, n := chain(hbh, dst16, rt, frag)
			alter("(hop-by-hop, destination, routing, fragment headers)", x, n)
			alter("(header chain cut in the routing header)", x[:40+8+16+3], n)
			x, n = chain(dst16, ah)
			alter("(destination and AH headers)", x, n)
			x, n = chain(frag, hbh)
			x[40+8] = 59 // no next header
			alter("(fragment and hop-by-hop headers, no next header)", x, n)
		}
		if (d[6] == 6 || d[6] == 17) && len(d) >= 44 {
			x := bytes.Clone(d)
			x[6] = ipprotoSCTP
			alter("(as sctp)", x, 0)
			other := []byte{50, 51, 103}
			y := bytes.Clone(d)
			y[6] = other[int(d[41])%len(other)]
			alter(fmt.Sprintf("(as protocol %d)", y[6]), y, 0)
		}
	}
	for _, n := range []int{1, 7, 10, 21, 23, 26, 38, 41, 44, 50} {
		if n < len(d) {
			alter(fmt.Sprintf("(cut to %d)", n), d[:n], 0)
		}
	}
	return out
}

// encapsulate puts l3 behind a link header of type link, or returns
// false if the link cannot carry it. af6 picks the IPv6 address family
// for loopback links.
func encapsulate(link pcapfile.LinkType, order binary.ByteOrder, p l3Packet, af6 uint32) (capPkt, bool) {
	var hdr []byte
	switch link {
	case pcapfile.LinkTypeEthernet:
		hdr = []byte{0, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10, 0, 0}
		binary.BigEndian.PutUint16(hdr[12:], p.etherType)
	case pcapfile.LinkTypeLinuxSLL:
		hdr = []byte{0, 0, 0, 1, 0, 6, 0, 6, 7, 8, 9, 10, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(hdr[14:], p.etherType)
	case pcapfile.LinkTypeLinuxSLL2:
		hdr = []byte{0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 0, 6, 7, 8, 9, 10, 0, 0}
		binary.BigEndian.PutUint16(hdr[0:], p.etherType)
	case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
		af := uint32(2)
		switch p.etherType {
		case 0x86dd:
			af = af6
		case 0x0806, 0x8035:
			return capPkt{}, false
		}
		hdr = make([]byte, 4)
		order.PutUint32(hdr, af)
	case pcapfile.LinkTypeRaw:
		if p.etherType == 0x0806 || p.etherType == 0x8035 {
			return capPkt{}, false
		}
	case pcapfile.LinkTypeIPv4:
		if p.etherType != 0x0800 {
			return capPkt{}, false
		}
	case pcapfile.LinkTypeIPv6:
		if p.etherType != 0x86dd {
			return capPkt{}, false
		}
	}
	data := append(hdr, p.data...)
	return capPkt{data: data, origLen: len(hdr) + p.origLen, link: link, what: p.what}, true
}

// syntheticCapture is a capture built for one link type.
type syntheticCapture struct {
	name  string
	link  pcapfile.LinkType
	order binary.ByteOrder
	pkts  []capPkt
}

// syntheticCaptures returns a capture for each supported link type (and
// each byte order for NULL): the packets of real with that link type
// (and byte order, for NULL), then every network-layer packet of real and
// its variants carried over that link, a VLAN-tagged copy of some on
// Ethernet, and a few runt packets.
func syntheticCaptures(real []capPkt) []syntheticCapture {
	var l3 []l3Packet
	for _, p := range real {
		if n, ok := networkPacket(p); ok {
			l3 = append(l3, variants(n)...)
		}
	}
	type spec struct {
		name  string
		link  pcapfile.LinkType
		order binary.ByteOrder
	}
	specs := []spec{
		{"ethernet", pcapfile.LinkTypeEthernet, binary.LittleEndian},
		{"sll", pcapfile.LinkTypeLinuxSLL, binary.LittleEndian},
		{"sll2", pcapfile.LinkTypeLinuxSLL2, binary.LittleEndian},
		{"null-le", pcapfile.LinkTypeNull, binary.LittleEndian},
		{"null-be", pcapfile.LinkTypeNull, binary.BigEndian},
		{"loop", pcapfile.LinkTypeLoop, binary.BigEndian},
		{"raw", pcapfile.LinkTypeRaw, binary.LittleEndian},
		{"ipv4", pcapfile.LinkTypeIPv4, binary.LittleEndian},
		{"ipv6", pcapfile.LinkTypeIPv6, binary.LittleEndian},
	}
	af6s := []uint32{24, 28, 30}
	var out []syntheticCapture
	for _, s := range specs {
		c := syntheticCapture{name: s.name, link: s.link, order: s.order}
		for _, p := range real {
			if p.link != s.link {
				continue
			}
			if s.link == pcapfile.LinkTypeNull {
				// libpcap swaps the family when the file's byte order is
				// not the reader's, so it misses a family written in the
				// order opposite to the file's (gopacket's big-endian
				// test006.pcapng has one), which this package takes.
				if p.order != s.order || len(p.data) >= 4 && s.order.Uint32(p.data) > 0xffff {
					continue
				}
			}
			c.pkts = append(c.pkts, p)
		}
		for i, p := range l3 {
			if cp, ok := encapsulate(s.link, s.order, p, af6s[i%len(af6s)]); ok {
				c.pkts = append(c.pkts, cp)
			}
			if s.link == pcapfile.LinkTypeEthernet && i%3 == 0 {
				cp, _ := encapsulate(s.link, s.order, p, 0)
				tagged := append(append(bytes.Clone(cp.data[:12]), 0x81, 0x00, 0x00, 0x2a), cp.data[12:]...)
				c.pkts = append(c.pkts, capPkt{data: tagged, origLen: cp.origLen + 4, link: s.link, what: p.what + " (802.1Q)"})
			}
		}
		c.pkts = append(c.pkts, linkFrames(s.link, l3)...)
		for n := range 6 {
			runt := []byte{0x45, 0x60, 0x00, 0x02, 0x08, 0x00}[:n]
			c.pkts = append(c.pkts, capPkt{data: runt, origLen: 60, link: s.link, what: fmt.Sprintf("runt of %d bytes", n)})
		}
		// Frames cut at every length, shorter than the link header too:
		// a few of each network protocol.
		seen := map[uint16]int{}
		for _, p := range l3[:] {
			if seen[p.etherType] >= 2 {
				continue
			}
			cp, ok := encapsulate(s.link, s.order, p, af6s[0])
			if !ok || len(cp.data) < 40 {
				continue
			}
			seen[p.etherType]++
			for n := 0; n < min(len(cp.data), 80); n++ {
				c.pkts = append(c.pkts, capPkt{data: cp.data[:n], origLen: cp.origLen, link: s.link,
					what: fmt.Sprintf("%s (frame cut to %d)", p.what, n)})
			}
		}
		out = append(out, c)
	}
	return out
}
