package acl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/portkit/ports"
)

// Dialer dials TCP or UDP through a Policy: the check runs in the
// socket's Control hook on the IP actually being connected to, after name
// resolution, so DNS rebinding cannot slip past it. The error of a denied
// dial wraps a *DeniedError (errors.As) and matches ErrDenied (errors.Is).
// Connections are the plain *net.TCPConn / *net.UDPConn of net.Dialer.
type Dialer struct {
	Policy *Policy    // nil: the zero Policy (global unicast only)
	Dialer net.Dialer // timeouts, local address, keep-alive...; its Control or ControlContext still runs, after the check
}

// DialContext connects to address on the named network ("tcp", "tcp4",
// "tcp6", "udp", "udp4", "udp6") like net.Dialer.DialContext, refusing
// destinations the Policy denies.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return nil, fmt.Errorf("acl: dial %s %s: network not supported", network, address)
	}
	// A host shaped like an address that is not one ("300.1.1.1") is
	// refused here: the resolver would send it to DNS.
	if host, _, err := net.SplitHostPort(address); err == nil {
		if _, err := ports.ParseHost(host); errors.Is(err, ports.ErrBadAddress) {
			return nil, fmt.Errorf("acl: dial %s %s: %w", network, address, err)
		}
	}
	nd := d.Dialer
	inner, innerCtx := nd.Control, nd.ControlContext
	nd.Control = nil
	nd.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("acl: unexpected address %q", address)
		}
		if err := d.Policy.Check(ap.Addr()); err != nil {
			return err
		}
		if innerCtx != nil {
			return innerCtx(ctx, network, address, c)
		}
		if inner != nil {
			return inner(network, address, c)
		}
		return nil
	}
	return nd.DialContext(ctx, network, address)
}
