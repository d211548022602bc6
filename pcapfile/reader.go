package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"time"
)

// MaxCaptureLength is the capture length every Reader accepts, whatever
// the snapshot length: 262144 bytes (256 KiB), the default snapshot length
// of tcpdump and Wireshark. A record may be longer only if its file (pcap)
// or interface (pcapng) declares a larger snapshot length, and never
// longer than 16 MiB. A longer record is a *FormatError, found before any
// buffer grows for it.
const MaxCaptureLength = 256 << 10

const (
	maxSnaplen     = 16 << 20 // hard ceiling for capture lengths, whatever the snaplen says
	maxBlockLen    = 32 << 20 // longest pcapng block that is buffered whole (SHB, IDB, packets)
	defaultBufSize = 256 << 10
	minBufSize     = 4 << 10
)

// Format is the container format of a capture file.
type Format uint8

const (
	FormatPcap   Format = 1 // classic libpcap format (magic a1b2c3d4 or a1b23c4d)
	FormatPcapng Format = 2 // pcapng (Section Header Block magic 0a0d0d0a)
)

func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapng:
		return "pcapng"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Packet is one captured packet.
//
// A Packet returned by a Reader shares Data with the Reader's buffer:
// Data is valid only until the next call to ReadPacket, Next or the next
// step of the Packets iterator, which overwrite it. Copy Data (for
// example with bytes.Clone) to keep it longer.
type Packet struct {
	// Timestamp is the capture time in nanoseconds since the Unix epoch,
	// UTC; see Time. A pcapng Simple Packet Block has no timestamp: 0.
	Timestamp int64

	// BadFraction is set when a pcap record's sub-second field is out of
	// range (1,000,000 microseconds or more; 1e9 nanoseconds or more in a
	// nanosecond file): it is that field in nanoseconds, which Timestamp
	// carries into the seconds. Timestamp - BadFraction is the record's
	// whole seconds, for tools that show the field as it was written, as
	// tcpdump does. 0 for a valid timestamp.
	BadFraction int64

	// Data holds the captured bytes, CaptureLength of them. See the
	// aliasing rule above.
	Data []byte

	// CaptureLength is len(Data). It is less than Length when the packet
	// was cut to the snapshot length. Files from some writers have
	// CaptureLength > Length; the Reader passes that through, as libpcap
	// does.
	CaptureLength int

	// Length is the packet's original length on the wire.
	Length int

	// InterfaceIndex is the pcapng interface the packet was captured on,
	// an index into the Interface Description Blocks of its section; 0
	// for pcap files.
	InterfaceIndex int

	// LinkType says how to decode the start of Data: the file's link type
	// (pcap) or that of the packet's interface (pcapng).
	LinkType LinkType

	// Direction is whether the host received or sent the packet, where
	// the source knows: a live capture (package capture) says; the
	// Reader leaves it DirectionUnknown.
	Direction Direction

	// Ifindex is the operating system's index of the interface the
	// packet passed, for a live capture (useful on the "any" interface);
	// 0 from a file.
	Ifindex int

	// Comment is the first comment (opt_comment) of a pcapng Enhanced
	// Packet Block, nil if it has none (and for pcap files). Like Data
	// it aliases the Reader's buffer.
	Comment []byte
}

// Direction is whether a packet was received by the host or sent by it.
type Direction uint8

// Directions. The zero value is DirectionUnknown.
const (
	DirectionUnknown Direction = iota
	// DirectionIn is a packet that arrived on the interface: addressed to
	// this host, broadcast, multicast, or (in promiscuous mode) to
	// another host.
	DirectionIn
	// DirectionOut is a packet that this host sent on the interface.
	DirectionOut
)

// String returns "in", "out" or "unknown".
func (d Direction) String() string {
	switch d {
	case DirectionIn:
		return "in"
	case DirectionOut:
		return "out"
	}
	return "unknown"
}

// Time returns Timestamp as a time.Time in UTC.
func (p *Packet) Time() time.Time { return time.Unix(0, p.Timestamp).UTC() }

// Reader reads packets from a pcap or pcapng capture. It does its own
// buffering, so the io.Reader needs none; reads from it are large
// (256 KiB). A Reader is not safe for concurrent use.
//
// The first error ends the stream: every later call returns it again.
// At a clean end of input (after a whole record or block) that error is
// io.EOF.
type Reader struct {
	src    io.Reader
	buf    []byte
	r, w   int   // unread input is buf[r:w]
	base   int64 // input offset of buf[0]
	srcErr error // error from src, io.EOF at its end

	err    error // sticky error of the packet stream
	pkt    Packet
	format Format
	be     bool // big-endian file (pcap) or section (pcapng)

	// pcap
	linkType LinkType
	snaplen  uint32
	limit    int   // largest caplen accepted
	fracMul  int64 // 1000 for microsecond files, 1 for nanosecond ones

	// pcapng: the interfaces of the current section
	ifaces []iface
}

// NewReader reads the file header from r: for pcap the 24-byte header,
// for pcapng the first Section Header Block and the blocks after it up to
// the first Interface Description Block (not beyond it, so on a live
// stream it does not wait for a packet). The format is found from the
// magic number, not a file name; both byte orders are read.
// Gzip-compressed input is not: decompress it first. Errors are
// *FormatError, or errors from r.
func NewReader(r io.Reader) (*Reader, error) {
	size := defaultBufSize
	if l, ok := r.(interface{ Len() int }); ok && l.Len() < size {
		// An in-memory source (bytes.Reader, bytes.Buffer, strings.Reader)
		// this small needs no big buffer.
		size = max(l.Len()+1, minBufSize)
	}
	return newReaderSize(r, size)
}

// newReaderSize is NewReader with an initial buffer of size bytes.
func newReaderSize(r io.Reader, size int) (*Reader, error) {
	rd := &Reader{src: r, buf: make([]byte, size)}
	if err := rd.fill(4); err != nil {
		return nil, rd.truncated(err, 0, "file header", 4)
	}
	var err error
	switch binary.LittleEndian.Uint32(rd.buf[rd.r:]) {
	case 0xa1b2c3d4:
		err = rd.readPcapHeader(false, false)
	case 0xd4c3b2a1:
		err = rd.readPcapHeader(true, false)
	case 0xa1b23c4d:
		err = rd.readPcapHeader(false, true)
	case 0x4d3cb2a1:
		err = rd.readPcapHeader(true, true)
	case ngBlockSHB:
		rd.format = FormatPcapng
		err = rd.readFirstSection()
	default:
		msg := fmt.Sprintf("unknown magic number % x", rd.buf[rd.r:rd.r+4])
		if rd.buf[rd.r] == 0x1f && rd.buf[rd.r+1] == 0x8b {
			msg += " (gzip-compressed: decompress it first)"
		}
		err = &FormatError{Offset: 0, Msg: msg, Err: ErrUnknownFormat}
	}
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// Format reports whether the input is pcap or pcapng.
func (r *Reader) Format() Format { return r.format }

// LinkType returns the link type of the pcap file header, or for pcapng
// that of the first interface of the current section (LinkTypeNull until
// one has been read; NewReader reads up to the first one). Packets carry
// their own LinkType, which is what counts for pcapng files with several
// interfaces.
func (r *Reader) LinkType() LinkType {
	if r.format == FormatPcapng {
		if len(r.ifaces) == 0 {
			return LinkTypeNull
		}
		return r.ifaces[0].linkType
	}
	return r.linkType
}

// Snaplen returns the snapshot length of the pcap file header, or for
// pcapng that of the first interface of the current section (0 until one
// has been read, or when it sets no limit).
func (r *Reader) Snaplen() uint32 {
	if r.format == FormatPcapng {
		if len(r.ifaces) == 0 {
			return 0
		}
		return r.ifaces[0].snaplen
	}
	return r.snaplen
}

// ReadPacket returns the next packet. Its Data aliases the Reader's buffer
// and is valid only until the next call. At the end of the input it
// returns io.EOF; for a record or block cut short, a *FormatError wrapping
// io.ErrUnexpectedEOF.
func (r *Reader) ReadPacket() (Packet, error) {
	if err := r.next(); err != nil {
		return Packet{}, err
	}
	return r.pkt, nil
}

// Next reads the next packet, to be had from Packet, and reports whether
// there was one. After it returns false, Err tells why.
func (r *Reader) Next() bool { return r.next() == nil }

// Packet returns the packet read by the last successful Next. The Packet
// and its Data are overwritten by the next call to Next, ReadPacket or
// the Packets iterator.
func (r *Reader) Packet() *Packet { return &r.pkt }

// Err returns the error that stopped Next, or nil at a clean end of input.
func (r *Reader) Err() error {
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

// Packets returns an iterator over the remaining packets. Each *Packet,
// and its Data, is valid only until the next iteration. At a clean end
// of input the iteration stops; on an error it yields (nil, err) once and
// stops. Breaking out of the loop leaves the Reader at the next packet.
func (r *Reader) Packets() iter.Seq2[*Packet, error] {
	return func(yield func(*Packet, error) bool) {
		for {
			if err := r.next(); err != nil {
				if err != io.EOF {
					yield(nil, err)
				}
				return
			}
			if !yield(&r.pkt, nil) {
				return
			}
		}
	}
}

func (r *Reader) next() error {
	if r.err != nil {
		return r.err
	}
	var err error
	if r.format == FormatPcap {
		err = r.nextPcap(&r.pkt)
	} else {
		err = r.nextPcapng(&r.pkt)
	}
	if err != nil {
		r.err = err
		r.pkt = Packet{}
	}
	return err
}

// The byte-order helpers are small enough to inline; a branch is cheaper
// than a call through binary.ByteOrder.

func (r *Reader) u16(b []byte) uint16 {
	if r.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *Reader) u32(b []byte) uint32 {
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *Reader) u64(b []byte) uint64 {
	if r.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// offset returns the input offset of buf[r].
func (r *Reader) offset() int64 { return r.base + int64(r.r) }

// fill makes at least n bytes available in buf[r:w], reading from src and
// moving or growing the buffer as needed. The buffer grows only when it
// is full of unread data, by doubling, so a length field claiming more
// than the input holds cannot allocate much beyond the input's size.
// It returns src's error (io.EOF at the end) if src ends first.
func (r *Reader) fill(n int) error {
	empty := 0
	for r.w-r.r < n {
		if r.srcErr != nil {
			return r.srcErr
		}
		if r.w == len(r.buf) {
			if r.r > 0 {
				copy(r.buf, r.buf[r.r:r.w])
				r.base += int64(r.r)
				r.w -= r.r
				r.r = 0
			} else {
				nb := make([]byte, min(2*len(r.buf), max(n, minBufSize)))
				copy(nb, r.buf[:r.w])
				r.buf = nb
			}
		}
		m, err := r.src.Read(r.buf[r.w:])
		if m < 0 || m > len(r.buf)-r.w {
			r.srcErr = fmt.Errorf("pcapfile: io.Reader returned invalid count %d", m)
			return r.srcErr
		}
		r.w += m
		if err != nil {
			r.srcErr = err
		} else if m == 0 {
			if empty++; empty >= 100 {
				r.srcErr = io.ErrNoProgress
			}
		}
	}
	return nil
}

// skip discards n bytes of input, reading through src if they are not
// buffered.
func (r *Reader) skip(n int64) error {
	for {
		avail := int64(r.w - r.r)
		if avail >= n {
			r.r += int(n)
			return nil
		}
		n -= avail
		r.base += int64(r.w)
		r.r, r.w = 0, 0
		if err := r.fill(1); err != nil {
			return err
		}
	}
}

// truncated turns a fill error into the error for a structure of want
// bytes (what) starting at input offset off that the input cuts short.
func (r *Reader) truncated(err error, off int64, what string, want int64) error {
	if err != io.EOF {
		return err
	}
	have := r.base + int64(r.w) - off
	if have == 0 && off == 0 {
		return &FormatError{Offset: 0, Msg: "empty input, no " + what, Err: io.ErrUnexpectedEOF}
	}
	return &FormatError{Offset: off, Msg: fmt.Sprintf("truncated %s: %d of %d bytes", what, have, want), Err: io.ErrUnexpectedEOF}
}

// readPcapHeader parses the 24-byte pcap file header.
func (r *Reader) readPcapHeader(be, nano bool) error {
	r.format = FormatPcap
	r.be = be
	r.fracMul = 1000
	if nano {
		r.fracMul = 1
	}
	if err := r.fill(24); err != nil {
		return r.truncated(err, 0, "pcap file header", 24)
	}
	h := r.buf[r.r : r.r+24]
	if major, minor := r.u16(h[4:]), r.u16(h[6:]); major != 2 {
		return &FormatError{Offset: 4, Msg: fmt.Sprintf("pcap version %d.%d", major, minor), Err: ErrUnsupportedVersion}
	}
	r.snaplen = r.u32(h[16:])
	// The field's low 16 bits are the link type, bits 26-31 say whether
	// frames end in a frame check sequence; bits 16-25 are reserved, and
	// with them set libpcap takes the whole as an unknown link type.
	lt := r.u32(h[20:])
	if lt&0x03ff0000 != 0 {
		return &FormatError{Offset: 20, Msg: fmt.Sprintf("link type field %#08x has reserved bits (16-25) set", lt)}
	}
	r.linkType = LinkType(lt)
	r.limit = captureLimit(r.snaplen)
	r.r += 24
	return nil
}

// captureLimit returns the largest capture length accepted under snaplen.
func captureLimit(snaplen uint32) int {
	return int(max(MaxCaptureLength, min(snaplen, maxSnaplen)))
}

// nextPcap reads one pcap record: a 16-byte header (seconds, fraction,
// caplen, original length) and caplen bytes.
func (r *Reader) nextPcap(p *Packet) error {
	if r.w-r.r < 16 {
		if err := r.fill(16); err != nil {
			if err == io.EOF && r.r == r.w {
				return io.EOF
			}
			return r.truncated(err, r.offset(), "packet record header", 16)
		}
	}
	h := r.buf[r.r : r.r+16]
	caplen := r.u32(h[8:])
	if caplen > uint32(r.limit) {
		return &FormatError{Offset: r.offset(), Msg: fmt.Sprintf("packet record caplen %d exceeds the limit %d (snaplen %d)", caplen, r.limit, r.snaplen)}
	}
	n := 16 + int(caplen)
	if r.w-r.r < n {
		if err := r.fill(n); err != nil {
			return r.truncated(err, r.offset(), "packet record", int64(n))
		}
		h = r.buf[r.r : r.r+16]
	}
	frac := int64(r.u32(h[4:])) * r.fracMul
	p.Timestamp = int64(r.u32(h))*1e9 + frac
	p.BadFraction = 0
	if frac >= 1e9 {
		p.BadFraction = frac
	}
	p.Length = int(r.u32(h[12:]))
	p.CaptureLength = int(caplen)
	p.Data = r.buf[r.r+16 : r.r+n : r.r+n]
	p.Comment = nil
	p.InterfaceIndex = 0
	p.LinkType = r.linkType
	r.r += n
	return nil
}
