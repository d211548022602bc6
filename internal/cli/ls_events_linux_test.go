package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
)

// TestIntegrationLsEvents runs ls --events --format jsonl in a namespace
// of the test's own, makes connections of known sizes there, and checks
// one end line each with the kernel's counters for those sizes; then
// that cancelling (Ctrl-C) ends it with exit 0.
func TestIntegrationLsEvents(t *testing.T) {
	h := porttest.NewPair(t, nil).A
	l, err := h.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	server := l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				c.Write(make([]byte, 3*n+1))
			}()
		}
	}()
	// dial sends n bytes, reads the answer and closes; it returns the
	// client's port.
	dial := func(n int) int {
		var c net.Conn
		if err := h.Do(func() (err error) { c, err = net.Dial("tcp4", server); return err }); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(make([]byte, n))
		c.(*net.TCPConn).CloseWrite()
		if got, err := io.Copy(io.Discard, c); err != nil || got != int64(3*n+1) {
			t.Fatalf("answer of %d bytes, %v; want %d", got, err, 3*n+1)
		}
		return c.LocalAddr().(*net.TCPAddr).Port
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &porttest.LogBuffer{}
	var errb strings.Builder
	code := make(chan int, 1)
	go func() {
		code <- Run(ctx, []string{"ls", "--events", "--format", "jsonl", "--netns", h.Name, "--peer", server}, out, &errb)
	}()
	ends := func() map[int]render.SocketEndV1 {
		m := map[int]render.SocketEndV1{}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var e render.SocketEndV1
			if line == "" {
				continue
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			m[int(e.Local.Port)] = e
		}
		return m
	}
	var probes []int
	porttest.WaitFor(t, "ls --events to report a probe connection's end", func() bool {
		probes = append(probes, dial(0))
		for _, p := range probes {
			if _, ok := ends()[p]; ok {
				return true
			}
		}
		return false
	})
	sizes := map[int]int{}
	for i := range 10 {
		sizes[dial(1000*i+5)] = 1000*i + 5
	}
	porttest.WaitFor(t, "an end line for each connection", func() bool {
		m := ends()
		for p := range sizes {
			if _, ok := m[p]; !ok {
				return false
			}
		}
		return true
	})
	for p, n := range sizes {
		e := ends()[p]
		if e.Proto != "tcp" || e.Remote == nil || e.Remote.String() != server || e.BytesAcked == nil || *e.BytesAcked != uint64(n+2) || *e.BytesReceived != uint64(3*n+1+1) {
			t.Errorf("port %d (%d bytes sent, %d received): %+v", p, n, 3*n+1, e)
		}
	}
	cancel()
	if c := <-code; c != ExitOK {
		t.Errorf("ls --events: exit %d after Ctrl-C, want 0: %s", c, errb.String())
	}
}
