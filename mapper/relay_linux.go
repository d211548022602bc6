package mapper

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// readable waits until the socket of rc has something to read (data,
// EOF or an error) and returns how many bytes can be read at once, at
// least 1.
//
// It exists because Go's splice path takes a pipe (two descriptors) from
// its pool for each ReadFrom and keeps it while it waits for data: a relay
// parked in ReadFrom holds four extra descriptors per connection, so an
// idle connection would cost six instead of two. Waiting here first, on
// the socket alone, and then splicing exactly what is there (the
// splice returns without waiting again) keeps the pipes for bytes that
// move. The wait honours the socket's read deadline.
func readable(rc syscall.RawConn) (int, error) {
	n := 1
	var peek [1]byte
	var perr error
	err := rc.Read(func(fd uintptr) bool {
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

// smallReads says chunkReader reads without holding a buffer while it
// waits; elsewhere the relay always goes through ReadFrom.
const smallReads = true

// chunkReader reads a relay direction's small chunks: its state lives
// here, and the function given to RawConn.Read is made once, so a read
// allocates nothing (a closure over locals escaped, several allocations
// per read).
type chunkReader struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool
	bp   *[]byte
	n    int
	rerr error
}

// read waits until the socket of rc is readable, then reads what is
// there into a buffer from smallBufs (taken only then, so an idle
// connection holds none) and returns it, its filled length and the error
// (io.EOF at the end). A non-nil buffer goes back to smallBufs with the
// caller. The wait honours the socket's read deadline.
func (cr *chunkReader) read() (*[]byte, int, error) {
	if cr.fn == nil {
		cr.fn = cr.readFD
	}
	cr.bp, cr.n, cr.rerr = nil, 0, nil
	err := cr.rc.Read(cr.fn)
	bp, n, rerr := cr.bp, cr.n, cr.rerr
	cr.bp, cr.rerr = nil, nil
	switch {
	case err != nil:
		return bp, 0, err
	case rerr != nil:
		return bp, 0, os.NewSyscallError("read", rerr)
	case n == 0:
		return bp, 0, io.EOF
	}
	return bp, n, nil
}

func (cr *chunkReader) readFD(fd uintptr) bool {
	if cr.bp == nil {
		cr.bp = smallBufs.Get().(*[]byte)
	}
	for {
		cr.n, cr.rerr = unix.Read(int(fd), *cr.bp)
		if cr.rerr != unix.EINTR {
			break
		}
	}
	if cr.rerr == unix.EAGAIN {
		// Nothing yet: the buffer goes back while the poller waits.
		smallBufs.Put(cr.bp)
		cr.bp = nil
		return false
	}
	return true
}
