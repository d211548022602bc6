package pcapfile

import "encoding/binary"

// ByteOrder returns the byte order of the file (pcap) or of the current
// section (pcapng): the order in which the capturing machine wrote, for
// example, a NULL link's address family. Filters need it to match that
// family as tcpdump does.
func (r *Reader) ByteOrder() binary.ByteOrder {
	if r.be {
		return binary.BigEndian
	}
	return binary.LittleEndian
}
