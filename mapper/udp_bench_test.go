package mapper_test

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// BenchmarkUDPMapping runs b.N 64-byte request/response round trips, 32
// clients at once, through a UDP mapping to a loopback echo socket, and
// reports round trips per second; the mapping reads one datagram per
// system call (batch=1) or up to 8 (batch=8, recvmmsg on Linux). A round
// trip lost is retried after 100ms and counted in "lost".
func BenchmarkUDPMapping(b *testing.B) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			echo, echoAddr := porttest.ListenUDP(b)
			go func() {
				buf := make([]byte, 2048)
				for {
					n, from, err := echo.ReadFromUDPAddrPort(buf)
					if err != nil {
						return
					}
					echo.WriteToUDPAddrPort(buf[:n], from)
				}
			}()
			s := mapper.New(&mapper.Config{UDPBatch: batch})
			defer s.Close()
			if err := s.Apply([]mapper.Rule{{Name: "u", Type: mapper.UDP, Listen: "127.0.0.1:0", To: []string{echoAddr.String()}}}); err != nil {
				b.Fatal(err)
			}
			to := net.UDPAddrFromAddrPort(s.Addrs("u")[0])
			const clients = 32
			var lost atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.DialUDP("udp4", nil, to)
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Close()
					msg, buf := make([]byte, 64), make([]byte, 128)
					for j := i; j < b.N; j += clients {
						for {
							c.Write(msg)
							c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
							if _, err := c.Read(buf); err == nil {
								break
							}
							lost.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "rtt/s")
			b.ReportMetric(float64(lost.Load()), "lost")
		})
	}
}
