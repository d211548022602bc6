package knock

import "context"

// Sniff sees knocks on the network interface iface (as knockd does,
// through a raw packet socket: AF_PACKET with the filter run in the
// kernel, on Linux, as root or with CAP_NET_RAW) and feeds them to s
// until ctx ends. Elsewhere it returns ErrNotImplemented.
//
// Unlike knockd, it handles IPv6 knocks too, and takes every packet
// arriving on the interface, not only those addressed to the
// interface's own addresses, which knockd checks with "dst host" (use
// Target to pin a door to one address). Its kernel filter admits the
// sequences' ports and protocols (past MaxFilterRanges ranges of ports
// for a protocol, a few more ports, so that the program stays small for
// any number of doors); the Machine checks the ports exactly, and TCP
// flags. When the doors change (Reload, a one-time sequence used), the
// socket's filter is replaced in place; if the kernel refuses a filter,
// the sniffer takes every TCP and UDP packet instead, and says so. The
// Server counts and logs the attempts the Machine had to drop.
func (s *Server) Sniff(ctx context.Context, iface string) error {
	return sniff(ctx, s, iface)
}
