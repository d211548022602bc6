package socks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/portkit/ports/acl"
)

func TestRep5For(t *testing.T) {
	op := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	for _, tc := range []struct {
		err  error
		want byte
	}{
		{fmt.Errorf("x: %w", op(&acl.DeniedError{Addr: netip.MustParseAddr("10.0.0.1"), Reason: "private"})), rep5NotAllowed},
		{op(os.NewSyscallError("connect", syscall.ECONNREFUSED)), rep5ConnectionRefused},
		{op(os.NewSyscallError("connect", syscall.ENETUNREACH)), rep5NetworkUnreachable},
		{op(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), rep5HostUnreachable},
		{op(&net.DNSError{Err: "no such host", Name: "nx.invalid", IsNotFound: true}), rep5HostUnreachable},
		{op(context.DeadlineExceeded), rep5TTLExpired},
		{op(os.ErrDeadlineExceeded), rep5TTLExpired},
		{errors.New("something else"), rep5GeneralFailure},
	} {
		if got := rep5For(tc.err); got != tc.want {
			t.Errorf("rep5For(%v) = 0x%02x, want 0x%02x", tc.err, got, tc.want)
		}
	}
}
