package pcapfile

import "strconv"

// LinkType is a capture file's link-layer header type: the LINKTYPE_
// value of the pcap file header or of a pcapng Interface Description
// Block, as listed at tcpdump.org/linktypes.html. It says how to decode
// the start of each packet's Data.
//
// In a pcap file header the link type is a 32-bit field whose upper bits
// may carry FCS information; LinkType keeps the low 16 bits.
type LinkType uint16

// Common link types. Any other value is valid too; its String is
// "LinkType(N)".
const (
	LinkTypeNull              LinkType = 0   // BSD loopback: 4-byte address family in host byte order
	LinkTypeEthernet          LinkType = 1   // Ethernet II / 802.3
	LinkTypeAX25              LinkType = 3   // AX.25
	LinkTypeTokenRing         LinkType = 6   // IEEE 802.5
	LinkTypeArcNet            LinkType = 7   // ARCNET (BSD)
	LinkTypeSLIP              LinkType = 8   // SLIP
	LinkTypePPP               LinkType = 9   // PPP
	LinkTypeFDDI              LinkType = 10  // FDDI
	LinkTypePPPHDLC           LinkType = 50  // PPP in HDLC-like framing
	LinkTypePPPEthernet       LinkType = 51  // PPPoE
	LinkTypeATMRFC1483        LinkType = 100 // RFC 1483 LLC/SNAP over ATM
	LinkTypeRaw               LinkType = 101 // raw IP, version from the first nibble
	LinkTypeCiscoHDLC         LinkType = 104 // Cisco HDLC
	LinkTypeIEEE80211         LinkType = 105 // IEEE 802.11 wireless
	LinkTypeFrameRelay        LinkType = 107 // Frame Relay
	LinkTypeLoop              LinkType = 108 // OpenBSD loopback: 4-byte address family, big-endian
	LinkTypeLinuxSLL          LinkType = 113 // Linux "cooked" capture, v1
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
	LinkTypeLinuxSLL2         LinkType = 276 // Linux "cooked" capture, v2
)

// String returns the constant's name without the LinkType prefix
// ("Ethernet", "LinuxSLL2"), or "LinkType(N)" for other values.
func (t LinkType) String() string {
	switch t {
	case LinkTypeNull:
		return "Null"
	case LinkTypeEthernet:
		return "Ethernet"
	case LinkTypeAX25:
		return "AX25"
	case LinkTypeTokenRing:
		return "TokenRing"
	case LinkTypeArcNet:
		return "ArcNet"
	case LinkTypeSLIP:
		return "SLIP"
	case LinkTypePPP:
		return "PPP"
	case LinkTypeFDDI:
		return "FDDI"
	case LinkTypePPPHDLC:
		return "PPPHDLC"
	case LinkTypePPPEthernet:
		return "PPPEthernet"
	case LinkTypeATMRFC1483:
		return "ATMRFC1483"
	case LinkTypeRaw:
		return "Raw"
	case LinkTypeCiscoHDLC:
		return "CiscoHDLC"
	case LinkTypeIEEE80211:
		return "IEEE80211"
	case LinkTypeFrameRelay:
		return "FrameRelay"
	case LinkTypeLoop:
		return "Loop"
	case LinkTypeLinuxSLL:
		return "LinuxSLL"
	case LinkTypePFLog:
		return "PFLog"
	case LinkTypeIEEE80211Prism:
		return "IEEE80211Prism"
	case LinkTypeIEEE80211Radiotap:
		return "IEEE80211Radiotap"
	case LinkTypeIEEE80211AVS:
		return "IEEE80211AVS"
	case LinkTypeBluetoothHCIH4:
		return "BluetoothHCIH4"
	case LinkTypeUSBLinux:
		return "USBLinux"
	case LinkTypePPI:
		return "PPI"
	case LinkTypeIEEE802154:
		return "IEEE802154"
	case LinkTypeUSBLinuxMmapped:
		return "USBLinuxMmapped"
	case LinkTypeIPv4:
		return "IPv4"
	case LinkTypeIPv6:
		return "IPv6"
	case LinkTypeNFLog:
		return "NFLog"
	case LinkTypeUSBPcap:
		return "USBPcap"
	case LinkTypeNetlink:
		return "Netlink"
	case LinkTypeLinuxSLL2:
		return "LinuxSLL2"
	}
	return "LinkType(" + strconv.Itoa(int(t)) + ")"
}
