package knock

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
