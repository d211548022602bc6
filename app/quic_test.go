package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rfc9001A2 is the client Initial of RFC 9001 Appendix A.2: a spec test
// vector, 1200 bytes.
func rfc9001A2(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/rfc9001-a2-client-initial.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil || len(b) != 1200 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	return b
}

// TestQUICRFC9001Vector decodes RFC 9001 A.2's client Initial and
// compares what it finds with the values the RFC gives: the DCID
// 8394c8f03e515708, no SCID, packet number 2, a Length of 0x449e (the 2-byte varint of 1182),
// a ClientHello for example.com offering ALPN "alpn" and two cipher suites, as
// the RFC's unprotected payload has them.
func TestQUICRFC9001Vector(t *testing.T) {
	pkt := rfc9001A2(t)
	orig := bytes.Clone(pkt)
	var d QUICDecoder
	var q QUICPacket
	if err := d.Decode(&q, pkt); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pkt, orig) {
		t.Fatal("Decode changed its input")
	}
	type view struct {
		Version        uint32
		Type           string
		DCID, SCID     string
		Length         int
		PN             uint64
		Decrypted      bool
		Hello          bool
		SNI, ALPN      string
		Ciphers        int
		PayloadLen     int
		PlainCryptoHex string
	}
	got := view{q.Version, q.Type.String(), hex.EncodeToString(q.DCID), hex.EncodeToString(q.SCID), q.Length, q.PN, q.Decrypted, q.Hello,
		string(q.TLS.SNI), string(q.TLS.AppendALPN(nil, ",")), q.TLS.NumCiphers, len(d.plain), hex.EncodeToString(d.plain[:24])}
	want := view{1, "Initial", "8394c8f03e515708", "", 0x049e, 2, true, true, "example.com", "alpn", 2, 1162,
		// RFC 9001 A.2: "060040f1010000ed0303ebf8fa56f12939b9584a3896472e"
		"060040f1010000ed0303ebf8fa56f12939b9584a3896472e"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if s := string(q.AppendSummary(nil)); s != "QUIC Initial v1 SNI example.com ALPN alpn" {
		t.Errorf("summary %q", s)
	}
	// The same bytes with one bit changed are still a QUIC Initial, but
	// no longer decrypt.
	pkt[600] ^= 1
	var d2 QUICDecoder
	if err := d2.Decode(&q, pkt); err != nil || q.Decrypted || q.Hello {
		t.Errorf("a changed packet: %v decrypted %v", err, q.Decrypted)
	}
}

// quicClientHello is the ClientHello crypto/tls's QUIC client sends
// (transport parameters, key shares and all: post-quantum ones make it
// longer than one Initial).
func quicClientHello(t testing.TB, sni string, alpn ...string) []byte {
	t.Helper()
	c := tls.QUICClient(&tls.QUICConfig{TLSConfig: &tls.Config{ServerName: sni, NextProtos: alpn, MinVersion: tls.VersionTLS13}})
	c.SetTransportParameters([]byte{0x01, 0x02, 0x40, 0x64})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var hello []byte
	for e := c.NextEvent(); e.Kind != tls.QUICNoEvent; e = c.NextEvent() {
		if e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelInitial {
			hello = append(hello, e.Data...)
		}
	}
	if len(hello) == 0 {
		t.Fatal("no ClientHello")
	}
	return hello
}

// QUICInitials splits a ClientHello into Initials of 1200 bytes at most
// as clients do, CRYPTO frames in order, each packet padded.
func quicInitials(t testing.TB, v uint32, dcid, scid, hello []byte, chunk int) [][]byte {
	t.Helper()
	var pkts [][]byte
	for off, pn := 0, uint32(0); off < len(hello); pn++ {
		end := min(off+chunk, len(hello))
		payload := AppendQUICCrypto(nil, uint64(off), hello[off:end])
		payload = append(payload, make([]byte, max(0, 1100-len(payload)))...)
		p, err := AppendQUICInitial(nil, v, dcid, dcid, scid, pn, payload, false)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
		off = end
	}
	return pkts
}

// TestQUICInitialVersions: Initials sealed for v1, v2 and draft-29 with
// crypto/tls's ClientHello are read back, the hello split over two or
// three packets reported once, at the one that completes it, also out
// of order.
func TestQUICInitialVersions(t *testing.T) {
	hello := quicClientHello(t, "a.test", "h3", "h3-29")
	dcid, scid := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{9, 9, 9, 9}
	for _, c := range []struct {
		v     uint32
		name  string
		chunk int
		rev   bool
	}{{QUICv1, "v1", 4000, false}, {QUICv1, "v1", 700, false}, {QUICv2, "v2", 500, false}, {0xff00001d, "draft-29", 600, true}, {0xff000022, "draft-34", 900, false}} {
		pkts := quicInitials(t, c.v, dcid, scid, hello, c.chunk)
		if c.rev {
			for i, j := 0, len(pkts)-1; i < j; i, j = i+1, j-1 {
				pkts[i], pkts[j] = pkts[j], pkts[i]
			}
		}
		var d QUICDecoder
		var lines []string
		for _, p := range pkts {
			var q QUICPacket
			if err := d.Decode(&q, p); err != nil || !q.Decrypted {
				t.Fatalf("%s: %v decrypted %v", c.name, err, q.Decrypted)
			}
			lines = append(lines, string(q.AppendSummary(nil)))
		}
		var want []string
		for range len(pkts) - 1 {
			want = append(want, "QUIC Initial "+c.name)
		}
		want = append(want, "QUIC Initial "+c.name+" SNI a.test ALPN h3,h3-29")
		if diff := cmp.Diff(want, lines); diff != "" {
			t.Errorf("%s in %d-byte pieces (-want +got)\n%s", c.name, c.chunk, diff)
		}
	}
}

// TestQUICServerInitial: the server's Initial, to the SCID the client
// gave, is decrypted with the server keys of the client's first DCID.
func TestQUICServerInitial(t *testing.T) {
	hello := quicClientHello(t, "a.test", "h3")
	dcid, cscid, sscid := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{7, 7, 7, 7}, []byte{5, 5, 5, 5, 5}
	var d QUICDecoder
	for _, p := range quicInitials(t, QUICv1, dcid, cscid, hello, 4000) {
		var q QUICPacket
		if err := d.Decode(&q, p); err != nil || !q.Hello {
			t.Fatalf("client Initial: %v", err)
		}
	}
	// A ServerHello: legacy version, random, empty session id, the
	// cipher, no compression, supported_versions TLS 1.3.
	sh := []byte{2, 0, 0, 0, 3, 3}
	sh = append(sh, make([]byte, 32)...)
	sh = append(sh, 0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4)
	sh[3] = byte(len(sh) - 4)
	payload := append(AppendQUICCrypto(nil, 0, sh), make([]byte, 100)...)
	p, err := AppendQUICInitial(nil, QUICv1, dcid, cscid, sscid, 0, payload, true)
	if err != nil {
		t.Fatal(err)
	}
	var q QUICPacket
	if err := d.Decode(&q, p); err != nil {
		t.Fatal(err)
	}
	if s := string(q.AppendSummary(nil)); !q.FromServer || s != "QUIC Initial v1 ServerHello TLS_AES_128_GCM_SHA256" {
		t.Errorf("server %v: %q", q.FromServer, s)
	}
}

// TestQUICOtherHeaders: Version Negotiation, Handshake, Retry and a
// reserved version by their headers; datagrams that are not QUIC.
func TestQUICOtherHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		pkt  []byte
		want string // "" for ErrNotThis
	}{
		{"version negotiation", []byte{0x80, 0, 0, 0, 0, 4, 1, 2, 3, 4, 2, 5, 6, 0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf, 0x1a, 0x2a, 0x3a, 0x4a}, "QUIC Version Negotiation v1,v2,0x1a2a3a4a"},
		{"handshake", append([]byte{0xe0, 0, 0, 0, 1, 2, 1, 2, 1, 3, 0x40, 20}, make([]byte, 20)...), "QUIC Handshake v1"},
		{"v2 handshake", append([]byte{0xf0, 0x6b, 0x33, 0x43, 0xcf, 2, 1, 2, 1, 3, 0x40, 20}, make([]byte, 20)...), "QUIC Handshake v2"},
		{"0-rtt coalesced", append(append([]byte{0xd0, 0, 0, 0, 1, 0, 0, 5}, make([]byte, 5)...), 0xe0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0x40, 9, 9), "QUIC 0-RTT v1 + Handshake + 1-RTT"},
		{"retry", append([]byte{0xf0, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4, 't', 'o', 'k'}, make([]byte, 16)...), "QUIC Retry v1"},
		{"reserved version", []byte{0xc0, 0x0a, 0x1a, 0x2a, 0x3a, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0}, "QUIC long header 0x0a1a2a3a"},
		{"unknown version", []byte{0xc0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0}, ""},
		{"short header", []byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8}, ""},
		{"cid too long", append([]byte{0xc0, 0, 0, 0, 1, 21}, make([]byte, 40)...), ""},
		{"length beyond", []byte{0xe0, 0, 0, 0, 1, 0, 0, 0x40, 50, 1, 2}, ""},
		{"dns", []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, ""},
		{"empty", nil, ""},
	} {
		var d QUICDecoder
		var q QUICPacket
		err := d.Decode(&q, c.pkt)
		if c.want == "" {
			if err != ErrNotThis || IsQUIC(c.pkt) {
				t.Errorf("%s: %v, want ErrNotThis", c.name, err)
			}
			continue
		}
		if err != nil || !IsQUIC(c.pkt) {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if s := string(q.AppendSummary(nil)); s != c.want {
			t.Errorf("%s: %q, want %q", c.name, s, c.want)
		}
	}
}

// TestQUICTableBound: more exchanges than QUICMaxConns at once: the
// oldest are forgotten (their second packet finds no first), the table
// does not grow, and the newest still complete.
func TestQUICTableBound(t *testing.T) {
	hello := quicClientHello(t, "b.test", "h3")
	var d QUICDecoder
	var seconds [][]byte
	n := QUICMaxConns + 8
	for i := range n {
		dcid := []byte{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8}
		pkts := quicInitials(t, QUICv1, dcid, nil, hello, (len(hello)+1)/2)
		var q QUICPacket
		if err := d.Decode(&q, pkts[0]); err != nil || q.Hello {
			t.Fatal(err, q.Hello)
		}
		seconds = append(seconds, pkts[1])
	}
	// Newest first: a forgotten one's second packet takes a slot again.
	for i := n - 1; i >= 0; i-- {
		p := seconds[i]
		var q QUICPacket
		if err := d.Decode(&q, p); err != nil {
			t.Fatal(err)
		}
		if old := i < n-QUICMaxConns; q.Hello == old {
			t.Errorf("exchange %d of %d: hello %v", i, n, q.Hello)
		}
	}
	for _, c := range d.conns {
		if c != nil && cap(c.dir[0].data) > QUICMaxCrypto {
			t.Errorf("a buffer of %d bytes", cap(c.dir[0].data))
		}
	}
}

// TestQUICNotQUICNoAllocs: the test of a datagram that is not QUIC, the
// path every other UDP datagram takes, allocates nothing.
func TestQUICNotQUICNoAllocs(t *testing.T) {
	var d QUICDecoder
	var q QUICPacket
	dns := []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1}
	if n := testing.AllocsPerRun(100, func() { d.Decode(&q, dns) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestSIPNoAllocs: SIP's test of a datagram, the other path of every
// UDP datagram on a port tcpdump prints nothing for, allocates nothing.
func TestSIPNoAllocs(t *testing.T) {
	var s SIP
	msg := []byte("INVITE sip:bob@b.test SIP/2.0\r\nCall-ID: x@y\r\nCSeq: 1 INVITE\r\n\r\n")
	other := []byte("\x00\x01binary payload")
	b := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() {
		s.Decode(other, true)
		s.Decode(msg, true)
		b = s.AppendSummary(b[:0])
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// BenchmarkQUICInitials: a client's two Initials of a new exchange per
// iteration (keys derived, both decrypted, the hello put together and
// read), and a datagram that is not QUIC.
func BenchmarkQUICInitials(b *testing.B) {
	hello := quicClientHello(b, "a.test", "h3")
	var exch [][][]byte
	for i := range 256 {
		exch = append(exch, quicInitials(b, QUICv1, []byte{byte(i), 2, 3, 4, 5, 6, 7, 8}, nil, hello, (len(hello)+1)/2))
	}
	var d QUICDecoder
	var q QUICPacket
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for _, p := range exch[i%len(exch)] {
			d.Decode(&q, p)
		}
	}
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "pkts/s")
}
