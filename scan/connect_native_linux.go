package scan

import (
	"container/heap"
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The native connect engine (Linux): one goroutine makes every connect
// of the scan itself, on non-blocking sockets watched by one epoll
// instance, instead of one goroutine and one net.Dialer per connect.
// A -sT scan of 65,535 ports spent most of its CPU time in the dialer
// (goroutines, allocations, context timers, the runtime poller), which
// made it slower than nmap -sT; the engine is the scan's core, hence
// written here rather than taken from a library.
//
// Each try: socket(SOCK_NONBLOCK), connect (EINPROGRESS), EPOLL_CTL_ADD
// for EPOLLOUT; when the socket reports, SO_ERROR says how the try ended
// (0: connected, ECONNREFUSED...), and close ends it, with a reset if it
// connected (SO_LINGER 0, set then). Closing also
// takes the socket out of the epoll set. Deadlines are kept in a heap.
// The outcome of a try, and what to do next, is decided by classify and
// the same retry, back-off and concurrency rules as run.

// nativeConn is one connect in flight, indexed by its socket.
type nativeConn struct {
	seq     uint64 // matches its deadline in the heap; 0: no connect
	p       probe
	start   time.Time
	timeout time.Duration
}

// nativeDeadline is when the connect on fd, if still seq, times out.
type nativeDeadline struct {
	at  time.Time
	fd  int
	seq uint64
}

type deadlineHeap []nativeDeadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(nativeDeadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// runNative runs the scan as run does, on the native engine, and closes
// out when done. It returns false, having done nothing, if the engine
// cannot run (no epoll, or a target with an IPv6 zone).
func (s *connectScanner) runNative(ctx context.Context, out chan<- item) bool {
	for i := range s.hosts {
		if s.hosts[i].addr.Zone() != "" {
			return false
		}
	}
	// Engines: every connect costs the kernel more than the engine, and
	// the kernel's share (both ends of the handshake, on a local link)
	// runs on the engine's thread; several engines spread it over the
	// CPUs, as the goroutines of run do. A scan with a rate limit has
	// one, which paces its connects exactly.
	engines := max(1, min(runtime.GOMAXPROCS(0), maxEngines, s.concurrency, s.total))
	if s.interval > 0 {
		engines = 1
	}
	// One eventfd, in every engine's epoll set, written when ctx ends.
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return false
	}
	ns := make([]*nativeScan, 0, engines)
	for k := range engines {
		n := &nativeScan{s: s, ctx: ctx, out: out, wake: wake,
			offset: k, stride: engines, concurrency: s.concurrency / engines,
			interval: s.interval * time.Duration(engines)}
		if k < s.concurrency%engines {
			n.concurrency++
		}
		n.total = (s.total - k + engines - 1) / engines
		n.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err == nil {
			ns = append(ns, n)
			err = unix.EpollCtl(n.epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)})
		}
		if err != nil {
			for _, n := range ns {
				unix.Close(n.epfd)
			}
			unix.Close(wake)
			return false
		}
	}
	// mu keeps the write off a closed (and perhaps reused) descriptor.
	var (
		mu     sync.Mutex
		closed bool
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !closed {
			unix.Write(wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}
	})
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Go(func() {
			defer n.close()
			n.loop()
		})
	}
	wg.Wait()
	stop()
	mu.Lock()
	closed = true
	unix.Close(wake)
	mu.Unlock()
	close(out)
	return true
}

// close closes the engine's sockets (with a reset, for those that may
// have connected since the engine last looked) and its epoll set.
func (n *nativeScan) close() {
	for fd := range n.conns {
		if n.conns[fd].seq != 0 {
			unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			unix.Close(fd)
		}
	}
	unix.Close(n.epfd)
}

// maxEngines is the largest number of engines of a native scan.
const maxEngines = 4

type nativeScan struct {
	s          *connectScanner
	ctx        context.Context
	out        chan<- item
	epfd, wake int

	// This engine's share of the scan: probes offset, offset+stride...
	offset, stride, total int
	concurrency           int
	interval              time.Duration

	conns     []nativeConn // by socket
	deadlines deadlineHeap
	seq       uint64

	finished, inflight int
	limit, growth      int
	retry              []probe
	delayed            []delayedProbe
}

type delayedProbe struct {
	at time.Time
	p  probe
}

func (n *nativeScan) loop() {
	s := n.s
	n.limit = n.concurrency
	var (
		next      = n.offset // next fresh probe, as in run
		nextStart time.Time
		events    = make([]unix.EpollEvent, 256)
	)
	nh := len(s.hosts)
	for n.finished < n.total {
		now := time.Now()
		var wake time.Time
		n.delayed = slices.DeleteFunc(n.delayed, func(d delayedProbe) bool {
			if !d.at.After(now) {
				n.retry = append(n.retry, d.p)
				return true
			}
			if wake.IsZero() || d.at.Before(wake) {
				wake = d.at
			}
			return false
		})
		// Start connects while the limits allow.
		for n.inflight < n.limit && (len(n.retry) > 0 || next < s.total) {
			if n.interval > 0 && now.Before(nextStart) {
				if wake.IsZero() || nextStart.Before(wake) {
					wake = nextStart
				}
				break
			}
			var p probe
			if len(n.retry) > 0 {
				p = n.retry[0]
				n.retry = n.retry[1:]
			} else {
				p = probe{host: next % nh, port: s.ports[next/nh]}
				if s.order != nil {
					idx := s.order.at(uint64(next))
					p = probe{host: int(idx / uint64(len(s.ports))), port: s.ports[idx%uint64(len(s.ports))]}
				}
				next += n.stride
			}
			if n.interval > 0 {
				if nextStart.Before(now) {
					nextStart = now
				}
				nextStart = nextStart.Add(n.interval)
			}
			if !n.start(p, now) {
				return
			}
		}
		if n.finished >= n.total {
			break
		}
		if len(n.deadlines) > 0 {
			if at := n.deadlines[0].at; wake.IsZero() || at.Before(wake) {
				wake = at
			}
		}
		msec := -1
		if !wake.IsZero() {
			// Round up: waking early only loops again.
			msec = int((time.Until(wake) + time.Millisecond - 1) / time.Millisecond)
			msec = max(msec, 0)
		}
		k, err := unix.EpollWait(n.epfd, events, msec)
		if err != nil && !errors.Is(err, unix.EINTR) {
			// Cannot happen with a valid epoll descriptor and buffer.
			n.emit(item{err: &ProbeError{Op: "epoll_wait", Err: err}})
			return
		}
		now = time.Now()
		for _, ev := range events[:max(k, 0)] {
			fd := int(ev.Fd)
			if fd == n.wake {
				return // ctx ended
			}
			if fd >= len(n.conns) || n.conns[fd].seq == 0 {
				continue
			}
			if !n.end(fd, connectOutcome(fd, ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0), now) {
				return
			}
		}
		// Time out the connects whose deadline has passed.
		for len(n.deadlines) > 0 && !n.deadlines[0].at.After(now) {
			d := heap.Pop(&n.deadlines).(nativeDeadline)
			if d.fd >= len(n.conns) || n.conns[d.fd].seq != d.seq {
				continue // ended already
			}
			// The connect may have finished while this process was not
			// running (a loaded machine, a GC pause), its event still
			// waiting behind others: ask the socket itself before calling
			// it a timeout, so that a pause here is never a lost port.
			cerr := error(os.ErrDeadlineExceeded)
			pfd := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLOUT}}
			if k, err := unix.Poll(pfd, 0); err == nil && k > 0 && pfd[0].Revents != 0 {
				cerr = connectOutcome(d.fd, pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0)
			}
			if !n.end(d.fd, cerr, now) {
				return
			}
		}
	}
}

// start makes one try of p. It returns false if the scan is over.
func (n *nativeScan) start(p probe, now time.Time) bool {
	s := n.s
	h := &s.hosts[p.host]
	timeout := s.timeout
	if timeout == 0 {
		timeout = min(h.timeout()<<min(p.tries+p.late, 8), MaxTimeout)
	}
	a := h.addr.Unmap()
	var (
		family = unix.AF_INET6
		sa     unix.Sockaddr
	)
	if a.Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(p.port), Addr: a.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(p.port), Addr: a.As16()}
	}
	n.inflight++
	if h.dead.Load() && !h.answered.Load() {
		return n.done(p, nil, 0, timeout) // classify skips it
	}
	var fd int
	err := s.openIn(func() (err error) {
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		return err
	})
	if err != nil {
		return n.done(p, err, 0, timeout)
	}
	err = unix.Connect(fd, sa)
	switch {
	case err == nil, errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.EINTR):
		// In progress (EINTR: the kernel goes on with it): wait for it.
	default:
		unix.Close(fd)
		if errors.Is(err, unix.EAGAIN) { // no local port left
			err = unix.EADDRNOTAVAIL
		}
		return n.done(p, err, time.Since(now), timeout)
	}
	if err := unix.EpollCtl(n.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLERR | unix.EPOLLHUP, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return n.done(p, err, 0, timeout)
	}
	if fd >= len(n.conns) {
		size := max(fd+1, 2*len(n.conns))
		n.conns = slices.Grow(n.conns, size-len(n.conns))[:size]
	}
	n.seq++
	n.conns[fd] = nativeConn{seq: n.seq, p: p, start: now, timeout: timeout}
	heap.Push(&n.deadlines, nativeDeadline{at: now.Add(timeout), fd: fd, seq: n.seq})
	return true
}

// end ends the connect on fd, which err ended (nil: connected) at now.
// connectOutcome reads what became of a non-blocking connect on fd
// that epoll or poll reported ready: nil if it connected, else the
// error (SO_ERROR). hup says the socket reported an error or hang-up;
// without an error that still means not connected.
func connectOutcome(fd int, hup bool) error {
	errno, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return err
	case errno != 0:
		return unix.Errno(errno)
	case hup:
		return errHangup
	}
	return nil
}

func (n *nativeScan) end(fd int, err error, now time.Time) bool {
	c := n.conns[fd]
	n.conns[fd].seq = 0
	if err == nil {
		// Close with a reset rather than a FIN. Only connected sockets
		// need it, which saves a system call on every other one.
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	unix.Close(fd)
	return n.done(c.p, err, now.Sub(c.start), c.timeout)
}

// done accounts for one try of p that ended with err after rtt, as run
// does for a worker's outcome. It returns false if the scan is over.
func (n *nativeScan) done(p probe, err error, rtt, timeout time.Duration) bool {
	s := n.s
	n.inflight--
	kind, it := s.classify(&p, err, rtt, timeout)
	switch kind {
	case doneFinal:
		n.finished++
		if !n.emit(it) {
			return false
		}
	case doneTimeout:
		n.retry = append(n.retry, p)
	case doneResource:
		n.limit = max(1, n.inflight-n.inflight/8)
		n.growth = 0
		d := min(minBackoff<<min(p.resErrors-1, 16), s.maxBackoff)
		n.delayed = append(n.delayed, delayedProbe{at: time.Now().Add(d), p: p})
		s.log.Debug("scan: connect: out of resources, backing off",
			"addr", s.hosts[p.host].addr, "port", p.port,
			"inflight", n.inflight, "limit", n.limit, "backoff", d)
	}
	if kind != doneResource && n.limit < n.concurrency {
		if n.growth++; n.growth >= 4 {
			n.limit++
			n.growth = 0
		}
	}
	return true
}

// emit yields it, unless the scan is over.
func (n *nativeScan) emit(it item) bool {
	select {
	case n.out <- it:
		return true
	case <-n.ctx.Done():
		return false
	}
}
