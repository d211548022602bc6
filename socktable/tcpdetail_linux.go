package socktable

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"golang.org/x/sys/unix"
)

// detailsOS reads the internals with one sock_diag dump, on a source
// opened as List opens one (in opts.NetNS).
func detailsOS(ctx context.Context, opts *Options) iter.Seq2[TCPDetail, error] {
	return func(yield func(TCPDetail, error) bool) {
		src, err := openSource(opts.NetNS)
		if err != nil {
			yield(TCPDetail{}, err)
			return
		}
		defer src.close()
		if src.fd < 0 {
			yield(TCPDetail{}, ErrNoDetail)
			return
		}
		states := opts.States
		if states == 0 {
			states = AllStates
		}
		var family uint8
		switch opts.Family {
		case 4:
			family = afINET
		case 6:
			family = afINET6
		}
		stopped := false
		emit := func(d *TCPDetail) bool {
			stopped = stopped || !yield(*d, nil)
			return !stopped
		}
		if err := src.dumpDetails(ctx, family, states, opts, emit); err != nil && err != errStopped {
			yield(TCPDetail{}, err)
		}
	}
}

// dumpDetails is dumpCounters for details, with the same fallbacks.
func (src *source) dumpDetails(ctx context.Context, family uint8, states States, opts *Options, fn func(*TCPDetail) bool) error {
	bc := opts.bytecode()
	err := src.detailsOnce(ctx, family, states, bc, opts, fn)
	var en errnoError
	if bc != nil && errors.As(err, &en) && unix.Errno(en) == unix.EINVAL {
		err = src.detailsOnce(ctx, family, states, nil, opts, fn)
	}
	if family == 0 && errors.As(err, &en) {
		if err = src.dumpDetails(ctx, afINET, states, opts, fn); err == nil {
			err = src.dumpDetails(ctx, afINET6, states, opts, fn)
		}
		return err
	}
	if errors.As(err, &en) {
		if unix.Errno(en) == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("socktable: sock_diag tcp details: %w", unix.Errno(en))
	}
	return err
}

// detailsOnce sends one request and decodes its answer, one read at a
// time; it returns errStopped when fn returns false.
func (src *source) detailsOnce(ctx context.Context, family uint8, states States, bc []byte, opts *Options, fn func(*TCPDetail) bool) error {
	req := appendDetailRequest(make([]byte, 0, 128), 1, family, states, bc)
	if err := unix.Sendto(src.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("socktable: sock_diag request: %w", err)
	}
	buf := make([]byte, recvBufLen)
	var (
		d    TCPDetail
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
			if decodeDetail(p, &d) && opts.match(&d.Socket) && !fn(&d) {
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
