package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"
)

// pcapng options written by NgWriter.
const (
	ngOptComment = 1 // opt_comment, in any block
	ngOptIfName  = 2 // if_name
)

// maxCommentLen bounds a packet comment (an option's length is 16 bits).
const maxCommentLen = 0xffff

// NgWriter writes a pcapng file: one section (Section Header Block), one
// interface (Interface Description Block, nanosecond timestamps) and an
// Enhanced Packet Block per packet, each with an optional comment
// (opt_comment), which Wireshark shows as the packet's comment and the
// Reader gives as Packet.Comment. It buffers: call Flush when done. An
// NgWriter is not safe for concurrent use.
type NgWriter struct {
	sink
	snaplen uint32
}

// NewNgWriter returns an NgWriter for packets of linkType captured on the
// interface named ifName ("" for none), cut to snaplen (0:
// MaxCaptureLength). The section and interface blocks are buffered at
// once.
func NewNgWriter(w io.Writer, linkType LinkType, snaplen uint32, ifName string) *NgWriter {
	if snaplen == 0 {
		snaplen = MaxCaptureLength
	}
	wr := &NgWriter{sink: sink{w: w, buf: make([]byte, 0, writeBufSize)}, snaplen: snaplen}
	le := binary.LittleEndian
	// Section Header Block: version 1.0, section length unknown (-1).
	wr.buf = le.AppendUint32(wr.buf, ngBlockSHB)
	wr.buf = le.AppendUint32(wr.buf, 28)
	wr.buf = le.AppendUint32(wr.buf, ngByteOrderMagic)
	wr.buf = le.AppendUint16(wr.buf, 1)
	wr.buf = le.AppendUint16(wr.buf, 0)
	wr.buf = le.AppendUint64(wr.buf, math.MaxUint64)
	wr.buf = le.AppendUint32(wr.buf, 28)
	// Interface Description Block, with if_name and if_tsresol 9.
	start := len(wr.buf)
	wr.buf = le.AppendUint32(wr.buf, ngBlockIDB)
	wr.buf = le.AppendUint32(wr.buf, 0) // length, below
	wr.buf = le.AppendUint16(wr.buf, uint16(linkType))
	wr.buf = le.AppendUint16(wr.buf, 0)
	wr.buf = le.AppendUint32(wr.buf, snaplen)
	if ifName != "" && len(ifName) <= maxCommentLen {
		wr.buf = appendOption(wr.buf, ngOptIfName, ifName)
	}
	wr.buf = appendOption(wr.buf, ngOptTSResol, "\x09")
	wr.buf = le.AppendUint32(wr.buf, 0) // opt_endofopt
	wr.buf = le.AppendUint32(wr.buf, uint32(len(wr.buf)-start+4))
	le.PutUint32(wr.buf[start+4:], uint32(len(wr.buf)-start))
	return wr
}

// appendOption appends a pcapng option, padded to 32 bits.
func appendOption(b []byte, code uint16, v string) []byte {
	le := binary.LittleEndian
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return append(b, make([]byte, pad4(uint32(len(v)))-uint64(len(v)))...)
}

// WritePacket appends an Enhanced Packet Block: ts in nanoseconds since
// the Unix epoch, the captured bytes (cut to the snapshot length), the
// original length (below len(data), 0 in particular, means len(data)),
// and comment as its opt_comment unless empty. A comment longer than
// 65,535 bytes is cut. A timestamp before 1970 or an origLen over 4 GiB
// gives an error wrapping ErrOutOfRange and the packet is skipped; any
// other error is from the io.Writer and ends the NgWriter.
func (w *NgWriter) WritePacket(ts int64, data []byte, origLen int, comment string) error {
	if w.err != nil {
		return w.err
	}
	if ts < 0 {
		return fmt.Errorf("pcapfile: timestamp %s: %w", time.Unix(0, ts).UTC().Format(time.RFC3339Nano), ErrOutOfRange)
	}
	caplen := min(len(data), int(w.snaplen))
	origLen = max(origLen, len(data))
	if uint64(origLen) > math.MaxUint32 {
		return fmt.Errorf("pcapfile: original length %d: %w", origLen, ErrOutOfRange)
	}
	comment = comment[:min(len(comment), maxCommentLen)]
	blen := 32 + int(pad4(uint32(caplen)))
	if comment != "" {
		blen += 4 + int(pad4(uint32(len(comment)))) + 4 // the option and opt_endofopt
	}
	if len(w.buf)+blen > cap(w.buf) {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	le := binary.LittleEndian
	b := w.buf
	b = le.AppendUint32(b, ngBlockEPB)
	b = le.AppendUint32(b, uint32(blen))
	b = le.AppendUint32(b, 0) // interface 0
	b = le.AppendUint32(b, uint32(uint64(ts)>>32))
	b = le.AppendUint32(b, uint32(ts))
	b = le.AppendUint32(b, uint32(caplen))
	b = le.AppendUint32(b, uint32(origLen))
	if blen > cap(w.buf) {
		// Too big to buffer: write the header, the data, then the rest.
		w.buf = b
		if err := w.Flush(); err != nil {
			return err
		}
		if err := w.write(data[:caplen]); err != nil {
			return err
		}
		b = w.buf[:0]
	} else {
		b = append(b, data[:caplen]...)
	}
	b = append(b, make([]byte, pad4(uint32(caplen))-uint64(caplen))...)
	if comment != "" {
		b = appendOption(b, ngOptComment, comment)
		b = le.AppendUint32(b, 0)
	}
	w.buf = le.AppendUint32(b, uint32(blen))
	return nil
}
