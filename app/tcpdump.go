package app

import (
	"bytes"
	"encoding/binary"
)

// Printer is the payload printer tcpdump -nn chooses for a segment or a
// datagram by its ports.
type Printer uint8

const (
	// PrintNone: tcpdump prints the length only.
	PrintNone Printer = iota
	// PrintDNS, PrintMDNS and PrintHTTP: tcpdump's text, which
	// [AppendDNS] and [AppendHTTP] print.
	PrintDNS
	PrintMDNS
	PrintHTTP
	// PrintOther: a port tcpdump gives to a printer of a protocol this
	// package does not decode (SMTP, SSH, FTP, ISAKMP, RADIUS...) before
	// it would test for one this package does. Other ports after those
	// tests are PrintNone.
	PrintOther
	// PrintNTP, PrintTFTP, PrintBOOTP, PrintRIP, PrintSNMP and
	// PrintSyslog: tcpdump's text for these UDP protocols, which
	// [AppendUDP] prints.
	PrintNTP
	PrintTFTP
	PrintBOOTP
	PrintRIP
	PrintSNMP
	PrintSyslog
	// PrintSIP: tcpdump's text for a datagram to or from port 5060,
	// which [AppendSIP] prints.
	PrintSIP
	// PrintFTP and PrintSMTP: tcpdump's txtproto text on FTP's and
	// SMTP's ports, which [AppendFTP] and [AppendSMTP] print.
	PrintFTP
	PrintSMTP
)

// TcpdumpUDP is the printer tcpdump 4.99's udp_print picks for a
// datagram between these ports, in its order, as the tests find it with
// Debian's tcpdump 4.99.3 (every port against each of the ports of the
// protocols printed here): DNS, mDNS, timed, TFTP, BOOTP, RIP, then
// AODV and ISAKMP, SNMP, NTP, then some forty printers (Kerberos,
// RADIUS, L2TP...), SIP's, then syslog's port. data is the payload: an
// ONC RPC call to NFS's port, or a reply from it, goes to NFS's printer
// before any port is tested.
func TcpdumpUDP(sport, dport uint16, data []byte) Printer {
	if len(data) >= 8 {
		dir := binary.BigEndian.Uint32(data[4:])
		if dport == 2049 && dir == 0 || sport == 2049 && dir == 1 {
			return PrintOther
		}
	}
	is := func(p uint16) bool { return sport == p || dport == p }
	switch {
	case is(53):
		return PrintDNS
	case is(5353):
		return PrintMDNS
	case is(525):
		return PrintOther
	case is(69):
		return PrintTFTP
	case is(67) || is(68):
		return PrintBOOTP
	case is(520):
		return PrintRIP
	case is(654) || is(500) || is(4500) || is(7500) || is(8500):
		return PrintOther
	case is(161) || is(162):
		return PrintSNMP
	case is(123):
		return PrintNTP
	case !is(514) && !is(5060):
		return PrintNone
	}
	for _, p := range beforeSyslog {
		if is(p) && p != 5060 {
			return PrintOther
		}
	}
	switch {
	case sport >= 7000 && sport <= 7009, dport >= 7000 && dport <= 7009, sport == 49152:
		return PrintOther
	}
	for _, p := range beforeSyslogDst {
		if dport == p {
			return PrintOther
		}
	}
	if is(5060) {
		return PrintSIP // the last before syslog
	}
	return PrintSyslog
}

// beforeSyslog: ports of printers tcpdump tests before syslog's, either
// way; beforeSyslogDst: as destination only (VAT, BFD, HSRP, WB).
var (
	beforeSyslog = [...]uint16{88, 496, 521, 546, 547, 646, 698, 701, 750, 921, 1589, 1645, 1646, 1700, 1701, 1812, 1813,
		2103, 2104, 3503, 3799, 5060, 5359, 6343, 6696, 6697, 8231, 12222, 12223}
	beforeSyslogDst = [...]uint16{1985, 3456, 3784, 3785, 4567, 4784, 6784}
)

// AppendUDP appends tcpdump's text for a datagram's payload by the
// printer pr: data is the payload captured, length its length by the
// UDP header. PrintDNS and PrintMDNS are [AppendDNS]'s.
func AppendUDP(b []byte, pr Printer, data []byte, length int) []byte {
	b, _ = AppendUDPJumped(b, pr, data, length)
	return b
}

// AppendUDPJumped is [AppendUDP], and reports whether tcpdump's printer
// would have ended where the capture does by a longjmp (a read past the
// capture, not a check before it), after which tcpdump's -A, -x and -X
// dump the packet from its first byte, the link header too.
func AppendUDPJumped(b []byte, pr Printer, data []byte, length int) ([]byte, bool) {
	switch pr {
	case PrintDNS, PrintMDNS:
		return AppendDNS(b, data, length, DNSOptions{MDNS: pr == PrintMDNS}), false
	case PrintNTP, PrintBOOTP, PrintSyslog:
		// These read every byte with tcpdump's GET macros.
		n := len(b)
		switch pr {
		case PrintNTP:
			b = AppendNTP(b, data, length)
		case PrintBOOTP:
			b = AppendBOOTP(b, data, length)
		default:
			b = AppendSyslog(b, data, length)
		}
		return b, bytes.HasSuffix(b[n:], []byte("]")) && bytes.Contains(b[n:], []byte(" [|"))
	case PrintTFTP:
		return appendTFTP(b, data, length)
	case PrintRIP:
		return AppendRIP(b, data, length), false
	case PrintSNMP:
		return appendSNMP(b, data, length)
	case PrintSIP:
		return AppendSIP(b, data, length), false
	}
	return b, false
}

// TcpdumpTCP is the printer tcpdump 4.99's tcp_print picks for a segment
// with a payload between these ports, in its order: Telnet, SMTP,
// whois, BGP, PPTP, Redis, SSH, BEEP, OpenFlow and FTP come before HTTP
// (80, 8080), RTSP before DNS (Debian's build has no SMB printer). It
// has no printer for POP3's or IMAP's ports (110, 143): they show the
// length only.
func TcpdumpTCP(sport, dport uint16) Printer {
	is := func(p uint16) bool { return sport == p || dport == p }
	for _, p := range [...]uint16{23, 25, 43, 179, 1723, 6379, 22, 10288, 6633, 6653, 21} {
		if is(p) {
			switch p {
			case 25:
				return PrintSMTP
			case 21:
				return PrintFTP
			}
			return PrintOther
		}
	}
	switch {
	case is(80) || is(8080):
		return PrintHTTP
	case is(554) || is(8554):
		return PrintOther
	case is(53):
		return PrintDNS
	}
	return PrintNone
}

// AppendTCP appends tcpdump's text for a segment's payload by the
// printer pr (PrintHTTP, PrintFTP, PrintSMTP; PrintDNS is [AppendDNS]'s
// over TCP): ": " and the text, or nothing for other printers. data is
// the payload captured, length its length by the IP header.
func AppendTCP(b []byte, pr Printer, data []byte, length int) []byte {
	switch pr {
	case PrintHTTP:
		return AppendHTTP(append(b, ": "...), data, length)
	case PrintFTP:
		return AppendFTP(append(b, ": "...), data, length)
	case PrintSMTP:
		return AppendSMTP(append(b, ": "...), data, length)
	case PrintDNS:
		return AppendDNS(b, data, length, DNSOptions{OverTCP: true})
	}
	return b
}
