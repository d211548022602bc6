package spa

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// ErrNotImplemented is returned by Sniff where it cannot sniff (outside
// Linux). It wraps errors.ErrUnsupported.
var ErrNotImplemented = fmt.Errorf("spa: sniffing is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Sniff reads SPA packets sent to UDP port on the interface iface
// through a raw packet socket (AF_PACKET, with the filter run in the
// kernel), as fwknopd does with libpcap: no socket is bound to the port,
// so the host answers as for any closed port. It handles each packet as
// Serve does, until ctx ends. Linux only, as root or with CAP_NET_RAW;
// elsewhere it returns ErrNotImplemented.
func (s *Server) Sniff(ctx context.Context, iface string, port uint16) error {
	return sniff(ctx, s, iface, port)
}
