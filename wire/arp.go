package wire

import (
	"encoding/binary"
	"net/netip"
)

// ARP operations (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARP is an ARP message for IPv4 over Ethernet (RFC 826), from its
// hardware type on: what an AF_PACKET datagram socket of protocol
// ETH_P_ARP delivers and sends, and what a host discovery on a local
// link asks and reads. Other hardware or protocol types are not decoded.
type ARP struct {
	Op        uint16 // ARPRequest or ARPReply
	SenderMAC [6]byte
	SenderIP  netip.Addr // IPv4
	TargetMAC [6]byte
	TargetIP  netip.Addr // IPv4
	err       DecodeError
}

// arpLen is the length of an Ethernet IPv4 ARP message.
const arpLen = 28

// Decode reads the ARP message b into a. It does not allocate; an
// error is a *[DecodeError] (of LayerNone: ARP is not a [Layer]) that
// points into a and is overwritten by the next Decode. A message shorter
// than 28 bytes, or not of Ethernet (hardware type 1, 6-byte addresses)
// and IPv4 (protocol type 0x0800, 4-byte addresses), is an error, and
// leaves a zero. Bytes after the message (Ethernet padding) are ignored.
func (a *ARP) Decode(b []byte) error {
	a.Op, a.SenderMAC, a.SenderIP, a.TargetMAC, a.TargetIP = 0, [6]byte{}, netip.Addr{}, [6]byte{}, netip.Addr{}
	switch {
	case len(b) < arpLen:
		return a.fail(0, "message shorter than an Ethernet IPv4 ARP message")
	case binary.BigEndian.Uint16(b[0:]) != 1 || b[4] != 6:
		return a.fail(0, "ARP hardware type not Ethernet")
	case binary.BigEndian.Uint16(b[2:]) != uint16(EtherTypeIPv4) || b[5] != 4:
		return a.fail(2, "ARP protocol type not IPv4")
	}
	a.Op = binary.BigEndian.Uint16(b[6:])
	a.SenderMAC = [6]byte(b[8:14])
	a.SenderIP = netip.AddrFrom4([4]byte(b[14:18]))
	a.TargetMAC = [6]byte(b[18:24])
	a.TargetIP = netip.AddrFrom4([4]byte(b[24:28]))
	return nil
}

func (a *ARP) fail(off int, reason string) error {
	a.err = DecodeError{Layer: LayerNone, Offset: off, Reason: reason, Err: ErrMalformed}
	return &a.err
}

// AppendTo appends the 28 bytes of a to b. SenderIP and TargetIP
// should be IPv4; the zero Addr is written as 0.0.0.0.
func (a *ARP) AppendTo(b []byte) []byte {
	b = append(b, 0, 1, byte(EtherTypeIPv4>>8), byte(EtherTypeIPv4&0xff), 6, 4, byte(a.Op>>8), byte(a.Op))
	b = append(b, a.SenderMAC[:]...)
	b = appendIPv4Addr(b, a.SenderIP)
	b = append(b, a.TargetMAC[:]...)
	return appendIPv4Addr(b, a.TargetIP)
}

func appendIPv4Addr(b []byte, ip netip.Addr) []byte {
	if !ip.Is4() {
		return append(b, 0, 0, 0, 0)
	}
	v := ip.As4()
	return append(b, v[:]...)
}
