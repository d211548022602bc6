package socktable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// find returns the sockets of proto matching local (and remote, if valid).
func find(t *testing.T, opts *Options, proto ports.Proto, local, remote netip.AddrPort) []Socket {
	t.Helper()
	socks, err := Append(context.Background(), nil, opts)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	var out []Socket
	for _, s := range socks {
		if s.Proto == proto && s.Local == local && (!remote.IsValid() || s.Remote == remote) {
			out = append(out, s)
		}
	}
	return out
}

func addrPort(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	t.Fatalf("unexpected address %T", a)
	return netip.AddrPort{}
}

func ownedByUs(s Socket) bool {
	return slices.ContainsFunc(s.Procs, func(p Process) bool { return p.PID == os.Getpid() })
}

func TestRealSockets(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1:0"
			if network == "tcp6" {
				host = "[::1]:0"
			}
			l, err := net.Listen(network, host)
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer l.Close()
			lap := addrPort(t, l.Addr())

			got := find(t, &Options{Processes: true}, ports.ProtoTCP, lap, netip.AddrPort{})
			if len(got) != 1 || got[0].State != StateListen || got[0].Proto != ports.ProtoTCP || !ownedByUs(got[0]) {
				t.Fatalf("listener %v: got %+v, want one LISTEN socket owned by pid %d", lap, got, os.Getpid())
			}
			if p := got[0].Procs[0]; p.Name == "" || len(p.Cmdline) == 0 || p.User == "" {
				t.Errorf("process %+v lacks name, command line or user", p)
			}

			c, err := net.Dial(network, lap.String())
			if err != nil {
				t.Fatal(err)
			}
			srv, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			cap := addrPort(t, c.LocalAddr())
			// Both ends, ESTAB, each the mirror of the other.
			if got := find(t, &Options{Processes: true}, ports.ProtoTCP, cap, lap); len(got) != 1 || got[0].State != StateEstablished || !ownedByUs(got[0]) {
				t.Errorf("client end %v -> %v: got %+v", cap, lap, got)
			}
			if got := find(t, nil, ports.ProtoTCP, lap, cap); len(got) != 1 || got[0].State != StateEstablished {
				t.Errorf("server end %v -> %v: got %+v", lap, cap, got)
			}
			// Kernel-side filters: the state mask and the port bytecode.
			// Every socket they pass must match; ours must be among them.
			// (Other packages' tests run alongside: a listener or a
			// connection of theirs on another address may have the same
			// port number.)
			port := ports.Port(lap.Port())
			opts := &Options{States: StatesOf(StateListen), LocalPorts: []ports.Range{{First: port, Last: port}}}
			socks, err := Append(context.Background(), nil, opts)
			if err != nil || !slices.ContainsFunc(socks, func(s Socket) bool { return s.Local == lap }) {
				t.Errorf("LISTEN on port %d: got %+v, %v; want the listener among them", port, socks, err)
			}
			for _, s := range socks {
				if s.State != StateListen || s.Local.Port() != lap.Port() {
					t.Errorf("LISTEN on port %d passed %+v", port, s)
				}
			}
			opts = &Options{RemotePorts: []ports.Range{{First: port, Last: port}}}
			socks, err = Append(context.Background(), nil, opts)
			if err != nil || !slices.ContainsFunc(socks, func(s Socket) bool { return s.Local == cap && s.Remote == lap }) {
				t.Errorf("remote port %d: got %+v, %v; want the client end among them", port, socks, err)
			}
			for _, s := range socks {
				if s.Remote.Port() != lap.Port() {
					t.Errorf("remote port %d passed %+v", port, s)
				}
			}

			c.Close()
			srv.Close()
			l.Close()
			for _, s := range find(t, nil, ports.ProtoTCP, lap, netip.AddrPort{}) {
				if s.State == StateListen || s.State == StateEstablished {
					t.Errorf("after close, %v is still %v", lap, s.State)
				}
			}
		})
	}
}

func TestRealUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ap := addrPort(t, pc.LocalAddr())
	got := find(t, &Options{Protos: []ports.Proto{ports.ProtoUDP}, Processes: true}, ports.ProtoUDP, ap, netip.AddrPort{})
	if len(got) != 1 || got[0].State != StateClose || got[0].Proto != ports.ProtoUDP || !ownedByUs(got[0]) {
		t.Fatalf("udp %v: got %+v, want one UNCONN socket of ours", ap, got)
	}
	if got := find(t, &Options{Protos: []ports.Proto{ports.ProtoTCP}}, ports.ProtoUDP, ap, netip.AddrPort{}); len(got) != 0 {
		t.Errorf("TCP-only listing shows the UDP socket: %+v", got)
	}
	if got := find(t, &Options{Family: 6}, ports.ProtoUDP, ap, netip.AddrPort{}); len(got) != 0 {
		t.Errorf("IPv6-only listing shows an IPv4 socket: %+v", got)
	}
	pc.Close()
	if got := find(t, nil, ports.ProtoUDP, ap, netip.AddrPort{}); len(got) != 0 {
		t.Errorf("closed UDP socket still listed: %+v", got)
	}
}

// TestProcNetFallback lists through /proc/net as when netlink is refused,
// and expects the same sockets as netlink gives.
func TestProcNetFallback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lap := addrPort(t, l.Addr())
	viaNetlink := find(t, &Options{Processes: true}, ports.ProtoTCP, lap, netip.AddrPort{})

	saved := netlinkSocket
	netlinkSocket = func() (int, error) { return -1, unix.EPROTONOSUPPORT }
	defer func() { netlinkSocket = saved }()
	viaProc := find(t, &Options{Processes: true}, ports.ProtoTCP, lap, netip.AddrPort{})
	if len(viaProc) != 1 || len(viaNetlink) != 1 {
		t.Fatalf("netlink found %d, /proc %d sockets on %v; want 1 each", len(viaNetlink), len(viaProc), lap)
	}
	a, b := viaNetlink[0], viaProc[0]
	if a.Local != b.Local || a.State != b.State || a.Inode != b.Inode || a.UID != b.UID || !ownedByUs(b) {
		t.Errorf("netlink %+v\n/proc %+v", a, b)
	}
}

func TestIntegrationNetNS(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	l, err := pair.A.Listen("tcp", netip.AddrPortFrom(pair.A.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lap := addrPort(t, l.Addr())
	if got := find(t, &Options{NetNS: pair.A.Name, Processes: true}, ports.ProtoTCP, lap, netip.AddrPort{}); len(got) != 1 || got[0].State != StateListen || !ownedByUs(got[0]) {
		t.Errorf("in netns %s: got %+v, want our listener on %v", pair.A.Name, got, lap)
	}
	if got := find(t, nil, ports.ProtoTCP, lap, netip.AddrPort{}); len(got) != 0 {
		t.Errorf("listener inside netns %s shows in the host namespace: %+v", pair.A.Name, got)
	}
	if got := find(t, &Options{NetNS: pair.B.Name}, ports.ProtoTCP, lap, netip.AddrPort{}); len(got) != 0 {
		t.Errorf("listener of %s shows in %s: %+v", pair.A.Name, pair.B.Name, got)
	}
}

func TestNetNSErrors(t *testing.T) {
	for _, ns := range []string{"no-such-netns-xyz", "/nonexistent/ns", "/proc/self/status"} {
		_, err := Append(context.Background(), nil, &Options{NetNS: ns})
		if err == nil {
			t.Errorf("NetNS %q: no error", ns)
			continue
		}
		if !strings.Contains(err.Error(), ns) {
			t.Errorf("NetNS %q: error %q does not name it", ns, err)
		}
		// The user's terms: what is wrong with the namespace, not the
		// package or the system call.
		var nse *NetNSError
		if !errors.As(err, &nse) || nse.Name != ns || strings.Contains(err.Error(), "socktable") || strings.Contains(err.Error(), "setns") {
			t.Errorf("NetNS %q: error %q is not a NetNSError in the user's terms", ns, err)
		}
	}
	_, err := Append(context.Background(), nil, &Options{NetNS: "no-such-netns-xyz"})
	if want := `network namespace "no-such-netns-xyz": no such namespace (/var/run/netns/no-such-netns-xyz does not exist)`; err == nil || err.Error() != want {
		t.Errorf("missing namespace: %v, want %q", err, want)
	}
	_, err = Append(context.Background(), nil, &Options{NetNS: "/proc/self/status"})
	if err == nil || !strings.Contains(err.Error(), "/proc/self/status is not a network namespace") {
		t.Errorf("a file that is not a namespace: %v", err)
	}
}

// TestSocketMethodsAgreeWithSS opens a TCP listener with a connection to
// it and a bound and a connected UDP socket, and checks IsListener,
// HasPeer and ServerPort against what ss reports: the sockets `ss -tul`
// lists are the listeners, and the ones with a peer are those whose peer
// column is not a wildcard.
func TestSocketMethodsAgreeWithSS(t *testing.T) {
	ssPath := porttest.LookTool(t, "ss", "iproute2")
	l, lap := porttest.ListenTCP(t)
	c, err := net.Dial("tcp4", lap.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, uap := porttest.ListenUDP(t)
	connected, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(uap))
	if err != nil {
		t.Fatal(err)
	}
	defer connected.Close()
	cap := c.LocalAddr().(*net.TCPAddr).AddrPort()
	ucap := connected.LocalAddr().(*net.UDPAddr).AddrPort()
	none := netip.AddrPort{}
	// The test's sockets, and the port of each one's server side.
	mine := []struct {
		proto         ports.Proto
		local, remote netip.AddrPort
		server        uint16
	}{
		{ports.ProtoTCP, lap, none, lap.Port()},
		{ports.ProtoTCP, lap, cap, lap.Port()},
		{ports.ProtoTCP, cap, lap, lap.Port()},
		{ports.ProtoUDP, uap, none, uap.Port()},
		{ports.ProtoUDP, ucap, uap, uap.Port()},
	}

	// ss's view: the peers of each "netid local" of ours.
	ssList := func(args ...string) map[string][]string {
		out, err := exec.Command(ssPath, append([]string{"-Hn4"}, args...)...).Output()
		if err != nil {
			t.Fatalf("ss %v: %v", args, err)
		}
		m := map[string][]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 6 {
				m[f[0]+" "+f[4]] = append(m[f[0]+" "+f[4]], f[5])
			}
		}
		return m
	}
	listening, all := ssList("-tul"), ssList("-tua")

	var rs []ports.Range
	for _, m := range mine {
		rs = append(rs, ports.Range{First: ports.Port(m.local.Port()), Last: ports.Port(m.local.Port())})
	}
	socks, err := Append(context.Background(), nil, &Options{LocalPorts: rs, Family: 4})
	if err != nil {
		t.Fatal(err)
	}
	// isServer tells ServerPort which ports are the test's servers': the
	// ports alone cannot (either may be the lower, or ephemeral).
	isServer := func(p ports.Port) bool { return uint16(p) == lap.Port() || uint16(p) == uap.Port() }
	for _, m := range mine {
		var s *Socket
		for i := range socks {
			if socks[i].Proto == m.proto && socks[i].Local == m.local && (socks[i].Remote == m.remote || !m.remote.IsValid() && !socks[i].HasPeer()) {
				s = &socks[i]
			}
		}
		key := m.proto.String() + " " + m.local.String()
		if s == nil {
			t.Errorf("%s -> %v: not listed", key, m.remote)
			continue
		}
		// The ss line of this socket: its peer, or the wildcard.
		peerIn := func(peers []string) bool {
			for _, p := range peers {
				if m.remote.IsValid() && p == m.remote.String() || !m.remote.IsValid() && strings.HasSuffix(p, ":*") {
					return true
				}
			}
			return false
		}
		if !peerIn(all[key]) {
			t.Errorf("%s -> %v: ss -tua does not list it (peers %q)", key, m.remote, all[key])
			continue
		}
		if isL := peerIn(listening[key]); s.IsListener() != isL {
			t.Errorf("%s (%v): IsListener %v, but ss -tul lists it: %v", key, s.State, s.IsListener(), isL)
		}
		if s.HasPeer() != m.remote.IsValid() {
			t.Errorf("%s (%v): HasPeer %v, but ss's peer is %v", key, s.State, s.HasPeer(), m.remote)
		}
		if got := s.ServerPort(isServer); uint16(got) != m.server {
			t.Errorf("%s -> %s: ServerPort %d, want %d", key, s.Remote, got, m.server)
		}
	}
}

// TestParseStatesAgreesWithSS lists the test's own sockets (a TCP
// listener and a connection to it, and a bound UDP socket) through each
// state group ParseStates knows and through ss's state filter of the
// same name, and compares the counts.
func TestParseStatesAgreesWithSS(t *testing.T) {
	ssPath := porttest.LookTool(t, "ss", "iproute2")
	l, lap := porttest.ListenTCP(t)
	c, err := net.Dial("tcp4", lap.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, uap := porttest.ListenUDP(t)
	cport := c.LocalAddr().(*net.TCPAddr).AddrPort().Port()
	mine := []uint16{lap.Port(), uap.Port(), cport}
	var rs []ports.Range
	var expr []string
	for _, p := range mine {
		rs = append(rs, ports.Range{First: ports.Port(p), Last: ports.Port(p)})
		expr = append(expr, fmt.Sprintf("sport = :%d", p))
	}
	for _, group := range []string{"all", "connected", "synchronized"} {
		out, err := exec.Command(ssPath, "-Hn4tua", "state", group, "( "+strings.Join(expr, " or ")+" )").Output()
		if err != nil {
			t.Fatalf("ss state %s: %v", group, err)
		}
		want := strings.Count(string(out), "\n")
		m, err := ParseStates(group)
		if err != nil {
			t.Fatal(err)
		}
		socks, err := Append(context.Background(), nil, &Options{States: m, LocalPorts: rs, Family: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(socks) != want {
			t.Errorf("%s: %d sockets %v, ss lists %d:\n%s", group, len(socks), socks, want, out)
		}
	}
}
