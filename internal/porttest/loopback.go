package porttest

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

var loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// ListenTCP listens on an ephemeral TCP port of 127.0.0.1 and returns the
// listener with its address. The listener is closed when the test ends.
// It needs no privileges.
func ListenTCP(t testing.TB) (*net.TCPListener, netip.AddrPort) {
	t.Helper()
	l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopback4, 0)))
	if err != nil {
		t.Fatalf("porttest: listen on tcp loopback: %v", err)
	}
	t.Cleanup(func() { closeOnCleanup(t, l) })
	return l, unmap(l.Addr().(*net.TCPAddr).AddrPort())
}

// ListenUDP binds an ephemeral UDP port of 127.0.0.1 and returns the
// socket with its address. The socket is closed when the test ends.
// It needs no privileges.
func ListenUDP(t testing.TB) (*net.UDPConn, netip.AddrPort) {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback4, 0)))
	if err != nil {
		t.Fatalf("porttest: listen on udp loopback: %v", err)
	}
	t.Cleanup(func() { closeOnCleanup(t, c) })
	return c, unmap(c.LocalAddr().(*net.UDPAddr).AddrPort())
}

// closeOnCleanup closes c, tolerating a test that closed it already.
func closeOnCleanup(t testing.TB, c interface{ Close() error }) {
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Errorf("porttest: close: %v", err)
	}
}

// unmap turns ::ffff:a.b.c.d, which the net package may report for IPv4
// sockets, into a.b.c.d so that it compares equal to what callers expect.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
