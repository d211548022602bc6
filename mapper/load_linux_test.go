package mapper_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// loadHelper starts this test binary again as a helper process (the echo
// server or the clients), each in its own process so that each stays
// under the file descriptor limit.
type loadHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHelper(t *testing.T, env ...string) *loadHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadHelper$", "-test.v=false")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &loadHelper{cmd: cmd, stdin: in, out: bufio.NewReader(out)}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	return h
}

func (h *loadHelper) line(t *testing.T) string {
	t.Helper()
	s, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	return strings.TrimSpace(s)
}

// TestLoadHelper is the helper process of TestLoad10000Connections; it
// does nothing in a normal run.
func TestLoadHelper(t *testing.T) {
	role := os.Getenv("MAPPER_LOAD_HELPER")
	if role == "" {
		t.Skip("helper process of TestLoad10000Connections")
	}
	raiseNoFile()
	stdin := bufio.NewReader(os.Stdin)
	switch role {
	case "echo":
		// A read/write loop, not io.Copy, whose splice would hold a
		// pipe (two more descriptors) per idle connection.
		addr := porttest.ServeTCP(t, func(c net.Conn) {
			buf := make([]byte, 512)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		})
		fmt.Printf("%d\n", addr.Port())
		io.Copy(io.Discard, stdin)
	case "client":
		addr := os.Getenv("MAPPER_LOAD_ADDR")
		n, _ := strconv.Atoi(os.Getenv("MAPPER_LOAD_N"))
		stdin.ReadString('\n') // "go"
		conns := make([]net.Conn, n)
		var failed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				fail := func(err error) { failed.Add(1); firstErr.CompareAndSwap(nil, err.Error()) }
				c, err := net.Dial("tcp", addr)
				if err != nil {
					fail(err)
					return
				}
				conns[i] = c
				c.SetDeadline(time.Now().Add(120 * time.Second))
				b := []byte{byte(i)}
				if _, err := c.Write(b); err != nil {
					fail(err)
					return
				}
				if _, err := io.ReadFull(c, b); err != nil {
					fail(err)
				}
			}()
		}
		wg.Wait()
		fmt.Printf("open %d failed %d %v\n", n, failed.Load(), firstErr.Load())
		stdin.ReadString('\n')
		for _, c := range conns {
			if c != nil {
				// A reset, which the mapping passes on: no TIME_WAIT
				// sockets left to hold thousands of loopback ports for a
				// minute while other tests need some.
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}
		fmt.Println("closed")
		io.Copy(io.Discard, stdin)
	}
}

// raiseNoFile sets the soft file descriptor limit to the hard one and
// returns the hard one.
func raiseNoFile() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Max
}

// TestLoad10000Connections holds 10,000 connections open through one
// mapping at once (clients and echo server in two helper processes),
// closes them, and checks that the mapping leaves no file descriptor and
// no goroutine behind. The mapping needs two descriptors per connection:
// under a hard RLIMIT_NOFILE below 21,000 (which only CAP_SYS_RESOURCE
// can raise) the test runs as many as fit and says so (7,000 with the race
// detector, whose sync.Pool keeps Go's splice pipes from being reused).
func TestLoad10000Connections(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("MAPPER_LOAD_N")); err == nil && v > 0 {
		n = v // for trying smaller loads by hand
	}
	var old syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old)
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	want := syscall.Rlimit{Cur: 2*uint64(n) + 500, Max: max(old.Max, 2*uint64(n)+500)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		hard := raiseNoFile()
		n = int(hard-1000) / 2 // room for the splice pipes in flight and in Go's pipe pool
		if raceEnabled {
			n = min(n, 7000)
		}
		t.Logf("hard RLIMIT_NOFILE is %d and cannot be raised (%v): %d connections at once instead of 10,000", hard, err, n)
	}

	echo := startHelper(t, "MAPPER_LOAD_HELPER=echo")
	echoPort := echo.line(t)
	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "load", Type: mapper.TCP, Listen: "127.0.0.1:0", To: []string{"127.0.0.1:" + echoPort}, MaxConns: 2 * n}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("load")[0].String()
	cl := startHelper(t, "MAPPER_LOAD_HELPER=client", "MAPPER_LOAD_ADDR="+addr, fmt.Sprintf("MAPPER_LOAD_N=%d", n))
	runtime.GC()
	fds0, gor0 := countFDs(t), runtime.NumGoroutine()
	io.WriteString(cl.stdin, "go\n")
	if got := cl.line(t); !strings.HasPrefix(got, fmt.Sprintf("open %d failed 0 ", n)) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var errLines []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "err=") || strings.Contains(l, "level=WARN") {
				errLines = append(errLines, l)
			}
		}
		t.Fatalf("clients: %s\nmapping: accepted %d, failed %v, refused %v; first warnings:\n%s",
			got, rec.accepted["load"], rec.failed, rec.refused, strings.Join(errLines[:min(5, len(errLines))], "\n"))
	}
	// Every client got its echo: all n are relayed at this moment.
	rec.mu.Lock()
	accepted, closed := rec.accepted["load"], len(rec.closed)
	rec.mu.Unlock()
	// (Others on this machine, a port scan say, may connect too.)
	if accepted-closed < n {
		t.Fatalf("%d accepted, %d closed while all were open; want %d open", accepted, closed, n)
	}
	t.Logf("%d connections open through the mapping: %d file descriptors in the mapping process (%d before)", n, countFDs(t), fds0)
	io.WriteString(cl.stdin, "close\n")
	if got := cl.line(t); got != "closed" {
		t.Fatalf("clients: %s", got)
	}
	rec.waitClosed(t, n)
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		fds, gor := countFDs(t), runtime.NumGoroutine()
		if fds <= fds0 && gor <= gor0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing: %d fds (was %d), %d goroutines (was %d)", fds, fds0, gor, gor0)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
