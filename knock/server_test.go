package knock

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/pcapfile"
)

// recorder is a RunFunc that records the argument lists.
type recorder struct {
	mu   sync.Mutex
	runs [][]string
	ch   chan struct{}
}

func (r *recorder) run(_ context.Context, argv []string) error {
	r.mu.Lock()
	r.runs = append(r.runs, argv)
	r.mu.Unlock()
	r.ch <- struct{}{}
	return nil
}

func TestServerCommands(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(`[open]
sequence = 7000,8000:udp
start_command = /sbin/iptables -A INPUT -s %IP% -j ACCEPT -m comment --comment "knock from %IP%"
stop_command = /sbin/iptables -D INPUT -s %IP% -j ACCEPT
cmd_timeout = 3600
`), "t.conf")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{ch: make(chan struct{}, 4)}
	srv, _ := NewServer(ServerConfig{Config: cfg, Run: rec.run})
	srv.Handle(tcpHit(srcA, 7000, 0))
	srv.Handle(udpHit(srcA, 8000, time.Second))
	<-rec.ch
	// Close does not wait an hour: it runs the pending stop command now.
	srv.Close()
	<-rec.ch
	want := [][]string{
		{"/sbin/iptables", "-A", "INPUT", "-s", "198.18.0.1", "-j", "ACCEPT", "-m", "comment", "--comment", "knock from 198.18.0.1"},
		{"/sbin/iptables", "-D", "INPUT", "-s", "198.18.0.1", "-j", "ACCEPT"},
	}
	if diff := cmp.Diff(want, rec.runs); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

func TestServerReload(t *testing.T) {
	cfg, _ := ParseConfig(strings.NewReader("[a]\nsequence = 7000\n"), "a.conf")
	srv, _ := NewServer(ServerConfig{Config: cfg})
	f, changed := srv.Filter()
	if f != "tcp dst port 7000" {
		t.Errorf("filter %q", f)
	}
	cfg2, _ := ParseConfig(strings.NewReader("[b]\nsequence = 9000:udp,9001\n"), "b.conf")
	srv.Reload(cfg2)
	select {
	case <-changed:
	default:
		t.Error("Reload did not signal the filter change")
	}
	if f, _ := srv.Filter(); f != "tcp dst port 9001 or udp dst port 9000" {
		t.Errorf("filter after reload %q", f)
	}
	srv.Handle(tcpHit(srcA, 7000, 0))
	if n := srv.m.Attempts(); n != 0 {
		t.Errorf("the old sequence still counts: %d attempts", n)
	}
}

// manyDoors returns a configuration of n doors, each a sequence of three
// scattered ports (TCP, UDP, TCP) from seed.
func manyDoors(n int, seed uint32) string {
	var b strings.Builder
	next := func() int { seed = seed*1103515245 + 12345; return 1024 + int(seed>>8)%64000 }
	for i := range n {
		fmt.Fprintf(&b, "[door%d]\nsequence = %d,%d:udp,%d\n", i, next(), next(), next())
	}
	return b.String()
}

// TestFilterManyDoors: the capture filter of 1 to 1000 doors compiles to
// a program of at most 600 instructions (100 doors took 5,594 and were
// refused; 50 took 2,763, which an optmem_max of 20 KiB refuses), and it
// admits every knock of every door; up to MaxFilterRanges ranges of a
// protocol, it admits nothing else.
func TestFilterManyDoors(t *testing.T) {
	for _, n := range []int{1, 20, 50, 100, 1000} {
		cfg, err := ParseConfig(strings.NewReader(manyDoors(n, 12345)), "many.conf")
		if err != nil {
			t.Fatal(err)
		}
		srv, _ := NewServer(ServerConfig{Config: cfg})
		expr, _ := srv.Filter()
		m, err := filter.NewMatcher(expr, pcapfile.LinkTypeEthernet)
		if err != nil {
			t.Fatalf("%d doors: %v", n, err)
		}
		t.Logf("%d doors: %d BPF instructions", n, len(m.Program()))
		if len(m.Program()) > 600 {
			t.Errorf("%d doors: %d instructions", n, len(m.Program()))
		}
		knocks := make(map[Knock]bool)
		for _, d := range cfg.Doors {
			for _, k := range d.Sequence {
				knocks[k] = true
			}
		}
		exact := n <= 20 // 60 ports, at most 40 of one protocol
		for _, proto := range []ports.Proto{ports.ProtoTCP, ports.ProtoUDP} {
			for port := 1; port < 65536; port++ {
				k := Knock{Port: ports.Port(port), Proto: proto}
				pkt := ethernetIPv4(proto, port)
				got := m.Match(pkt, len(pkt))
				if knocks[k] && !got {
					t.Fatalf("%d doors: the filter drops the knock %v", n, k)
				}
				if exact && got && !knocks[k] {
					t.Fatalf("%d doors: the filter admits %v, in no sequence", n, k)
				}
			}
		}
	}
}

// ethernetIPv4 is an Ethernet frame with an IPv4 TCP or UDP header to
// port.
func ethernetIPv4(proto ports.Proto, port int) []byte {
	p := byte(6)
	if proto == ports.ProtoUDP {
		p = 17
	}
	pkt := make([]byte, 14, 54)
	pkt[12] = 0x08
	pkt = append(pkt, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, p, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2)
	return append(pkt, 0x9c, 0x40, byte(port>>8), byte(port), 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0, 0, 0, 0, 0, 0)
}

// TestCoverPorts: at most max sorted ranges, holding every port, joined
// across the narrowest gaps; exact when the ports fit.
func TestCoverPorts(t *testing.T) {
	ps := []ports.Port{10, 11, 12, 20, 50, 51, 100, 1000, 1003}
	r := func(a, b ports.Port) ports.Range { return ports.Range{First: a, Last: b} }
	for _, tt := range []struct {
		max  int
		want []ports.Range
	}{
		{10, []ports.Range{r(10, 12), r(20, 20), r(50, 51), r(100, 100), r(1000, 1000), r(1003, 1003)}},
		{4, []ports.Range{r(10, 20), r(50, 51), r(100, 100), r(1000, 1003)}},
		{2, []ports.Range{r(10, 100), r(1000, 1003)}},
		{1, []ports.Range{r(10, 1003)}},
	} {
		if diff := cmp.Diff(tt.want, coverPorts(slices.Clone(ps), tt.max)); diff != "" {
			t.Errorf("max %d (-want +got):\n%s", tt.max, diff)
		}
	}
}
