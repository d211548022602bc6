package mapper

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// readable waits until src has something to read (data, EOF or an
// error) and returns how many bytes can be read at once, at least 1.
//
// It exists because Go's splice path takes a pipe (two descriptors) from
// its pool for each ReadFrom and keeps it while it waits for data: a relay
// parked in ReadFrom holds four extra descriptors per connection, so an
// idle connection would cost six instead of two. Waiting here first, on
// the socket alone, and then splicing exactly what is there (the
// splice returns without waiting again) keeps the pipes for bytes that
// move. The wait honours src's read deadline.
func readable(src *net.TCPConn) (int, error) {
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	n := 1
	var peek [1]byte
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		// Bytes queued: the common case, one system call.
		if v, e := unix.IoctlGetInt(int(fd), unix.SIOCINQ); e == nil && v > 0 {
			n = v
			return true
		}
		// None: EOF or an error pending (readable), or nothing yet.
		_, _, e := unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false // wait for the poller
		}
		if e != nil {
			// The peek took the socket's pending error (a reset): the
			// next read would only see EOF, so report it here.
			perr = os.NewSyscallError("recvfrom", e)
			return true
		}
		if v, e := unix.IoctlGetInt(int(fd), unix.SIOCINQ); e == nil && v > 0 {
			n = v // bytes arrived between the two calls
		}
		return true
	})
	if err == nil {
		err = perr
	}
	return n, err
}
