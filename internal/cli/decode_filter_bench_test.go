package cli

import (
	"context"
	"io"
	"os"
	"testing"
)

// BenchmarkDecodeFileFilter is `ports decode FILE EXPR > /dev/null` in
// process, for a profile of the whole command (-cpuprofile): FILE is
// $PORTS_BENCH_PCAP (bench/mkpcap writes one), skipped when unset.
func BenchmarkDecodeFileFilter(b *testing.B) {
	file := os.Getenv("PORTS_BENCH_PCAP")
	if file == "" {
		b.Skip("PORTS_BENCH_PCAP is not set: give a capture, e.g. from go run ./bench/mkpcap")
	}
	for _, expr := range []string{"tcp port 80", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "dst net 172.16.0.0/16 and dst port 443", "tcp port 1"} {
		b.Run(expr, func(b *testing.B) {
			for b.Loop() {
				if code := Run(context.Background(), []string{"decode", file, expr}, io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}
