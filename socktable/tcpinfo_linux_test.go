package socktable

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// TestTCPInfoOffsets checks the offsets of the counters against
// golang.org/x/sys/unix's struct tcp_info, which is generated from the
// kernel headers.
func TestTCPInfoOffsets(t *testing.T) {
	var ti unix.TCPInfo
	if off := unsafe.Offsetof(ti.Bytes_acked); off != tcpiBytesAcked {
		t.Errorf("tcpi_bytes_acked at %d, want %d", off, tcpiBytesAcked)
	}
	if off := unsafe.Offsetof(ti.Bytes_received); off != tcpiBytesReceived {
		t.Errorf("tcpi_bytes_received at %d, want %d", off, tcpiBytesReceived)
	}
}

// counters returns the counters of the socket local -> remote.
func counters(t *testing.T, opts *Options, local, remote netip.AddrPort) (TCPCounters, bool) {
	t.Helper()
	for c, err := range Counters(context.Background(), opts) {
		if err != nil {
			t.Fatalf("Counters: %v", err)
		}
		if c.Local == local && c.Remote == remote {
			return c, true
		}
	}
	return TCPCounters{}, false
}

// TestCountersReal sends n bytes over a loopback connection and expects
// the sender's bytes_acked and the receiver's bytes_received to count
// them, as getsockopt(TCP_INFO) on the sockets themselves does.
func TestCountersReal(t *testing.T) {
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
			c, err := net.Dial(network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			srv, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			const n = 1 << 20
			go func() {
				c.Write(make([]byte, n))
			}()
			if _, err := io.CopyN(io.Discard, srv, n); err != nil {
				t.Fatal(err)
			}
			cl, sv := addrPort(t, c.LocalAddr()), addrPort(t, srv.LocalAddr())
			lp := []ports.Range{{First: ports.Port(sv.Port()), Last: ports.Port(sv.Port())}}
			// The last ACK may still be on its way: wait for it, within
			// a generous deadline.
			var sender TCPCounters
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				var ok bool
				sender, ok = counters(t, &Options{RemotePorts: lp}, cl, sv)
				if !ok {
					t.Fatalf("no counters for the client end %v -> %v", cl, sv)
				}
				if sender.BytesAcked >= n || time.Now().After(deadline) {
					break
				}
			}
			if sender.BytesAcked < n {
				t.Errorf("sender: bytes_acked %d, want at least %d", sender.BytesAcked, n)
			}
			receiver, ok := counters(t, &Options{LocalPorts: lp, States: StatesOf(StateEstablished)}, sv, cl)
			if !ok {
				t.Fatalf("no counters for the server end %v -> %v", sv, cl)
			}
			if receiver.BytesReceived < n {
				t.Errorf("receiver: bytes_received %d, want at least %d", receiver.BytesReceived, n)
			}
			// The same as the socket says of itself, and the inode List gives.
			raw, _ := srv.(*net.TCPConn).SyscallConn()
			var ti *unix.TCPInfo
			raw.Control(func(fd uintptr) { ti, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
			if err != nil {
				t.Fatal(err)
			}
			if ti.Bytes_received != receiver.BytesReceived {
				t.Errorf("receiver: sock_diag says %d bytes received, TCP_INFO %d", receiver.BytesReceived, ti.Bytes_received)
			}
			socks := find(t, &Options{LocalPorts: lp}, ports.ProtoTCP, sv, cl)
			if len(socks) != 1 || socks[0].Inode != receiver.Inode || receiver.Inode == 0 {
				t.Errorf("receiver inode %d, List gives %+v", receiver.Inode, socks)
			}
			// Family and state filters.
			other := 6
			if network == "tcp6" {
				other = 4
			}
			if _, ok := counters(t, &Options{Family: other}, sv, cl); ok {
				t.Errorf("Family %d yields the %s socket", other, network)
			}
			if _, ok := counters(t, &Options{States: StatesOf(StateListen)}, sv, cl); ok {
				t.Error("States LISTEN yields an established socket")
			}
			// Stopping early is fine.
			for range Counters(context.Background(), nil) {
				break
			}
		})
	}
}

func TestCountersNoNetlink(t *testing.T) {
	saved := netlinkSocket
	netlinkSocket = func() (int, error) { return -1, unix.EPROTONOSUPPORT }
	defer func() { netlinkSocket = saved }()
	n := 0
	for _, err := range Counters(context.Background(), nil) {
		n++
		if err != ErrNoCounters {
			t.Errorf("without netlink: error %v, want ErrNoCounters", err)
		}
	}
	if n != 1 {
		t.Errorf("without netlink: %d results, want the one error", n)
	}
}

func TestIntegrationCountersNetNS(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	l, err := pair.A.Listen("tcp", netip.AddrPortFrom(pair.A.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := pair.B.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const n = 100000
	go c.Write(make([]byte, n))
	if _, err := io.CopyN(io.Discard, srv, n); err != nil {
		t.Fatal(err)
	}
	sv, cl := addrPort(t, srv.LocalAddr()), addrPort(t, srv.RemoteAddr())
	got, ok := counters(t, &Options{NetNS: pair.A.Name}, sv, cl)
	if !ok || got.BytesReceived < n {
		t.Errorf("in netns %s: counters %+v (found %v), want at least %d bytes received", pair.A.Name, got, ok, n)
	}
	if _, ok := counters(t, nil, sv, cl); ok {
		t.Errorf("the socket in netns %s has counters in the host namespace", pair.A.Name)
	}
}
