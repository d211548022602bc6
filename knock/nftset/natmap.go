package nftset

import (
	"fmt"
	"net/netip"
	"time"
)

// NATMap is an open nftables map that a DNAT rule of the administrator's
// looks up: from the client's address, protocol and port to the address
// and port to send the connection to (fwknop's NAT access, -N). It is
// made beforehand with the timeout flag, for example:
//
//	nft add table ip spa
//	nft add map ip spa nat '{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; }'
//	nft add chain ip spa pre '{ type nat hook prerouting priority dstnat; }'
//	nft add rule ip spa pre dnat ip to ip saddr . meta l4proto . th dport map @nat
//
// As for sets, this package only adds elements, which the kernel removes
// when their timeout ends. Its methods may be called from any goroutine.
type NATMap struct {
	name Name
	impl natImpl
}

type natImpl interface {
	add(src netip.Addr, proto uint8, port uint16, to netip.AddrPort, timeout time.Duration) error
	close() error
}

// OpenNATMap opens the map n in the network namespace of the calling
// thread, checking that it exists, has the types above and the timeout
// flag. Only IPv4 maps exist: fwknop's NAT access is IPv4.
func OpenNATMap(n Name) (*NATMap, error) {
	impl, err := openNAT(n)
	if err != nil {
		return nil, fmt.Errorf("nftset: %s: %w", n, err)
	}
	return &NATMap{name: n, impl: impl}, nil
}

// Add maps connections from src to proto/port (6 TCP, 17 UDP) on to
// to, for timeout (at least a millisecond).
func (m *NATMap) Add(src netip.Addr, proto uint8, port uint16, to netip.AddrPort, timeout time.Duration) error {
	if timeout < time.Millisecond {
		return fmt.Errorf("nftset: %s: timeout %v is under a millisecond", m.name, timeout)
	}
	src, toA := src.Unmap(), to.Addr().Unmap()
	if !src.Is4() || !toA.Is4() {
		return fmt.Errorf("nftset: %s: NAT of %s to %s: IPv4 only", m.name, src, to)
	}
	if err := m.impl.add(src, proto, port, netip.AddrPortFrom(toA, to.Port()), timeout); err != nil {
		return fmt.Errorf("nftset: %s: map %s %d/%d to %s: %w", m.name, src, proto, port, to, err)
	}
	return nil
}

// Close closes the netlink socket.
func (m *NATMap) Close() error { return m.impl.close() }
