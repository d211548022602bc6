package socktable

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// ssEndCounters parses `ss -tinEH` output: the byte counters of each
// ended socket, by its local port.
func ssEndCounters(out string) map[uint16][2]uint64 {
	m := map[uint16][2]uint64{}
	re := regexp.MustCompile(`\S+:(\d+)\s+\S+:\d+[^\n]*\n?[^\n]*?bytes_acked:(\d+) bytes_received:(\d+)`)
	for _, f := range re.FindAllStringSubmatch(out, -1) {
		port, _ := strconv.Atoi(f[1])
		acked, _ := strconv.ParseUint(f[2], 10, 64)
		recv, _ := strconv.ParseUint(f[3], 10, 64)
		m[uint16(port)] = [2]uint64{acked, recv}
	}
	return m
}

// TestIntegrationEnds makes 100 short connections of known sizes in a
// namespace of the test's own and checks that Ends reports each one's
// end once, with its byte counts as they were sent and as `ss -tinE`,
// run beside it, reports them; and that a connection open before Ends
// started is Known, with its process.
func TestIntegrationEnds(t *testing.T) {
	ss := porttest.LookTool(t, "ss", "iproute2")
	h := porttest.NewPair(t, nil).A
	l, err := h.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	server := l.Addr().(*net.TCPAddr).AddrPort()
	reply := func(n int) int { return 2*n + 7 }
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				c.Write(make([]byte, reply(int(n))))
			}()
		}
	}()
	dial := func() (*net.TCPConn, error) {
		var c net.Conn
		err := h.Do(func() error {
			var err error
			c, err = net.Dial("tcp4", server.String())
			return err
		})
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
	long, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	longPort := uint16(long.LocalAddr().(*net.TCPAddr).Port)

	// stdbuf: ss writes through stdio, which holds a pipe's output back.
	stdbuf := porttest.LookTool(t, "stdbuf", "coreutils")
	ssOut := h.Start(t, stdbuf, "-oL", ss, "-tinEH", "dst", server.String())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu     sync.Mutex
		ends   []SocketEnd
		endErr error
		over   = make(chan struct{})
	)
	go func() {
		defer close(over)
		opts := &Options{NetNS: h.Name, Protos: []ports.Proto{ports.ProtoTCP}, Processes: true,
			RemoteAddrs: []AddrFilter{{Prefix: netip.PrefixFrom(server.Addr(), 32), Ports: ports.Range{First: ports.Port(server.Port()), Last: ports.Port(server.Port())}}}}
		for e, err := range Ends(ctx, opts) {
			mu.Lock()
			if err != nil {
				endErr = err
			} else {
				ends = append(ends, e)
			}
			mu.Unlock()
		}
	}()
	ended := func(port uint16) int {
		mu.Lock()
		defer mu.Unlock()
		if endErr != nil {
			t.Fatalf("Ends: %v", endErr)
		}
		n := 0
		for _, e := range ends {
			if e.Socket.Local.Port() == port {
				n++
			}
		}
		return n
	}
	// Probes until both Ends and ss report one's end: both are then
	// reading their groups.
	var probes []uint16
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("probes %v; %d ends (error %v); ss -E printed:\n%.2000s", probes, len(ends), endErr, ssOut.String())
		}
	})
	porttest.WaitFor(t, "Ends and ss -E to report a probe connection's end", func() bool {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		probes = append(probes, uint16(c.LocalAddr().(*net.TCPAddr).Port))
		c.Close()
		for _, p := range probes {
			if ended(p) > 0 && strings.Contains(ssOut.String(), fmt.Sprintf(":%d ", p)) {
				return true
			}
		}
		return false
	})

	const conns = 100
	sizes := map[uint16]int{}
	for i := range conns {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		n := 977*i + 13
		if _, err := c.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		got, err := io.Copy(io.Discard, c)
		if err != nil || int(got) != reply(n) {
			t.Fatalf("connection %d: reply of %d bytes, %v; want %d", i, got, err, reply(n))
		}
		c.Close()
		sizes[uint16(c.LocalAddr().(*net.TCPAddr).Port)] = n
	}
	long.Close()
	porttest.WaitFor(t, "an end event of every connection", func() bool {
		for p := range sizes {
			if ended(p) == 0 {
				return false
			}
		}
		return ended(longPort) > 0
	})
	porttest.WaitFor(t, "ss -E to report every connection's end", func() bool {
		m := ssEndCounters(ssOut.String())
		for p := range sizes {
			if _, ok := m[p]; !ok {
				return false
			}
		}
		return true
	})
	fromSS := ssEndCounters(ssOut.String())
	cancel()
	<-over // the sequence ends once ctx does

	mu.Lock()
	defer mu.Unlock()
	count := map[uint16]int{}
	for _, e := range ends {
		count[e.Socket.Local.Port()]++
	}
	for _, e := range ends {
		port := e.Socket.Local.Port()
		if port == longPort {
			if !e.Known || !slices.ContainsFunc(e.Socket.Procs, func(p Process) bool { return p.PID == os.Getpid() }) || e.Duration <= 0 {
				t.Errorf("the connection open before Ends: %+v; want it Known, with this process and a duration", e)
			}
			continue
		}
		n, ok := sizes[port]
		if !ok {
			continue // a probe
		}
		if count[port] != 1 {
			t.Errorf("port %d: %d end events, want 1", port, count[port])
		}
		// bytes_acked counts the SYN and the FIN sent too, bytes_received
		// the FIN received; bytes_sent counts retransmissions.
		want := [2]uint64{uint64(n) + 2, uint64(reply(n)) + 1}
		sentOK := e.BytesSent == uint64(n) || e.TotalRetrans > 0 && e.BytesSent > uint64(n)
		if !e.HasInfo || !sentOK || [2]uint64{e.BytesAcked, e.BytesReceived} != want {
			t.Errorf("port %d: sent %d (%d retransmitted segments), acked %d, received %d (info %v); want sent %d, acked and received %v", port, e.BytesSent, e.TotalRetrans, e.BytesAcked, e.BytesReceived, e.HasInfo, n, want)
		}
		if got := fromSS[port]; got != [2]uint64{e.BytesAcked, e.BytesReceived} {
			t.Errorf("port %d: acked and received %d %d, ss -E says %v", port, e.BytesAcked, e.BytesReceived, got)
		}
		if e.Socket.Remote != server || e.Socket.Proto != ports.ProtoTCP {
			t.Errorf("port %d: end %+v is not of a connection to %v", port, e.Socket, server)
		}
	}
}
