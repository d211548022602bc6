package filter

import "strconv"

// LinkType is a pcap LINKTYPE_ number: the kind of header in front of the
// network layer, as recorded in pcap and pcapng files. These are the
// file values, which on some systems differ from the DLT_ values a
// capture device reports (DLT_RAW is 12 or 14 on some BSDs, LINKTYPE_RAW
// is 101).
type LinkType uint16

// The link types filters compile for.
const (
	// LinkTypeNull is BSD loopback: a 4-byte address family in the
	// byte order of the host that wrote it (2 for IPv4; 24, 28 or 30
	// for IPv6, and also 10, Linux's AF_INET6). Filters accept both
	// byte orders; see the package documentation.
	LinkTypeNull LinkType = 0
	// LinkTypeEthernet is Ethernet II: the EtherType at byte 12.
	LinkTypeEthernet LinkType = 1
	// LinkTypeRaw is a bare IPv4 or IPv6 packet, told apart by its
	// version nibble.
	LinkTypeRaw LinkType = 101
	// LinkTypeLoop is OpenBSD loopback: like LinkTypeNull, but the
	// address family is always big-endian.
	LinkTypeLoop LinkType = 108
	// LinkTypeLinuxSLL is Linux "cooked" capture v1: a 16-byte header
	// with the protocol (an EtherType) at byte 14.
	LinkTypeLinuxSLL LinkType = 113
	// LinkTypeIPv4 is a bare IPv4 packet.
	LinkTypeIPv4 LinkType = 228
	// LinkTypeIPv6 is a bare IPv6 packet.
	LinkTypeIPv6 LinkType = 229
	// LinkTypeLinuxSLL2 is Linux "cooked" capture v2: a 20-byte header
	// with the protocol at byte 0.
	LinkTypeLinuxSLL2 LinkType = 276
)

// LinkTypes lists the supported link types, in numeric order.
var LinkTypes = [...]LinkType{
	LinkTypeNull, LinkTypeEthernet, LinkTypeRaw, LinkTypeLoop,
	LinkTypeLinuxSLL, LinkTypeIPv4, LinkTypeIPv6, LinkTypeLinuxSLL2,
}

// String returns libpcap's name for the link type ("EN10MB",
// "LINUX_SLL"), or "linktype(N)" for one this package does not support.
func (l LinkType) String() string {
	switch l {
	case LinkTypeNull:
		return "NULL"
	case LinkTypeEthernet:
		return "EN10MB"
	case LinkTypeRaw:
		return "RAW"
	case LinkTypeLoop:
		return "LOOP"
	case LinkTypeLinuxSLL:
		return "LINUX_SLL"
	case LinkTypeIPv4:
		return "IPV4"
	case LinkTypeIPv6:
		return "IPV6"
	case LinkTypeLinuxSLL2:
		return "LINUX_SLL2"
	}
	return "linktype(" + strconv.Itoa(int(l)) + ")"
}

// Supported reports whether filters can be compiled for l.
func (l LinkType) Supported() bool {
	for _, s := range LinkTypes {
		if s == l {
			return true
		}
	}
	return false
}
