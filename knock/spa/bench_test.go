package spa

import (
	"fmt"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

func BenchmarkEncode(b *testing.B) {
	keys, _ := GenerateKeys(nil)
	m := &Message{User: "alice", Type: AccessMsg, Access: "198.18.0.1,tcp/22", Timestamp: 1795246808}
	b.ReportAllocs()
	for range b.N {
		if _, err := Encode(m, keys, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkDecode checks and decrypts the packet made by the real fwknop.
func BenchmarkDecode(b *testing.B) {
	keys, v := fwknopVector(b)
	pkt := v["PACKET"]
	b.ReportAllocs()
	for range b.N {
		if _, err := Decode(pkt, keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkRejectBadHMAC is the cost of a forged packet: HMAC only.
func BenchmarkRejectBadHMAC(b *testing.B) {
	keys, v := fwknopVector(b)
	pkt := []byte(v["PACKET"])
	pkt[len(pkt)-2] ^= 1
	s := string(pkt)
	b.ReportAllocs()
	for range b.N {
		if _, err := Decode(s, keys); err == nil {
			b.Fatal("accepted")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkDecodeGPG checks and decrypts a signed GnuPG packet (RSA
// 2048 keys, the signature checked against GPG_REMOTE_ID): the cost of
// a valid fwknop -g packet, for comparison with BenchmarkDecode.
func BenchmarkDecodeGPG(b *testing.B) {
	srv, cli := fuzzKeys()
	keys := Keys{HMAC: []byte("an HMAC key")}
	m := &Message{User: "alice", Type: AccessMsg, Access: "198.18.0.1,tcp/22", Timestamp: 1795246808}
	pkt, err := EncodeGPG(m, GPGEncrypt{Recipient: srv, Signer: cli}, keys, nil)
	if err != nil {
		b.Fatal(err)
	}
	id := fmt.Sprintf("%X", cli.PrimaryKey.Fingerprint)[32:]
	g := &GPGDecrypt{Keys: openpgp.EntityList{srv, cli}, RequireSig: true, RemoteIDs: []string{id}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := DecodeGPG(pkt, g, keys, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkRejectBadHMACGPG is the cost of a forged GnuPG packet: the
// HMAC only, no RSA.
func BenchmarkRejectBadHMACGPG(b *testing.B) {
	srv, _ := fuzzKeys()
	keys := Keys{HMAC: []byte("an HMAC key")}
	m := &Message{User: "alice", Type: AccessMsg, Access: "198.18.0.1,tcp/22", Timestamp: 1795246808}
	pkt, err := EncodeGPG(m, GPGEncrypt{Recipient: srv}, keys, nil)
	if err != nil {
		b.Fatal(err)
	}
	bad := []byte(pkt)
	bad[len(bad)-2] ^= 1
	s := string(bad)
	g := &GPGDecrypt{Keys: openpgp.EntityList{srv}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := DecodeGPG(s, g, keys, time.Time{}); err == nil {
			b.Fatal("accepted")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
