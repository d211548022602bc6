package knock

import (
	"net"
	"strconv"
)

// zoneIndex returns the interface index of an IPv6 zone (a name or a
// number), 0 if unknown.
func zoneIndex(zone string) uint32 {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}
