package app

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// cryptoTLSHello is the first flight of a crypto/tls client asking for
// sni and alpn: a real ClientHello, read off a net.Pipe.
func cryptoTLSHello(t testing.TB, sni string, alpn ...string) []byte {
	t.Helper()
	c, s := net.Pipe()
	go func() {
		// InsecureSkipVerify: nothing is verified, the handshake stops at the hello.
		tls.Client(c, &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true}).Handshake()
	}()
	defer c.Close()
	defer s.Close()
	head := make([]byte, 5)
	if _, err := io.ReadFull(s, head); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 5+int(binary.BigEndian.Uint16(head[3:])))
	copy(rec, head)
	if _, err := io.ReadFull(s, rec[5:]); err != nil {
		t.Fatal(err)
	}
	return rec
}

// FuzzTLSAgainstGopacket: a differential test of TLSHello.Decode
// against gopacket's layers.TLS (an independent implementation) on the
// ClientHellos both accept: the record version, the hello's version,
// the number of cipher suites and the SNI. gopacket reads the
// server_name extension's name without bounding it by the extension's
// own length, so SNIs are compared only where that extension is well
// formed (its list and name lengths fill it).
func FuzzTLSAgainstGopacket(f *testing.F) {
	f.Add(clientHello(f))
	f.Add(cryptoTLSHello(f, "a.test", "h2", "http/1.1"))
	f.Add(cryptoTLSHello(f, ""))                                                                                  // no server_name at all
	f.Add([]byte("\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03" + string(make([]byte, 32)) + "\x00\x00\x00\x00")) // no ciphers, no extensions
	f.Fuzz(func(t *testing.T, data []byte) {
		var h TLSHello
		if h.Decode(data) != nil || h.Type != 1 {
			return
		}
		var g layers.TLS
		if g.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil || len(g.Handshake) == 0 || g.Handshake[0].ClientHello.HandshakeType != 1 {
			return
		}
		gh := g.Handshake[0]
		ch := gh.ClientHello
		if uint16(gh.Version) != h.RecordVersion || uint16(ch.ProtocolVersion) != h.Version || int(ch.CipherSuitsLength)/2 != h.NumCiphers {
			t.Fatalf("gopacket record %#x hello %#x %d ciphers; ours %#x %#x %d", gh.Version, ch.ProtocolVersion, ch.CipherSuitsLength/2,
				h.RecordVersion, h.Version, h.NumCiphers)
		}
		if sniWellFormed(ch.Extensions) && !bytes.Equal(ch.SNI, h.SNI) {
			t.Fatalf("SNI: gopacket %q, ours %q", ch.SNI, h.SNI)
		}
	})
}

// sniWellFormed reports whether every server_name extension in exts is
// one host_name entry whose lengths fill the extension exactly.
func sniWellFormed(exts []byte) bool {
	for len(exts) >= 4 {
		typ, l := binary.BigEndian.Uint16(exts), int(binary.BigEndian.Uint16(exts[2:]))
		if len(exts) < 4+l {
			return true // both stop here
		}
		body := exts[4 : 4+l]
		if typ == 0 && (len(body) < 5 || int(binary.BigEndian.Uint16(body)) != len(body)-2 || body[2] != 0 ||
			int(binary.BigEndian.Uint16(body[3:])) != len(body)-5) {
			return false
		}
		exts = exts[4+l:]
	}
	return true
}
