package mapper_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
)

func TestParseDest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want mapper.Dest
		err  string
	}{
		{in: "127.0.0.1:80", want: mapper.Dest{Addr: "127.0.0.1:80", Weight: 1}},
		{in: "[::1]:80 weight=3", want: mapper.Dest{Addr: "[::1]:80", Weight: 3}},
		{in: "db.internal:5432  max_conns=10 weight=256", want: mapper.Dest{Addr: "db.internal:5432", Weight: 256, MaxConns: 10}},
		{in: "", err: "an empty destination"},
		{in: "127.0.0.1", err: `destination "127.0.0.1" is not HOST:PORT`},
		{in: "127.0.0.1:80 weight=0", err: `destination "127.0.0.1:80 weight=0": weight "0" is not 1-256`},
		{in: "127.0.0.1:80 weight=257", err: `weight "257" is not 1-256`},
		{in: "127.0.0.1:80 max_conns=-1", err: `max_conns "-1" is not a count`},
		{in: "127.0.0.1:80 weight=2 weight=3", err: "weight given twice"},
		{in: "127.0.0.1:80 backup", err: `"backup" is not weight=N or max_conns=N`},
	} {
		got, err := mapper.ParseDest(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, mapper.ErrBadDest) {
				t.Errorf("ParseDest(%q) = %v, want an ErrBadDest saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDest(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseDest(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func FuzzParseDest(f *testing.F) {
	f.Add("127.0.0.1:80 weight=3 max_conns=5")
	f.Add("[::1]:1 weight=")           // empty value
	f.Add("a:1 max_conns=99999999999") // overflow
	f.Add("a:1\tweight=2\n")           // other white space
	f.Fuzz(func(t *testing.T, s string) {
		d, err := mapper.ParseDest(s)
		if err != nil {
			if !errors.Is(err, mapper.ErrBadDest) || strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("ParseDest(%q): error %q", s, err)
			}
			return
		}
		again, err := mapper.ParseDest(d.String())
		if err != nil || again != d {
			t.Fatalf("ParseDest(%q) = %+v, but its String %q parses to %+v, %v", s, d, d.String(), again, err)
		}
	})
}

// nameServer is a loopback TCP server that writes its name on every
// connection and then holds it until the client closes.
func nameServer(t *testing.T, name string) (*net.TCPListener, string) {
	t.Helper()
	l, ap := porttest.ListenTCP(t)
	porttest.Serve(l, func(c net.Conn) {
		fmt.Fprintln(c, name)
		io.Copy(io.Discard, c)
	})
	return l, ap.String()
}

// through connects to addr from local (when valid) and returns the
// connection and the name of the destination that answered.
func through(t *testing.T, local netip.Addr, addr string) (net.Conn, string, error) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	name, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", err
	}
	c.SetReadDeadline(time.Time{})
	return c, strings.TrimSpace(name), nil
}

// once makes one connection and closes it, returning who answered.
func once(t *testing.T, local netip.Addr, addr string) string {
	t.Helper()
	c, name, err := through(t, local, addr)
	if err != nil {
		t.Fatalf("connection from %v through the mapping: %v", local, err)
	}
	c.Close()
	return name
}

// TestBalanceSourceStable: 200 client addresses, 1,000 connections:
// each client always reaches the same destination; when one of three
// goes down, only its clients move.
func TestBalanceSourceStable(t *testing.T) {
	_, a := nameServer(t, "A")
	lb, b := nameServer(t, "B")
	_, c := nameServer(t, "C")
	s, rec, _ := newHealthServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "src", Type: mapper.TCP, Listen: testListen, To: []string{a, b, c},
		Balance: mapper.Source, Check: mapper.CheckTCP, CheckInterval: 50 * time.Millisecond, CheckTimeout: checkTimeout, Fall: 1}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("src")[0].String()
	clients := make([]netip.Addr, 200)
	for i := range clients {
		clients[i] = netip.AddrFrom4([4]byte{127, 77, byte(i / 250), byte(1 + i%250)})
	}
	where := map[netip.Addr]string{}
	per := map[string]int{}
	for round := range 5 {
		for _, cl := range clients {
			got := once(t, cl, addr)
			if round == 0 {
				where[cl] = got
				per[got]++
			} else if got != where[cl] {
				t.Fatalf("client %v reached %s, then %s", cl, where[cl], got)
			}
		}
	}
	for _, n := range []string{"A", "B", "C"} {
		if per[n] == 0 {
			t.Fatalf("clients per destination %v: %s has none", per, n)
		}
	}
	t.Logf("clients per destination: %v", per)

	lb.Close()
	porttest.WaitFor(t, "B marked down", func() bool { up, _ := rec.isUp("src", b); return !up })
	moved := 0
	for _, cl := range clients {
		got := once(t, cl, addr)
		switch {
		case where[cl] == "B" && got == "B":
			t.Fatalf("client %v still reached B, which is down", cl)
		case where[cl] == "B":
			moved++
		case got != where[cl]:
			t.Errorf("client %v of %s moved to %s when B went down", cl, where[cl], got)
		}
	}
	if moved != per["B"] {
		t.Errorf("%d clients moved, want B's %d", moved, per["B"])
	}
}

// TestBalanceLeastConn: long connections spread evenly, and new ones go
// where connections ended.
func TestBalanceLeastConn(t *testing.T) {
	_, a := nameServer(t, "A")
	_, b := nameServer(t, "B")
	_, c := nameServer(t, "C")
	s, rec, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "lc", Type: mapper.TCP, Listen: testListen, To: []string{a, b, c},
		Balance: mapper.LeastConn}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("lc")[0].String()
	held := map[string][]net.Conn{}
	count := map[string]int{}
	open := func(n int) {
		for range n {
			conn, name, err := through(t, netip.Addr{}, addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			held[name] = append(held[name], conn)
			count[name]++
		}
	}
	open(9)
	if want := map[string]int{"A": 3, "B": 3, "C": 3}; !cmp.Equal(want, count) {
		t.Fatalf("9 long connections spread %v, want %v", count, want)
	}
	for _, conn := range held["A"] {
		conn.Close()
	}
	rec.waitClosed(t, 3) // A's count falls as each relay ends
	clear(count)
	open(3)
	if want := map[string]int{"A": 3}; !cmp.Equal(want, count) {
		t.Fatalf("after A's 3 ended, 3 new connections went %v, want %v", count, want)
	}
}

// TestBalanceWeights: round-robin gives each destination its weight's
// share, interleaved.
func TestBalanceWeights(t *testing.T) {
	_, a := nameServer(t, "A")
	_, b := nameServer(t, "B")
	s, _, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "w", Type: mapper.TCP, Listen: testListen, To: []string{a + " weight=3", b}}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("w")[0].String()
	var seq strings.Builder
	for range 40 {
		seq.WriteString(once(t, netip.Addr{}, addr))
	}
	got := seq.String()
	if strings.Count(got, "A") != 30 || strings.Count(got, "B") != 10 {
		t.Fatalf("40 connections went %s, want 30 A and 10 B", got)
	}
	if strings.Contains(got, "BB") {
		t.Errorf("weights not interleaved: %s", got)
	}
}

// TestBalanceFirstAndDestCap: first fills destinations in order up to
// their max_conns; when all are full a client is reset at once.
func TestBalanceFirstAndDestCap(t *testing.T) {
	_, a := nameServer(t, "A")
	_, b := nameServer(t, "B")
	s, rec, _ := newServer(t)
	if err := s.Apply([]mapper.Rule{{Name: "f", Type: mapper.TCP, Listen: testListen,
		To: []string{a + " max_conns=2", b + " max_conns=1"}, Balance: mapper.First}}); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs("f")[0].String()
	var got []string
	var conns []net.Conn
	for range 3 {
		conn, name, err := through(t, netip.Addr{}, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
		got = append(got, name)
	}
	if want := []string{"A", "A", "B"}; !cmp.Equal(want, got) {
		t.Fatalf("connections went %v, want %v", got, want)
	}
	_, _, err := through(t, netip.Addr{}, addr)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a connection beyond every max_conns: %v, want a reset", err)
	}
	rec.waitRefused(t, "f/"+mapper.RefuseDestsFull)
	conns[0].Close()
	rec.waitClosed(t, 1)
	if name := once(t, netip.Addr{}, addr); name != "A" {
		t.Errorf("with room on A again the connection went to %s", name)
	}
}

func FuzzParseStatusRange(f *testing.F) {
	f.Add("200-399")
	f.Add("204")
	f.Add("599-100") // reversed
	f.Add("-")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := mapper.ParseStatusRange(s)
		if err != nil {
			return
		}
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			t.Fatalf("ParseStatusRange(%q) = %+v, out of 100-599", s, r)
		}
		again, err := mapper.ParseStatusRange(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseStatusRange(%q) = %+v; its String %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}
