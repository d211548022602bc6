// Package filter compiles a subset of tcpdump's filter language
// (pcap-filter(7)) to classic BPF, with golang.org/x/net/bpf: a program
// to give the kernel for a live capture (see [Assemble]), or to run in
// the BPF virtual machine over packets read from a file (see [Matcher]).
// Within the subset, a filter keeps the same packets that tcpdump keeps;
// the tests check that against tcpdump itself, over real and synthetic
// captures of every supported link type.
//
// # The language
//
// A filter is a list of primitives joined by operators:
//
//	expr      = term { ("and" | "&&" | "or" | "||") (term | value) }
//	term      = ("not" | "!") term | "(" expr ")" | primitive
//	primitive = proto
//	          | [proto] [dir] kind value
//	          | [proto] dir value              (kind host)
//	value     = VALUE | ("not" | "!") value | "(" value { ("and" | "or") value } ")"
//	proto     = "ip" | "ip6" | "arp" | "tcp" | "udp" | "sctp" | "icmp" | "icmp6"
//	dir       = "src" | "dst" | "src or dst" | "src and dst"   (also "dst or src", "||", "&&")
//	kind      = "host" | "net" | "port" | "portrange"
//
// As in tcpdump, "not" binds tightest and "and" and "or" have the same
// precedence and group to the left: "a or b and c" is "(a or b) and c".
// Keywords are lower case.
//
// The primitives:
//
//	ip, ip6, arp         the network protocol (EtherType, address family or IP version)
//	tcp, udp, sctp       over IPv4 (any fragment) or IPv6: the next header after the
//	                     fixed header, or after a Fragment header right there
//	icmp                 ICMP over IPv4
//	icmp6                ICMPv6, found as for tcp
//	host ADDR            an IPv4 address (dotted quad) or IPv6 address, as source or
//	                     destination; an IPv4 host without a protocol also matches the
//	                     sender or target address of ARP and RARP, as in tcpdump
//	net PREFIX           ADDR/LEN; IPv4 may be short ("10.1/16" is 10.1.0.0/16), and
//	                     without a length tcpdump's shorthand applies ("10" is
//	                     10.0.0.0/8, "172.16" is /16, "192.168.1" is /24); bits set
//	                     past the length are an error
//	port N               a TCP, UDP or SCTP source or destination port. N is decimal,
//	                     0x hexadecimal or 0-prefixed octal, as in tcpdump, or a
//	                     service name (below)
//	portrange A-B        a port from A to B (decimal; either order; "portrange 80" is 80)
//
// The qualifiers: "ip", "ip6" and "arp" qualify host and net (and the
// address must be of that family); "tcp", "udp" and "sctp" qualify port
// and portrange; src and dst pick the source or destination address or
// port ("src and dst" needs both). Without a direction, either matches.
// "src 10.0.0.1" is "src host 10.0.0.1".
//
// A bare value after "and" or "or" repeats the qualifiers of the
// primitive before it, as in tcpdump: "host a or b" is "host a or host
// b", "tcp port 80 or 443" is "tcp port 80 or tcp port 443", and "port
// (80 or 443)" works too. A value after a parenthesised group repeats the
// qualifiers from before the group, and a protocol alone ("tcp") leaves
// nothing to repeat.
//
// Ports: over IPv4, a port primitive skips fragments other than the first
// (offset not zero) and finds the transport header from the IHL; over
// IPv6 it only looks right after the fixed 40-byte header, as tcpdump
// does (extension headers are not walked).
//
// Service names ("port http", "udp port domain") come from the IANA
// registry compiled into [github.com/portkit/ports/registry], ignoring
// case: the name's TCP ports match over TCP and its UDP ports over UDP. A
// name that IANA assigns to a range ("x11", 6000-6063) matches the range.
//
// An invalid filter gives a [*SyntaxError] pointing at the word at fault:
//
//	filter: unknown word 'hots' at position 1
//	filter: expected a port number or name after 'port' at position 9
//
// # Link types
//
// A [pcapfile.LinkType] names the header in front of the network layer,
// by its pcap LINKTYPE_ number. Filters compile for the ones [Supports]
// accepts: Ethernet (EN10MB), Linux cooked capture v1 and v2, BSD NULL
// and OpenBSD LOOP loopback, raw IP (told apart by the version nibble),
// and raw IPv4 and IPv6. On links without ARP, arp and the ARP
// half of host are false; on raw IPv4 links ip6 is false, and so on; the
// compiler folds these away.
//
// VLAN tags: as in tcpdump without its vlan keyword, a filter does not
// look inside 802.1Q or 802.1ad tags. An Ethernet frame with a tag has
// the tag's EtherType (0x8100 or 0x88a8), so "ip", "tcp", "host" and the
// rest do not match it. (On a live Linux capture the kernel usually
// strips the tag before the filter runs, so tagged traffic does match
// there, as it does for tcpdump.)
//
// NULL: the address family is written in the byte order of the machine
// that captured the packet, and libpcap swaps it to the reader's order
// before filtering. A compiled program accepts both orders instead (the
// families are small numbers, so the two never collide), so the same
// program works for files from either kind of machine and for live
// capture. The IPv6 families are 24, 28 and 30 (BSD, FreeBSD, Darwin) as
// in libpcap, and also 10, Linux's AF_INET6. LOOP is always big-endian.
//
// # Matching
//
// A program reads fields left to right, stopping as soon as the outcome
// is known. A packet cut short by the snapshot length before a field the
// program reads is rejected, whatever the rest of the filter says, as in
// the kernel and libpcap; so "not port 80" rejects a TCP packet cut
// short before its ports. The order of reads is: the operands of and
// and or from left to right; inside a primitive, the link protocol, then
// IPv4 before IPv6 (and ARP, then RARP, for an IPv4 host), the protocol
// byte, the fragment offset, then the source before the destination.
//
// A list of port primitives joined by "or" with the same protocol and
// one direction ("tcp dst port 7000 or 8000 or udp dst port 9000",
// knockd's filter) compiles to a binary search over their sorted ranges:
// about two instructions a range for each IP version, rather than twenty,
// and a packet goes through about log2 of them.
//
// A [Matcher] runs the program in x/net/bpf's virtual machine, which
// allocates nothing per packet; matching takes tens of nanoseconds.
//
// # Differences from tcpdump
//
// Deliberate ones:
//
//   - Service names come from the IANA registry, not /etc/services, and
//     only their TCP and UDP ports count. tcpdump also matches SCTP when a
//     name has the same TCP and UDP port, matches only TCP for a name
//     that /etc/services lists for TCP only (Debian's "http"), and knows
//     one port where IANA has a range ("x11"). "sctp port NAME" is an
//     error here.
//   - host takes a full address. tcpdump reads "host 10.1" as the network
//     10.1.0.0/16 and "host 80" as 0.0.0.80; both are errors here, as is a
//     host name (tcpdump would look it up in the DNS).
//   - "net 10/8" is accepted (tcpdump wants "net 10.0.0.0/8" or "net 10").
//   - A filter that no packet can match ("ip6" on raw IPv4) compiles to a
//     program that rejects everything; tcpdump refuses it ("expression
//     rejects all packets").
//   - On NULL links, family 10 is IPv6 (see above), and a family written
//     in the byte order opposite to its file's header still matches
//     (libpcap swaps it out of place; gopacket's big-endian
//     test006.pcapng has such a packet).
//
// Not supported (each is a clear error): ether, vlan, mpls, pppoe and
// other link-level primitives; proto and protochain; len, less and
// greater; byte offsets and arithmetic (tcp[13] & 2 != 0); gateway,
// broadcast and multicast; rarp, decnet and the other protocols; "net
// ADDR mask MASK"; host names; service names in portrange. Parse names
// the word it stopped at.
package filter
