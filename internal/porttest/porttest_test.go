package porttest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports/internal/porttest"
)

// ioTimeout bounds every blocking call so that a broken setup fails
// instead of hanging; no test asserts anything about time.
const ioTimeout = 10 * time.Second

var loopback4 = netip.MustParseAddr("127.0.0.1")

func TestListenTCP(t *testing.T) {
	l, ap := porttest.ListenTCP(t)
	if ap.Addr() != loopback4 || ap.Port() == 0 {
		t.Fatalf("ListenTCP address = %v, want 127.0.0.1 and a port", ap)
	}
	done := serveEcho(l)
	c, err := net.DialTimeout("tcp", ap.String(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if diff := cmp.Diff("hello", echo(t, c, "hello")); diff != "" {
		t.Errorf("echo (-want +got):\n%s", diff)
	}
	if r := <-done; r.err != nil {
		t.Errorf("server: %v", r.err)
	}
}

func TestListenUDP(t *testing.T) {
	srv, ap := porttest.ListenUDP(t)
	if ap.Addr() != loopback4 || ap.Port() == 0 {
		t.Fatalf("ListenUDP address = %v, want 127.0.0.1 and a port", ap)
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	srv.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 64)
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("hello", string(buf[:n])); diff != "" {
		t.Errorf("datagram (-want +got):\n%s", diff)
	}
	if want := c.LocalAddr().(*net.UDPAddr).AddrPort(); from.Port() != want.Port() {
		t.Errorf("datagram from %v, want %v", from, want)
	}
}

func TestIntegrationPair(t *testing.T) {
	p := porttest.NewPair(t, nil)

	t.Run("addresses", func(t *testing.T) {
		benchmarking := netip.MustParsePrefix("198.18.0.0/15")
		ula := netip.MustParsePrefix("fd00::/8")
		for _, tc := range []struct {
			addr   netip.Addr
			prefix netip.Prefix
			outer  netip.Prefix
		}{
			{p.A.Addr4, p.Prefix4, benchmarking},
			{p.B.Addr4, p.Prefix4, benchmarking},
			{p.A.Addr6, p.Prefix6, ula},
			{p.B.Addr6, p.Prefix6, ula},
		} {
			if !tc.prefix.Contains(tc.addr) || !tc.outer.Contains(tc.prefix.Addr()) || tc.prefix.Bits() < tc.outer.Bits() {
				t.Errorf("address %v in %v, want both inside %v", tc.addr, tc.prefix, tc.outer)
			}
		}
		if p.A.Name == p.B.Name || p.A.Addr4 == p.B.Addr4 || p.A.Addr6 == p.B.Addr6 {
			t.Errorf("sides are not distinct: %+v %+v", *p.A, *p.B)
		}
	})

	for _, tc := range []struct {
		network string
		a, b    netip.Addr
	}{
		{"tcp4", p.A.Addr4, p.B.Addr4},
		{"tcp6", p.A.Addr6, p.B.Addr6},
	} {
		t.Run(tc.network, func(t *testing.T) {
			l, err := p.B.Listen(tc.network, netip.AddrPortFrom(tc.b, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			done := serveEcho(l)

			ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
			defer cancel()
			c, err := p.A.Dial(ctx, tc.network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != tc.a {
				t.Errorf("dialled from %v, want %v", got, tc.a)
			}
			if diff := cmp.Diff("ping", echo(t, c, "ping")); diff != "" {
				t.Errorf("echo (-want +got):\n%s", diff)
			}
			r := <-done
			if r.err != nil {
				t.Errorf("server: %v", r.err)
			}
			if r.remote.Addr() != tc.a {
				t.Errorf("server saw a connection from %v, want %v", r.remote, tc.a)
			}
		})
	}

	// Neither check sends a packet: "ip route get" only asks the kernel,
	// and connect(2) on a UDP socket only looks up the route.
	t.Run("no default route", func(t *testing.T) {
		for _, h := range []*porttest.Host{p.A, p.B} {
			for _, dst := range []string{"192.0.2.1", "2001:db8::1"} {
				ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
				cmd := h.Command(ctx, "ip", "route", "get", dst)
				cmd.Env = append(os.Environ(), "LC_ALL=C") // match strerror in English
				out, err := cmd.CombinedOutput()
				cancel()
				if err == nil || !strings.Contains(string(out), "Network is unreachable") {
					t.Errorf("%s: ip route get %s = %v, %q; want network unreachable", h.Name, dst, err, out)
				}

				ctx, cancel = context.WithTimeout(t.Context(), ioTimeout)
				c, err := h.Dial(ctx, "udp", net.JoinHostPort(dst, "9"))
				cancel()
				if err == nil {
					c.Close()
				}
				// The text of ENETUNREACH; syscall lacks the name on plan9.
				if err == nil || !strings.Contains(err.Error(), "network is unreachable") {
					t.Errorf("%s: udp connect to %s: %v, want ENETUNREACH", h.Name, dst, err)
				}
			}
		}
	})

	t.Run("do", func(t *testing.T) {
		var inside []string
		if err := p.A.Do(func() error {
			var err error
			inside, err = linkNames()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(inside)
		if diff := cmp.Diff([]string{"lo", p.A.Link}, inside); diff != "" {
			t.Errorf("links inside %s (-want +got):\n%s", p.A.Name, diff)
		}
		outside, err := linkNames()
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(outside, p.A.Link) || slices.Contains(outside, p.B.Link) {
			t.Errorf("links outside the namespaces include the veth: %v", outside)
		}

		errFn := errors.New("from fn")
		if err := p.A.Do(func() error { return errFn }); !errors.Is(err, errFn) {
			t.Errorf("Do returned %v, want fn's error", err)
		}

		defer func() {
			if got := recover(); got != "boom" {
				t.Errorf("recovered %v, want fn's panic", got)
			}
		}()
		p.A.Do(func() error { panic("boom") })
		t.Error("Do returned after fn panicked")
	})
}

func TestIntegrationPairCleanup(t *testing.T) {
	var names []string
	t.Run("pair", func(t *testing.T) {
		p := porttest.NewPair(t, nil)
		names = []string{p.A.Name, p.B.Name}
	})
	if names == nil {
		t.Skip("NewPair skipped")
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join("/var/run/netns", name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s left behind: stat: %v", name, err)
		}
	}
}

func TestIntegrationLoss(t *testing.T) {
	p := porttest.NewPair(t, &porttest.PairConfig{Loss: 0.3})
	if !hasLossTable(t, p.A) || !hasLossTable(t, p.B) {
		t.Fatal("no porttest_loss table after NewPair with loss")
	}

	rx, err := p.B.ListenPacket("udp4", netip.AddrPortFrom(p.B.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	tx, err := p.A.Dial(ctx, "udp4", rx.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })

	// Loss applies once, on B's input; 30% loss leaves about 70%.
	const n = 2000
	got := sendCount(t, tx, rx, p.A.Addr4, 0, n, 100*time.Millisecond)
	t.Logf("with loss 0.3, %d of %d datagrams arrived", got, n)
	if frac := float64(got) / n; frac < 0.45 || frac > 0.85 {
		t.Errorf("with loss 0.3, %d of %d datagrams (%.2f) arrived, want 0.45 to 0.85", got, n, frac)
	}

	p.SetLoss(t, 0)
	if hasLossTable(t, p.A) || hasLossTable(t, p.B) {
		t.Error("porttest_loss table still present after SetLoss(0)")
	}
	// Another sequence range, so stragglers from above cannot count.
	if got := sendCount(t, tx, rx, p.A.Addr4, n, 100, ioTimeout); got != 100 {
		t.Errorf("without loss, %d of 100 datagrams arrived", got)
	}
}

// sendCount sends datagrams numbered first to first+n-1 from tx to rx and
// returns how many distinct ones arrived. It sends in batches small enough
// for rx's buffer and drains rx after each one, until all have arrived or
// no datagram came for idle.
func sendCount(t *testing.T, tx net.Conn, rx net.PacketConn, from netip.Addr, first, n uint32, idle time.Duration) int {
	t.Helper()
	const batch = 100
	seen := make(map[uint32]bool)
	buf := make([]byte, 64)
	for sent := uint32(0); sent < n; {
		for end := min(sent+batch, n); sent < end; sent++ {
			if _, err := tx.Write(binary.BigEndian.AppendUint32(nil, first+sent)); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		for len(seen) < int(sent) {
			rx.SetReadDeadline(time.Now().Add(idle))
			m, addr, err := rx.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			if src := addr.(*net.UDPAddr).AddrPort().Addr(); src != from || m != 4 {
				t.Fatalf("unexpected %d-byte datagram from %v", m, src)
			}
			if seq := binary.BigEndian.Uint32(buf); seq >= first && seq < first+n {
				seen[seq] = true
			}
		}
	}
	return len(seen)
}

func linkNames() ([]string, error) {
	ifs, err := net.Interfaces()
	var names []string
	for _, ifc := range ifs {
		names = append(names, ifc.Name)
	}
	return names, err
}

func hasLossTable(t *testing.T, h *porttest.Host) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	out, err := h.Command(ctx, "nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: nft list tables: %v: %s", h.Name, err, out)
	}
	return bytes.Contains(out, []byte("table inet porttest_loss\n"))
}

type echoResult struct {
	remote netip.AddrPort
	err    error
}

// serveEcho accepts one connection on l and echoes it until the peer
// closes its side.
func serveEcho(l net.Listener) <-chan echoResult {
	done := make(chan echoResult, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- echoResult{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		_, err = io.Copy(c, c)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		done <- echoResult{netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()), err}
	}()
	return done
}

// echo sends msg on c, half-closes it and returns what comes back.
func echo(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}
