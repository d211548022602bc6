package mapper_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// BenchmarkRelayStream streams 64 MiB per iteration one way through a
// relay between two loopback connections: mapper.Relay with a Progress
// callback (as a mapping meters), against the bare io.Copy both ways of
// bench/gofwd, the reference forwarder. b.SetBytes gives MB/s.
func BenchmarkRelayStream(b *testing.B) {
	for _, tc := range []struct {
		name  string
		relay func(client, upstream *net.TCPConn)
	}{
		{"Relay", func(client, upstream *net.TCPConn) {
			var mu sync.Mutex
			var up int64
			mapper.Relay(context.Background(), client, upstream, &mapper.RelayConfig{Progress: func(u, d int64) {
				mu.Lock()
				up += u
				mu.Unlock()
			}})
		}},
		{"IOCopy", func(client, upstream *net.TCPConn) {
			porttest.Relay(client, upstream) // io.Copy each way and CloseWrite, as bench/gofwd does
			client.Close()
			upstream.Close()
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const size = 64 << 20
			b.SetBytes(size)
			buf := make([]byte, 256<<10)
			for b.Loop() {
				front, back := porttest.ListenTCP(b)
				sinkL, sinkAddr := porttest.ListenTCP(b)
				var wg sync.WaitGroup
				wg.Go(func() { // the upstream: reads everything
					c, err := sinkL.Accept()
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, c)
					c.Close()
				})
				wg.Go(func() { // the relay
					client, err := front.Accept()
					if err != nil {
						b.Error(err)
						return
					}
					upstream, err := net.Dial("tcp", sinkAddr.String())
					if err != nil {
						b.Error(err)
						return
					}
					tc.relay(client.(*net.TCPConn), upstream.(*net.TCPConn))
				})
				c, err := net.Dial("tcp", back.String())
				if err != nil {
					b.Fatal(err)
				}
				for sent := 0; sent < size; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
				c.Close()
				wg.Wait()
				front.Close()
				sinkL.Close()
			}
		})
	}
}
