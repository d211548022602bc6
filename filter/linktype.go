package filter

import "github.com/portkit/ports/pcapfile"

// linkTypes lists the link types filters compile for, in numeric order;
// linkFor has a layout for each.
var linkTypes = [...]pcapfile.LinkType{
	pcapfile.LinkTypeNull, pcapfile.LinkTypeEthernet, pcapfile.LinkTypeRaw, pcapfile.LinkTypeLoop,
	pcapfile.LinkTypeLinuxSLL, pcapfile.LinkTypeIPv4, pcapfile.LinkTypeIPv6, pcapfile.LinkTypeLinuxSLL2,
}

// LinkTypes returns the link types filters compile for, in numeric
// order: Null, Ethernet, Raw, Loop, LinuxSLL, IPv4, IPv6 and LinuxSLL2.
func LinkTypes() []pcapfile.LinkType { return append([]pcapfile.LinkType(nil), linkTypes[:]...) }

// Supports reports whether filters can be compiled for link type l.
// Compile and NewMatcher refuse any other with an error that wraps
// ErrUnsupportedLinkType.
func Supports(l pcapfile.LinkType) bool {
	for _, s := range linkTypes {
		if s == l {
			return true
		}
	}
	return false
}
