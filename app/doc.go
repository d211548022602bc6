// Package app recognises the application protocol in a packet's payload
// and prints it: DNS (over UDP, TCP and mDNS), HTTP/1.x request and
// status lines, NTP, SNMP, DHCP/BOOTP, TFTP, syslog, RIP and SIP, as
// tcpdump -nn prints them, and the fields they carry; by content, TLS
// hellos, HTTP/1.x headers, SSH banners, SIP messages and QUIC long
// headers, with the ClientHello of Initial packets (see quic.go for why
// that is written here). It does no I/O.
//
// Printers append to a caller's buffer and decoders fill structs the
// caller owns, without allocating; slices they return alias the payload.
//
// Why not golang.org/x/net/dns/dnsmessage: the one-line view must be
// tcpdump's text byte for byte, also for messages cut by the snap length
// or malformed (a bad compression pointer, a count beyond the data),
// where tcpdump prints as far as it got and marks the cut; dnsmessage
// rejects such a message whole. The tests use it as an oracle on the
// messages both accept. SNMP is printed by walking its BER as tcpdump
// does, for the same reason: encoding/asn1 stops at the first fault,
// where tcpdump prints what it decoded and a mark.
package app
