package socktable

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"golang.org/x/sys/unix"
)

// countersOS reads the counters with a sock_diag dump that asks for
// INET_DIAG_INFO, on a source opened as List opens one (in opts.NetNS).
func countersOS(ctx context.Context, opts *Options) iter.Seq2[TCPCounters, error] {
	return func(yield func(TCPCounters, error) bool) {
		src, err := openSource(opts.NetNS)
		if err != nil {
			yield(TCPCounters{}, err)
			return
		}
		defer src.close()
		if src.fd < 0 { // netlink refused: /proc/net has no counters
			yield(TCPCounters{}, ErrNoCounters)
			return
		}
		states := opts.States
		if states == 0 {
			states = AllStates
		}
		var family uint8 // 0: both, in one request
		switch opts.Family {
		case 4:
			family = afINET
		case 6:
			family = afINET6
		}
		stopped := false
		emit := func(c *TCPCounters) bool {
			stopped = stopped || !yield(*c, nil)
			return !stopped
		}
		if err := src.dumpCounters(ctx, family, states, opts, emit); err != nil && err != errStopped {
			yield(TCPCounters{}, err)
		}
	}
}

// errStopped ends a dump whose consumer stopped: the socket then holds
// the rest of the answer and must not be asked again.
var errStopped = errors.New("socktable: stopped")

// dumpCounters is dump for counters: it asks again without the port
// filter if the kernel refuses it, and per family if the kernel lacks
// the older request that takes both.
func (src *source) dumpCounters(ctx context.Context, family uint8, states States, opts *Options, fn func(*TCPCounters) bool) error {
	bc := opts.bytecode()
	err := src.countersOnce(ctx, family, states, bc, opts, fn)
	var en errnoError
	if bc != nil && errors.As(err, &en) && unix.Errno(en) == unix.EINVAL {
		err = src.countersOnce(ctx, family, states, nil, opts, fn)
	}
	if family == 0 && errors.As(err, &en) {
		if err = src.dumpCounters(ctx, afINET, states, opts, fn); err == nil {
			err = src.dumpCounters(ctx, afINET6, states, opts, fn)
		}
		return err
	}
	if errors.As(err, &en) {
		if unix.Errno(en) == unix.ENOENT {
			return nil // no such protocol module (IPv6 disabled, say)
		}
		return fmt.Errorf("socktable: sock_diag tcp counters: %w", unix.Errno(en))
	}
	return err
}

// countersOnce sends one request and decodes its answer, one read at a
// time (the answers are about four times the size of List's, but a
// refresh of a live view needs no more speed than that). It stops
// reading when fn returns false and returns errStopped.
func (src *source) countersOnce(ctx context.Context, family uint8, states States, bc []byte, opts *Options, fn func(*TCPCounters) bool) error {
	req := appendCountersRequest(make([]byte, 0, 128), 1, family, states, bc)
	if err := unix.Sendto(src.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("socktable: sock_diag request: %w", err)
	}
	buf := make([]byte, recvBufLen)
	var (
		s    Socket
		c    TCPCounters
		stop bool
	)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := recvRetry(src.fd, buf)
		if err != nil {
			return fmt.Errorf("socktable: sock_diag: %w", err)
		}
		done, err := diagMessages(buf[:n], func(p []byte) bool {
			if countersMsg(p, opts, &s, &c) && !fn(&c) {
				stop = true
			}
			return !stop
		})
		if stop {
			return errStopped
		}
		if err != nil || done {
			return err
		}
	}
}
