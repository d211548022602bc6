//go:build !linux

package scan

import (
	"context"
	"net"
)

// newUDPTransport fails: only Linux tells an unconnected UDP socket about
// the ICMP errors its datagrams provoke (IP_RECVERR).
func newUDPTransport(context.Context, func(network, address string) (net.PacketConn, error), bool, func(uint16) bool, chan<- udpEvent) (udpTransport, error) {
	return nil, errUDPUnsupported
}
