package httpproxy

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// DefaultIdleTimeout is Server.IdleTimeout's zero value.
const DefaultIdleTimeout = 5 * time.Minute

func (s *Server) idle() time.Duration {
	switch {
	case s.IdleTimeout > 0:
		return s.IdleTimeout
	case s.IdleTimeout < 0:
		return 0
	}
	return DefaultIdleTimeout
}

// errInterrupted ends a body read or write once Serve's context ended.
var errInterrupted = errors.New("httpproxy: interrupted")

// isTimeout reports a deadline that passed (os.ErrDeadlineExceeded from
// a connection, which this package may not name: see deps_test.go).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// activity is when a byte last moved on one client connection or its
// upstream connections, either way. Reads and writes of request and
// response bodies fail once nothing moved for idle, as a tunnel's relay
// does: a body that stops half-way holds its sockets no longer than
// that, while a slow upload does not time out the response it waits for.
type activity struct {
	idle time.Duration // 0: none
	last atomic.Int64  // unix nanoseconds
	// stopped is set when Serve's context ends: its deadline in the
	// past must not be taken for a wait to renew.
	stopped atomic.Bool

	// Bytes written to (up) and read from (down) the upstream
	// connections, for Server.Forwarded.
	up, down atomic.Int64
}

func newActivity(idle time.Duration) *activity {
	a := &activity{idle: idle}
	a.touch()
	return a
}

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activity) deadline() time.Time {
	if a.idle <= 0 {
		return time.Time{}
	}
	return time.Unix(0, a.last.Load()).Add(a.idle)
}

// busy reports whether err is a deadline that passed while bytes moved
// elsewhere, so that the caller should wait again.
func (a *activity) busy(err error) bool {
	return a.idle > 0 && !a.stopped.Load() && isTimeout(err) &&
		time.Since(time.Unix(0, a.last.Load())) < a.idle
}

func (a *activity) read(c net.Conn, p []byte) (int, error) {
	for {
		c.SetReadDeadline(a.deadline())
		if a.stopped.Load() { // after the deadline was set: see Serve
			return 0, errInterrupted
		}
		n, err := c.Read(p)
		if n > 0 {
			a.touch()
		}
		if n == 0 && err != nil && a.busy(err) {
			continue
		}
		return n, err
	}
}

func (a *activity) write(c net.Conn, p []byte) (int, error) {
	total := 0
	for {
		c.SetWriteDeadline(a.deadline())
		if a.stopped.Load() {
			return total, errInterrupted
		}
		n, err := c.Write(p[total:])
		total += n
		if n > 0 {
			a.touch()
		}
		if err != nil && a.busy(err) {
			continue
		}
		return total, err
	}
}

// idleWriter writes to a client connection under the idle timeout.
type idleWriter struct {
	c net.Conn
	a *activity
}

func (w idleWriter) Write(p []byte) (int, error) { return w.a.write(w.c, p) }
