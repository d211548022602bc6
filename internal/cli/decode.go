package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/app"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/procattr"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/stream"
	"github.com/portkit/ports/wire"
)

func newDecodeCmd() *cobra.Command {
	var (
		ff      formatFlags
		verbose bool
		explain bool
		count   int
		dump    dumpMode
	)
	cmd := &cobra.Command{
		Use:   "decode FILE [FILTER...]",
		Short: "Print the packets of a capture file, one line each",
		Long: `Print each packet of a pcap or pcapng file (FILE, or - for standard input)
as tcpdump -nn does: time, addresses and ports (with the service name of
the server's port), TCP flags, sequence numbers (by tcpdump's rule:
absolute on a SYN and on the first segment seen of a connection,
relative to it after), window, options and length; DNS and HTTP request and status lines as
tcpdump prints them; after the length, where tcpdump prints nothing
more, what the TCP stream says (a TLS hello's SNI and ALPN, an HTTP
request, an SSH banner), once its segments complete it. A packet the
capture cut short ends in [|tcp] (or the layer cut). FILTER is tcpdump's filter language (see
docs/FILTERS.md).

-v prints every header field by layer, with checksums verified; --explain
says, for the first packet of each connection, which port is the client's
ephemeral port and which the server's, and that replies swap them. -A,
-x and -X print each packet's data after its line (from the network
header on, as captured) as tcpdump does: in ASCII, in hex, in hex and
ASCII.`,
		Example: `  ports decode capture.pcap
  ports decode -v capture.pcap 'tcp port 80'
  ports decode --format jsonl capture.pcapng udp`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("missing FILE: a pcap or pcapng file, or - for standard input")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := ff.get(cmd.Flags())
			if err != nil {
				return err
			}
			if count < 0 {
				return usagef("-c must be positive, not %d", count)
			}
			r, done, err := openFile(args[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			defer done()
			frames, err := fileFrames(cmd.Context(), args[0], r, filterArgs(args[1:]))
			if err != nil {
				return err
			}
			d := newDecoder(cmd.OutOrStdout(), format, verbose, explain)
			d.dump = dump
			n := 0
			for fr, err := range frames {
				if err != nil {
					d.close()
					return err
				}
				if err := d.frame(fr); err != nil {
					return err
				}
				if n++; count > 0 && n == count {
					break
				}
			}
			if err := d.close(); err != nil {
				return err
			}
			return d.undecoded.err(args[0])
		},
	}
	ff.add(cmd.Flags())
	fs := cmd.Flags()
	fs.BoolVarP(&verbose, "verbose", "v", false, "print every header field, by layer")
	fs.BoolVar(&explain, "explain", false, "say which port is the client's and which the server's")
	fs.IntVarP(&count, "count", "c", 0, "stop after this many packets")
	fs.VarP(dumpFlag{&dump, dumpASCII}, "ascii", "A", "print each packet's data in ASCII, as tcpdump -A")
	fs.VarP(dumpFlag{&dump, dumpHex}, "hex", "x", "print each packet's data in hex, as tcpdump -x")
	fs.VarP(dumpFlag{&dump, dumpHexASCII}, "hex-ascii", "X", "print each packet's data in hex and ASCII, as tcpdump -X")
	for _, n := range []string{"ascii", "hex", "hex-ascii"} {
		fs.Lookup(n).NoOptDefVal = "true"
	}
	return cmd
}

// dirKey is one direction of a connection, pointer-free for the map.
type dirKey struct {
	src, dst     [16]byte
	sport, dport uint16
}

// dirState is what the decoder remembers of one direction.
type dirState struct {
	wscale int8 // window scale from this direction's SYN; -1 unknown
}

// seqKey is a connection in tcpdump's tcp_seq_hash: the endpoints in
// its collating order (the lower port first; for equal ports, the lower
// address).
type seqKey struct {
	src, dst [16]byte
	ports    uint32 // first port << 16 | second port
	is4      bool
}

// seqBase is what tcpdump subtracts from the sequence and ack numbers of
// a packet sent from the key's first endpoint (seq, ack); the other way
// round for the reverse direction.
type seqBase struct{ seq, ack uint32 }

// maxDirs bounds the sequence-number memory; past it, it starts afresh.
const maxDirs = 1 << 20

type decoder struct {
	dump dumpMode // -A, -x, -X
	// jumped: tcpdump's printer of this packet's payload would have
	// left by longjmp, after which it dumps the packet from byte 0.
	jumped  bool
	w       *bufio.Writer
	format  render.Format
	verbose bool
	explain bool
	reg     *registry.Registry
	p       wire.Packet
	dirs    map[dirKey]dirState
	seqs    map[seqKey]seqBase
	buf     []byte
	enc     *json.Encoder
	n       int
	zone    *time.Location
	names   map[uint32]string // (proto<<16 | port) -> service name
	ifNames map[uint32]string // interface index -> name, for Linux cooked v2
	// undecoded counts the packets of link types the decoder does not
	// know: the command says so once, at the end.
	undecoded undecodedLinks
	// reasm puts the start of each TCP direction back together; head
	// is what it says, valid for this packet when headOK (the segment
	// that completed it).
	reasm  *stream.Reassembler
	head   app.StreamHead
	headOK bool
	// dgram is what a UDP datagram's content says where tcpdump prints
	// its length only, or SIP's text (KindNone when nothing): a QUIC
	// packet (quic puts Initials' CRYPTO frames together) or SIP.
	dgram app.Kind
	quic  app.QUICDecoder
	qp    app.QUICPacket
	sip   app.SIP
	// chunked are the directions inside a chunked HTTP body, skipped
	// chunk by chunk to the next message.
	chunked map[stream.Key]bool
	// text are the directions found to carry a text protocol (FTP,
	// SMTP, POP3, IMAP), whose later lines are read as its.
	text map[stream.Key]app.Kind
	// attr names the processes at each packet's ends (a live capture);
	// with sel, only packets of the selected processes are shown, the
	// others counted in skipped.
	attr    *procattr.Source
	sel     *procSelect
	ctx     context.Context
	procs   procattr.Attribution
	skipped int
}

// undecodedLinks counts packets of link types that wire does not decode.
type undecodedLinks struct {
	first pcapfile.LinkType
	n     int
}

func (u *undecodedLinks) add(err error, link pcapfile.LinkType) {
	if errors.Is(err, wire.ErrUnsupportedLinkType) {
		if u.n == 0 {
			u.first = link
		}
		u.n++
	}
}

// err says which link type was not decoded, or is nil.
func (u *undecodedLinks) err(name string) error {
	if u.n == 0 {
		return nil
	}
	if name == "-" {
		name = "standard input"
	}
	what := "1 packet"
	if u.n > 1 {
		what = strconv.Itoa(u.n) + " packets"
	}
	return fmt.Errorf("%s: link type %s is not decoded (%s): only time and length are shown", name, u.first, what)
}

func newDecoder(w io.Writer, format render.Format, verbose, explain bool) *decoder {
	d := &decoder{
		w: bufio.NewWriterSize(w, 256<<10), format: format, verbose: verbose, explain: explain,
		reg: registry.Default(), dirs: map[dirKey]dirState{}, seqs: map[seqKey]seqBase{}, zone: time.Local, names: map[uint32]string{},
		reasm: stream.New(nil), chunked: map[stream.Key]bool{}, text: map[stream.Key]app.Kind{},
	}
	if format != render.Table {
		d.enc = json.NewEncoder(d.w)
		d.enc.SetEscapeHTML(false)
		if format == render.JSON {
			d.w.WriteString("[")
		}
	}
	return d
}

func (d *decoder) close() error {
	if d.format == render.JSON {
		if d.n > 0 {
			d.w.WriteString("\n")
		}
		d.w.WriteString("]\n")
	}
	return d.w.Flush()
}

func (d *decoder) frame(fr *frame) error {
	err := d.p.Decode(fr.LinkType, fr.Data, fr.Length)
	if d.attr != nil {
		d.procs = d.attr.Packet(d.ctx, &d.p)
		if d.sel != nil && !d.sel.matchAttr(d.procs) {
			d.skipped++
			return nil
		}
	}
	d.undecoded.add(err, fr.LinkType)
	if errors.Is(err, wire.ErrUnsupportedLinkType) {
		err = nil // said once, at the end
	}
	d.n++
	d.jumped = false
	st, first := d.track(&d.p)
	d.headOK = d.streamHead(fr)
	d.dgram = d.datagram(fr)
	switch d.format {
	case render.Table:
		if d.verbose {
			d.buf = d.appendVerbose(d.buf[:0], fr, err, st)
		} else {
			d.buf = d.appendLine(d.buf[:0], fr, err, st)
		}
		if d.attr != nil && len(d.buf) > 0 {
			// PROCESS: the sender's and the receiver's, at the line's end.
			d.buf = append(d.buf[:len(d.buf)-1], " process "...)
			d.buf = appendProcText(d.buf, d.procs.Src)
			d.buf = append(d.buf, " > "...)
			d.buf = appendProcText(d.buf, d.procs.Dst)
			d.buf = append(d.buf, '\n')
		} else if _, ok := parseProcComment(fr.Comment); ok && len(d.buf) > 0 {
			// A file capture wrote with processes: its PROCESS field.
			d.buf = append(d.buf[:len(d.buf)-1], ' ')
			d.buf = append(d.buf, fr.Comment...)
			d.buf = append(d.buf, '\n')
		}
		if d.dump != dumpNone {
			d.buf = d.appendDump(d.buf, fr)
		}
		if d.explain && first {
			d.buf = d.appendExplain(d.buf, &d.p)
		}
		_, werr := d.w.Write(d.buf)
		return werr
	}
	v := d.packetV1(fr, err, st, first)
	if d.attr != nil {
		v.Process = &render.PacketProcessV1{Src: procV1(d.procs.Src), Dst: procV1(d.procs.Dst)}
	} else if pv, ok := parseProcComment(fr.Comment); ok {
		v.Process = &pv
	}
	if d.format == render.JSON {
		if d.n > 1 {
			d.w.WriteString(",")
		}
		d.w.WriteString("\n")
	}
	return d.enc.Encode(v)
}

// seqView is how a TCP segment's sequence numbers are shown: as tcpdump
// does, relative to the first ACK-bearing segment of the connection (or
// its SYN) once one was seen, absolute on that segment itself, on a SYN
// and on any segment without ACK.
type seqView struct {
	ok       bool
	seq, ack uint32 // as shown
	relative bool   // seq and ack are relative to the connection's base
	// rev and the base are what tcpdump subtracts from SACK blocks.
	rev          bool
	thSeq, thAck uint32
	wscale       int8
}

// track follows tcpdump's rule for sequence numbers (its tcp_seq_hash),
// remembers the window scale of each direction, and reports whether this
// packet opened a connection the decoder had not seen.
func (d *decoder) track(p *wire.Packet) (seqView, bool) {
	src, dst, ok := p.Endpoints()
	if !ok {
		return seqView{}, false
	}
	k := dirKey{src: src.Addr().As16(), dst: dst.Addr().As16(), sport: src.Port(), dport: dst.Port()}
	rk := dirKey{src: k.dst, dst: k.src, sport: k.dport, dport: k.sport}
	if !p.Layers.Has(wire.LayerTCP) {
		_, seen := d.dirs[k]
		_, rseen := d.dirs[rk]
		if !seen && !rseen {
			if len(d.dirs) >= maxDirs {
				clear(d.dirs)
			}
			d.dirs[k] = dirState{wscale: -1}
		}
		return seqView{}, !seen && !rseen
	}
	t := &p.TCP
	st, seen := d.dirs[k]
	rst, rseen := d.dirs[rk]
	first := !seen && !rseen
	syn := t.Flags.Has(wire.TCPSyn)
	if !seen || syn {
		if len(d.dirs) >= maxDirs {
			clear(d.dirs)
		}
		st = dirState{wscale: -1}
		if syn && t.Options.HasWScale {
			st.wscale = int8(min(t.Options.WScale, 14))
		}
		d.dirs[k] = st
	}
	v := seqView{ok: true, seq: t.Seq, ack: t.Ack, wscale: -1}
	// tcpdump stops at a header length below 20, before its hash.
	if t.Flags.Has(wire.TCPAck) && t.HeaderLen() >= 20 {
		d.relate(&v, k, src.Addr().Is4(), syn)
	}
	// RFC 7323: the scale applies only when both SYNs carried it.
	if st.wscale >= 0 && rseen && rst.wscale >= 0 && !syn {
		v.wscale = st.wscale
	}
	return v, first
}

// relate applies tcpdump's tcp_seq_hash to an ACK-bearing segment: the
// first one seen of a connection, or a SYN-ACK, sets the connection's
// base and is shown absolute; later ones are shown relative to it.
func (d *decoder) relate(v *seqView, k dirKey, is4, syn bool) {
	rev := k.sport > k.dport || k.sport == k.dport && bytes.Compare(k.src[:], k.dst[:]) > 0
	sk := seqKey{src: k.src, dst: k.dst, ports: uint32(k.sport)<<16 | uint32(k.dport), is4: is4}
	if rev {
		sk = seqKey{src: k.dst, dst: k.src, ports: uint32(k.dport)<<16 | uint32(k.sport), is4: is4}
	}
	th, found := d.seqs[sk]
	if !found || syn {
		if rev {
			th = seqBase{seq: v.ack - 1, ack: v.seq}
		} else {
			th = seqBase{seq: v.seq, ack: v.ack - 1}
		}
		if !found && len(d.seqs) >= maxDirs {
			clear(d.seqs)
		}
		d.seqs[sk] = th
	} else {
		v.relative = true
		if rev {
			v.seq -= th.ack
			v.ack -= th.seq
		} else {
			v.seq -= th.seq
			v.ack -= th.ack
		}
	}
	v.rev, v.thSeq, v.thAck = rev, th.seq, th.ack
}

// service returns the server side's port of p (the lower:
// ports.ServerPort) and its registered name ("" for none).
func (d *decoder) service(proto ports.Proto, src, dst ports.Port) (server ports.Port, name string) {
	server = ports.ServerPort(src, dst)
	key := uint32(proto)<<16 | uint32(server)
	if n, ok := d.names[key]; ok {
		return server, n
	}
	for rec := range d.reg.Port(proto, server) {
		if rec.Name != "" {
			name = rec.Name
			break
		}
	}
	d.names[key] = name
	return server, name
}

// appendTime formats ts as tcpdump does: local time of day, microseconds.
// A record whose sub-second field is out of range (bad, in ns) shows it
// as it was written, as tcpdump 4.99 does ("22:13:20.1500000"), never
// carried into the seconds.
func (d *decoder) appendTime(b []byte, ts, bad int64) []byte {
	if bad != 0 {
		t := time.Unix(0, ts-bad).In(d.zone)
		h, m, s := t.Clock()
		b = append2(b, h)
		b = append(b, ':')
		b = append2(b, m)
		b = append(b, ':')
		b = append2(b, s)
		b = append(b, '.')
		us := bad / 1000
		for div := int64(100000); div > 1 && us < div; div /= 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, us, 10)
	}
	t := time.Unix(0, ts).In(d.zone)
	h, m, s := t.Clock()
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, m)
	b = append(b, ':')
	b = append2(b, s)
	b = append(b, '.')
	us := t.Nanosecond() / 1000
	for div := 100000; div > 0; div /= 10 {
		b = append(b, byte('0'+us/div%10))
	}
	return b
}

// appendPadded appends s, padded with spaces to n bytes, and a space.
func appendPadded(b []byte, s string, n int) []byte {
	b = append(b, s...)
	for i := len(s); i < n; i++ {
		b = append(b, ' ')
	}
	return append(b, ' ')
}

// ifName returns the name of the interface with index i on this host, as
// tcpdump shows a Linux cooked v2 header's, or "?".
// The host's interfaces are listed once: a file's indexes cannot make
// the table grow, nor cost a lookup each.
func (d *decoder) ifName(i uint32) string {
	if d.ifNames == nil {
		d.ifNames = map[uint32]string{}
		ifs, _ := net.Interfaces()
		for _, ifc := range ifs {
			d.ifNames[uint32(ifc.Index)] = ifc.Name
		}
	}
	if n, ok := d.ifNames[i]; ok {
		return n
	}
	return "?"
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func appendHostPort(b []byte, a netip.Addr, p ports.Port, name string) []byte {
	b = a.AppendTo(b)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(p), 10)
	if name != "" {
		b = append(b, '(')
		b = append(b, name...)
		b = append(b, ')')
	}
	return b
}

// appendLine formats the one-line view.
func (d *decoder) appendLine(b []byte, fr *frame, derr error, st seqView) []byte {
	p := &d.p
	if len(fr.Data) == 0 {
		b = append(b, "[Invalid header: caplen==0"...)
		if fr.Length == 0 {
			b = append(b, ", len==0"...)
		}
		return append(b, "]\n"...)
	}
	if fr.Length < len(fr.Data) {
		// libpcap's readers pass such a record; tcpdump refuses to
		// decode it, with this line.
		b = append(b, "[Invalid header: len("...)
		b = strconv.AppendInt(b, int64(fr.Length), 10)
		b = append(b, ") < caplen("...)
		b = strconv.AppendInt(b, int64(len(fr.Data)), 10)
		return append(b, ")]\n"...)
	}
	b = d.appendTime(b, fr.Timestamp, fr.BadFraction)
	b = append(b, ' ')
	if p.Layers.Has(wire.LayerSLL2) {
		// tcpdump names the interface (by its index, on the reading
		// host; "?" if none has it) and the direction.
		b = appendPadded(b, d.ifName(p.Link.IfIndex), 5)
		dir := "?"
		if p.Link.PacketType <= wire.SLLOutgoing {
			dir = p.Link.PacketType.String()
		}
		b = appendPadded(b, dir, 3)
	}
	avail := p.WireLen - int(p.Link.HeaderLen) // the IP packet's bytes on the wire
	switch {
	case p.Layers.Has(wire.LayerIPv4):
		b = append(b, "IP "...)
		ip := &p.IP
		// tcpdump's checks of the IPv4 header, in its order and words.
		if hl := int(ip.IHL) * 4; hl < 20 {
			b = append(b, "bad-hlen "...)
			return append(strconv.AppendInt(b, int64(hl), 10), '\n')
		}
		if int(ip.TotalLen) > avail {
			b = append(b, "truncated-ip - "...)
			b = strconv.AppendInt(b, int64(int(ip.TotalLen)-avail), 10)
			b = append(b, " bytes missing! "...)
			derr = nil // said so
		} else if ip.TotalLen < ip.HeaderLen {
			b = append(b, "bad-len "...)
			return append(strconv.AppendUint(b, uint64(ip.TotalLen), 10), '\n')
		}
		if capd := len(fr.Data) - int(p.Link.HeaderLen); int(ip.HeaderLen) > capd {
			// The capture cut the options.
			b = append(b, " [remaining caplen("...)
			b = strconv.AppendInt(b, int64(capd), 10)
			b = append(b, ") < header length("...)
			b = strconv.AppendUint(b, uint64(ip.HeaderLen), 10)
			return append(b, ")] [|ip]\n"...)
		}
	case p.Layers.Has(wire.LayerIPv6):
		b = append(b, "IP6 "...)
		if n := 40 + int(p.IP.PayloadLen); n > avail {
			b = append(b, "truncated-ip6 - "...)
			b = strconv.AppendInt(b, int64(n-avail), 10)
			b = append(b, " bytes missing!"...) // no space: tcpdump's
			derr = nil
		}
	case (p.Link.EtherType == wire.EtherTypeIPv4 || p.Link.EtherType == wire.EtherTypeIPv6) && p.Layers&^(1<<wire.LayerIPv4|1<<wire.LayerIPv6) == p.Layers &&
		len(fr.Data) == int(p.Link.HeaderLen) && p.Layers != 0:
		// Nothing after the link header.
		return append(b, " [|"+layerWord(ipLayerOf(p.Link.EtherType))+"]\n"...)
	case p.Link.EtherType == wire.EtherTypeIPv4 && !p.Layers.Has(wire.LayerIPv4) && len(fr.Data)-int(p.Link.HeaderLen) < 20 &&
		fr.Data[p.Link.HeaderLen]>>4 == 4: // IPv4's version is checked first, IPv6's length
		// Less than the fixed IP header, cut by the capture or not.
		return append(b, "IP  [|ip]\n"...)
	case p.Link.EtherType == wire.EtherTypeIPv6 && !p.Layers.Has(wire.LayerIPv6) && len(fr.Data)-int(p.Link.HeaderLen) < 40:
		return append(b, " [|ip6]\n"...) // tcpdump's ip6_print says no "IP6" then
	case (p.Link.EtherType == wire.EtherTypeIPv4 || p.Link.EtherType == wire.EtherTypeIPv6) && len(p.Payload) > 0 && p.Payload[0]>>4 != versionOf(p.Link.EtherType):
		// The link layer says one IP version, the packet another.
		v := p.Payload[0] >> 4
		switch fr.LinkType {
		case pcapfile.LinkTypeRaw, pcapfile.LinkTypeIPv4, pcapfile.LinkTypeIPv6:
			// Raw IP: tcpdump goes by the version nibble alone.
			b = append(b, "unknown ip "...)
			return append(strconv.AppendUint(b, uint64(v), 10), '\n')
		}
		if p.Link.EtherType == wire.EtherTypeIPv6 {
			b = append(b, "IP6 version error: "...)
			b = strconv.AppendUint(b, uint64(v), 10)
			return append(b, " != 6\n"...)
		}
		if v == 6 {
			return append(b, "IP6, wrong link-layer encapsulation (invalid)\n"...)
		}
		b = append(b, "IP"...)
		b = strconv.AppendUint(b, uint64(v), 10)
		return append(b, " (invalid)\n"...)
	case fr.LinkType == pcapfile.LinkTypeRaw && p.Link.EtherType == 0:
		// Raw IP that is neither version: tcpdump's words.
		b = append(b, "unknown ip "...)
		return append(strconv.AppendUint(b, uint64(fr.Data[0]>>4), 10), '\n')
	case p.Layers == 0: // not even the link layer: an unsupported link type
		b = append(b, "link-type "...)
		b = append(b, fr.LinkType.String()...)
		b = append(b, ", length "...)
		b = strconv.AppendInt(b, int64(p.WireLen), 10)
		return d.appendTail(b, derr, true)
	case p.Link.EtherType == wire.EtherTypeARP || p.Link.EtherType == 0x8035: // ARP, reverse ARP
		b = appendARP(b, p.Payload, p.WireLen-int(p.Link.HeaderLen))
		return append(b, '\n')
	case p.Link.EtherType.IsVLAN():
		// The frame ends inside a VLAN tag.
		return append(b, " [|vlan]\n"...)
	case p.Layers.Has(wire.LayerEthernet) && p.Link.EtherType == 0x9000 && fr.LinkType == pcapfile.LinkTypeEthernet:
		return append(appendLoopback(b, fr.Data[min(int(p.Link.HeaderLen), len(fr.Data)):], p.WireLen-int(p.Link.HeaderLen)), '\n')
	case p.Layers.Has(wire.LayerEthernet) && p.Link.EtherType >= 0x0600 && (isHex(p.Link.EtherType.String()) || tcpdumpEtherNames[p.Link.EtherType] != ""):
		// A protocol tcpdump does not decode either (it may name it):
		// it shows the Ethernet header, then a hex dump on lines of
		// their own.
		b = appendLinkAddr(b, p.Link.Src[:])
		b = append(b, " > "...)
		b = appendLinkAddr(b, p.Link.Dst[:])
		b = append(b, ", ethertype "...)
		if name := tcpdumpEtherNames[p.Link.EtherType]; name != "" {
			b = append(b, name...)
		} else {
			b = append(b, "Unknown"...)
		}
		b = append(b, " (0x"...)
		b = appendHex16(b, uint16(p.Link.EtherType))
		b = append(b, "), length "...)
		b = strconv.AppendInt(b, int64(p.WireLen), 10)
		return append(b, ": \n"...)
	default:
		b = append(b, p.Link.EtherType.String()...)
		b = append(b, ", length "...)
		b = strconv.AppendInt(b, int64(p.WireLen), 10)
		return d.appendTail(b, derr, true)
	}
	// An IPv6 fragment: tcpdump marks it "frag (offset|length)", then
	// decodes the upper layer of the first one (its ports without the
	// addresses, which it printed already) and nothing of the others.
	inFrag := false
	if p.IP.Version == 6 && p.IP.PayloadLen == 0 && !(p.IP.NumExt > 0 && p.IP.Ext[0] == wire.ExtHopByHop) &&
		(p.Layers.Has(wire.LayerTCP) || p.Layers.Has(wire.LayerUDP)) {
		// A payload length of 0 and no jumbogram: tcpdump finds no
		// room for the transport header.
		q := *p
		q.Payload = nil
		q.TruncatedAt = wire.LayerUDP
		if p.Layers.Has(wire.LayerTCP) {
			q.TruncatedAt = wire.LayerTCP
		}
		return appendCutTransport(b, &q)
	}
	// IPv6 extension headers: tcpdump names each (HBH, DSTOPT, RT6,
	// frag (offset|length)), then decodes the upper layer of a first
	// fragment (its ports without the addresses, which it printed
	// already) and nothing of a later one.
	if p.IP.Version == 6 {
		var done bool
		if b, inFrag, done = appendIPv6Ext(b, &p.IP); done {
			return d.appendTail(b, derr, true)
		}
	}
	switch {
	case p.Layers.Has(wire.LayerTCP):
		t := &p.TCP
		server, name := d.service(ports.ProtoTCP, t.SrcPort, t.DstPort)
		b = appendEndpoints(b, p, t.SrcPort, t.DstPort, server, name, inFrag)
		seg := ipPayloadLen(p)
		if hl := t.HeaderLen(); hl < 20 {
			b = append(b, ":  tcp "...)
			b = strconv.AppendInt(b, int64(seg-hl), 10)
			b = append(b, " [bad hdr length "...)
			b = strconv.AppendInt(b, int64(hl), 10)
			return append(b, " - too short, < 20]\n"...)
		}
		b = append(b, ": Flags "...)
		b = append(b, t.Flags.String()...)
		if hl := t.HeaderLen(); hl > seg && !p.IP.IsFragment() {
			b = append(b, " [bad hdr length "...)
			b = strconv.AppendInt(b, int64(hl), 10)
			b = append(b, " - too long, > "...)
			b = strconv.AppendInt(b, int64(seg), 10)
			return append(b, "]\n"...)
		}
		// The payload's length by the IP header, as tcpdump takes it
		// (also when the frame is shorter).
		pay := seg - t.HeaderLen()
		if pay > 0 || t.Flags&(wire.TCPSyn|wire.TCPFin|wire.TCPRst) != 0 {
			b = append(b, ", seq "...)
			b = strconv.AppendUint(b, uint64(st.seq), 10)
			if pay > 0 {
				b = append(b, ':')
				b = strconv.AppendUint(b, uint64(st.seq+uint32(pay)), 10)
			}
		}
		if t.Flags.Has(wire.TCPAck) {
			b = append(b, ", ack "...)
			b = strconv.AppendUint(b, uint64(st.ack), 10)
		}
		b = append(b, ", win "...)
		b = strconv.AppendUint(b, uint64(t.Window), 10)
		if t.Flags.Has(wire.TCPUrg) {
			b = append(b, ", urg "...)
			b = strconv.AppendUint(b, uint64(t.Urgent), 10)
		}
		if hl := t.HeaderLen(); hl > 20 {
			var whole bool
			// The option bytes captured, also when the IP length says
			// the segment is longer than the frame (truncated-ip).
			raw := t.Options.Raw
			if off := int(p.Link.HeaderLen) + int(p.IP.HeaderLen) + 20; off <= len(fr.Data) {
				raw = fr.Data[off:min(off+hl-20, len(fr.Data))]
			}
			if b, whole = appendTCPOptions(b, raw, hl-20, &st, t.Flags); !whole {
				// tcpdump ends the line at a bad or cut option.
				return append(b, '\n')
			}
		}
		b = append(b, ", length "...)
		b = strconv.AppendInt(b, int64(pay), 10)
		if pay > 0 {
			if pr := app.TcpdumpTCP(uint16(t.SrcPort), uint16(t.DstPort)); pr == app.PrintHTTP || pr == app.PrintDNS || pr == app.PrintFTP || pr == app.PrintSMTP {
				// tcpdump's text for the payload, which marks a cut
				// of its own.
				var data []byte
				if ipb := ipPayloadBytes(fr, p); len(ipb) > t.HeaderLen() {
					data = ipb[t.HeaderLen():]
				}
				b = app.AppendTCP(b, pr, data, pay)
				return d.appendTail(b, derr, false)
			} else if pr == app.PrintNone && d.headOK {
				// Where tcpdump prints the length only, what the stream
				// says, after it: tcpdump's line stays a prefix of ours.
				b = d.head.AppendSummary(append(b, ": "...))
				return d.appendTail(b, derr, false)
			}
		}
		if p.TruncatedAt == wire.LayerTCP {
			// The header is whole: tcpdump marks only a payload it
			// decodes, not the TCP layer.
			return d.appendTail(b, derr, false)
		}
	case p.Layers.Has(wire.LayerUDP):
		u := &p.UDP
		server, name := d.service(ports.ProtoUDP, u.SrcPort, u.DstPort)
		b = appendEndpoints(b, p, u.SrcPort, u.DstPort, server, name, inFrag)
		var data []byte
		if ipb := ipPayloadBytes(fr, p); len(ipb) > 8 {
			data = ipb[8:]
		}
		if pr := app.TcpdumpUDP(uint16(u.SrcPort), uint16(u.DstPort), data); (pr == app.PrintDNS || pr == app.PrintMDNS || pr >= app.PrintNTP) && u.Length >= 8 {
			// tcpdump's text in place of "UDP, length N", for the
			// datagram's length by the UDP header or, if shorter, the
			// IP header; it reads as far as the IP length.
			b = append(b, ": "...)
			b, d.jumped = app.AppendUDPJumped(b, pr, data, min(int(u.Length), ipPayloadLen(p))-8)
			// A UDP length beyond the IP payload (the one error of a
			// whole UDP header) is no error to tcpdump here: it goes
			// by the shorter.
			return d.appendTail(b, nil, false)
		}
		if !p.IP.IsFragment() && !(u.Length == 0 && p.IP.Version == 6) {
			if u.Length < 8 {
				b = append(b, ": truncated-udplength "...)
				return append(strconv.AppendUint(b, uint64(u.Length), 10), '\n')
			}
			if seg := ipPayloadLen(p); int(u.Length) > seg {
				b = append(b, ": UDP, bad length "...)
				b = strconv.AppendUint(b, uint64(u.Length-8), 10)
				b = append(b, " > "...)
				b = strconv.AppendInt(b, int64(seg-8), 10)
				return append(b, '\n')
			}
		}
		b = append(b, ": UDP, length "...)
		if u.Length >= 8 {
			// tcpdump gives the datagram's length, from the UDP header
			// (in a first fragment too).
			b = strconv.AppendUint(b, uint64(u.Length-8), 10)
		} else {
			b = strconv.AppendInt(b, int64(p.PayloadLen), 10)
		}
		if d.dgram != app.KindNone {
			// Where tcpdump prints the length only, what the datagram
			// says, after it: tcpdump's line stays a prefix of ours.
			b = d.appendDatagram(append(b, ": "...))
			return d.appendTail(b, derr, false)
		}
		if p.TruncatedAt == wire.LayerUDP {
			// The UDP header is whole; only the payload was cut.
			return d.appendTail(b, derr, false)
		}
	case p.Layers.Has(wire.LayerICMPv4):
		b = p.IP.Src.AppendTo(b)
		b = append(b, " > "...)
		b = p.IP.Dst.AppendTo(b)
		b = append(b, ": "...)
		b = appendICMPv4(b, p)
	case p.Layers.Has(wire.LayerICMPv6):
		if !inFrag {
			b = p.IP.Src.AppendTo(b)
			b = append(b, " > "...)
			b = p.IP.Dst.AppendTo(b)
			b = append(b, ": "...)
		}
		b = appendICMPv6(b, p)
		if t := p.ICMPv6.Type; t == 138 || t == 130 && ipPayloadLen(p) != 24 {
			// These print their own mark where tcpdump stops; it marks
			// nothing after the length.
			return d.appendTail(b, derr, false)
		}
	case p.Truncated && (p.TruncatedAt == wire.LayerTCP || p.TruncatedAt == wire.LayerUDP),
		p.IP.FragOffset == 0 && (p.IP.Protocol == ports.ProtoTCP || p.IP.Protocol == ports.ProtoUDP) &&
			!p.Layers.Has(wire.LayerTCP) && !p.Layers.Has(wire.LayerUDP):
		// A frame, or its capture, too short for the transport header.
		if !p.Truncated || p.TruncatedAt != wire.LayerTCP && p.TruncatedAt != wire.LayerUDP {
			q := *p
			q.TruncatedAt = wire.LayerUDP
			if p.IP.Protocol == ports.ProtoTCP {
				q.TruncatedAt = wire.LayerTCP
			}
			return appendCutTransport(b, &q)
		}
		// The capture cut the transport header: tcpdump shows the ports
		// if it has them, then its mark.
		return appendCutTransport(b, p)
	default:
		// After IPv6 extension headers the addresses are printed
		// already: what follows comes after their last word.
		lead := "" // the line ends in a space after extension headers
		if p.IP.Protocol == 132 && !inFrag && !(p.IP.Version == 4 && p.IP.FragOffset != 0) {
			// SCTP prints the addresses with the ports.
			return append(appendSCTP(b, p, ipPayloadBytes(fr, p), ipPayloadLen(p)), '\n')
		}
		if !inFrag {
			b = p.IP.Src.AppendTo(b)
			b = append(b, " > "...)
			b = p.IP.Dst.AppendTo(b)
			b = append(b, ':')
			lead = " "
		}
		if p.IP.Version == 4 && p.IP.FragOffset != 0 {
			// tcpdump: a fragment without the transport header names
			// the protocol only.
			b = append(b, lead+"ip-proto-"...)
			b = strconv.AppendUint(b, uint64(p.IP.Protocol), 10)
			return d.appendTail(b, derr, true)
		}
		if p.IP.Protocol == 50 && len(p.Payload) >= 8 {
			// ESP: what follows its header is encrypted.
			b = append(b, lead+"ESP(spi=0x"...)
			b = appendHexBytes(b, p.Payload[:4])
			b = append(b, ",seq=0x"...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(p.Payload[4:])), 16)
			b = append(b, "), length "...)
			b = strconv.AppendInt(b, int64(p.PayloadLen), 10)
			return d.appendTail(b, nil, true)
		}
		if p.IP.Protocol == 2 {
			if p.IP.Version == 6 {
				return append(b, lead+"[IGMP requires IPv4] (invalid)\n"...)
			}
			return append(appendIGMP(append(b, lead...), ipPayloadBytes(fr, p), ipPayloadLen(p)), '\n')
		}
		// A protocol ports does not decode: tcpdump's "ip-proto-N LEN",
		// LEN from the IP header.
		if p.IP.Protocol == 59 {
			return append(append(b, lead...), "no next header\n"...)
		}
		b = append(b, lead+" ip-proto-"...)
		b = strconv.AppendUint(b, uint64(p.IP.Protocol), 10)
		b = append(b, ' ')
		n := ipPayloadLen(p)
		b = strconv.AppendInt(b, int64(n), 10)
		return d.appendTail(b, nil, true)
	}
	return d.appendTail(b, derr, true)
}

// ipPayloadLen is the length of what follows the IP header (extension
// headers included) by the IP length field, as tcpdump counts it, even
// when the frame is shorter (truncated-ip).
func ipPayloadLen(p *wire.Packet) int {
	if p.IP.Version == 4 {
		return int(p.IP.TotalLen) - int(p.IP.HeaderLen)
	}
	return 40 + int(p.IP.PayloadLen) - int(p.IP.HeaderLen)
}

// ipPayloadBytes is the captured part of what follows the IP header
// (extension headers included), up to the IP length: also when the frame
// is shorter than that length (truncated-ip), where p.Payload may be
// empty.
func ipPayloadBytes(fr *frame, p *wire.Packet) []byte {
	off := int(p.Link.HeaderLen) + int(p.IP.HeaderLen)
	if off > len(fr.Data) {
		return nil
	}
	return fr.Data[off:min(off+max(ipPayloadLen(p), 0), len(fr.Data))]
}

func ipLayerOf(t wire.EtherType) wire.Layer {
	if t == wire.EtherTypeIPv6 {
		return wire.LayerIPv6
	}
	return wire.LayerIPv4
}

// isHex reports whether an EtherType's name is its hex value: one
// neither ports nor tcpdump names.
func isHex(name string) bool { return strings.HasPrefix(name, "0x") }

func versionOf(t wire.EtherType) byte {
	if t == wire.EtherTypeIPv6 {
		return 6
	}
	return 4
}

// appendCutTransport ends the line of a packet whose TCP or UDP header
// the capture cut, as tcpdump prints it.
func appendCutTransport(b []byte, p *wire.Packet) []byte {
	word := layerWord(p.TruncatedAt)
	b = p.IP.Src.AppendTo(b)
	if len(p.Payload) >= 4 {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(p.Payload)), 10)
	}
	b = append(b, " > "...)
	b = p.IP.Dst.AppendTo(b)
	if len(p.Payload) >= 4 {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(p.Payload[2:])), 10)
		b = append(b, ": "...)
	} else {
		b = append(b, ':')
		if p.TruncatedAt == wire.LayerUDP {
			b = append(b, ' ') // tcpdump's udp_print has a space more than tcp_print
		}
	}
	b = append(b, " [|"...)
	b = append(b, word...)
	return append(b, "]\n"...)
}

// appendEndpoints writes "src.port > dst.port", the server's port
// followed by its service name; in an IPv6 fragment, whose addresses
// tcpdump printed before the fragment mark, the ports only.
func appendEndpoints(b []byte, p *wire.Packet, sp, dp, server ports.Port, name string, portsOnly bool) []byte {
	if portsOnly {
		b = strconv.AppendUint(b, uint64(sp), 10)
		b = append(b, " > "...)
		return strconv.AppendUint(b, uint64(dp), 10)
	}
	b = appendHostPort(b, p.IP.Src, sp, nameIf(sp == server, name))
	b = append(b, " > "...)
	return appendHostPort(b, p.IP.Dst, dp, nameIf(dp == server && sp != server, name))
}

func nameIf(ok bool, name string) string {
	if ok {
		return name
	}
	return ""
}

func appendQuoted(b []byte, q *wire.Quoted) []byte {
	if q.IP.Version == 0 {
		return b
	}
	b = append(b, " for "...)
	b = q.IP.Src.AppendTo(b)
	if q.HasPorts {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(q.SrcPort), 10)
	}
	b = append(b, " > "...)
	b = q.IP.Dst.AppendTo(b)
	if q.HasPorts {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(q.DstPort), 10)
	}
	b = append(b, " proto "...)
	return strconv.AppendUint(b, uint64(q.IP.Protocol), 10)
}

// appendTail adds the truncation mark or the error, and the newline.
func (d *decoder) appendTail(b []byte, derr error, mark bool) []byte {
	p := &d.p
	if p.Truncated && mark {
		b = append(b, " [|"...)
		b = append(b, layerWord(p.TruncatedAt)...)
		b = append(b, ']')
	}
	if derr != nil {
		b = append(b, " [malformed: "...)
		b = append(b, derr.Error()...)
		b = append(b, ']')
	}
	return append(b, '\n')
}

// layerWord names a layer as tcpdump's truncation mark does.
func layerWord(l wire.Layer) string {
	switch l {
	case wire.LayerTCP:
		return "tcp"
	case wire.LayerUDP:
		return "udp"
	case wire.LayerIPv4:
		return "ip"
	case wire.LayerIPv6:
		return "ip6"
	case wire.LayerICMPv4:
		return "icmp"
	case wire.LayerICMPv6:
		return "icmp6"
	}
	return "ether"
}

// datagram recognises a UDP datagram's application by its content
// where tcpdump prints its length only (QUIC, SIP off port 5060), and
// SIP where tcpdump prints its text (port 5060) for -v and JSON.
func (d *decoder) datagram(fr *frame) app.Kind {
	p := &d.p
	if !p.Layers.Has(wire.LayerUDP) || p.IP.FragOffset != 0 || p.UDP.Length < 8 {
		return app.KindNone
	}
	u := &p.UDP
	var data []byte
	if ipb := ipPayloadBytes(fr, p); len(ipb) > 8 {
		data = ipb[8:min(len(ipb), int(u.Length))]
	}
	pr := app.TcpdumpUDP(uint16(u.SrcPort), uint16(u.DstPort), data)
	if pr != app.PrintNone && pr != app.PrintSIP || len(data) == 0 {
		return app.KindNone
	}
	if pr == app.PrintNone && data[0]&0x80 != 0 && d.quic.Decode(&d.qp, data) == nil {
		return app.KindQUIC
	}
	if d.sip.Decode(data, true) == nil {
		return app.KindSIP
	}
	return app.KindNone
}

// appendDatagram appends the one-line summary of d.dgram.
func (d *decoder) appendDatagram(b []byte) []byte {
	if d.dgram == app.KindQUIC {
		return d.qp.AppendSummary(b)
	}
	return d.sip.AppendSummary(b)
}

// streamHead feeds a TCP segment to the reassembler and reports whether
// it completed the start of its direction's stream as a message that
// d.head now holds (TLS hello, HTTP header, SSH banner): once per
// direction, at the segment that completes it.
func (d *decoder) streamHead(fr *frame) bool {
	p := &d.p
	if !p.Layers.Has(wire.LayerTCP) || p.IP.FragOffset != 0 {
		return false
	}
	t := &p.TCP
	if d.format == render.Table && !d.verbose && app.TcpdumpTCP(uint16(t.SrcPort), uint16(t.DstPort)) != app.PrintNone {
		return false // the line shows tcpdump's text there, not ours
	}
	k := stream.Key{Src: p.IP.Src.As16(), Dst: p.IP.Dst.As16(), SrcPort: uint16(t.SrcPort), DstPort: uint16(t.DstPort)}
	var payload []byte
	if ipb := ipPayloadBytes(fr, p); len(ipb) > t.HeaderLen() {
		payload = ipb[t.HeaderLen():]
	}
	syn := t.Flags.Has(wire.TCPSyn)
	if t.Flags&(wire.TCPRst|wire.TCPFin) != 0 && len(payload) == 0 {
		d.reasm.Forget(k) // the connection ends: its ports may come again
		delete(d.chunked, k)
		delete(d.text, k)
		return false
	}
	if len(payload) == 0 && !syn {
		return false
	}
	// A segment the capture cut (a snap length) leaves a hole no later
	// segment fills: what is not whole by its end never will be.
	cut := len(payload) < ipPayloadLen(p)-t.HeaderLen()
	head, grew := d.reasm.Add(k, t.Seq, syn, payload)
	if !grew {
		if cut {
			d.reasm.Done(k)
		}
		return false
	}
	for d.chunked[k] && len(head) > 0 {
		n, last, err := app.ChunkLine(head)
		if err == app.ErrShort {
			return false
		}
		if err != nil || last {
			delete(d.chunked, k)
		}
		if err != nil {
			d.reasm.Done(k)
			return false
		}
		d.reasm.Skip(k, n)
		head = d.reasm.Head(k)
	}
	if len(head) == 0 {
		return false
	}
	// A direction, or its connection's other one, found to carry a text
	// protocol: its next lines are that protocol's.
	known := d.text[k]
	if known == app.KindNone {
		known = d.text[stream.Key{Src: k.Dst, Dst: k.Src, SrcPort: k.DstPort, DstPort: k.SrcPort}]
	}
	switch err := d.head.DecodeAs(head, known); err {
	case nil:
		if known == app.KindNone {
			d.head.PreferPort(k.SrcPort, k.DstPort)
		}
		if d.head.Guessed {
			// A line that fits several protocols alike (a bare 220
			// greeting, USER, STAT) on no port of theirs: not shown
			// until a line of the connection says which; read on.
			d.reasm.Skip(k, d.head.MessageLen())
			return false
		}
		if d.head.Kind.IsText() && !d.head.Guessed && d.text[k] == app.KindNone && len(d.text) < stream.DefaultMaxDirs {
			d.text[k] = d.head.Kind
		}
		switch n := d.head.MessageLen(); {
		case n > 0:
			d.reasm.Skip(k, n) // the next request or response of the connection
		case d.head.Chunked() && len(d.chunked) < stream.DefaultMaxDirs:
			d.reasm.Skip(k, d.head.HeaderLen())
			d.chunked[k] = true
		default:
			d.reasm.Done(k)
		}
		return true
	case app.ErrShort:
		if cut {
			d.reasm.Done(k)
		}
		return false
	default:
		d.reasm.Done(k) // nothing this package knows starts the stream
		return false
	}
}
