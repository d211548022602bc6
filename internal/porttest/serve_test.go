package porttest_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
)

// TestServeProxy: the handshake's error reaches Result, and the upstream
// it returns is relayed both ways with the client until both close.
func TestServeProxy(t *testing.T) {
	echo := porttest.ServeTCP(t, func(c net.Conn) { io.Copy(c, c) })
	refused := errors.New("refused")
	l, _ := porttest.ListenTCP(t)
	ps := porttest.ServeProxy(t, l, func(ctx context.Context, c net.Conn) (net.Conn, error) {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "let me in\n" {
			return nil, refused
		}
		return net.Dial("tcp", echo.String())
	})
	if ps.Queued() != 0 {
		t.Fatalf("Queued() = %d before any connection", ps.Queued())
	}
	dial := func(greeting string) net.Conn {
		c, err := net.Dial("tcp", ps.Addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(ioTimeout))
		io.WriteString(c, greeting)
		return c
	}
	dial("go away\n")
	if err := ps.Result(t); err != refused {
		t.Fatalf("Result() = %v, want %v", err, refused)
	}
	c := dial("let me in\n")
	if err := ps.Result(t); err != nil {
		t.Fatalf("Result() = %v", err)
	}
	io.WriteString(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	if b, err := io.ReadAll(c); err != nil || string(b) != "ping" {
		t.Fatalf("through the relay: %q, %v", b, err)
	}
}

// TestPipeHandshake: a handshake that dials through a PipeDialer sees
// what the client sent and returns what it dialled.
func TestPipeHandshake(t *testing.T) {
	d := porttest.NewPipeDialer(t)
	client, wait := porttest.PipeHandshake(t, func(ctx context.Context, c net.Conn) (net.Conn, error) {
		target, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return nil, err
		}
		return d.Dial(ctx, "tcp", target[:len(target)-1])
	})
	if d.Dialed() != "" {
		t.Fatalf("Dialed() = %q before any dial", d.Dialed())
	}
	go porttest.Trickle(client, []byte("example.com:443\n"), 0)
	up, err := wait()
	if err != nil || up != d.Near {
		t.Fatalf("handshake returned %v, %v; want the pipe's near end", up, err)
	}
	if d.Dialed() != "tcp example.com:443" {
		t.Fatalf("Dialed() = %q", d.Dialed())
	}
}

func TestClock(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	c := porttest.NewClock(start)
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("Now() = %v after Advance(90s) from %v", got, start)
	}
}

// TestGo: the context Go returns ends with the test, and fn's result is
// checked then (a test of its own, so that its cleanup runs here).
func TestGo(t *testing.T) {
	var ctx context.Context
	t.Run("run", func(t *testing.T) {
		ctx = porttest.Go(t, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		if ctx.Err() != nil {
			t.Fatal("context ended before the test")
		}
	})
	if ctx.Err() == nil {
		t.Fatal("context still running after the test")
	}
}

func TestExistsAndLookTool(t *testing.T) {
	dir := t.TempDir()
	if porttest.Exists(filepath.Join(dir, "nothing")) || !porttest.Exists(dir) {
		t.Error("Exists is wrong about a missing file or an existing directory")
	}
	if p := porttest.LookTool(t, "ip", "iproute2"); filepath.Base(p) != "ip" {
		t.Errorf("LookTool(ip) = %q", p)
	}
}
