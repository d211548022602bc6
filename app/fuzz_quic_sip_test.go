package app

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// FuzzQUICDecode: any datagram, through one decoder (its table shared
// by all): no panic, the input unchanged, connection IDs within the
// datagram and of at most 20 bytes (255 in Version Negotiation), a
// Length that fits, a bounded summary and bounded memory.
func FuzzQUICDecode(f *testing.F) {
	a2 := rfc9001A2(f)
	f.Add(a2)
	f.Add(a2[:100])                                                                                                     // an Initial cut: no decryption
	f.Add([]byte{0x80, 0, 0, 0, 0, 4, 1, 2, 3, 4, 2, 5, 6, 0, 0, 0, 1})                                                 // Version Negotiation
	f.Add(append([]byte{0xe0, 0, 0, 0, 1, 2, 1, 2, 1, 3, 0x40, 20}, make([]byte, 20)...))                               // Handshake
	f.Add([]byte{0xc0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // a token length beyond
	f.Add([]byte{0xc0, 0x0a, 0x1a, 0x2a, 0x3a, 0})                                                                      // reserved version
	var d QUICDecoder
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		var q QUICPacket
		err := d.Decode(&q, data)
		if !bytes.Equal(orig, data) {
			t.Fatal("Decode changed its input")
		}
		if err != nil {
			if err != ErrNotThis {
				t.Fatalf("error %v", err)
			}
			return
		}
		max := 20
		if q.Type == QUICVersionNegotiation {
			max = 255
		}
		for _, id := range [][]byte{q.DCID, q.SCID} {
			if len(id) > max || len(id) > 0 && !bytes.Contains(data, id) {
				t.Fatalf("a connection ID %x not of the datagram", id)
			}
		}
		if q.Length > len(data) {
			t.Fatalf("Length %d of a %d-byte datagram", q.Length, len(data))
		}
		if s := q.AppendSummary(nil); len(s) > 128+8*len(data)+2*QUICMaxCrypto {
			t.Fatalf("summary of %d bytes", len(s))
		}
		for _, c := range d.conns {
			if c != nil && (cap(c.dir[0].data) > QUICMaxCrypto || cap(c.dir[1].data) > QUICMaxCrypto || len(c.dir[0].have) > 33) {
				t.Fatalf("a connection holds %d bytes in %d ranges", cap(c.dir[0].data), len(c.dir[0].have))
			}
		}
	})
}

// FuzzQUICInitialRoundTrip: any frames sealed in an Initial of any
// version this package knows, any DCID, are decrypted back to the same
// bytes (encode, decode, identity); a CRYPTO frame of a ClientHello at
// the start is read back as that hello.
func FuzzQUICInitialRoundTrip(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0}, []byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(0), uint32(0), false)
	f.Add(AppendQUICCrypto(nil, 0, clientHello(f)[5:]), []byte{8, 7, 6, 5, 4, 3, 2, 1, 0}, uint8(1), uint32(7), true)
	f.Add(append([]byte{2, 5, 0, 1, 0}, make([]byte, 30)...), []byte("abcdefghijklmnopqrst"), uint8(2), uint32(1<<31), false)
	versions := [...]uint32{QUICv1, QUICv2, 0xff00001d, 0xff000017, 0xff000022}
	f.Fuzz(func(t *testing.T, payload, dcid []byte, vi uint8, pn uint32, hello bool) {
		if len(dcid) < 8 || len(dcid) > 20 || len(payload) > 1200 {
			return
		}
		v := versions[int(vi)%len(versions)]
		if hello {
			payload = append(AppendQUICCrypto(nil, 0, clientHello(t)[5:]), payload...)
		}
		// The header protection sample needs 4 bytes past the packet
		// number's 4: pad short payloads.
		payload = append(payload, make([]byte, max(0, 4-len(payload)))...)
		pkt, err := AppendQUICInitial(nil, v, dcid, dcid, []byte{9, 9}, pn, payload, false)
		if err != nil {
			t.Fatal(err)
		}
		var d QUICDecoder
		var q QUICPacket
		if err := d.Decode(&q, pkt); err != nil || !q.Decrypted || q.PN != uint64(pn) || q.Version != v || q.Type != QUICInitial {
			t.Fatalf("%v: decrypted %v pn %d version %x type %v", err, q.Decrypted, q.PN, q.Version, q.Type)
		}
		if !bytes.Equal(d.plain, payload) {
			t.Fatalf("payload %x, sealed %x", d.plain, payload)
		}
		if hello && (!q.Hello || string(q.TLS.SNI) != "a.test") {
			t.Fatalf("hello %v SNI %q", q.Hello, q.TLS.SNI)
		}
	})
}

// FuzzSIPDecode: any message: no panic; fields alias the data; a
// message whole on a stream is the same message as a datagram; the
// line printed as tcpdump does is the data's first line.
func FuzzSIPDecode(f *testing.F) {
	f.Add([]byte("INVITE sip:bob@b.test SIP/2.0\r\nCall-ID: a@b\r\nFrom: <sip:a@a>\r\nTo: <sip:b@b>\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\nabc"), uint16(0))
	f.Add([]byte("SIP/2.0 180 Ringing\r\ni: x\r\nl: 0\r\n\r\n"), uint16(9))
	f.Add([]byte("REGISTER tel:+1 SIP/2.0\n\n"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		var s, g SIP
		serr := s.Decode(data, false)
		gerr := g.Decode(data, true)
		if serr == nil && (gerr != nil || string(s.Method) != string(g.Method) || s.Status != g.Status || string(s.CallID) != string(g.CallID)) {
			t.Fatalf("stream %q/%d, datagram %v %q/%d", s.Method, s.Status, gerr, g.Method, g.Status)
		}
		if gerr == nil {
			for _, v := range [][]byte{g.Method, g.URI, g.Reason, g.CallID, g.From, g.To, g.CSeq} {
				if len(v) > 0 && !bytes.Contains(data, v) {
					t.Fatalf("%q not in the data", v)
				}
			}
			if n := g.MessageLen(); n < 0 || g.headerLen > len(data) {
				t.Fatalf("message length %d, header %d of %d", n, g.headerLen, len(data))
			}
			_ = g.AppendSummary(nil)
		}
		n := len(data) - int(cut)%(len(data)+1)
		line := AppendSIP(nil, data[:n], len(data))
		if rest, ok := bytes.CutPrefix(line, []byte("SIP: ")); ok && !bytes.HasPrefix(data, bytes.TrimSuffix(rest, []byte(" [|sip]"))) {
			t.Fatalf("%q is not the payload's first line (%q)", line, data)
		}
	})
}

// FuzzDNSAgainstGopacket: a differential test of Decode against
// gopacket's layers.DNS (an independent implementation) on the messages
// both accept whole: the header's id, flags, opcode, rcode and counts,
// every question, and the records each keeps (name, type, TTL, the
// address of A and AAAA, the target of CNAME, NS, PTR and MX, MX's
// preference, SRV's port and target).
func FuzzDNSAgainstGopacket(f *testing.F) {
	f.Add(sampleReply(f))
	f.Add([]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01"))
	f.Add([]byte("\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x01a\x00\x00\x0f\x00\x01\xc0\x0c\x00\x0f\x00\x01\x00\x00\x00\x3c\x00\x06\x00\x0a\x01m\xc0\x0c"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var m DNS
		if m.Decode(msg) != nil || m.NumQ < int(m.QDCount) || m.NumA < int(m.ANCount)+int(m.NSCount)+int(m.ARCount) {
			return // not all read (or more than Decode keeps)
		}
		var g layers.DNS
		if g.DecodeFromBytes(msg, gopacket.NilDecodeFeedback) != nil {
			return
		}
		h := m.Header
		if g.ID != h.ID || g.QR != h.Response || uint8(g.OpCode) != uint8(h.OpCode) || g.AA != h.Authoritative || g.TC != h.Truncated ||
			g.RD != h.RecursionDesired || g.RA != h.RecursionAvailable || uint8(g.ResponseCode)&0xf != uint8(h.RCode)&0xf {
			t.Fatalf("header: gopacket %+v, ours %+v", g, h)
		}
		if g.QDCount != m.QDCount || g.ANCount != m.ANCount || g.NSCount != m.NSCount || g.ARCount != m.ARCount || len(g.Questions) != m.NumQ {
			t.Fatalf("counts: gopacket %d/%d/%d/%d %d questions, ours %d/%d/%d/%d %d", g.QDCount, g.ANCount, g.NSCount, g.ARCount, len(g.Questions),
				m.QDCount, m.ANCount, m.NSCount, m.ARCount, m.NumQ)
		}
		for i, q := range g.Questions {
			ours := m.Questions[i]
			if sameName(q.Name, ours.Name.String()) && (uint16(q.Type) != uint16(ours.Type) || uint16(q.Class) != uint16(ours.Class)) {
				t.Fatalf("question %d: gopacket %s %v %v, ours %v", i, q.Name, q.Type, q.Class, ours)
			}
			if !sameName(q.Name, ours.Name.String()) && isPlainName(ours.Name.String()) {
				t.Fatalf("question %d: gopacket %q, ours %q", i, q.Name, ours.Name.String())
			}
		}
		rrs := append(append(append([]layers.DNSResourceRecord(nil), g.Answers...), g.Authorities...), g.Additionals...)
		if len(rrs) != m.NumA {
			t.Fatalf("%d records, ours %d", len(rrs), m.NumA)
		}
		for i, r := range rrs {
			a := m.Answers[i]
			if uint16(r.Type) != uint16(a.Type) || r.TTL != a.TTL || !sameName(r.Name, a.Name.String()) && isPlainName(a.Name.String()) {
				t.Fatalf("record %d: gopacket %s %v ttl %d, ours %s %v ttl %d", i, r.Name, r.Type, r.TTL, a.Name.String(), a.Type, a.TTL)
			}
			var target []byte
			switch r.Type {
			case layers.DNSTypeA, layers.DNSTypeAAAA:
				ip, _ := netip.AddrFromSlice(r.IP)
				if r.Type == layers.DNSTypeA {
					ip = ip.Unmap()
				}
				if ip != a.Addr {
					t.Fatalf("record %d: gopacket %v, ours %v", i, ip, a.Addr)
				}
				continue
			case layers.DNSTypeCNAME:
				target = r.CNAME
			case layers.DNSTypeNS:
				target = r.NS
			case layers.DNSTypePTR:
				target = r.PTR
			case layers.DNSTypeMX:
				target = r.MX.Name
				if r.MX.Preference != a.Pref {
					t.Fatalf("record %d: MX %d, ours %d", i, r.MX.Preference, a.Pref)
				}
			case layers.DNSTypeSRV:
				target = r.SRV.Name
				if r.SRV.Port != a.Port {
					t.Fatalf("record %d: SRV port %d, ours %d", i, r.SRV.Port, a.Port)
				}
			default:
				continue
			}
			if !sameName(target, a.Target.String()) && isPlainName(a.Target.String()) {
				t.Fatalf("record %d: gopacket target %q, ours %q", i, target, a.Target.String())
			}
		}
	})
}

// sameName: gopacket's name (no final dot, "" for the root) is
// dnsmessage's.
func sameName(g []byte, ours string) bool {
	return string(g)+"." == ours || len(g) == 0 && ours == "."
}
