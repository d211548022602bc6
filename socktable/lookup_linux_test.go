package socktable

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/portkit/ports"
)

var ssInodeRE = regexp.MustCompile(`\bino:(\d+)`)

// ssInode returns the inode ss gives the one socket its filter selects.
func ssInode(t *testing.T, flags string, filter ...string) uint64 {
	t.Helper()
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skip("needs ss (iproute2)")
	}
	out, err := exec.Command(ss, append([]string{"-Hn" + flags + "e"}, filter...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	m := ssInodeRE.FindAllSubmatch(out, -1)
	if len(m) != 1 {
		t.Fatalf("ss -Hn%se %v: want one socket, got:\n%s", flags, filter, out)
	}
	n, _ := strconv.ParseUint(string(m[0][1]), 10, 64)
	return n
}

// TestIntegrationFinder looks up clients, accepted sockets, listeners and
// bound UDP sockets on loopback, IPv4 and IPv6, and checks each inode
// against ss's.
func TestIntegrationFinder(t *testing.T) {
	f, err := OpenFinder("")
	if err != nil {
		t.Skipf("no sock_diag: %v", err)
	}
	defer f.Close()
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}, {"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			proto, flag := ports.ProtoTCP, "t"
			var srvAddr, cliLocal netip.AddrPort
			var srvConnLocal netip.AddrPort
			if tc.network[:3] == "tcp" {
				l, err := net.Listen(tc.network, tc.addr)
				if err != nil {
					t.Skipf("no %s loopback: %v", tc.network, err)
				}
				defer l.Close()
				c, err := net.Dial(tc.network, l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				s, err := l.Accept()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				srvAddr, cliLocal, srvConnLocal = addrPort(t, l.Addr()), addrPort(t, c.LocalAddr()), addrPort(t, s.LocalAddr())
			} else {
				proto, flag = ports.ProtoUDP, "u"
				s, err := net.ListenPacket(tc.network, tc.addr)
				if err != nil {
					t.Skipf("no %s loopback: %v", tc.network, err)
				}
				defer s.Close()
				c, err := net.Dial(tc.network, s.LocalAddr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				srvAddr, cliLocal, srvConnLocal = addrPort(t, s.LocalAddr()), addrPort(t, c.LocalAddr()), addrPort(t, s.LocalAddr())
			}
			sport := func(p netip.AddrPort) string { return strconv.Itoa(int(p.Port())) }

			// The client, by both its addresses.
			got, err := f.Find(proto, cliLocal, srvAddr)
			if err != nil {
				t.Fatalf("Find client: %v", err)
			}
			if want := ssInode(t, flag+"a", "sport", "=", ":"+sport(cliLocal), "and", "dport", "=", ":"+sport(srvAddr)); got.Inode != want || got.Local != cliLocal || got.Remote != srvAddr {
				t.Errorf("client: %v -> %v inode %d; want %v -> %v inode %d (ss)", got.Local, got.Remote, got.Inode, cliLocal, srvAddr, want)
			}
			if got.UID == 0 && got.Inode == 0 {
				t.Errorf("client socket without an inode: %+v", got)
			}

			// The server's end of the connection: the accepted TCP
			// socket, or the bound UDP one.
			got, err = f.Find(proto, srvConnLocal, cliLocal)
			if err != nil {
				t.Fatalf("Find server end: %v", err)
			}
			var want uint64
			if proto == ports.ProtoTCP {
				want = ssInode(t, flag, "sport", "=", ":"+sport(srvConnLocal), "and", "dport", "=", ":"+sport(cliLocal))
			} else {
				want = ssInode(t, flag+"a", "sport", "=", ":"+sport(srvAddr), "and", "dport", "=", ":0")
			}
			if got.Inode != want {
				t.Errorf("server end: inode %d (%v -> %v), ss says %d", got.Inode, got.Local, got.Remote, want)
			}

			// From a peer the server has no connection with: the listener
			// (TCP) or the bound socket (UDP), as a new packet would find.
			stranger := netip.AddrPortFrom(srvAddr.Addr(), 9) // discard: nothing of ours
			got, err = f.Find(proto, srvAddr, stranger)
			if err != nil {
				t.Fatalf("Find listener: %v", err)
			}
			if want := ssInode(t, flag+"l", "sport", "=", ":"+sport(srvAddr)); got.Inode != want {
				t.Errorf("listener: inode %d (%v %v), ss says %d", got.Inode, got.Local, got.State, want)
			}

			// No socket at all.
			nobody := porttestFreePort(t, tc.network, srvAddr.Addr())
			if _, err := f.Find(proto, nobody, cliLocal); !errors.Is(err, ErrNoSocket) {
				t.Errorf("Find of an unbound port %v: %v, want ErrNoSocket", nobody, err)
			}
		})
	}
	if _, err := f.Find(ports.ProtoSCTP, netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")); err == nil {
		t.Error("Find of an SCTP socket: no error")
	}
}

// porttestFreePort returns an address of a that nothing was bound to a
// moment ago.
func porttestFreePort(t *testing.T, network string, a netip.Addr) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket("udp"+network[3:], netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	p := addrPort(t, c.LocalAddr())
	l, err := net.Listen("tcp"+network[3:], p.String())
	c.Close()
	if err != nil {
		t.Skipf("port %v taken: %v", p, err)
	}
	l.Close()
	return p
}
