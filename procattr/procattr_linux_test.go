package procattr

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

func isProc(p *Process, pid int, name string) bool {
	return p != nil && p.PID == pid && p.Name == name
}

func procString(p *Process) string {
	if p == nil {
		return "-"
	}
	return p.Name + "/" + strconv.Itoa(p.PID)
}

// TestIntegrationLoopback: python servers and clients with distinctive
// names on loopback, TCP and UDP, IPv4 and IPv6; each end of their
// connection is theirs, whichever way the packet goes. A Go server in
// the test itself is the test's process.
func TestIntegrationLoopback(t *testing.T) {
	srvExe, cliExe := named(t, "pattr-srv"), named(t, "pattr-cli")
	src, err := New(nil)
	if err != nil {
		t.Skipf("no attribution here: %v", err)
	}
	defer src.Close()
	ctx := testCtx(t)
	for _, tc := range []struct{ proto, host string }{
		{"tcp", "127.0.0.1"}, {"tcp", "::1"}, {"udp", "127.0.0.1"}, {"udp", "::1"},
	} {
		t.Run(tc.proto+"-"+tc.host, func(t *testing.T) {
			proto := ports.ProtoTCP
			if tc.proto == "udp" {
				proto = ports.ProtoUDP
			}
			srv := startPeer(t, pyCommand(ctx, nil, srvExe, "serve", tc.proto, tc.host, "0"))
			port, _ := strconv.Atoi(srv.Addr)
			srvAddr := netip.AddrPortFrom(netip.MustParseAddr(tc.host), uint16(port))
			cli := startPeer(t, pyCommand(ctx, nil, cliExe, "conn", tc.proto, tc.host, srv.Addr))
			cliAddr := mustAddrPort(t, cli.Addr)
			// One echo, so that the UDP server has seen the client.
			cli.stdin.Write([]byte("hello\n"))
			if f := cli.line(t); len(f) == 0 || f[0] != "echo" {
				t.Fatalf("client said %q", f)
			}
			a := src.Flow(ctx, proto, cliAddr, srvAddr)
			if !isProc(a.Src, cli.PID, "pattr-cli") || !isProc(a.Dst, srv.PID, "pattr-srv") {
				t.Errorf("client to server: %s > %s, want pattr-cli/%d > pattr-srv/%d", procString(a.Src), procString(a.Dst), cli.PID, srv.PID)
			}
			a = src.Flow(ctx, proto, srvAddr, cliAddr)
			if !isProc(a.Src, srv.PID, "pattr-srv") || !isProc(a.Dst, cli.PID, "pattr-cli") {
				t.Errorf("server to client: %s > %s", procString(a.Src), procString(a.Dst))
			}
			if a.Src != nil && (a.Src.User == "" || a.Src.UID != uint32(os.Getuid())) {
				t.Errorf("server's user: %q (%d), want ours", a.Src.User, a.Src.UID)
			}
		})
	}

	// The test's own Go server, and a packet to a port nobody has.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lp := l.Addr().(*net.TCPAddr).AddrPort()
	stranger := netip.MustParseAddrPort("127.0.0.1:9")
	a := src.Flow(ctx, ports.ProtoTCP, stranger, lp)
	if a.Src != nil || !isProc(a.Dst, os.Getpid(), procName(t)) {
		t.Errorf("SYN to our listener: %s > %s, want - > us (%d)", procString(a.Src), procString(a.Dst), os.Getpid())
	}
	l.Close()
	// Cached: the same flow is not looked up again.
	before := src.Stats()
	src.Flow(ctx, ports.ProtoTCP, stranger, lp)
	if after := src.Stats(); after.Lookups != before.Lookups {
		t.Errorf("a known flow cost %d lookups", after.Lookups-before.Lookups)
	}
	if a := src.Flow(ctx, ports.ProtoTCP, stranger, netip.AddrPortFrom(lp.Addr(), lp.Port()+1)); a.Any() {
		t.Errorf("a port of no socket: %s > %s", procString(a.Src), procString(a.Dst))
	}
}

func procName(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:len(b)-1])
}

// TestIntegrationNamespaces: a server in one namespace of a pair and its
// client in the other; each namespace's Source names only its own end.
func TestIntegrationNamespaces(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	srvExe, cliExe := named(t, "pattr-nsrv"), named(t, "pattr-ncli")
	ctx := testCtx(t)
	srcA, err := New(&Config{NetNS: pair.A.Name})
	if err != nil {
		t.Skipf("no attribution here: %v", err)
	}
	defer srcA.Close()
	srcB, err := New(&Config{NetNS: pair.B.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer srcB.Close()
	for _, proto := range []string{"tcp", "udp"} {
		for _, b := range []netip.Addr{pair.B.Addr4, pair.B.Addr6} {
			t.Run(proto+"-"+b.String(), func(t *testing.T) {
				p := ports.ProtoTCP
				if proto == "udp" {
					p = ports.ProtoUDP
				}
				srv := startPeer(t, pyCommand(ctx, pair.B.Command, srvExe, "serve", proto, b.String(), "0"))
				port, _ := strconv.Atoi(srv.Addr)
				srvAddr := netip.AddrPortFrom(b, uint16(port))
				cli := startPeer(t, pyCommand(ctx, pair.A.Command, cliExe, "conn", proto, b.String(), srv.Addr))
				cliAddr := mustAddrPort(t, cli.Addr)
				cli.stdin.Write([]byte("hello\n"))
				cli.line(t)
				if a := srcA.Flow(ctx, p, cliAddr, srvAddr); !isProc(a.Src, cli.PID, "pattr-ncli") || a.Dst != nil {
					t.Errorf("in A: %s > %s, want pattr-ncli/%d > -", procString(a.Src), procString(a.Dst), cli.PID)
				}
				if a := srcB.Flow(ctx, p, cliAddr, srvAddr); a.Src != nil || !isProc(a.Dst, srv.PID, "pattr-nsrv") {
					t.Errorf("in B: %s > %s, want - > pattr-nsrv/%d", procString(a.Src), procString(a.Dst), srv.PID)
				}
			})
		}
	}
}

// TestIntegrationNoGoroutines: a Source starts nothing that outlives it.
func TestIntegrationNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	src, err := New(nil)
	if err != nil {
		t.Skipf("no attribution here: %v", err)
	}
	ctx := testCtx(t)
	src.Flow(ctx, ports.ProtoTCP, netip.MustParseAddrPort("127.0.0.1:9"), netip.MustParseAddrPort("127.0.0.1:10"))
	src.Close()
	porttest.WaitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	if a := src.Flow(ctx, ports.ProtoTCP, netip.MustParseAddrPort("127.0.0.1:11"), netip.MustParseAddrPort("127.0.0.1:12")); a.Any() {
		t.Error("a closed Source attributed a flow")
	}
}
