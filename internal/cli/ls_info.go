package cli

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/socktable"
)

// lsInternals is the TCP internals of `ports ls -i`: from the listing's
// own dump without processes (listInternals), or from a dump read while
// the listing is (startInternals), whose sockets are matched by
// addresses and inode. A socket that came or went between the two dumps
// has no internals.
type lsInternals struct {
	done    chan struct{}
	details blocks[socktable.TCPDetail]
	// sorted, for listInternals's listing: for each of its sorted
	// sockets, its index in details, or -1 (UDP).
	sorted []int32
	// byKey, for startInternals's: each socket's index in details.
	byKey   map[detailKey]int32
	err     error
	scratch internalsScratch // line's conversion, reused
}

// detailKey names one socket in both dumps (the inode alone is 0 in
// TIME-WAIT).
type detailKey struct {
	local, remote netip.AddrPort
	inode         uint64
}

// startInternals starts reading the internals, if -i asked for them, of
// the TCP sockets the listing may show.
func (l *lsRun) startInternals(ctx context.Context) *lsInternals {
	if !l.info {
		return nil
	}
	in := &lsInternals{done: make(chan struct{}), byKey: map[detailKey]int32{}}
	opts := l.q.opts
	opts.Processes = false
	if l.q.port != nil && !l.q.matchRemote {
		opts.LocalPorts = l.q.port.ranges()
	}
	go func() {
		defer close(in.done)
		for d, err := range socktable.Details(ctx, &opts) {
			if err != nil {
				in.err = err
				return
			}
			in.byKey[detailKey{d.Socket.Local, d.Socket.Remote, d.Socket.Inode}] = int32(in.details.len())
			in.details.add(d)
		}
	}()
	return in
}

// listInternals is the listing of -i without processes: one dump gives
// both the TCP sockets and their internals (List's would only repeat
// it), and UDP sockets come from List.
func (l *lsRun) listInternals(ctx context.Context) ([]socktable.Socket, *lsInternals, error) {
	q := l.q
	opts := q.opts
	if q.port != nil && !q.matchRemote {
		opts.LocalPorts = q.port.ranges()
	}
	in := &lsInternals{done: make(chan struct{})}
	close(in.done)
	// The TCP sockets are their details' (index for index), the UDP
	// sockets come after them.
	var udp []socktable.Socket
	if len(opts.Protos) == 0 || slices.Contains(opts.Protos, ports.ProtoTCP) {
		for d, err := range socktable.Details(ctx, &opts) {
			if err != nil {
				return nil, nil, fmt.Errorf("-i: %w", err)
			}
			if q.keep(&d.Socket) {
				in.details.add(d)
			}
		}
	}
	if len(opts.Protos) == 0 || slices.Contains(opts.Protos, ports.ProtoUDP) {
		uopts := opts
		uopts.Protos = []ports.Proto{ports.ProtoUDP}
		for s, err := range socktable.List(ctx, &uopts) {
			if err != nil {
				return nil, nil, err
			}
			if q.keep(&s) {
				udp = append(udp, s)
			}
		}
	}
	ntcp := in.details.len()
	at := func(i int) *socktable.Socket {
		if i < ntcp {
			return &in.details.at(i).Socket
		}
		return &udp[i-ntcp]
	}
	order := sortOrder(ntcp+len(udp), at)
	sorted := make([]socktable.Socket, len(order))
	in.sorted = make([]int32, len(order))
	for i, j := range order {
		sorted[i] = *at(int(j))
		in.sorted[i] = -1
		if int(j) < ntcp {
			in.sorted[i] = j
		}
	}
	return sorted, in, nil
}

// wait waits for the internals' dump and returns its error.
func (in *lsInternals) wait() error {
	if in == nil {
		return nil
	}
	<-in.done
	if in.err != nil {
		return fmt.Errorf("-i: %w", in.err)
	}
	return nil
}

// index returns the index in details of the internals of ss[i], one of
// the listing's sorted sockets, or -1 for none.
func (in *lsInternals) index(ss []socktable.Socket, i int) int {
	if in.sorted != nil {
		return int(in.sorted[i])
	}
	s := &ss[i]
	if s.Proto != ports.ProtoTCP {
		return -1
	}
	j, ok := in.byKey[detailKey{s.Local, s.Remote, s.Inode}]
	if !ok {
		return -1
	}
	return int(j)
}

// attach waits for the internals and gives them to the TCP sockets of
// out (converted from ss, index for index).
func (in *lsInternals) attach(ss []socktable.Socket, out []render.SocketV1) error {
	if in == nil {
		return nil
	}
	if err := in.wait(); err != nil {
		return err
	}
	for i := range ss {
		if j := in.index(ss, i); j >= 0 {
			out[i].TCP = internalsV1(in.details.at(j))
		}
	}
	return nil
}

// line appends the detail line of ss[i] (without the newline), or
// returns b as it is when the socket has no internals. It converts
// through in's scratch values: no allocation per socket.
func (in *lsInternals) line(b []byte, ss []socktable.Socket, i int) []byte {
	j := in.index(ss, i)
	if j < 0 {
		return b
	}
	return render.AppendTCPInternals(b, in.scratch.convert(in.details.at(j)))
}

// internalsScratch holds the values a converted TCPInternalsV1 points
// to, so that one conversion allocates nothing (line) or once
// (internalsV1).
type internalsScratch struct {
	t        render.TCPInternalsV1
	timer    render.TimerV1
	info     render.TCPInfoV1
	mem      render.SockMemV1
	options  [4]string
	ssthresh uint32
	pacing   [2]uint64
}

// internalsV1 converts d.
func internalsV1(d *socktable.TCPDetail) *render.TCPInternalsV1 {
	return new(internalsScratch).convert(d)
}

// convert converts d into sc's values; the result points into sc, and
// is valid until the next convert.
func (sc *internalsScratch) convert(d *socktable.TCPDetail) *render.TCPInternalsV1 {
	ms := func(x interface{ Seconds() float64 }) float64 { return x.Seconds() * 1000 }
	sc.t = render.TCPInternalsV1{Cong: d.Cong}
	out := &sc.t
	if d.Timer != socktable.TimerNone {
		sc.timer = render.TimerV1{Name: d.Timer.String(), LeftMS: ms(d.TimerLeft), Count: d.TimerCount}
		out.Timer = &sc.timer
	}
	if d.HasMem {
		m := d.Mem
		sc.mem = render.SockMemV1{RmemAlloc: m.RmemAlloc, RcvBuf: m.RcvBuf, WmemAlloc: m.WmemAlloc, SndBuf: m.SndBuf,
			FwdAlloc: m.FwdAlloc, WmemQueued: m.WmemQueued, Optmem: m.Optmem, Backlog: m.Backlog, Drops: m.Drops}
		out.Mem = &sc.mem
	}
	if !d.HasInfo || d.Socket.State == socktable.StateListen {
		return out
	}
	sc.info = render.TCPInfoV1{
		CAState: d.CAState, Options: sc.options[:0], SndWscale: d.SndWscale, RcvWscale: d.RcvWscale,
		RTOMS: ms(d.RTO), ATOMS: ms(d.ATO), RTTMS: ms(d.RTT), RTTVarMS: ms(d.RTTVar), MinRTTMS: ms(d.MinRTT), RcvRTTMS: ms(d.RcvRTT),
		MSS: d.SndMSS, RcvMSS: d.RcvMSS, AdvMSS: d.AdvMSS, PMTU: d.PMTU, Cwnd: d.SndCwnd,
		RcvSsthresh: d.RcvSsthresh, RcvSpace: d.RcvSpace, SndWnd: d.SndWnd, RcvWnd: d.RcvWnd,
		Unacked: d.Unacked, Sacked: d.Sacked, Lost: d.Lost, Retrans: d.Retrans,
		Retransmits: d.Retransmits, TotalRetrans: d.TotalRetrans, Probes: d.Probes, Backoff: d.Backoff,
		Reordering: d.Reordering, NotsentBytes: d.NotsentBytes,
		LastSendMS: ms(d.LastDataSent), LastRecvMS: ms(d.LastDataRecv), LastAckMS: ms(d.LastAckRecv),
		PacingRate: sc.bitRate(0, d.PacingRate), MaxPacing: sc.bitRate(1, d.MaxPacingRate), DeliveryRate: d.DeliveryRate * 8,
		BytesSent: d.BytesSent, BytesRetrans: d.BytesRetrans, BytesAcked: d.BytesAcked, BytesRecv: d.BytesReceived,
		SegsOut: d.SegsOut, SegsIn: d.SegsIn, DataSegsOut: d.DataSegsOut, DataSegsIn: d.DataSegsIn, Delivered: d.Delivered,
	}
	i := &sc.info
	// The kernel's TCPI_OPT_* bits.
	for bit, name := range [...]string{"ts", "sack", "wscale", "ecn"} {
		if d.Options&(1<<bit) != 0 {
			i.Options = append(i.Options, name)
		}
	}
	// ss, too, shows no ssthresh while it is TCP_INFINITE_SSTHRESH.
	if d.SndSsthresh < 0xffff {
		sc.ssthresh = d.SndSsthresh
		i.Ssthresh = &sc.ssthresh
	}
	out.Info = i
	return out
}

// bitRate converts a pacing rate in bytes/s to bits/s, kept in
// sc.pacing[k]; nil for the kernel's "no limit" (~0).
func (sc *internalsScratch) bitRate(k int, r uint64) *uint64 {
	if r == ^uint64(0) {
		return nil
	}
	sc.pacing[k] = r * 8
	return &sc.pacing[k]
}
