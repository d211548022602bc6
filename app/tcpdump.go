package app

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
	// package does not decode (SMTP, SSH, FTP...) before it would test
	// for DNS or HTTP. Other ports after those tests are PrintNone.
	PrintOther
)

// TcpdumpUDP is the printer tcpdump 4.99's udp_print picks for a
// datagram between these ports: DNS's port is tested first, mDNS's
// next (as the tests find with Debian's tcpdump 4.99.3), so other
// protocols are PrintNone here.
func TcpdumpUDP(sport, dport uint16) Printer {
	switch {
	case sport == 53 || dport == 53:
		return PrintDNS
	case sport == 5353 || dport == 5353:
		return PrintMDNS
	}
	return PrintNone
}

// TcpdumpTCP is the printer tcpdump 4.99's tcp_print picks for a segment
// with a payload between these ports, in its order: Telnet, SMTP,
// whois, BGP, PPTP, Redis, SSH, BEEP, OpenFlow and FTP come before HTTP
// (80, 8080), RTSP before DNS (Debian's build has no SMB printer).
func TcpdumpTCP(sport, dport uint16) Printer {
	is := func(p uint16) bool { return sport == p || dport == p }
	for _, p := range [...]uint16{23, 25, 43, 179, 1723, 6379, 22, 10288, 6633, 6653, 21} {
		if is(p) {
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
