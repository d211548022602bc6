package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/app"
	"github.com/portkit/ports/flow"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/procattr"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/wire"
)

func newFlowsCmd() *cobra.Command {
	var (
		ff      formatFlags
		sortBy  string
		limit   int
		idle    time.Duration
		iface   string
		appArg  string
		noProcs bool
		sel     procSelect
		follow  string
		raw     bool
	)
	cmd := &cobra.Command{
		Use:   "flows FILE [FILTER...] | flows -i IFACE [FILTER...]",
		Short: "The connections in a capture file",
		Long: `List the connections in a pcap or pcapng file (FILE, or - for standard
input): one row per protocol and pair of endpoints, both directions
merged. The client is the side that sent the SYN, else the side whose
port is not the service's (ephemeral, or in a higher class). Counts are
by direction (client to server, server to client); state is the TCP
state the packets show: syn-sent, established, closing, closed, reset,
or incomplete when the capture began mid-connection. FILTER is tcpdump's
filter language.

APP is the protocol the connection carries, found by content at the
start of its streams (tls, http, http2, ssh, ftp, smtp, pop3, imap),
with the TLS SNI or HTTP Host when seen, and a ! when it is not what the
server port's registered service promises (ssh! on 443, http! on 8088,
tls! on 80, smtp! on 8025; a port with no registered service promises
nothing). ftp-data is a connection to an address and port that an FTP
control connection announced before (PORT, EPRT, PASV's 227, EPSV's
229). --app NAME keeps only those flows.

Memory stays bounded: a flow idle longer than --idle (in capture time)
is finished. With --format jsonl flows are written as they finish, in
that order; the table and json sort them (--sort) and keep them all, or
only the top --limit.

With -i, flows come from a live capture (Linux, root or CAP_NET_RAW)
until Ctrl-C: --format jsonl shows each connection as it finishes; the
table is printed at the end. Live flows have a PROCESS column: the
processes owning the client's and the server's end ("-" for an end no
local socket owns), looked up once per flow; --pid and --proc keep only
the flows of those processes, --no-procs leaves the column out.

--follow N prints the payload of the Nth connection of the listing (the
same FILTER, --app and --sort), or --follow "A:P B:Q" of the connection
between those endpoints, both directions in the order they came, as
tshark -z follow,tcp,ascii does: a block per segment bringing new bytes,
its byte count first (the second node's tab-indented), non-printable
bytes as dots; --format raw writes the bytes alone.`,
		Example: `  ports flows capture.pcap
  ports flows --sort bytes -n 10 capture.pcap tcp
  ports flows --format jsonl big.pcap > flows.jsonl
  ports flows --follow 3 capture.pcap
  ports flows --follow "127.0.0.1:8000 127.0.0.1:51234" --format raw capture.pcap > stream.bin`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && iface == "" {
				return usagef("missing FILE: a pcap or pcapng file, or - for standard input (or -i IFACE)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := ff.get(cmd.Flags())
			if err != nil {
				return err
			}
			if raw && follow == "" {
				return usagef("--format raw goes with --follow: the listing is a table, json or jsonl")
			}
			// The flow table is long-lived data: collect at the usual pace
			// (cmd/ports sets 400 for short runs) so the peak stays small.
			defer debug.SetGCPercent(debug.SetGCPercent(100))
			less, ok := flowOrders[sortBy]
			if !ok {
				return usagef("--sort %q: want start, bytes, packets, duration or retransmits", sortBy)
			}
			if limit < 0 {
				return usagef("-n must be positive, not %d", limit)
			}
			if appArg != "" && !slices.Contains(appNames, appArg) {
				return usagef("--app %q: want one of %s", appArg, strings.Join(appNames, ", "))
			}
			if follow != "" {
				spec, err := parseFollow(follow)
				if err != nil {
					return err
				}
				if iface != "" {
					return usagef("--follow reads a capture file: -i %s has none", iface)
				}
				if format != render.Table {
					return usagef("--follow prints tshark's text or, with --format raw, the bytes; not %s", format)
				}
				return runFollow(cmd.Context(), cmd.OutOrStdout(), cmd.InOrStdin(), args[0], filterArgs(args[1:]), spec, raw, less, idle, appArg)
			}
			var frames iter.Seq2[*frame, error]
			if iface != "" && len(args) > 0 && looksLikeFile(args[0]) {
				return usagef("-i %s and FILE %q exclude each other: read a file or capture live, not both", iface, args[0])
			}
			if iface == "" && (!sel.empty() || noProcs) {
				return usagef("--pid, --proc and --no-procs go with -i: a file has no processes")
			}
			var attr *procattr.Source
			if iface != "" {
				// The whole packet (capture's default snaplen, one buffer of
				// that size): the APP column needs the payload, and 256 bytes
				// cut a ClientHello before its SNI.
				h, err := openCapture(cmd.Context(), iface, filterArgs(args), 0, false)
				if err != nil {
					return err
				}
				defer h.Close()
				frames = liveFrames(cmd.Context(), h)
				fmt.Fprintf(cmd.ErrOrStderr(), "listening on %s, link-type %s, snapshot length %d bytes\n", iface, linkTypeText(h.LinkType()), h.Snaplen())
				if !noProcs {
					if attr, err = procattr.New(nil); err != nil {
						if !sel.empty() {
							return fmt.Errorf("--pid, --proc: %w", err)
						}
						fmt.Fprintf(cmd.ErrOrStderr(), "ports: processes not shown: %v\n", err)
						attr = nil
					} else {
						defer attr.Close()
					}
				}
			} else {
				r, done, err := openFile(args[0], cmd.InOrStdin())
				if err != nil {
					return err
				}
				defer done()
				if frames, err = fileFrames(cmd.Context(), args[0], r, filterArgs(args[1:])); err != nil {
					return err
				}
			}
			fl := newFlowLister(cmd.OutOrStdout(), format, less, limit, idle)
			fl.appOnly = appArg
			fl.live = iface != ""
			if attr != nil {
				fl.attr, fl.ctx, fl.procs = attr, cmd.Context(), map[flowEnds]*flowProcs{}
				if !sel.empty() {
					fl.sel = &sel
				}
			}
			var p wire.Packet
			dec := wire.Decoder{SkipChecksums: true}
			var undecoded undecodedLinks
			for fr, err := range frames {
				if err != nil {
					if iface != "" && (errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed)) {
						break // Ctrl-C ends a live capture
					}
					// A capture cut short (killed mid-write) still shows
					// the flows seen so far, then the error, as decode does.
					if ferr := fl.finish(); ferr != nil {
						return ferr
					}
					return err
				}
				undecoded.add(dec.Decode(&p, fr.LinkType, fr.Data, fr.Length), fr.LinkType)
				if err := fl.add(&p, fr.Timestamp); err != nil {
					return err
				}
			}
			if err := fl.finish(); err != nil {
				return err
			}
			if iface == "" {
				return undecoded.err(args[0])
			}
			return undecoded.err(iface)
		},
	}
	fs := cmd.Flags()
	fs.Var(&flowsFormat{ff: &ff, raw: &raw}, "format", "output format: table, json or jsonl; raw with --follow")
	fs.BoolVar(&ff.json, "json", false, "short for --format json")
	fs.StringVar(&follow, "follow", "", "print the payload of one TCP connection: N (its number in the listing) or \"A:P B:Q\"")
	fs.StringVar(&sortBy, "sort", "start", "order: start, bytes, packets, duration or retransmits (largest first, but start)")
	fs.IntVarP(&limit, "limit", "n", 0, "show only the first N flows in that order")
	fs.DurationVar(&idle, "idle", 2*time.Minute, "finish a flow idle this long (capture time)")
	fs.StringVarP(&iface, "interface", "i", "", "capture live on this interface instead of reading FILE")
	fs.StringVar(&appArg, "app", "", "keep only the flows carrying this protocol, by content: "+strings.Join(appNames, ", "))
	fs.BoolVar(&noProcs, "no-procs", false, "with -i: no PROCESS column")
	fs.IntSliceVar(&sel.pids, "pid", nil, "with -i: only the flows of these processes (a list of pids)")
	fs.StringSliceVar(&sel.names, "proc", nil, "with -i: only the flows of processes with these command names")
	return cmd
}

// looksLikeFile reports whether a word after -i IFACE names a capture
// file rather than starting a filter: "-", an existing file, or a name
// ending in a capture file's extension.
func looksLikeFile(word string) bool {
	if word == "-" {
		return true
	}
	if fi, err := os.Stat(word); err == nil && !fi.IsDir() {
		return true
	}
	for _, ext := range []string{".pcap", ".pcapng", ".cap", ".dmp"} {
		if strings.HasSuffix(word, ext) {
			return true
		}
	}
	return false
}

var flowOrders = map[string]func(a, b *keptFlow) int{
	"start":       func(a, b *keptFlow) int { return cmp.Compare(a.start, b.start) },
	"bytes":       func(a, b *keptFlow) int { return cmp.Compare(b.bytes[0]+b.bytes[1], a.bytes[0]+a.bytes[1]) },
	"packets":     func(a, b *keptFlow) int { return cmp.Compare(b.packets[0]+b.packets[1], a.packets[0]+a.packets[1]) },
	"duration":    func(a, b *keptFlow) int { return cmp.Compare(b.dur, a.dur) },
	"retransmits": func(a, b *keptFlow) int { return cmp.Compare(b.retrans[0]+b.retrans[1], a.retrans[0]+a.retrans[1]) },
}

// keptFlow is a finished flow as the table and json views keep it until
// the end: 128 bytes of values, no pointers, so that a capture of
// millions of connections fits (docs/BENCHMARKS.md). Its strings are
// made only when it is printed.
type keptFlow struct {
	client, server [16]byte
	cport, sport   uint16
	proto          ports.Proto
	state          flow.State
	bits           uint8 // keptIs4, keptBySYN, keptHandshake
	start, dur     int64 // ns
	packets        [2]uint64
	bytes          [2]uint64
	payload        [2]uint64
	retrans        [2]uint64
	app            app.Kind
	appName        int32 // index in flowLister.appNames + 1; 0 for none
	procs          int32 // index in flowLister.procNames + 1; 0 for none
}

const (
	keptIs4 = 1 << iota
	keptBySYN
	keptHandshake
)

// keptChunk is how many flows one block of the store holds: the store
// grows by blocks, never copying what it holds (as doubling a slice
// would, with twice the memory at the moment it grows).
const keptChunk = 4096

func keepFlow(f *flow.Flow) keptFlow {
	k := keptFlow{
		client: f.Client.Addr().As16(), server: f.Server.Addr().As16(), cport: f.Client.Port(), sport: f.Server.Port(),
		proto: f.Proto, state: f.State, start: f.Start.UnixNano(), dur: int64(f.Duration()),
		packets: f.Packets, bytes: f.Bytes, payload: f.Payload, retrans: f.Retransmits,
	}
	if f.Client.Addr().Is4() {
		k.bits |= keptIs4
	}
	if f.ClientBySYN {
		k.bits |= keptBySYN
	}
	if f.HandshakeSeen {
		k.bits |= keptHandshake
	}
	return k
}

// flow rebuilds the flow.Flow that k keeps.
func (k *keptFlow) flow() flow.Flow {
	c, s := netip.AddrFrom16(k.client), netip.AddrFrom16(k.server)
	if k.bits&keptIs4 != 0 {
		c, s = c.Unmap(), s.Unmap()
	}
	start := time.Unix(0, k.start)
	return flow.Flow{
		Proto: k.proto, Client: netip.AddrPortFrom(c, k.cport), Server: netip.AddrPortFrom(s, k.sport),
		ClientBySYN: k.bits&keptBySYN != 0, Start: start, End: start.Add(time.Duration(k.dur)),
		Packets: k.packets, Bytes: k.bytes, Payload: k.payload, Retransmits: k.retrans,
		State: k.state, HandshakeSeen: k.bits&keptHandshake != 0,
	}
}

type flowLister struct {
	w      io.Writer
	format render.Format
	less   func(a, b *keptFlow) int
	limit  int
	tab    *flow.Table
	reg    *registry.Registry
	kept   [][]keptFlow // blocks of keptChunk flows
	nkept  int
	out    *render.Stream[render.FlowV1]
	seg    flow.Segment
	emit   func(*flow.Flow)
	err    error
	// apps recognises what each connection carries; appNames holds the
	// names (SNI, Host) kept flows refer to; appOnly is --app.
	apps     *flowApps
	appNames []string
	appOnly  string
	// attr names each live flow's processes, looked up on its first
	// packets (procattr caches them per flow) and kept in procs until it
	// finishes; procNames holds those of kept flows; sel is --pid/--proc.
	attr      *procattr.Source
	ctx       context.Context
	procs     map[flowEnds]*flowProcs
	procNames []render.FlowProcessV1
	sel       *procSelect
	live      bool
}

// flowEnds is a flow's protocol and endpoints, the lower one first.
type flowEnds struct {
	proto ports.Proto
	a, b  netip.AddrPort
}

func endsOf(proto ports.Proto, x, y netip.AddrPort) flowEnds {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return flowEnds{proto, x, y}
}

// flowProcs are the processes at a flow's ends a and b.
type flowProcs struct{ a, b *procattr.Process }

// maxFlowProcs bounds the live flows whose processes are kept.
const maxFlowProcs = 1 << 18

func newFlowLister(w io.Writer, format render.Format, less func(a, b *keptFlow) int, limit int, idle time.Duration) *flowLister {
	reg := registry.Default()
	fl := &flowLister{w: w, format: format, less: less, limit: limit, reg: reg, apps: newFlowApps()}
	// A closed flow is finished after 10 s (flow's default, for late
	// retransmissions) or --idle if that is shorter: it is idle too.
	fl.tab = flow.New(&flow.Config{IdleTimeout: idle, ClosedTimeout: min(idle, 10*time.Second), IsService: reg.Registered})
	fl.out = render.NewStream(w, format, writeFlowRow)
	fl.emit = func(f *flow.Flow) {
		a := fl.apps.take(f.Client, f.Server)
		pv := fl.takeProcs(f)
		if fl.appOnly != "" && a.kind.String() != fl.appOnly {
			return
		}
		if fl.sel != nil && (pv == nil || !fl.sel.matchV1(pv.Client) && !fl.sel.matchV1(pv.Server)) {
			return
		}
		if fl.format == render.JSONL {
			v := fl.flowV1(f, a)
			v.Process = pv
			err := fl.out.Write(v)
			if err == nil && fl.live {
				err = fl.out.Flush() // each connection as it finishes
			}
			if err != nil && fl.err == nil {
				fl.err = err
			}
			return
		}
		k := keepFlow(f)
		k.app = a.kind
		if pv != nil {
			fl.procNames = append(fl.procNames, *pv)
			k.procs = int32(len(fl.procNames))
		}
		if a.name != "" {
			fl.appNames = append(fl.appNames, a.name)
			k.appName = int32(len(fl.appNames))
		}
		fl.keep(k)
		// Keep memory bounded under --limit: trim to the best N now and then.
		if fl.limit > 0 && fl.nkept >= 4*fl.limit+1024 {
			idx := fl.sorted()
			best := make([]keptFlow, fl.limit)
			var names []string
			var procNames []render.FlowProcessV1
			for i, j := range idx[:fl.limit] {
				best[i] = *fl.at(j)
				if n := best[i].appName; n > 0 {
					names = append(names, fl.appNames[n-1])
					best[i].appName = int32(len(names))
				}
				if n := best[i].procs; n > 0 {
					procNames = append(procNames, fl.procNames[n-1])
					best[i].procs = int32(len(procNames))
				}
			}
			fl.appNames, fl.procNames = names, procNames
			fl.kept, fl.nkept = nil, 0
			for _, k := range best {
				fl.keep(k)
			}
		}
	}
	return fl
}

// keep adds a finished flow to the store.
func (fl *flowLister) keep(k keptFlow) {
	if fl.nkept%keptChunk == 0 {
		fl.kept = append(fl.kept, make([]keptFlow, 0, keptChunk))
	}
	last := &fl.kept[len(fl.kept)-1]
	*last = append(*last, k)
	fl.nkept++
}

func (fl *flowLister) at(i int32) *keptFlow { return &fl.kept[i/keptChunk][i%keptChunk] }

// sorted returns the indexes of the kept flows in the chosen order: 4
// bytes a flow, where a sorted copy would take 120.
func (fl *flowLister) sorted() []int32 {
	idx := make([]int32, fl.nkept)
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(a, b int32) int { return fl.less(fl.at(a), fl.at(b)) })
	return idx
}

func (fl *flowLister) add(p *wire.Packet, ts int64) error {
	src, dst, ok := p.Endpoints()
	if !ok {
		return fl.err
	}
	s := &fl.seg
	*s = flow.Segment{Time: time.Unix(0, ts), Src: src, Dst: dst, Payload: p.PayloadLen, Length: p.WireLen}
	switch {
	case p.Layers.Has(wire.LayerTCP):
		s.Proto, s.Flags, s.Seq = ports.ProtoTCP, uint16(p.TCP.Flags), p.TCP.Seq
	case p.Layers.Has(wire.LayerUDP):
		s.Proto = ports.ProtoUDP
	default:
		s.Proto = p.IP.Protocol
	}
	fl.apps.add(p, src, dst)
	if fl.attr != nil && (s.Proto == ports.ProtoTCP || s.Proto == ports.ProtoUDP) {
		k := endsOf(s.Proto, src, dst)
		fp := fl.procs[k]
		if fp == nil || fp.a == nil || fp.b == nil {
			// procattr caches each end: this costs a lookup only for a
			// new flow (or an end not yet found, once a second).
			at := fl.attr.Packet(fl.ctx, p)
			if fp == nil {
				if len(fl.procs) >= maxFlowProcs {
					clear(fl.procs)
				}
				fp = &flowProcs{}
				fl.procs[k] = fp
			}
			sp, dp := at.Src, at.Dst
			if k.a != src {
				sp, dp = dp, sp
			}
			fp.a, fp.b = cmp.Or(fp.a, sp), cmp.Or(fp.b, dp)
		}
	}
	fl.tab.Add(s, fl.emit)
	return fl.err
}

// takeProcs returns the processes of f's ends and forgets them; nil
// without attribution.
func (fl *flowLister) takeProcs(f *flow.Flow) *render.FlowProcessV1 {
	if fl.attr == nil {
		return nil
	}
	k := endsOf(f.Proto, f.Client, f.Server)
	fp := fl.procs[k]
	delete(fl.procs, k)
	v := &render.FlowProcessV1{}
	if fp != nil {
		c, sv := fp.a, fp.b
		if k.a != f.Client {
			c, sv = sv, c
		}
		v.Client, v.Server = procV1(c), procV1(sv)
	}
	return v
}

func (fl *flowLister) finish() error {
	fl.tab.Flush(fl.emit)
	if fl.err != nil {
		return fl.err
	}
	if fl.format == render.JSONL {
		return fl.out.Close()
	}
	idx := fl.sorted()
	if fl.limit > 0 && len(idx) > fl.limit {
		idx = idx[:fl.limit]
	}
	row := func(i int) render.FlowV1 {
		k := fl.at(idx[i])
		f := k.flow()
		a := appSeen{kind: k.app}
		if k.appName > 0 {
			a.name = fl.appNames[k.appName-1]
		}
		v := fl.flowV1(&f, a)
		if k.procs > 0 {
			v.Process = &fl.procNames[k.procs-1]
		} else if fl.attr != nil {
			v.Process = &render.FlowProcessV1{}
		}
		return v
	}
	if fl.format == render.Table {
		// The table is aligned in two passes over the kept flows, not by
		// buffering a million lines of text.
		header := flowHeader
		if fl.attr != nil {
			header = strings.TrimSuffix(header, "\n") + "\tPROCESS\n"
		}
		return writeFlowTable(fl.w, header, len(idx), row)
	}
	for i := range idx {
		if err := fl.out.Write(row(i)); err != nil {
			return err
		}
	}
	return fl.out.Close()
}

const flowHeader = "PROTO\tCLIENT\tSERVER\tSERVICE\tAPP\tSTATE\tPKTS C>S\tPKTS S>C\tBYTES C>S\tBYTES S>C\tRETRANS\tSTART\tDURATION\n"

// writeFlowTable writes the header and n rows in columns two spaces
// apart (as render's table does), the last column unpadded: a first pass
// measures each column, a second writes.
func writeFlowTable(w io.Writer, header string, n int, row func(int) render.FlowV1) error {
	var line bytes.Buffer
	var width []int
	measure := func() {
		col, start := 0, 0
		for i, c := range line.Bytes() {
			if c == '\t' {
				if col == len(width) {
					width = append(width, 0)
				}
				width[col] = max(width[col], i-start)
				col, start = col+1, i+1
			}
		}
	}
	line.WriteString(header)
	measure()
	for i := range n {
		line.Reset()
		writeFlowRow(&line, row(i))
		measure()
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	emit := func() error {
		col, start := 0, 0
		b := line.Bytes()
		for i, c := range b {
			if c != '\t' {
				continue
			}
			bw.Write(b[start:i])
			for pad := width[col] - (i - start) + 2; pad > 0; pad-- {
				bw.WriteByte(' ')
			}
			col, start = col+1, i+1
		}
		_, err := bw.Write(b[start:])
		return err
	}
	line.Reset()
	line.WriteString(header)
	if err := emit(); err != nil {
		return err
	}
	for i := range n {
		line.Reset()
		writeFlowRow(&line, row(i))
		if err := emit(); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func (fl *flowLister) flowV1(f *flow.Flow, a appSeen) render.FlowV1 {
	v := render.FlowV1{
		Proto: f.Proto.String(), Client: f.Client.String(), Server: f.Server.String(), ClientBySYN: f.ClientBySYN,
		Start: f.Start.UTC().Format(time.RFC3339Nano), DurationSec: f.Duration().Seconds(),
		PacketsOut: f.Packets[flow.ToServer], PacketsIn: f.Packets[flow.ToClient],
		BytesOut: f.Bytes[flow.ToServer], BytesIn: f.Bytes[flow.ToClient],
		PayloadOut: f.Payload[flow.ToServer], PayloadIn: f.Payload[flow.ToClient],
		State: f.State.String(), Handshake: f.HandshakeSeen,
		RetransOut: f.Retransmits[flow.ToServer], RetransIn: f.Retransmits[flow.ToClient],
	}
	for rec := range fl.reg.Port(f.Proto, ports.Port(f.Server.Port())) {
		if rec.Name != "" {
			v.Service = rec.Name
			break
		}
	}
	if a.kind != app.KindNone {
		v.App, v.AppName, v.AppMismatch = a.kind.String(), a.name, mismatch(a.kind, v.Service)
	}
	return v
}

func writeFlowRow(w io.Writer, f render.FlowV1) error {
	svc := f.Service
	if svc == "" {
		svc = "-"
	}
	start := f.Start
	if t, err := time.Parse(time.RFC3339Nano, f.Start); err == nil {
		start = t.Local().Format("15:04:05.000")
	}
	appCol := "-"
	if f.App != "" {
		appCol = f.App
		if f.AppMismatch {
			appCol += "!"
		}
		if f.AppName != "" {
			appCol += " " + f.AppName
		}
	}
	procCol := ""
	if f.Process != nil {
		procCol = "\t" + procV1Text(f.Process.Client) + " > " + procV1Text(f.Process.Server)
	}
	_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s%s\n", f.Proto, f.Client, f.Server, svc, appCol, f.State,
		f.PacketsOut, f.PacketsIn, f.BytesOut, f.BytesIn, f.RetransOut+f.RetransIn, start,
		strconv.FormatFloat(f.DurationSec, 'f', 3, 64)+"s", procCol)
	return err
}

// flowsFormat is flows' --format: render's formats, and raw (the bytes
// of --follow).
type flowsFormat struct {
	ff  *formatFlags
	raw *bool
}

func (f *flowsFormat) String() string {
	if f.raw != nil && *f.raw {
		return "raw"
	}
	if f.ff == nil {
		return "table"
	}
	return f.ff.format.String()
}

func (f *flowsFormat) Set(s string) error {
	if strings.EqualFold(s, "raw") {
		*f.raw, f.ff.format = true, render.Table
		return nil
	}
	*f.raw = false
	return f.ff.format.Set(s)
}

func (f *flowsFormat) Type() string { return "table|json|jsonl|raw" }
