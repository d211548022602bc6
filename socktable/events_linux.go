package socktable

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// endsRcvBuf is the receive buffer Ends asks for, so that a burst of
// ends (a server closing thousands of connections at once) waits in the
// kernel rather than being dropped: about 20,000 TCP events.
const endsRcvBuf = 8 << 20

func endsOS(ctx context.Context, opts *Options) iter.Seq2[SocketEnd, error] {
	return func(yield func(SocketEnd, error) bool) {
		f, err := openEnds(opts)
		if err != nil {
			yield(SocketEnd{}, err)
			return
		}
		defer f.Close()
		// Cancelling ctx wakes the blocked read.
		stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()

		// Subscribed first, listed second: a socket that ends meanwhile
		// waits in the socket's buffer, and is then known.
		idx, err := startEndIndex(ctx, opts)
		if err != nil {
			if ctx.Err() == nil {
				yield(SocketEnd{}, err)
			}
			return
		}
		defer idx.stop()

		match := *opts
		match.States = 0
		buf := make([]byte, 64<<10)
		lost := 0
		for {
			n, err := f.Read(buf)
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, unix.ENOBUFS) {
				lost++
				continue
			}
			if err != nil {
				yield(SocketEnd{}, fmt.Errorf("socktable: reading socket ends: %w", err))
				return
			}
			now := time.Now()
			stopped := false
			_, err = diagMessages(buf[:n], func(p []byte) bool {
				var e SocketEnd
				if !decodeEnd(p, &e) || !match.match(&e.Socket) {
					return true
				}
				e.Time, e.Lost = now, lost
				lost = 0
				idx.fill(&e)
				stopped = !yield(e, nil)
				return !stopped
			})
			if stopped {
				return
			}
			if err != nil {
				yield(SocketEnd{}, fmt.Errorf("socktable: socket ends: %w", err))
				return
			}
		}
	}
}

// openEnds opens a sock_diag socket in opts.NetNS subscribed to the
// destroy groups that opts needs, as a non-blocking file (so that a
// read deadline can interrupt it).
func openEnds(opts *Options) (*os.File, error) {
	src, err := openSource(opts.NetNS)
	if err != nil {
		return nil, err
	}
	if src.fd < 0 {
		src.close()
		return nil, ErrNoEvents
	}
	fd := src.fd
	// Bound, so that the socket has a port id of its own: the kernel
	// skips a multicast listener whose port id is 0, its own.
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("socktable: socket ends: binding the sock_diag socket: %w", err)
	}
	for _, g := range endGroups(opts) {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
			unix.Close(fd)
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				return nil, fmt.Errorf("socktable: socket ends: joining sock_diag's destroy group needs CAP_NET_ADMIN: %w", os.ErrPermission)
			}
			return nil, fmt.Errorf("socktable: socket ends: joining sock_diag's destroy group %d: %w", g, err)
		}
	}
	// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, endsRcvBuf) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, endsRcvBuf)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("socktable: socket ends: %w", err)
	}
	return os.NewFile(uintptr(fd), "sock_diag"), nil
}

// endIndex knows the live sockets by cookie: when each was first listed
// and which processes held it at the last listing. One entry per live
// socket that opts selects; entries of sockets gone from a listing are
// dropped.
type endIndex struct {
	mu   sync.Mutex
	m    map[uint64]indexed
	done chan struct{}
	quit context.CancelFunc
}

type indexed struct {
	first time.Time
	procs []Process
	poll  int // the listing that last held it
}

// startEndIndex makes the first listing and starts a goroutine making
// one every EndsInterval until stop.
func startEndIndex(ctx context.Context, opts *Options) (*endIndex, error) {
	ctx, cancel := context.WithCancel(ctx)
	x := &endIndex{m: map[uint64]indexed{}, done: make(chan struct{}), quit: cancel}
	p := &Poller{Options: *opts}
	p.Options.States = 0
	if err := x.poll(ctx, p, 1); err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(x.done)
		tick := time.NewTicker(EndsInterval)
		defer tick.Stop()
		for n := 2; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// A failed listing leaves the index as it was; the next
			// one tries again.
			x.poll(ctx, p, n)
		}
	}()
	return x, nil
}

func (x *endIndex) poll(ctx context.Context, p *Poller, n int) error {
	socks, err := p.Poll(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range socks {
		s := &socks[i]
		if s.Cookie == 0 {
			continue
		}
		e, ok := x.m[s.Cookie]
		if !ok {
			e.first = now
		}
		e.procs, e.poll = s.Procs, n
		x.m[s.Cookie] = e
	}
	for c, e := range x.m {
		if e.poll != n {
			delete(x.m, c)
		}
	}
	return nil
}

// fill gives e what the index knows of its socket, which has now ended.
func (x *endIndex) fill(e *SocketEnd) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v, ok := x.m[e.Socket.Cookie]
	if !ok || e.Socket.Cookie == 0 {
		return
	}
	delete(x.m, e.Socket.Cookie)
	e.Known = true
	e.Socket.Procs = v.procs
	e.Duration = e.Time.Sub(v.first)
}

func (x *endIndex) stop() {
	x.quit()
	<-x.done
}
