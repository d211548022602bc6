// Package wire decodes and encodes the link, network and transport
// headers of captured frames, and builds probe packets. It does no I/O.
//
// [Packet.Decode] fills a [Packet] that the caller owns and reuses,
// without allocating:
//
//   - link: Ethernet with 802.1Q / 802.1ad tags, Linux cooked captures
//     (SLL, SLL2), BSD loopback (Null, Loop), raw IPv4 and IPv6;
//   - network: IPv4 with options and fragments, IPv6 with extension
//     headers (hop-by-hop, routing, fragment, destination options, AH,
//     mobility, HIP, shim6) and fragments;
//   - transport: TCP with its options (MSS, window scale, SACK,
//     timestamps), UDP, ICMPv4 and ICMPv6, with the IP header and ports
//     quoted in ICMP errors.
//
// Checksums (IPv4 header, TCP, UDP, ICMPv4, ICMPv6) are verified when all
// the bytes they cover were captured and the packet is not a fragment. A
// frame cut short by the capture is decoded as far as it goes and marked
// [Packet.Truncated], like tcpdump's "[|tcp]"; a malformed one gives a
// [*DecodeError] and whatever could be decoded around the fault. Slices
// in a Packet alias the decoded data.
//
// [Packet.AppendTo] is the inverse, and builds probes: it writes the
// headers a Packet describes, as they are or with lengths and checksums
// computed ([EncodeOptions]). For raw sockets, which add or strip the IP
// header themselves, [AppendTCPSegment] builds a bare TCP segment with
// its checksum, [Decoder.DecodeTransport] reads one (or an ICMPv6
// message), [AppendICMPv4Message] and [AppendICMPv6Message] build ICMP
// messages, and [InternetChecksum] and [TransportChecksum] serve other
// hand-built headers. [ARP] (Ethernet IPv4 ARP) and [Neighbor] (NDP
// solicitations and advertisements) decode and build what a host
// discovery on a local link sends and reads.
//
// For the hot path of a scanner, which builds one probe many times and
// reads millions of short replies, [TCPTemplate] sums the checksum of
// a segment once and adds only the addresses, ports and sequence number
// per copy, and [Headers] decodes only the fixed fields of the IP and
// transport headers (and an ICMP error's quote), without clearing
// anything first; the tests hold both to what AppendTCPSegment and
// Decode give.
//
// # Speed
//
// Decode takes about 60 to 130 ns a frame on one core with checksums
// verified (about 30 without), about as fast as gopacket's
// DecodingLayerParser, which verifies none; the figures are in
// docs/BENCHMARKS.md.
//
// # Differences from gopacket and tshark
//
// The tests compare Decode with gopacket on every fuzzed frame and with
// tshark on every sample frame, field by field. These differences are
// deliberate:
//
//   - A zero IPv4 Total Length (TCP segmentation offload) is kept as 0 in
//     [IP.TotalLen]; the packet is taken to end with the frame, as gopacket
//     and Wireshark do (gopacket rewrites the field).
//   - A zero IPv6 Payload Length without a following "no next header" is
//     taken to mean "to the end of the frame" (jumbograms, and the GSO
//     packets Linux captures show); gopacket accepts it only with a
//     jumbo payload option.
//   - The transport header of a first fragment (offset 0, MF set) is
//     decoded, as tcpdump and tshark do; gopacket stops at an IPv6
//     Fragment header. No checksum of a fragment is verified.
//   - The IP version is checked against the EtherType (or link type); gopacket
//     decodes an IPv4 header whatever its version field.
//   - A TCP option with an impossible length sets [TCPOptions.Malformed]
//     and keeps the header; gopacket fails the whole TCP layer.
//   - An ICMPv6 message needs 8 bytes (type, code, checksum and the 4
//     bytes every message type has); gopacket accepts 4.
//   - Decoding stops after the transport header, and at an 802.3 length
//     field (LLC), an unknown EtherType or protocol, and tunnels (IP in
//     IP, GRE): gopacket decodes LLC/SNAP, tunnels and applications.
//   - VLAN tags with TPID 0x9100 and 0x9200 are decoded; gopacket only
//     knows 0x8100 and 0x88a8.
//   - The byte order of a Null header is told as tcpdump does (a family
//     never uses the upper 16 bits); gopacket looks at the first two bytes
//     and rejects families above 255.
//   - A header cut short by the capture is not shown at all (its fixed
//     part must be whole), and options and VLAN tags only whole; tshark
//     shows whatever fields were captured (the ports of a cut TCP header,
//     the first value of a cut timestamp option).
//   - A UDP length beyond the IP payload, or below 8, is a
//     [*DecodeError]; gopacket marks the packet truncated.
package wire
