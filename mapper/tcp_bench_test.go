package mapper_test

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// BenchmarkShortConnections opens b.N connections (4 at a time) through
// a TCP mapping to a loopback echo server, one 32-byte round trip each,
// with a text log line per connection as `ports map` writes them.
func BenchmarkShortConnections(b *testing.B) {
	l, up := porttest.ListenTCP(b)
	serveEcho(l)
	s := mapper.New(&mapper.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer s.Close()
	if err := s.Apply([]mapper.Rule{{Name: "short", Type: mapper.TCP, Listen: "127.0.0.1:0", To: []string{up.String()}}}); err != nil {
		b.Fatal(err)
	}
	addr := s.Addrs("short")[0].String()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, buf := make([]byte, 32), make([]byte, 32)
			for i := w; i < b.N; i += 4 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				c.Write(msg)
				io.ReadFull(c, buf)
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
}
