//go:build !unix

package knock

import "net/netip"

func tcpKnock(netip.AddrPort) error { return ErrNotImplemented }
