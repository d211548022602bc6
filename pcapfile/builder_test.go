package pcapfile

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// ngBuilder assembles pcapng input block by block for tests, in either
// byte order. Methods append to b and return the builder for chaining.
type ngBuilder struct {
	be bool
	b  []byte
}

func (g *ngBuilder) order() binary.AppendByteOrder {
	if g.be {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// ngOpt is a pcapng option, encoded by the block it is given to, in
// that block's byte order.
type ngOpt struct {
	code uint16
	v    []byte
}

func opt(code uint16, v []byte) ngOpt { return ngOpt{code, v} }

// opts encodes options (code, length, value, padding) in g's order.
func (g *ngBuilder) opts(opts []ngOpt) []byte {
	o := g.order()
	var b []byte
	for _, op := range opts {
		b = o.AppendUint16(b, op.code)
		b = o.AppendUint16(b, uint16(len(op.v)))
		b = append(b, op.v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// block appends a block of type typ with the given body, padded to 4.
func (g *ngBuilder) block(typ uint32, body ...[]byte) *ngBuilder {
	n := 12
	for _, p := range body {
		n += len(p)
	}
	n = (n + 3) &^ 3
	o := g.order()
	g.b = o.AppendUint32(g.b, typ)
	g.b = o.AppendUint32(g.b, uint32(n))
	for _, p := range body {
		g.b = append(g.b, p...)
	}
	for len(g.b)%4 != 0 {
		g.b = append(g.b, 0)
	}
	g.b = o.AppendUint32(g.b, uint32(n))
	return g
}

// shb starts a section in byte order be.
func (g *ngBuilder) shb(be bool, opts ...ngOpt) *ngBuilder {
	g.be = be
	o := g.order()
	body := o.AppendUint32(nil, ngByteOrderMagic)
	body = o.AppendUint16(body, 1)
	body = o.AppendUint16(body, 0)
	body = o.AppendUint64(body, ^uint64(0)) // section length unknown
	return g.block(ngBlockSHB, body, g.opts(opts))
}

func (g *ngBuilder) idb(lt LinkType, snaplen uint32, opts ...ngOpt) *ngBuilder {
	o := g.order()
	body := o.AppendUint16(nil, uint16(lt))
	body = o.AppendUint16(body, 0)
	body = o.AppendUint32(body, snaplen)
	return g.block(ngBlockIDB, body, g.opts(opts))
}

func (g *ngBuilder) epb(ifc uint32, ts uint64, data []byte, origLen uint32, opts ...ngOpt) *ngBuilder {
	o := g.order()
	body := o.AppendUint32(nil, ifc)
	body = o.AppendUint32(body, uint32(ts>>32))
	body = o.AppendUint32(body, uint32(ts))
	body = o.AppendUint32(body, uint32(len(data)))
	body = o.AppendUint32(body, origLen)
	return g.block(ngBlockEPB, body, pad(data), g.opts(opts))
}

func (g *ngBuilder) pb(ifc uint16, ts uint64, data []byte, origLen uint32) *ngBuilder {
	o := g.order()
	body := o.AppendUint16(nil, ifc)
	body = o.AppendUint16(body, 0) // drops
	body = o.AppendUint32(body, uint32(ts>>32))
	body = o.AppendUint32(body, uint32(ts))
	body = o.AppendUint32(body, uint32(len(data)))
	body = o.AppendUint32(body, origLen)
	return g.block(ngBlockPB, body, pad(data))
}

func (g *ngBuilder) spb(data []byte, origLen uint32) *ngBuilder {
	return g.block(ngBlockSPB, g.order().AppendUint32(nil, origLen), pad(data))
}

func pad(b []byte) []byte {
	out := append([]byte(nil), b...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	return out
}

// pcapHeader returns a pcap file header in either byte order.
func pcapHeader(be, nano bool, major, minor uint16, snaplen uint32, lt uint32) []byte {
	var o binary.AppendByteOrder = binary.LittleEndian
	if be {
		o = binary.BigEndian
	}
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	b := o.AppendUint32(nil, magic)
	b = o.AppendUint16(b, major)
	b = o.AppendUint16(b, minor)
	b = o.AppendUint32(b, 0)
	b = o.AppendUint32(b, 0)
	b = o.AppendUint32(b, snaplen)
	return o.AppendUint32(b, lt)
}

// pcapRecord returns a pcap record header and data.
func pcapRecord(be bool, sec, frac, caplen, origLen uint32, data []byte) []byte {
	var o binary.AppendByteOrder = binary.LittleEndian
	if be {
		o = binary.BigEndian
	}
	b := o.AppendUint32(nil, sec)
	b = o.AppendUint32(b, frac)
	b = o.AppendUint32(b, caplen)
	b = o.AppendUint32(b, origLen)
	return append(b, data...)
}

// readAll reads every packet, copying Data, and returns them with the
// error that ended the stream (nil for io.EOF).
func readAll(tb testing.TB, r *Reader) ([]Packet, error) {
	tb.Helper()
	var pkts []Packet
	for {
		p, err := r.ReadPacket()
		if err == io.EOF {
			return pkts, nil
		}
		if err != nil {
			return pkts, err
		}
		if len(p.Data) != p.CaptureLength {
			tb.Fatalf("packet %d: len(Data) %d != CaptureLength %d", len(pkts), len(p.Data), p.CaptureLength)
		}
		p.Data = bytes.Clone(p.Data)
		p.Comment = bytes.Clone(p.Comment)
		pkts = append(pkts, p)
	}
}

// smallReader hands out at most n bytes per Read, to exercise buffer
// refills at every boundary.
type smallReader struct {
	b []byte
	n int
}

func (s *smallReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	m := copy(p[:min(len(p), s.n)], s.b)
	s.b = s.b[m:]
	return m, nil
}

// packetsEqual is a fast equality check; cmp.Diff, slow on many large
// packets, is only for reporting a difference.
func packetsEqual(a, b []Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Timestamp != y.Timestamp || x.CaptureLength != y.CaptureLength || x.Length != y.Length ||
			x.InterfaceIndex != y.InterfaceIndex || x.LinkType != y.LinkType || !bytes.Equal(x.Data, y.Data) {
			return false
		}
	}
	return true
}

// u64 encodes v in g's byte order, for option values.
func (g *ngBuilder) u64(v uint64) []byte { return g.order().AppendUint64(nil, v) }
