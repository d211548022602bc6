package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

var cmpHeaders = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreUnexported(Headers{})}

// headersOf is what Headers.Decode must give for the packet p decoded
// in full: its Layers, IP fields, and the fields of its transport layer.
func headersOf(p *Packet) Headers {
	h := Headers{Layers: p.Layers, Version: p.IP.Version, Src: p.IP.Src, Dst: p.IP.Dst, TTL: p.IP.TTL,
		Protocol: p.IP.Protocol, IPFlags: p.IP.Flags, FragOffset: p.IP.FragOffset}
	quoted := func(q *Quoted) QuotedHeaders {
		return QuotedHeaders{Version: q.IP.Version, Src: q.IP.Src, Dst: q.IP.Dst, Protocol: q.IP.Protocol,
			HasPorts: q.HasPorts, SrcPort: q.SrcPort, DstPort: q.DstPort, HasSeq: q.HasSeq, Seq: q.Seq, Truncated: q.Truncated,
			Transport: q.Transport, TransportLen: q.TransportLen}
	}
	switch t := &p.TCP; {
	case p.Layers.Has(LayerTCP):
		h.SrcPort, h.DstPort, h.Seq, h.Ack = t.SrcPort, t.DstPort, t.Seq, t.Ack
		h.DataOffset, h.TCPFlags, h.Window = t.DataOffset, t.Flags, t.Window
	case p.Layers.Has(LayerUDP):
		h.SrcPort, h.DstPort, h.Length = p.UDP.SrcPort, p.UDP.DstPort, p.UDP.Length
	case p.Layers.Has(LayerICMPv4):
		m := &p.ICMPv4
		h.ICMPType, h.ICMPCode, h.ICMPRest, h.Quoted = uint8(m.Type), m.Code, m.Rest, quoted(&m.Quoted)
	case p.Layers.Has(LayerICMPv6):
		m := &p.ICMPv6
		h.ICMPType, h.ICMPCode, h.ICMPRest, h.Quoted = uint8(m.Type), m.Code, m.Rest, quoted(&m.Quoted)
	}
	return h
}

// defined keeps of h what Decode defines: the fields of the transport
// layer in h.Layers (the others may hold an earlier packet's).
func defined(h *Headers) Headers {
	d := Headers{Layers: h.Layers, Version: h.Version, Src: h.Src, Dst: h.Dst, TTL: h.TTL,
		Protocol: h.Protocol, IPFlags: h.IPFlags, FragOffset: h.FragOffset}
	switch {
	case h.Layers.Has(LayerTCP):
		d.SrcPort, d.DstPort, d.Seq, d.Ack = h.SrcPort, h.DstPort, h.Seq, h.Ack
		d.DataOffset, d.TCPFlags, d.Window = h.DataOffset, h.TCPFlags, h.Window
	case h.Layers.Has(LayerUDP):
		d.SrcPort, d.DstPort, d.Length = h.SrcPort, h.DstPort, h.Length
	case h.Layers.Has(LayerICMPv4), h.Layers.Has(LayerICMPv6):
		d.ICMPType, d.ICMPCode, d.ICMPRest, d.Quoted = h.ICMPType, h.ICMPCode, h.ICMPRest, h.Quoted
	}
	return d
}

// dirtyHeaders has every field set, as a previous packet could leave it.
func dirtyHeaders() Headers {
	q := QuotedHeaders{Version: 6, Src: ip6A, Dst: ip6B, Protocol: 6, HasPorts: true, SrcPort: 1, DstPort: 2, HasSeq: true, Seq: 3, Truncated: true,
		Transport: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, TransportLen: 8}
	return Headers{Layers: 0xffff, Version: 4, Src: ip4A, Dst: ip4B, TTL: 9, Protocol: 17, IPFlags: 7, FragOffset: 8,
		SrcPort: 4, DstPort: 5, Seq: 6, Ack: 7, DataOffset: 15, TCPFlags: 0xfff, Window: 8, Length: 9,
		ICMPType: 3, ICMPCode: 3, ICMPRest: 10, Quoted: q}
}

// sameDecodeError reports whether two Decode errors are the same: both
// nil, or *DecodeError with the same values.
func sameDecodeError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y *DecodeError
	return errors.As(a, &x) && errors.As(b, &y) && *x == *y
}

// checkHeaders decodes data as a raw IP packet (mode 0) or, for the
// other modes, as a bare transport message of some protocol and address
// family, with Headers and with the full decoder, into a fresh and a
// used Headers, and compares.
func checkHeaders(t *testing.T, data []byte, mode uint8) {
	t.Helper()
	in := bytes.Clone(data)
	var p Packet
	var h Headers
	dirty := dirtyHeaders()
	d := Decoder{SkipChecksums: true}
	var perr, herr, derr error
	if mode == 0 {
		perr = d.Decode(&p, pcapfile.LinkTypeRaw, data, 0)
		herr = h.Decode(data)
		derr = dirty.Decode(data)
	} else {
		protos := [...]ports.Proto{ports.ProtoTCP, ports.ProtoUDP, ProtoICMP, ProtoICMPv6}
		proto := protos[int(mode-1)%len(protos)]
		src, dst := ip4A, ip4B
		if (mode-1)/4%2 == 1 {
			src, dst = ip6A, ip6B
		}
		perr = d.DecodeTransport(&p, proto, src, dst, data)
		herr = h.DecodeTransport(proto, src, dst, data)
		derr = dirty.DecodeTransport(proto, src, dst, data)
	}
	if !bytes.Equal(in, data) {
		t.Fatal("Headers.Decode changed its input")
	}
	want := headersOf(&p)
	if diff := cmp.Diff(want, defined(&h), cmpHeaders); diff != "" {
		t.Fatalf("mode %d: Headers (-Packet.Decode +Headers.Decode):\n%s", mode, diff)
	}
	if diff := cmp.Diff(want, defined(&dirty), cmpHeaders); diff != "" {
		t.Fatalf("mode %d: Headers decoded over a used one (-Packet.Decode +Headers.Decode):\n%s", mode, diff)
	}
	if !sameDecodeError(perr, herr) || !sameDecodeError(perr, derr) {
		t.Fatalf("mode %d: errors %v (Packet.Decode), %v (Headers.Decode), %v (over a used one)", mode, perr, herr, derr)
	}
}

// rawIP returns the IP packets of the sample frames and captures,
// without their link headers: what a raw socket hands over.
func rawIP(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range sampleFrames(t) {
		p := s.tmpl
		p.Layers &^= layerSet(LayerEthernet, LayerSLL, LayerSLL2, LayerNull)
		p.Link = Link{Type: pcapfile.LinkTypeRaw}
		if !p.Layers.Has(LayerIPv4) && !p.Layers.Has(LayerIPv6) {
			continue
		}
		out = append(out, encode(t, &p))
	}
	for _, f := range allFrames(t) {
		var p Packet
		if p.Decode(f.link, f.data, f.origLen) != nil || p.Truncated || p.IP.Version == 0 {
			continue
		}
		// The IP header starts where the link header ends: the frame
		// less what the IP header says it holds (the rest is padding).
		n := 0
		switch f.link {
		case pcapfile.LinkTypeEthernet:
			n = 14 + 4*int(p.Link.NumVLANs)
		case pcapfile.LinkTypeLinuxSLL:
			n = 16 + 4*int(p.Link.NumVLANs)
		case pcapfile.LinkTypeLinuxSLL2:
			n = 20 + 4*int(p.Link.NumVLANs)
		case pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop:
			n = 4
		}
		if n < len(f.data) && f.data[n]>>4 == p.IP.Version {
			out = append(out, f.data[n:])
		}
	}
	return out
}

// TestHeadersMatchDecode compares Headers.Decode and DecodeTransport with
// Packet.Decode on every sample packet, whole, cut short at every
// length, and with each byte of the first 64 flipped, and on its
// transport message, whole and cut short.
func TestHeadersMatchDecode(t *testing.T) {
	pkts := rawIP(t)
	if len(pkts) < 50 {
		t.Fatalf("only %d sample packets", len(pkts))
	}
	for _, b := range pkts {
		for n := range len(b) + 1 {
			checkHeaders(t, b[:n], 0)
		}
		for i := range min(len(b), 64) {
			c := bytes.Clone(b)
			c[i] ^= 0xa5
			checkHeaders(t, c, 0)
		}
		// The transport message alone, as an IPv6 raw socket delivers it.
		var p Packet
		_ = p.Decode(pcapfile.LinkTypeRaw, b, 0)
		if hl := int(p.IP.HeaderLen); hl > 0 && hl <= len(b) {
			tr := b[hl:]
			for mode := uint8(1); mode <= 8; mode++ {
				checkHeaders(t, tr, mode)
				for n := range min(len(tr), 80) {
					checkHeaders(t, tr[:n], mode)
				}
			}
		}
	}
}

// FuzzHeaders: Headers.Decode and DecodeTransport never panic and agree
// with Packet.Decode on every field they have, whatever the Headers held.
func FuzzHeaders(f *testing.F) {
	for _, b := range rawIP(f) {
		f.Add(b, uint8(0))
	}
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{0x45, 0, 0, 10}, uint8(0))                    // total length below the header
	f.Add(append([]byte{0x60}, make([]byte, 39)...), uint8(0)) // IPv6, no payload
	f.Add([]byte{3, 3, 0, 0, 0, 0, 0, 0}, uint8(3))            // ICMP unreachable, empty quote
	f.Add([]byte{1, 4, 0, 0, 0, 0, 0, 0}, uint8(8))            // ICMPv6 unreachable, empty quote
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		checkHeaders(t, data, mode%9)
	})
}

func TestHeadersAllocs(t *testing.T) {
	pkts := rawIP(t)
	var h Headers
	if n := testing.AllocsPerRun(10, func() {
		for _, b := range pkts {
			_ = h.Decode(b)
			_ = h.DecodeTransport(ports.ProtoTCP, ip6A, ip6B, b)
		}
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// TestTCPTemplate compares the segments a template builds with
// AppendTCPSegment's, for IPv4, IPv6 and mixed addresses, with options
// and payloads of odd and even lengths.
func TestTCPTemplate(t *testing.T) {
	addrs := [][2]netip.Addr{{ip4A, ip4B}, {ip6A, ip6B}, {ip4A, ip6B}, {{}, {}},
		{netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("255.255.255.255")},
		{netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}}
	hdrs := []TCP{
		{Flags: TCPSyn, Window: 1024, Options: TCPOptions{HasMSS: true, MSS: 1460}},
		{Flags: TCPAck, Ack: 0xffffffff, Window: 0xffff, Urgent: 0xffff},
		{Flags: TCPSyn | TCPEce | TCPCwr, Options: TCPOptions{Raw: []byte{1, 1, 4, 2, 3}}}, // padded to 8
	}
	for _, hdr := range hdrs {
		for _, payload := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0xff}, 1001)} {
			tmpl, err := NewTCPTemplate(&hdr, payload)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range addrs {
				for _, v := range []struct {
					sp, dp ports.Port
					seq    uint32
				}{{0, 0, 0}, {40000, 443, 7}, {0xffff, 0xffff, 0xffffffff}, {1, 65535, 0x80000000}} {
					th := hdr
					th.SrcPort, th.DstPort, th.Seq = v.sp, v.dp, v.seq
					want, err := AppendTCPSegment([]byte("prefix"), a[0], a[1], &th, payload)
					if err != nil {
						t.Fatal(err)
					}
					got := tmpl.Append([]byte("prefix"), a[0], a[1], v.sp, v.dp, v.seq)
					if !bytes.Equal(got, want) {
						t.Fatalf("%v -> %v %+v:\n got % x\nwant % x", a[0], a[1], v, got, want)
					}
					if tmpl.Len() != len(want)-len("prefix") {
						t.Fatalf("Len %d, segment %d bytes", tmpl.Len(), len(want)-len("prefix"))
					}
				}
			}
		}
	}
	if _, err := NewTCPTemplate(&TCP{Options: TCPOptions{Raw: make([]byte, 41)}}, nil); err == nil {
		t.Error("41 bytes of options accepted")
	}
	if _, err := NewTCPTemplate(&TCP{}, make([]byte, 0xffff)); err == nil {
		t.Error("a segment of 65555 bytes accepted")
	}
	tmpl, _ := NewTCPTemplate(&hdrs[0], nil)
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = tmpl.Append(buf[:0], ip6A, ip6B, 1, 2, 3) }); n != 0 {
		t.Errorf("Append: %v allocations, want 0", n)
	}
}

// FuzzTCPTemplate: a template's segment is AppendTCPSegment's.
func FuzzTCPTemplate(f *testing.F) {
	f.Add(uint16(40000), uint16(443), uint32(7), uint16(0x002), uint16(1024), []byte{2, 4, 5, 0xb4}, []byte(nil), false, []byte{198, 51, 100, 1})
	f.Add(uint16(0xffff), uint16(0), uint32(0xffffffff), uint16(0xfff), uint16(0xffff), []byte(nil), []byte("odd"), true, bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, sp, dp uint16, seq uint32, flags, window uint16, opts, payload []byte, v6 bool, addr []byte) {
		var a [32]byte
		copy(a[:], addr)
		src, dst := netip.AddrFrom4([4]byte(a[:4])), netip.AddrFrom4([4]byte(a[4:8]))
		if v6 {
			src, dst = netip.AddrFrom16([16]byte(a[:16])), netip.AddrFrom16([16]byte(a[16:]))
		}
		hdr := TCP{Flags: TCPFlags(flags), Window: window, Options: TCPOptions{Raw: opts}}
		if opts == nil {
			hdr.Options = TCPOptions{HasMSS: true, MSS: 1460}
		}
		tmpl, err := NewTCPTemplate(&hdr, payload)
		hdr.SrcPort, hdr.DstPort, hdr.Seq = ports.Port(sp), ports.Port(dp), seq
		want, werr := AppendTCPSegment(nil, src, dst, &hdr, payload)
		if err != nil {
			if werr == nil && len(want) <= 0xffff {
				t.Fatalf("NewTCPTemplate: %v; AppendTCPSegment did it", err)
			}
			return
		}
		if werr != nil {
			t.Fatalf("AppendTCPSegment: %v; NewTCPTemplate did it", werr)
		}
		if got := tmpl.Append(nil, src, dst, ports.Port(sp), ports.Port(dp), seq); !bytes.Equal(got, want) {
			t.Fatalf("got % x\nwant % x", got, want)
		}
	})
}
