package pcapfile

import (
	"fmt"
	"io"
	"math"
	"math/bits"
)

// pcapng block types (draft-ietf-opsawg-pcapng).
const (
	ngBlockSHB = 0x0a0d0d0a // Section Header Block
	ngBlockIDB = 0x00000001 // Interface Description Block
	ngBlockPB  = 0x00000002 // Packet Block (obsolete)
	ngBlockSPB = 0x00000003 // Simple Packet Block
	ngBlockEPB = 0x00000006 // Enhanced Packet Block

	ngByteOrderMagic = 0x1a2b3c4d

	ngOptEnd      = 0  // opt_endofopt
	ngOptTSResol  = 9  // if_tsresol
	ngOptTSOffset = 14 // if_tsoffset

	nsPerSec = 1_000_000_000
)

// iface is what the Reader keeps of an Interface Description Block.
type iface struct {
	linkType LinkType
	snaplen  uint32
	limit    int // largest caplen accepted

	// Timestamps count units of 10^-e or 2^-e seconds (if_tsresol). They
	// become nanoseconds by one of: ts*mul (decimal e <= 9, mul > 0),
	// ts/div (decimal e > 9, div > 0), or shift and scale (binary e).
	mul, div uint64
	maxTS    uint64 // largest ts with ts*mul <= MaxInt64
	shift    uint8  // binary exponent, when mul and div are 0
	offset   int64  // if_tsoffset in nanoseconds
}

// nanos converts a raw pcapng timestamp to nanoseconds since the epoch.
func (f *iface) nanos(ts uint64) (int64, bool) {
	var ns uint64
	switch {
	case f.mul != 0:
		if ts > f.maxTS {
			return 0, false
		}
		ns = ts * f.mul
	case f.div != 0:
		ns = ts / f.div
	default:
		sec := ts >> f.shift
		frac := ts & (1<<f.shift - 1)
		if sec > math.MaxInt64/nsPerSec {
			return 0, false
		}
		hi, lo := bits.Mul64(frac, 1e9)
		fracNS, _ := bits.Div64(hi, lo, 1<<f.shift) // hi < 1<<shift: no panic
		ns = sec*1e9 + fracNS
	}
	if ns > math.MaxInt64 {
		return 0, false
	}
	t := int64(ns)
	if f.offset != 0 {
		s := t + f.offset
		if (f.offset > 0) != (s > t) {
			return 0, false
		}
		t = s
	}
	return t, true
}

// setResolution sets the timestamp conversion for if_tsresol v.
func (f *iface) setResolution(v uint8) bool {
	f.mul, f.div, f.shift = 0, 0, 0
	e := v & 0x7f
	if v&0x80 != 0 {
		if e > 63 {
			return false
		}
		f.shift = e
		if e == 0 {
			f.mul, f.maxTS = 1e9, math.MaxInt64/nsPerSec
		}
		return true
	}
	if e > 19 { // 10^20 does not fit in a uint64
		return false
	}
	p := uint64(1)
	if e <= 9 {
		for range 9 - e {
			p *= 10
		}
		f.mul, f.maxTS = p, math.MaxInt64/p
	} else {
		for range e - 9 {
			p *= 10
		}
		f.div = p
	}
	return true
}

// pad4 rounds n up to a multiple of 4, without overflow.
func pad4(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }

// readFirstSection reads the Section Header Block at the start of the
// input and the blocks after it up to the first Interface Description
// Block, as libpcap does, so that LinkType and Snaplen answer before the
// first packet. It reads no further, so that it does not wait for a
// packet on a live stream.
func (r *Reader) readFirstSection() error {
	if _, err := r.readBlock(&r.pkt); err != nil {
		return err
	}
	for len(r.ifaces) == 0 {
		if r.w-r.r < 8 {
			if err := r.fill(8); err != nil {
				if err == io.EOF {
					return nil // let the packet reads report it
				}
				return err
			}
		}
		switch r.u32(r.buf[r.r:]) {
		case ngBlockSHB, ngBlockEPB, ngBlockPB, ngBlockSPB:
			return nil
		}
		if _, err := r.readBlock(&r.pkt); err != nil {
			return err
		}
	}
	return nil
}

// nextPcapng reads blocks until one holds a packet.
func (r *Reader) nextPcapng(p *Packet) error {
	for {
		if r.w-r.r < 8 {
			if err := r.fill(8); err != nil {
				if err == io.EOF && r.r == r.w {
					return io.EOF
				}
				return r.truncated(err, r.offset(), "block header", 8)
			}
		}
		ok, err := r.readBlock(p)
		if ok || err != nil {
			return err
		}
	}
}

// readBlock reads the block at buf[r], at least 8 bytes of which are
// buffered, and reports whether it held a packet, which it stores in p.
func (r *Reader) readBlock(p *Packet) (bool, error) {
	start := r.offset()
	typ := r.u32(r.buf[r.r:])
	if typ == ngBlockSHB {
		// The byte-order magic after the length says how to read the
		// length, and everything up to the next section.
		if err := r.fill(12); err != nil {
			return false, r.truncated(err, start, "section header block", 12)
		}
		switch bom := r.buf[r.r+8 : r.r+12]; {
		case bom[0] == 0x1a && bom[1] == 0x2b && bom[2] == 0x3c && bom[3] == 0x4d:
			r.be = true
		case bom[0] == 0x4d && bom[1] == 0x3c && bom[2] == 0x2b && bom[3] == 0x1a:
			r.be = false
		default:
			return false, &FormatError{Offset: start + 8, Msg: fmt.Sprintf("section header block byte-order magic % x, want 1a 2b 3c 4d in either order", bom)}
		}
	}
	blen := r.u32(r.buf[r.r+4:])
	minLen := uint32(12)
	switch typ {
	case ngBlockSHB:
		minLen = 28
	case ngBlockIDB:
		minLen = 20
	case ngBlockEPB, ngBlockPB:
		minLen = 32
	case ngBlockSPB:
		minLen = 16
	}
	if blen < minLen || blen%4 != 0 {
		return false, &FormatError{Offset: start, Msg: fmt.Sprintf("%s length %d, want a multiple of 4 and at least %d", blockName(typ), blen, minLen)}
	}

	switch typ {
	case ngBlockSHB, ngBlockIDB, ngBlockEPB, ngBlockPB, ngBlockSPB:
	default:
		// Skip other blocks (statistics, name resolution, secrets,
		// custom...) without buffering them, then check the trailer.
		if err := r.skip(int64(blen) - 4); err != nil {
			return false, r.truncated(err, start, blockName(typ), int64(blen))
		}
		if err := r.fill(4); err != nil {
			return false, r.truncated(err, start, blockName(typ), int64(blen))
		}
		if t := r.u32(r.buf[r.r:]); t != blen {
			return false, &FormatError{Offset: start, Msg: fmt.Sprintf("%s length %d, trailing length %d", blockName(typ), blen, t)}
		}
		r.r += 4
		return false, nil
	}

	// A packet block's capture length is checked before its data is
	// buffered, so a huge one allocates nothing.
	var caplen uint32
	var ifc *iface
	switch typ {
	case ngBlockEPB, ngBlockPB, ngBlockSPB:
		hdr := 28
		if typ == ngBlockSPB {
			hdr = 12
		}
		if err := r.fill(hdr); err != nil {
			return false, r.truncated(err, start, blockName(typ), int64(blen))
		}
		h := r.buf[r.r : r.r+hdr]
		idx := uint32(0)
		switch typ {
		case ngBlockEPB:
			idx = r.u32(h[8:])
		case ngBlockPB:
			idx = uint32(r.u16(h[8:]))
		}
		if idx >= uint32(len(r.ifaces)) {
			return false, &FormatError{Offset: start, Msg: fmt.Sprintf("%s for interface %d, but the section describes %d", blockName(typ), idx, len(r.ifaces))}
		}
		ifc = &r.ifaces[idx]
		if typ == ngBlockSPB {
			// No capture length field: the packet is cut to the
			// snapshot length of interface 0, and to what the
			// block holds.
			caplen = min(r.u32(h[8:]), blen-16)
			if ifc.snaplen != 0 {
				caplen = min(caplen, ifc.snaplen)
			}
		} else {
			caplen = r.u32(h[20:])
		}
		if caplen > uint32(ifc.limit) {
			return false, &FormatError{Offset: start, Msg: fmt.Sprintf("%s caplen %d exceeds the limit %d (snaplen %d)", blockName(typ), caplen, ifc.limit, ifc.snaplen)}
		}
		if uint64(hdr)+pad4(caplen)+4 > uint64(blen) {
			return false, &FormatError{Offset: start, Msg: fmt.Sprintf("%s caplen %d overruns the block length %d", blockName(typ), caplen, blen)}
		}
	}
	if blen > maxBlockLen {
		return false, &FormatError{Offset: start, Msg: fmt.Sprintf("%s length %d exceeds the limit %d", blockName(typ), blen, maxBlockLen)}
	}
	n := int(blen)
	if r.w-r.r < n {
		if err := r.fill(n); err != nil {
			return false, r.truncated(err, start, blockName(typ), int64(n))
		}
	}
	b := r.buf[r.r : r.r+n]
	if t := r.u32(b[n-4:]); t != blen {
		return false, &FormatError{Offset: start, Msg: fmt.Sprintf("%s length %d, trailing length %d", blockName(typ), blen, t)}
	}

	switch typ {
	case ngBlockSHB:
		// libpcap reads 1.0, and 1.2 which some writers put for 1.0;
		// 1.1 and others it refuses.
		if major, minor := r.u16(b[12:]), r.u16(b[14:]); major != 1 || minor != 0 && minor != 2 {
			return false, &FormatError{Offset: start + 12, Msg: fmt.Sprintf("pcapng version %d.%d", major, minor), Err: ErrUnsupportedVersion}
		}
		r.ifaces = r.ifaces[:0] // interfaces are per section
		r.r += n
		return false, nil
	case ngBlockIDB:
		if err := r.readIDB(b, start); err != nil {
			return false, err
		}
		r.r += n
		return false, nil
	case ngBlockSPB:
		p.Timestamp = 0
		p.InterfaceIndex = 0
		p.Length = int(r.u32(b[8:]))
		p.Data = b[12 : 12+caplen : 12+caplen]
		p.Comment = nil
	default: // EPB, PB
		ts := uint64(r.u32(b[12:]))<<32 | uint64(r.u32(b[16:]))
		t, ok := ifc.nanos(ts)
		if !ok {
			return false, &FormatError{Offset: start + 12, Msg: fmt.Sprintf("%s timestamp %d does not fit in int64 nanoseconds", blockName(typ), ts)}
		}
		p.Timestamp = t
		if typ == ngBlockEPB {
			p.InterfaceIndex = int(r.u32(b[8:]))
		} else {
			p.InterfaceIndex = int(r.u16(b[8:]))
		}
		p.Length = int(r.u32(b[24:]))
		p.Data = b[28 : 28+caplen : 28+caplen]
		p.Comment = nil
		if typ == ngBlockEPB {
			p.Comment = r.packetComment(b[28+pad4(caplen) : n-4])
		}
	}
	p.CaptureLength = int(caplen)
	p.LinkType = ifc.linkType
	r.r += n
	return true, nil
}

// packetComment returns the first opt_comment among a packet block's
// options, or nil. Options that overrun the block end the search: the
// packet itself is whole, so it is kept, as libpcap keeps it.
func (r *Reader) packetComment(opts []byte) []byte {
	for len(opts) >= 4 {
		code, olen := r.u16(opts), r.u16(opts[2:])
		adv := 4 + int(pad4(uint32(olen)))
		if code == ngOptEnd || adv > len(opts) {
			return nil
		}
		if code == ngOptComment {
			return opts[4 : 4+int(olen) : 4+int(olen)]
		}
		opts = opts[adv:]
	}
	return nil
}

// readIDB parses an Interface Description Block b (whole, trailer
// included) at input offset start and appends the interface.
func (r *Reader) readIDB(b []byte, start int64) error {
	f := iface{
		linkType: LinkType(r.u16(b[8:])),
		snaplen:  r.u32(b[12:]),
	}
	f.limit = captureLimit(f.snaplen)
	f.setResolution(6) // microseconds unless if_tsresol says otherwise
	opts := b[16 : len(b)-4]
	for off := 16; len(opts) >= 4; {
		code, olen := r.u16(opts), r.u16(opts[2:])
		if code == ngOptEnd {
			break
		}
		adv := 4 + int(pad4(uint32(olen)))
		if adv > len(opts) {
			return &FormatError{Offset: start + int64(off), Msg: fmt.Sprintf("interface description block option %d length %d overruns the block", code, olen)}
		}
		v := opts[4 : 4+int(olen)]
		switch code {
		case ngOptTSResol:
			if olen != 1 {
				return &FormatError{Offset: start + int64(off), Msg: fmt.Sprintf("if_tsresol option length %d, want 1", olen)}
			}
			if !f.setResolution(v[0]) {
				return &FormatError{Offset: start + int64(off), Msg: fmt.Sprintf("unsupported if_tsresol %#02x", v[0])}
			}
		case ngOptTSOffset:
			if olen != 8 {
				return &FormatError{Offset: start + int64(off), Msg: fmt.Sprintf("if_tsoffset option length %d, want 8", olen)}
			}
			sec := int64(r.u64(v))
			if sec > math.MaxInt64/nsPerSec || sec < math.MinInt64/nsPerSec {
				return &FormatError{Offset: start + int64(off), Msg: fmt.Sprintf("if_tsoffset %d s does not fit in int64 nanoseconds", sec)}
			}
			f.offset = sec * 1e9
		}
		opts = opts[adv:]
		off += adv
	}
	r.ifaces = append(r.ifaces, f)
	return nil
}

func blockName(typ uint32) string {
	switch typ {
	case ngBlockSHB:
		return "section header block"
	case ngBlockIDB:
		return "interface description block"
	case ngBlockPB:
		return "packet block"
	case ngBlockSPB:
		return "simple packet block"
	case ngBlockEPB:
		return "enhanced packet block"
	}
	return fmt.Sprintf("block type %#08x", typ)
}
