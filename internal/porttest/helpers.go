package porttest

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
)

// LogBuffer collects output, such as a slog handler's, from several
// goroutines. The zero value is ready to use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// WaitFor polls cond every 20 ms until it holds, and fails the test if
// it does not within 20 s. The limit only bounds a hang; it is not a
// timing assertion.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// FreePorts returns n distinct ports of 127.0.0.1 that were free for
// both TCP and UDP when it looked (the kernel's choice for port 0).
func FreePorts(t testing.TB, n int) []ports.Port {
	t.Helper()
	var out []ports.Port
	seen := map[int]bool{}
	for tries := 0; len(out) < n; tries++ {
		if tries > 100*n {
			t.Fatalf("porttest: found only %d of %d ports free for TCP and UDP", len(out), n)
		}
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("porttest: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", l.Addr().String())
		l.Close()
		if err != nil || seen[port] {
			continue
		}
		u.Close()
		seen[port] = true
		out = append(out, ports.Port(port))
	}
	return out
}

// FreePort returns the first port that hostports.Free finds for cfg (see
// hostports.FreeConfig: a range, protocols, an address), failing the
// test if it finds none. Tests choose a range to keep clear of ports
// other packages' tests use at the same time.
func FreePort(t testing.TB, cfg hostports.FreeConfig) ports.Port {
	t.Helper()
	for p, err := range hostports.Free(context.Background(), cfg) {
		if err != nil {
			t.Fatalf("porttest: free port: %v", err)
		}
		return p
	}
	t.Fatalf("porttest: no free port in %v", cfg.Range)
	return 0
}

// Relay copies between a and b both ways until both directions end,
// passing each end of stream on with CloseWrite where the connection has
// it: the least a proxy test needs between a client and an upstream.
func Relay(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(b, a)
		closeWrite(b)
		close(done)
	}()
	io.Copy(a, b)
	closeWrite(a)
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
