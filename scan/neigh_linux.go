package scan

import (
	"encoding/binary"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// failedNeighbours calls fn with every address of the kernel's neighbour
// tables (ARP and NDP) whose resolution failed: a host on a directly
// connected link that did not answer. It is how a scan learns that a
// neighbour is absent when the ICMP errors the kernel sends itself for
// the queued packets were rate limited (icmp_msgs_per_sec). Errors are
// ignored: the tables are a shortcut, not the only way to find out.
func failedNeighbours(fn func(netip.Addr)) {
	b, err := syscall.NetlinkRIB(unix.RTM_GETNEIGH, unix.AF_UNSPEC)
	if err != nil {
		return
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWNEIGH || len(m.Data) < unix.SizeofNdMsg {
			continue
		}
		state := binary.NativeEndian.Uint16(m.Data[8:])
		if state&unix.NUD_FAILED == 0 {
			continue
		}
		attrs := m.Data[unix.SizeofNdMsg:]
		for len(attrs) >= 4 {
			l := int(binary.NativeEndian.Uint16(attrs))
			typ := binary.NativeEndian.Uint16(attrs[2:])
			if l < 4 || l > len(attrs) {
				break
			}
			if typ == unix.NDA_DST {
				if a, ok := netip.AddrFromSlice(attrs[4:l]); ok {
					fn(a.Unmap())
				}
			}
			attrs = attrs[min((l+3)&^3, len(attrs)):]
		}
	}
}
