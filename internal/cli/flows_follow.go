package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

// maxFollowPending bounds the bytes of one direction held while a gap
// before them is not filled (docs/LIMITS.md): past it, the gap is given
// up and the held bytes are printed from the lowest.
const maxFollowPending = 4 << 20

// followSpec is --follow: the flow's number in the listing (from 1), or
// its two endpoints.
type followSpec struct {
	n    int
	a, b netip.AddrPort
}

func parseFollow(s string) (followSpec, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return followSpec{}, usagef("--follow %d: flows are numbered from 1, in the listing's order", n)
		}
		return followSpec{n: n}, nil
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(f) == 2 {
		a, err1 := netip.ParseAddrPort(f[0])
		b, err2 := netip.ParseAddrPort(f[1])
		if err1 == nil && err2 == nil {
			return followSpec{a: netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), b: netip.AddrPortFrom(b.Addr().Unmap(), b.Port())}, nil
		}
	}
	return followSpec{}, usagef("--follow %q: want N, the flow's number in the listing, or two endpoints, \"A:P B:Q\"", s)
}

// followSeg is a segment held until the gap before it fills.
type followSeg struct {
	seq  uint32
	data []byte
}

// followDir is one direction's stream as it is printed: next is the
// sequence number of the next byte to print.
type followDir struct {
	next    uint32
	started bool
	pending []followSeg
	held    int
}

// follower prints the payload of one TCP connection as tshark -z
// follow,tcp,ascii does: a block per segment that brings new bytes in
// order, each with its byte count (the server's tab-indented), or the
// bytes alone (raw).
type follower struct {
	w          *bufio.Writer
	raw        bool
	spec       followSpec
	node       [2]netip.AddrPort // node 0 speaks first (the client, for a listed flow)
	from, to   int64             // capture times of the listed flow (ns), or 0
	dirs       [2]followDir
	headerDone bool
	buf        []byte
}

func (fw *follower) header() {
	if fw.headerDone || fw.raw {
		return
	}
	fw.headerDone = true
	rule := strings.Repeat("=", 67)
	a, b := fw.node[0], fw.node[1]
	tcpdumpFilter := fmt.Sprintf("tcp and ((src %s and src port %d and dst %s and dst port %d) or (src %s and src port %d and dst %s and dst port %d))",
		a.Addr(), a.Port(), b.Addr(), b.Port(), b.Addr(), b.Port(), a.Addr(), a.Port())
	fmt.Fprintf(fw.w, "\n%s\nFollow: tcp,ascii\nFilter: %s\nNode 0: %s\nNode 1: %s\n", rule, tcpdumpFilter, a, b)
}

// add takes one packet; it reports whether the packet belongs to the
// connection followed.
func (fw *follower) add(p *wire.Packet, ts int64) bool {
	if !p.Layers.Has(wire.LayerTCP) || p.IP.FragOffset != 0 {
		return false
	}
	src, dst, ok := p.Endpoints()
	if !ok {
		return false
	}
	src, dst = netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	if fw.from != 0 && (ts < fw.from || ts > fw.to) {
		return false
	}
	if !fw.node[0].IsValid() {
		// The 4-tuple form: node 0 is the side of the first packet, as
		// tshark takes it.
		switch {
		case src == fw.spec.a && dst == fw.spec.b, src == fw.spec.b && dst == fw.spec.a:
			fw.node = [2]netip.AddrPort{src, dst}
		default:
			return false
		}
	}
	var dir int
	switch {
	case src == fw.node[0] && dst == fw.node[1]:
		dir = 0
	case src == fw.node[1] && dst == fw.node[0]:
		dir = 1
	default:
		return false
	}
	fw.header()
	t := &p.TCP
	d := &fw.dirs[dir]
	if t.Flags.Has(wire.TCPSyn) {
		// A SYN numbers the stream: its next byte is the first.
		d.next, d.started, d.pending, d.held = t.Seq+1, true, d.pending[:0], 0
	}
	if len(p.Payload) == 0 {
		return true
	}
	seq := t.Seq
	if t.Flags.Has(wire.TCPSyn) {
		seq++
	}
	if !d.started {
		d.next, d.started = seq, true
	}
	fw.segment(dir, seq, p.Payload)
	return true
}

// segment prints what a segment brings in order, holding what comes
// after a gap.
func (fw *follower) segment(dir int, seq uint32, data []byte) {
	d := &fw.dirs[dir]
	if off := int32(seq - d.next); off > 0 {
		if d.held+len(data) > maxFollowPending {
			fw.giveUpGap(dir)
			fw.segment(dir, seq, data)
			return
		}
		d.pending = append(d.pending, followSeg{seq, slices.Clone(data)})
		d.held += len(data)
		return
	} else if int(-off) >= len(data) {
		return // all printed before: a retransmission
	} else {
		data = data[-off:]
	}
	fw.block(dir, data)
	d.next += uint32(len(data))
	for moved := true; moved && len(d.pending) > 0; {
		moved = false
		for i, s := range d.pending {
			off := int32(s.seq - d.next)
			if off > 0 {
				continue
			}
			d.pending = slices.Delete(d.pending, i, i+1)
			d.held -= len(s.data)
			if int(-off) < len(s.data) {
				fw.block(dir, s.data[-off:])
				d.next += uint32(len(s.data) + int(off))
			}
			moved = true
			break
		}
	}
}

// giveUpGap moves a direction's next byte to the lowest one held: the
// bytes of the gap were not captured.
func (fw *follower) giveUpGap(dir int) {
	d := &fw.dirs[dir]
	if len(d.pending) == 0 {
		return
	}
	low := d.pending[0].seq
	for _, s := range d.pending[1:] {
		if int32(s.seq-low) < 0 {
			low = s.seq
		}
	}
	d.next = low
	pending := d.pending
	d.pending, d.held = nil, 0
	for _, s := range pending {
		fw.segment(dir, s.seq, s.data)
	}
}

// block prints one block: "N\n" (the server's with a tab before) and
// the bytes, graphic ASCII, CR and LF as they are and a dot for the
// rest, then a line end; raw, the bytes.
func (fw *follower) block(dir int, data []byte) {
	if fw.raw {
		fw.w.Write(data)
		return
	}
	b := fw.buf[:0]
	if dir == 1 {
		b = append(b, '\t')
	}
	b = strconv.AppendInt(b, int64(len(data)), 10)
	b = append(b, '\n')
	for _, c := range data {
		if c != '\n' && c != '\r' && (c < 0x20 || c >= 0x7f) {
			c = '.'
		}
		b = append(b, c)
	}
	b = append(b, '\n')
	fw.w.Write(b)
	fw.buf = b[:0]
}

// finish prints what is still held (gaps never filled) and the closing
// rule.
func (fw *follower) finish() error {
	for dir := range fw.dirs {
		for len(fw.dirs[dir].pending) > 0 {
			fw.giveUpGap(dir)
		}
	}
	if !fw.raw && fw.headerDone {
		fw.w.WriteString(strings.Repeat("=", 67) + "\n")
	}
	return fw.w.Flush()
}

// runFollow is flows --follow: the listed flow's number is found by a
// first pass over the file (with the listing's filter, --app and
// --sort), its bytes by a second; two endpoints need one pass.
func runFollow(ctx context.Context, w io.Writer, stdin io.Reader, file, filter string, spec followSpec, raw bool, less func(a, b *keptFlow) int, idle time.Duration, appOnly string) error {
	fw := &follower{w: bufio.NewWriterSize(w, 64<<10), raw: raw, spec: spec}
	if spec.n > 0 {
		if file == "-" {
			return usagef("--follow %d reads the file twice (to number the flows, then to print one): give a FILE, not standard input, or the flow's two endpoints", spec.n)
		}
		fl := newFlowLister(io.Discard, 0, less, 0, idle)
		fl.appOnly = appOnly
		if err := eachPacket(ctx, stdin, file, filter, func(p *wire.Packet, ts int64) error { return fl.add(p, ts) }); err != nil {
			return err
		}
		fl.tab.Flush(fl.emit)
		idx := fl.sorted()
		if spec.n > len(idx) {
			flows := "flows"
			if len(idx) == 1 {
				flows = "flow"
			}
			return fmt.Errorf("--follow %d: the listing has %d %s", spec.n, len(idx), flows)
		}
		k := fl.at(idx[spec.n-1])
		f := k.flow()
		if f.Proto != ports.ProtoTCP {
			return fmt.Errorf("--follow %d: flow %d is %s %s > %s, not a TCP connection", spec.n, spec.n, f.Proto, f.Client, f.Server)
		}
		fw.node = [2]netip.AddrPort{unmapAP(f.Client), unmapAP(f.Server)}
		fw.from, fw.to = k.start, k.start+k.dur
	}
	seen := false
	err := eachPacket(ctx, stdin, file, filter, func(p *wire.Packet, ts int64) error {
		if fw.add(p, ts) {
			seen = true
		}
		return nil
	})
	if ferr := fw.finish(); err == nil {
		err = ferr
	}
	if err == nil && !seen {
		err = fmt.Errorf("--follow: no TCP packet between %s and %s", spec.a, spec.b)
	}
	return err
}

// eachPacket decodes every frame of a file that passes the filter.
func eachPacket(ctx context.Context, stdin io.Reader, file, filter string, fn func(p *wire.Packet, ts int64) error) error {
	r, done, err := openFile(file, stdin)
	if err != nil {
		return err
	}
	defer done()
	frames, err := fileFrames(ctx, file, r, filter)
	if err != nil {
		return err
	}
	var p wire.Packet
	dec := wire.Decoder{SkipChecksums: true}
	for fr, err := range frames {
		if err != nil {
			return err
		}
		dec.Decode(&p, fr.LinkType, fr.Data, fr.Length)
		if err := fn(&p, fr.Timestamp); err != nil {
			return err
		}
	}
	return nil
}
