package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"
)

const writeBufSize = 64 << 10

// Writer writes a classic pcap file (version 2.4, little-endian), as
// tcpdump -w does. It buffers: call Flush when done. A Writer is not safe
// for concurrent use.
type Writer struct {
	sink
	snaplen uint32
	nano    bool
}

// NewWriter returns a Writer for a capture of the given link type. The
// file header is buffered at once and written by the first Flush (or when
// the buffer fills). A snaplen of 0 means MaxCaptureLength. With
// nanosecond set the file has nanosecond timestamps (magic a1b23c4d);
// otherwise microseconds (a1b2c3d4), the format every reader knows.
func NewWriter(w io.Writer, linkType LinkType, snaplen uint32, nanosecond bool) *Writer {
	if snaplen == 0 {
		snaplen = MaxCaptureLength
	}
	wr := &Writer{sink: sink{w: w, buf: make([]byte, 0, writeBufSize)}, snaplen: snaplen, nano: nanosecond}
	magic := uint32(0xa1b2c3d4)
	if nanosecond {
		magic = 0xa1b23c4d
	}
	le := binary.LittleEndian
	wr.buf = le.AppendUint32(wr.buf, magic)
	wr.buf = le.AppendUint16(wr.buf, 2) // version 2.4
	wr.buf = le.AppendUint16(wr.buf, 4)
	wr.buf = le.AppendUint32(wr.buf, 0) // thiszone
	wr.buf = le.AppendUint32(wr.buf, 0) // sigfigs
	wr.buf = le.AppendUint32(wr.buf, snaplen)
	wr.buf = le.AppendUint32(wr.buf, uint32(linkType))
	return wr
}

// WritePacket appends one packet record: ts in nanoseconds since the Unix
// epoch (Packet.Timestamp; truncated to microseconds unless the file is
// nanosecond), the captured bytes, and the packet's original length.
// Data beyond the snapshot length is cut off; data is copied or written
// before WritePacket returns, so a Packet's Data can be passed straight
// from a Reader. An origLen below len(data), 0 in particular, means
// len(data).
//
// A timestamp before 1970 or after 2106-02-07 or an origLen over 4 GiB
// cannot be written: the error wraps ErrOutOfRange and the packet is
// skipped. Any other error is from the io.Writer and ends the Writer.
func (w *Writer) WritePacket(ts int64, data []byte, origLen int) error {
	if w.err != nil {
		return w.err
	}
	sec, frac := ts/nsPerSec, ts%nsPerSec
	if frac < 0 {
		sec, frac = sec-1, frac+nsPerSec
	}
	if sec < 0 || sec > math.MaxUint32 {
		return fmt.Errorf("pcapfile: timestamp %s: %w", time.Unix(0, ts).UTC().Format(time.RFC3339Nano), ErrOutOfRange)
	}
	if !w.nano {
		frac /= 1000
	}
	caplen := len(data)
	if uint64(caplen) > uint64(w.snaplen) {
		caplen = int(w.snaplen)
	}
	origLen = max(origLen, len(data))
	if uint64(origLen) > math.MaxUint32 {
		return fmt.Errorf("pcapfile: original length %d: %w", origLen, ErrOutOfRange)
	}
	if len(w.buf)+16+caplen > cap(w.buf) {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	le := binary.LittleEndian
	w.buf = le.AppendUint32(w.buf, uint32(sec))
	w.buf = le.AppendUint32(w.buf, uint32(frac))
	w.buf = le.AppendUint32(w.buf, uint32(caplen))
	w.buf = le.AppendUint32(w.buf, uint32(origLen))
	if 16+caplen > cap(w.buf) {
		// Too big to buffer: write the header, then the data directly.
		if err := w.Flush(); err != nil {
			return err
		}
		return w.write(data[:caplen])
	}
	w.buf = append(w.buf, data[:caplen]...)
	return nil
}
