package spa

import (
	"testing"
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
