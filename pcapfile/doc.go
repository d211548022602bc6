// Package pcapfile reads pcap and pcapng capture files and writes pcap
// and pcapng files, in pure Go, over an io.Reader and an io.Writer.
//
// # Reading
//
// [NewReader] tells the format from the magic number at the start of the
// input, never from a file name:
//
//   - pcap (libpcap savefile): a1b2c3d4 (microsecond timestamps) or
//     a1b23c4d (nanosecond), in either byte order; version 2.x.
//   - pcapng: a Section Header Block (0a0d0d0a), in either byte order as
//     its byte-order magic says. Several sections, each with its own byte
//     order and interfaces; Interface Description Blocks with their link
//     type, snapshot length, if_tsresol (a power of 10 or of 2; the
//     default is microseconds) and if_tsoffset; Enhanced Packet Blocks,
//     Simple Packet Blocks and the obsolete Packet Blocks. Other blocks
//     (statistics, name resolution, decryption secrets, custom) are
//     skipped. Interfaces with different link types in one file are read,
//     each packet carrying its own [LinkType] and interface index
//     (libpcap, and so tcpdump, refuse such files).
//
// Packets come from [Reader.ReadPacket], from [Reader.Next] and
// [Reader.Packet], or from the iterator [Reader.Packets]. None allocates:
// a [Packet] is decoded in place and its Data points into the Reader's
// buffer, valid only until the next packet is read. Copy it (bytes.Clone)
// to keep it.
//
// Timestamps are int64 nanoseconds since the Unix epoch ([Packet.Time]
// gives a time.Time), which covers the years 1678 to 2262 and every pcap
// timestamp. A pcapng timestamp outside that range is an error.
//
// # Errors
//
// Malformed input gives a *[FormatError] naming the byte offset and what
// is wrong, such as "pcapfile: offset 1234: packet record caplen 300000
// exceeds the limit 262144 (snaplen 65535)". The input ending cleanly
// after a whole record or block gives io.EOF; ending inside one (a capture
// cut short, or still being written) gives a FormatError wrapping
// io.ErrUnexpectedEOF, after every whole packet before it. Input that is
// not a capture wraps [ErrUnknownFormat]; an unknown version wraps
// [ErrUnsupportedVersion]. The first error ends the stream.
//
// Capture lengths up to [MaxCaptureLength] (256 KiB, the default snapshot
// length of tcpdump and Wireshark) are accepted even beyond the declared
// snapshot length, since some writers exceed it (libpcap accepts such
// records too, but cuts them to the snapshot length; this package, like
// pcapgo, keeps every byte). A declared snapshot length above 256 KiB
// raises the limit, up to 16 MiB. The length is checked before any buffer
// grows for the record, and the buffer only grows as data actually
// arrives, so a damaged length field cannot make the Reader allocate much
// more than the input holds.
//
// # Writing
//
// [NewWriter] writes a classic pcap file (version 2.4, little-endian,
// microsecond or nanosecond timestamps) such as tcpdump -w writes and
// every tool reads; [Writer.WritePacket] buffers records and
// [Writer.Flush] writes them out. Writing allocates nothing either.
//
// [NewNgWriter] writes pcapng (one section, one interface, nanosecond
// timestamps) with an optional comment per packet (opt_comment), which
// Wireshark shows and the Reader gives back as [Packet.Comment]: what a
// classic pcap record has no room for, such as the process a packet
// belonged to.
//
// # Performance
//
// The reader does its own buffering (256 KiB reads) and hands out Data in
// place, so reading allocates nothing; it is about 3 to 4 times faster
// than gopacket's pcapgo, which remains the tests' oracle. The figures
// are in docs/BENCHMARKS.md.
package pcapfile
