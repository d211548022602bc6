package knock

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkMachineObserve feeds complete 3-knock sequences from 256
// sources, interleaved, as a busy server sees them.
func BenchmarkMachineObserve(b *testing.B) {
	d, _ := ParseSequence("7000,8000:udp,9000")
	m := NewMachine([]Door{{Name: "open", Sequence: d}})
	var hits []Hit
	for i := range 256 {
		src := srcA.As4()
		src[3] = byte(i)
		for j, k := range d {
			hits = append(hits, Hit{Src: srcFrom(src), Dst: dst, Proto: k.Proto, Port: k.Port, Time: t0.Add(time.Duration(j) * time.Millisecond)})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.Observe(hits[i%len(hits)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
}

// BenchmarkMachineIgnored is a packet to a port of no sequence: the common
// case on a sniffer whose filter is loose.
func BenchmarkMachineIgnored(b *testing.B) {
	d, _ := ParseSequence("7000,8000:udp,9000")
	m := NewMachine([]Door{{Name: "open", Sequence: d}})
	h := tcpHit(srcA, 22, 0)
	b.ReportAllocs()
	for range b.N {
		m.Observe(h)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
}

func srcFrom(b [4]byte) netip.Addr { return netip.AddrFrom4(b) }
