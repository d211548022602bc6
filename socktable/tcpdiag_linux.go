package socktable

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"golang.org/x/sys/unix"
)

// tcpRequest appends a TCP dump request asking for attributes: for
// family 0 the older request that takes both families.
type tcpRequest func(b []byte, seq uint32, family uint8, states States, bytecode []byte) []byte

// errStopped ends a dump whose consumer stopped.
var errStopped = errors.New("socktable: stopped")

// tcpDump yields what decode makes of each answer of the TCP dump that
// req asks for, on a source opened as List opens one (in opts.NetNS),
// with opts' states, family and filters; decode reports whether its
// value is one to yield. Details and Counters are this with their own
// request and decoder. unavailable is the error where netlink is
// refused; what names the dump in errors.
func tcpDump[T any](ctx context.Context, opts *Options, unavailable error, what string, req tcpRequest, decode func(p []byte, v *T) bool) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		src, err := openSource(opts.NetNS)
		if err != nil {
			yield(zero, err)
			return
		}
		defer src.close()
		if src.fd < 0 { // netlink refused: /proc/net has no attributes
			yield(zero, unavailable)
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
		var v T
		stopped := false
		fn := func(p []byte) bool {
			if decode(p, &v) && !yield(v, nil) {
				stopped = true
			}
			return !stopped
		}
		err = src.dumpTCP(ctx, family, states, opts.bytecode(), what, req, fn)
		if stopped {
			return
		}
		if err != nil && err != errStopped {
			yield(zero, err)
		}
	}
}

// dumpTCP is dump for tcpDump: it asks again without the filter
// bytecode if the kernel refuses it, and per family if the kernel lacks
// the older request that takes both.
func (src *source) dumpTCP(ctx context.Context, family uint8, states States, bc []byte, what string, req tcpRequest, fn func(p []byte) bool) error {
	stopped := false
	once := func(bc []byte) error {
		return src.recvDump(ctx, req(make([]byte, 0, 128), 1, family, states, bc), func(p []byte) bool {
			stopped = !fn(p)
			return !stopped
		})
	}
	err := once(bc)
	var en errnoError
	if bc != nil && errors.As(err, &en) && unix.Errno(en) == unix.EINVAL {
		err = once(nil)
	}
	if stopped {
		return errStopped
	}
	if family == 0 && errors.As(err, &en) {
		if err = src.dumpTCP(ctx, afINET, states, bc, what, req, fn); err == nil {
			err = src.dumpTCP(ctx, afINET6, states, bc, what, req, fn)
		}
		return err
	}
	if errors.As(err, &en) {
		if unix.Errno(en) == unix.ENOENT {
			return nil // no such protocol module (IPv6 disabled, say)
		}
		return fmt.Errorf("socktable: sock_diag tcp %s: %w", what, unix.Errno(en))
	}
	return err
}
