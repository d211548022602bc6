package mapper_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

// udpEcho starts a UDP echo server on loopback and returns its address.
func udpEcho(t *testing.T) string {
	pc, addr := porttest.ListenUDP(t)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return addr.String()
}

// TestUDPMappingMaxConns: 10 UDP clients against max_conns 4 get 4
// sessions (all 10 were answered), and the datagrams of the other 6 are
// logged in a line or two with their count, not one line each.
func TestUDPMappingMaxConns(t *testing.T) {
	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "u", Type: mapper.UDP, Listen: testListen, To: []string{udpEcho(t)},
		MaxConns: 4, IdleTimeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	mp := s.Addrs("u")[0].String()
	const clients, each = 10, 5
	var cs []net.Conn
	for i := range clients {
		c, err := net.Dial("udp", mp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
		for j := range each {
			fmt.Fprintf(c, "client %d datagram %d", i, j)
		}
	}
	// Every client waits for its echo until the same deadline: the 4
	// admitted answer at once, the others never.
	deadline := time.Now().Add(2 * time.Second)
	answered := 0
	for _, c := range cs {
		c.SetReadDeadline(deadline)
		buf := make([]byte, 100)
		if _, err := c.Read(buf); err == nil {
			answered++
		}
	}
	if answered != 4 {
		t.Errorf("%d of %d clients answered, want 4 (max_conns 4)", answered, clients)
	}
	refusedDatagrams := (clients - 4) * each
	rec.mu.Lock()
	counted := rec.refused["u/"+mapper.RefuseMaxConns]
	rec.mu.Unlock()
	if counted != refusedDatagrams {
		t.Errorf("%d refusals counted, want %d", counted, refusedDatagrams)
	}
	// The refusals are logged with counts adding up to every datagram,
	// in far fewer lines than datagrams.
	var lines, sum int
	porttest.WaitFor(t, "the refusal log lines", func() bool {
		lines, sum = 0, 0
		for _, l := range logLines(logs, "refused") {
			lines++
			n, _ := strconv.Atoi(logField(l, "count"))
			sum += n
		}
		return sum == refusedDatagrams
	})
	if lines > 3 {
		t.Errorf("%d refusal lines for %d datagrams, want a line per second with a count:\n%s", lines, refusedDatagrams, logs)
	}
	if !strings.Contains(logs.String(), "reason=max_conns") {
		t.Errorf("no max_conns reason in:\n%s", logs)
	}
}

// TestUDPMappingIdleTimeout: the rule's idle_timeout (1s) ends a UDP
// session (it lasted a fixed 60 s), which frees its place under
// max_conns for a new client.
func TestUDPMappingIdleTimeout(t *testing.T) {
	s, rec, logs := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "u", Type: mapper.UDP, Listen: testListen, To: []string{udpEcho(t)},
		MaxConns: 1, IdleTimeout: time.Second}}); err != nil {
		t.Fatal(err)
	}
	mp := s.Addrs("u")[0].String()
	echo := func(c net.Conn) error {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_, err := c.Read(make([]byte, 10))
		return err
	}
	a, _ := net.Dial("udp", mp)
	defer a.Close()
	if err := echo(a); err != nil {
		t.Fatalf("first client: %v", err)
	}
	st := rec.waitClosed(t, 1)[0]
	if st.Reason != mapper.ReasonIdle {
		t.Fatalf("session ended by %q, want idle", st.Reason)
	}
	if !strings.Contains(logs.String(), "reason=idle") {
		t.Errorf("no idle session end logged:\n%s", logs)
	}
	b, _ := net.Dial("udp", mp)
	defer b.Close()
	if err := echo(b); err != nil {
		t.Fatalf("a new client after the session idled out: %v", err)
	}
}
