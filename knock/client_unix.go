//go:build unix

package knock

import (
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"
)

// tcpKnock does what knock.c does: a non-blocking socket, connect(2),
// close(2). The kernel sends the SYN within connect; closing a socket in
// SYN-SENT sends nothing more.
func tcpKnock(to netip.AddrPort) error {
	family := unix.AF_INET
	var sa unix.Sockaddr
	if to.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
		if z := to.Addr().Zone(); z != "" {
			sa6.ZoneId = zoneIndex(z)
		}
		sa = sa6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return err
	}
	err = unix.Connect(fd, sa)
	if err == nil || errors.Is(err, unix.EINPROGRESS) || errors.Is(err, unix.ECONNREFUSED) {
		return nil
	}
	return err
}
