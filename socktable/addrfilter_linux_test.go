package socktable

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// ssSockets runs ss -tanH with the filter expression expr in h's
// namespace and returns its sockets as "STATE LOCAL PEER" lines, the
// peer of a listener as port 0, sorted. With "state established" first
// in expr, ss leaves out its State column, which this puts back.
func ssSockets(t *testing.T, h *porttest.Host, ss string, expr ...string) []string {
	t.Helper()
	estab := len(expr) > 1 && expr[0] == "state" && expr[1] == "established"
	out, err := h.Command(context.Background(), ss, append([]string{"-tanH"}, expr...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ss %s: %v: %s", strings.Join(expr, " "), err, out)
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if estab {
			f = append([]string{"ESTAB"}, f...)
		}
		if len(f) < 5 {
			continue
		}
		peer := f[4]
		if strings.HasSuffix(peer, ":*") {
			peer = strings.TrimSuffix(peer, "*") + "0"
		}
		lines = append(lines, f[0]+" "+f[3]+" "+peer)
	}
	slices.Sort(lines)
	return lines
}

// TestIntegrationAddrFilters compares the sockets that address filters
// select, compiled into the kernel's bytecode, with what ss's src, dst,
// sport and dport expressions select, on 2,000 sockets between several
// loopback addresses (127.0.0.0/8 and ::1, and IPv4-mapped addresses
// on a dual-stack listener) in a namespace of the test's own.
func TestIntegrationAddrFilters(t *testing.T) {
	ss := porttest.LookTool(t, "ss", "iproute2")
	h := porttest.NewPair(t, nil).A

	// Listeners: three IPv4 addresses, ::1, and a dual-stack wildcard
	// that IPv4 clients reach on 127.0.0.5.
	var ls []net.Listener
	for _, a := range []string{"tcp4|127.0.0.1:0", "tcp4|127.0.0.2:0", "tcp4|127.0.0.3:0", "tcp6|[::1]:0", "tcp|[::]:0"} {
		network, addr, _ := strings.Cut(a, "|")
		l, err := h.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ls = append(ls, l)
	}
	lport := func(i int) uint16 { return uint16(ls[i].Addr().(*net.TCPAddr).Port) }
	targets := []string{
		fmt.Sprintf("127.0.0.1:%d", lport(0)), fmt.Sprintf("127.0.0.2:%d", lport(1)),
		fmt.Sprintf("127.0.0.3:%d", lport(2)), fmt.Sprintf("[::1]:%d", lport(3)),
		fmt.Sprintf("127.0.0.5:%d", lport(4)),
	}
	const conns = 1000 // 2,000 sockets
	accepted := make(chan net.Conn, conns)
	for _, l := range ls {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
	}
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	err := h.Do(func() error {
		for i := range conns {
			target := i % len(targets)
			src := fmt.Sprintf("127.0.0.%d", 10+i%7)
			if target == 3 {
				src = "::1"
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			c, err := d.Dial("tcp", targets[target])
			if err != nil {
				return err
			}
			clients = append(clients, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for range conns {
		c := <-accepted
		defer c.Close()
	}

	total := len(ssSockets(t, h, ss))
	if total != 2*conns+len(ls) {
		t.Fatalf("ss lists %d sockets in the namespace, want %d", total, 2*conns+len(ls))
	}
	parse := func(list ...string) []AddrFilter {
		var fs []AddrFilter
		for _, s := range list {
			f, err := ParseAddrFilter(s)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		return fs
	}
	p := func(i int) string { return fmt.Sprint(lport(i)) }
	for _, tt := range []struct {
		local, peer []string
		states      States
		ss          string
	}{
		{local: []string{"127.0.0.2"}, ss: "src 127.0.0.2"},
		{local: []string{"127.0.0.0/8"}, ss: "src 127.0.0.0/8"},
		{local: []string{"::1"}, ss: "src [::1]"},
		{local: []string{"127.0.0.1", "127.0.0.3"}, ss: "( src 127.0.0.1 or src 127.0.0.3 )"},
		{peer: []string{"127.0.0.1:" + p(0)}, ss: "dst 127.0.0.1:" + p(0)},
		{peer: []string{"127.0.0.10/31"}, states: StatesOf(StateEstablished), ss: "state established dst 127.0.0.10/31"},
		{local: []string{":" + p(1)}, peer: []string{"127.0.0.12/30"}, ss: "sport = :" + p(1) + " and dst 127.0.0.12/30"},
		{local: []string{"127.0.0.5:" + p(4)}, ss: "src 127.0.0.5:" + p(4)}, // IPv4-mapped sockets
		{peer: []string{"[::1]:" + p(3), "127.0.0.2:" + p(1)}, ss: "( dst [::1]:" + p(3) + " or dst 127.0.0.2:" + p(1) + " )"},
		{local: []string{"127.0.0.0/8:1-" + p(2)}, ss: "src 127.0.0.0/8 and sport >= :1 and sport <= :" + p(2)},
		{peer: []string{"*:" + p(0) + "-" + p(0)}, local: []string{"127.0.0.14", "127.0.0.16"}, ss: "dport = :" + p(0) + " and ( src 127.0.0.14 or src 127.0.0.16 )"},
	} {
		name := fmt.Sprintf("local %v peer %v", tt.local, tt.peer)
		opts := &Options{NetNS: h.Name, Protos: []ports.Proto{ports.ProtoTCP}, States: tt.states,
			LocalAddrs: parse(tt.local...), RemoteAddrs: parse(tt.peer...)}
		if opts.bytecode() == nil {
			t.Fatalf("%s: no bytecode", name)
		}
		socks, err := Append(context.Background(), nil, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, s := range socks {
			got = append(got, s.State.String()+" "+s.Local.String()+" "+s.Remote.String())
		}
		slices.Sort(got)
		want := ssSockets(t, h, ss, strings.Fields(tt.ss)...)
		if len(want) == 0 || len(want) == total {
			t.Errorf("%s: ss %q lists %d sockets: the filter selects nothing or everything", name, tt.ss, len(want))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s vs ss %q (-ss +ports):\n%s", name, tt.ss, diff)
		}
		// The kernel alone, running the bytecode (List would fall back
		// to user space if it refused it), selects the same.
		src, err := openSource(h.Name)
		if err != nil {
			t.Fatal(err)
		}
		states := tt.states
		if states == 0 {
			states = AllStates
		}
		var kernel []string
		err = src.dumpOnce(0, ports.ProtoTCP, states, opts.bytecode(), func(s *Socket) bool {
			kernel = append(kernel, s.State.String()+" "+s.Local.String()+" "+s.Remote.String())
			return true
		})
		src.close()
		if err != nil {
			t.Fatalf("%s: the kernel refused the bytecode: %v", name, err)
		}
		slices.Sort(kernel)
		if diff := cmp.Diff(want, kernel); diff != "" {
			t.Errorf("%s: the kernel's filtering vs ss %q (-ss +kernel):\n%s", name, tt.ss, diff)
		}
	}
}
