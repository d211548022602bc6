// Package filter compiles tcpdump's filter language (pcap-filter(7)) to
// classic BPF, with golang.org/x/net/bpf: a program to give the kernel
// for a live capture (see [Assemble]), or to run over packets read from
// a file (see [Matcher]). It takes the primitives of IP, IPv6, TCP, UDP,
// SCTP, ICMP, ICMPv6, ARP and RARP, byte offsets with arithmetic and
// comparisons (tcp[tcpflags] & tcp-syn != 0), len, less and greater, and
// the link-layer primitives (ether host, ether proto and its names,
// broadcast, multicast, vlan, mpls, pppoed, pppoes, llc, inbound,
// outbound); host and network names through a [Resolver] given to
// [ParseConfig], looked up once as tcpdump does. The rest of
// pcap-filter(7) is refused with "not supported: WORD (pcap-filter
// feature)". A filter keeps the packets
// that tcpdump keeps, also those too short for the fields it names: the
// compiler reduces its programs as libpcap's optimizer does. The tests
// check that against tcpdump itself, over real and synthetic captures of
// every supported link type. docs/FILTERS.md in the repository is the
// reference of the language.
//
// Parse gives an [*Expr], whose String parses back to the same tree;
// [Expr.Compile] gives the program; [Expr.Matcher] and
// [Expr.MatcherOrder] run it in an interpreter that works as libpcap's
// does (a read past the captured data rejects the packet; len is the
// length on the wire).
//
// On NULL (BSD loopback) links the address family is taken in the byte
// order of the file, as tcpdump does: see [Expr.MatcherOrder].
//
// A list of port primitives joined by "or" with the same protocol and
// one direction ("tcp dst port 7000 or 8000 or udp dst port 9000",
// knockd's filter) compiles to a binary search over their sorted ranges:
// about two instructions a range for each IP version, and a packet goes
// through about log2 of them.
package filter
