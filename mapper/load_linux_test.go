package mapper_test

import (
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestLoad10000Connections holds 10,000 connections open through one
// mapping at once, closes them, and checks that no file descriptor and
// no goroutine is left behind.
func TestLoad10000Connections(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 10000
	// client, accepted, upstream and echo side: 4 descriptors each.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	old := lim
	need := uint64(4*n + 1000)
	if lim.Cur < need {
		lim.Cur = need
		if lim.Max < need {
			lim.Max = need
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Skipf("needs RLIMIT_NOFILE %d (hard limit %d; raising it needs CAP_SYS_RESOURCE): %v", need, old.Max, err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	}

	l, up := porttest.ListenTCP(t)
	serveEcho(l)
	s, rec, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "load", Type: mapper.TCP, Listen: "127.0.0.1:0", To: []string{up.String()}, MaxConns: 2 * n}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("load")[0].String()
	runtime.GC()
	fds0, gor0 := countFDs(t), runtime.NumGoroutine()

	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 256)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			c.SetDeadline(time.Now().Add(60 * time.Second))
			b := []byte{byte(i)}
			if _, err := c.Write(b); err != nil {
				errs <- err
				return
			}
			if _, err := c.Read(b); err != nil || b[0] != byte(i) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	var first error
	for err := range errs {
		if first == nil {
			first = err
		}
		failed++
	}
	if failed > 0 {
		t.Fatalf("%d of %d connections failed to echo through the mapping; first: %v", failed, n, first)
	}
	rec.mu.Lock()
	accepted := rec.accepted["load"]
	rec.mu.Unlock()
	if accepted != n {
		t.Fatalf("%d connections relayed at once, want %d", accepted, n)
	}
	for _, c := range conns {
		c.Close()
	}
	rec.waitClosed(t, n)
	// Grace period: the echo side and the runtime let go.
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		fds, gor := countFDs(t), runtime.NumGoroutine()
		if fds <= fds0 && gor <= gor0+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing: %d fds (was %d), %d goroutines (was %d)", fds, fds0, gor, gor0)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
