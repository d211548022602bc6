package pcapfile

import "strconv"

// LinkType is a link-layer header type: the LINKTYPE_ value of a pcap
// file header or of a pcapng Interface Description Block, from the
// registry at tcpdump.org/linktypes.html. It says how to decode the start
// of each packet's Data. It is the one link type of this module: package
// capture reports it for an interface, wire decodes by it and filter
// compiles for it; each of them says which values it handles.
//
// These are the file values, which on some systems differ from the DLT_
// values a capture device reports (DLT_RAW is 12 or 14 on some BSDs,
// LINKTYPE_RAW is 101).
//
// In a pcap file header the link type is a 32-bit field whose upper bits
// may carry FCS information; LinkType keeps the low 16 bits.
type LinkType uint16

// Common link types. Any other value is valid too.
const (
	LinkTypeNull              LinkType = 0   // BSD loopback: 4-byte address family in the writer's byte order
	LinkTypeEthernet          LinkType = 1   // Ethernet II / 802.3, with any 802.1Q / 802.1ad tags
	LinkTypeAX25              LinkType = 3   // AX.25
	LinkTypeTokenRing         LinkType = 6   // IEEE 802.5
	LinkTypeArcNet            LinkType = 7   // ARCNET (BSD)
	LinkTypeSLIP              LinkType = 8   // SLIP
	LinkTypePPP               LinkType = 9   // PPP
	LinkTypeFDDI              LinkType = 10  // FDDI
	LinkTypePPPHDLC           LinkType = 50  // PPP in HDLC-like framing
	LinkTypePPPEthernet       LinkType = 51  // PPPoE
	LinkTypeATMRFC1483        LinkType = 100 // RFC 1483 LLC/SNAP over ATM
	LinkTypeRaw               LinkType = 101 // raw IPv4 or IPv6, told apart by the version nibble
	LinkTypeCiscoHDLC         LinkType = 104 // Cisco HDLC
	LinkTypeIEEE80211         LinkType = 105 // IEEE 802.11 wireless
	LinkTypeFrameRelay        LinkType = 107 // Frame Relay
	LinkTypeLoop              LinkType = 108 // OpenBSD loopback: like Null, with the family big-endian
	LinkTypeLinuxSLL          LinkType = 113 // Linux "cooked" capture, v1 (16-byte header)
	LinkTypePFLog             LinkType = 117 // OpenBSD pflog
	LinkTypeIEEE80211Prism    LinkType = 119 // 802.11 with a Prism header
	LinkTypeIEEE80211Radiotap LinkType = 127 // 802.11 with a radiotap header
	LinkTypeIEEE80211AVS      LinkType = 163 // 802.11 with an AVS header
	LinkTypeBluetoothHCIH4    LinkType = 187 // Bluetooth HCI UART (H4)
	LinkTypeUSBLinux          LinkType = 189 // Linux usbmon, 48-byte header
	LinkTypePPI               LinkType = 192 // Per-Packet Information
	LinkTypeIEEE802154        LinkType = 195 // IEEE 802.15.4 with FCS
	LinkTypeUSBLinuxMmapped   LinkType = 220 // Linux usbmon, 64-byte header
	LinkTypeIPv4              LinkType = 228 // raw IPv4
	LinkTypeIPv6              LinkType = 229 // raw IPv6
	LinkTypeNFLog             LinkType = 239 // Linux netfilter NFLOG
	LinkTypeUSBPcap           LinkType = 249 // Windows USBPcap
	LinkTypeNetlink           LinkType = 253 // Linux netlink (nlmon)
	LinkTypeLinuxSLL2         LinkType = 276 // Linux "cooked" capture, v2 (20-byte header)
)

// names returns libpcap's name and description of t, or "", "" for a
// value without a constant.
func (t LinkType) names() (name, desc string) {
	switch t {
	case LinkTypeNull:
		return "NULL", "BSD loopback"
	case LinkTypeEthernet:
		return "EN10MB", "Ethernet"
	case LinkTypeAX25:
		return "AX25", "Amateur Radio AX.25" // libpcap 1.10 has no DLT name for 3; the registry's LINKTYPE_AX25
	case LinkTypeTokenRing:
		return "IEEE802", "Token ring"
	case LinkTypeArcNet:
		return "ARCNET", "BSD ARCNET"
	case LinkTypeSLIP:
		return "SLIP", "SLIP"
	case LinkTypePPP:
		return "PPP", "PPP"
	case LinkTypeFDDI:
		return "FDDI", "FDDI"
	case LinkTypePPPHDLC:
		return "PPP_SERIAL", "PPP over serial"
	case LinkTypePPPEthernet:
		return "PPP_ETHER", "PPPoE"
	case LinkTypeATMRFC1483:
		return "ATM_RFC1483", "RFC 1483 LLC-encapsulated ATM"
	case LinkTypeRaw:
		return "RAW", "Raw IP"
	case LinkTypeCiscoHDLC:
		return "C_HDLC", "Cisco HDLC"
	case LinkTypeIEEE80211:
		return "IEEE802_11", "802.11"
	case LinkTypeFrameRelay:
		return "FRELAY", "Frame Relay"
	case LinkTypeLoop:
		return "LOOP", "OpenBSD loopback"
	case LinkTypeLinuxSLL:
		return "LINUX_SLL", "Linux cooked v1"
	case LinkTypePFLog:
		return "PFLOG", "OpenBSD pflog file"
	case LinkTypeIEEE80211Prism:
		return "PRISM_HEADER", "802.11 plus Prism header"
	case LinkTypeIEEE80211Radiotap:
		return "IEEE802_11_RADIO", "802.11 plus radiotap header"
	case LinkTypeIEEE80211AVS:
		return "IEEE802_11_RADIO_AVS", "802.11 plus AVS radio information header"
	case LinkTypeBluetoothHCIH4:
		return "BLUETOOTH_HCI_H4", "Bluetooth HCI UART transport layer"
	case LinkTypeUSBLinux:
		return "USB_LINUX", "USB with Linux header"
	case LinkTypePPI:
		return "PPI", "Per-Packet Information"
	case LinkTypeIEEE802154:
		return "IEEE802_15_4", "IEEE 802.15.4 with FCS"
	case LinkTypeUSBLinuxMmapped:
		return "USB_LINUX_MMAPPED", "USB with padded Linux header"
	case LinkTypeIPv4:
		return "IPV4", "Raw IPv4"
	case LinkTypeIPv6:
		return "IPV6", "Raw IPv6"
	case LinkTypeNFLog:
		return "NFLOG", "Linux netfilter log messages"
	case LinkTypeUSBPcap:
		return "USBPCAP", "USB with USBPcap header"
	case LinkTypeNetlink:
		return "NETLINK", "Linux netlink"
	case LinkTypeLinuxSLL2:
		return "LINUX_SLL2", "Linux cooked v2"
	}
	return "", ""
}

// String returns libpcap's name for the link type, the one tcpdump prints
// ("link-type EN10MB (Ethernet)") and takes after -y: "EN10MB",
// "LINUX_SLL", "RAW". For a value without a constant it returns the
// number in decimal, as tcpdump prints it ("link-type 147").
//
// These names, rather than the registry's LINKTYPE_ names or the Go
// constant names, are the ones users meet in tcpdump, tshark's -L and
// libpcap's API, so error messages and CLI output use them.
func (t LinkType) String() string {
	if name, _ := t.names(); name != "" {
		return name
	}
	return strconv.Itoa(int(t))
}

// Description returns libpcap's description of the link type, the one
// tcpdump prints in parentheses after the name ("Ethernet", "Linux cooked
// v1", "Raw IP"), or "" for a value without a constant.
func (t LinkType) Description() string {
	_, desc := t.names()
	return desc
}
