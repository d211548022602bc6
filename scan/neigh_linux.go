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

// openNeighbours opens the netlink socket that addNeighbour writes to.
// It is opened with the scan's other sockets, so that it is in their
// network namespace.
func openNeighbours() (int, error) {
	return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
}

// addNeighbour tells the kernel that a, on link ifindex, has the MAC
// address mac, as a stale entry (which the kernel uses at once and
// confirms by itself), unless it has an entry for a already. The SYN
// scan's probes go through the kernel, which does not learn from the
// answers to the scan's own ARP and NDP: without this it resolved each
// host again, and where its first request was lost the scan's rounds
// ended before its second, a second later, leaving every port of a
// live host filtered. Errors are ignored (without CAP_NET_ADMIN the
// kernel resolves as before).
func addNeighbour(fd, ifindex int, a netip.Addr, mac []byte) {
	if len(mac) != 6 {
		return
	}
	family, ip := unix.AF_INET, a.AsSlice()
	if a.Is6() {
		family = unix.AF_INET6
	}
	attr := func(b []byte, typ uint16, v []byte) []byte {
		l := 4 + len(v)
		b = binary.NativeEndian.AppendUint16(b, uint16(l))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	b := make([]byte, unix.SizeofNlMsghdr, 64)
	nd := make([]byte, unix.SizeofNdMsg)
	nd[0] = byte(family)
	binary.NativeEndian.PutUint32(nd[4:], uint32(ifindex))
	binary.NativeEndian.PutUint16(nd[8:], unix.NUD_STALE)
	b = append(b, nd...)
	b = attr(b, unix.NDA_DST, ip)
	b = attr(b, unix.NDA_LLADDR, mac)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], unix.RTM_NEWNEIGH)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	unix.Sendto(fd, b, unix.MSG_DONTWAIT, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}
