package knock

import "context"

// Sniff sees knocks on the network interface iface (as knockd does,
// through a raw packet socket: AF_PACKET with the filter run in the
// kernel, on Linux, as root or with CAP_NET_RAW) and feeds them to s
// until ctx ends. When the doors change (Reload, one-time sequences) the
// capture is reopened with the new filter. Elsewhere it returns
// ErrNotImplemented.
func (s *Server) Sniff(ctx context.Context, iface string) error {
	return sniff(ctx, s, iface)
}
