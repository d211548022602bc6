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

// lsInternals is the TCP internals dump of `ports ls -i`, read while the
// listing is: the sockets of both dumps are matched by addresses and
// inode. A socket that came or went between them has no internals.
type lsInternals struct {
	done chan struct{}
	m    map[detailKey]*render.TCPInternalsV1
	err  error
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
	in := &lsInternals{done: make(chan struct{}), m: map[detailKey]*render.TCPInternalsV1{}}
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
			in.m[detailKey{d.Socket.Local, d.Socket.Remote, d.Socket.Inode}] = internalsV1(&d)
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
	in := &lsInternals{done: make(chan struct{}), m: map[detailKey]*render.TCPInternalsV1{}}
	close(in.done)
	var all []socktable.Socket
	if len(opts.Protos) == 0 || slices.Contains(opts.Protos, ports.ProtoTCP) {
		for d, err := range socktable.Details(ctx, &opts) {
			if err != nil {
				return nil, nil, fmt.Errorf("-i: %w", err)
			}
			all = append(all, d.Socket)
			in.m[detailKey{d.Socket.Local, d.Socket.Remote, d.Socket.Inode}] = internalsV1(&d)
		}
	}
	if len(opts.Protos) == 0 || slices.Contains(opts.Protos, ports.ProtoUDP) {
		udp := opts
		udp.Protos = []ports.Proto{ports.ProtoUDP}
		var err error
		if all, err = socktable.Append(ctx, all, &udp); err != nil {
			return nil, nil, err
		}
	}
	out := all[:0]
	for i := range all {
		if q.keep(&all[i]) {
			out = append(out, all[i])
		}
	}
	return sortSockets(out), in, nil
}

// attach waits for the internals and gives them to the TCP sockets of
// out (converted from ss, index for index).
func (in *lsInternals) attach(ss []socktable.Socket, out []render.SocketV1) error {
	if in == nil {
		return nil
	}
	<-in.done
	if in.err != nil {
		return fmt.Errorf("-i: %w", in.err)
	}
	for i := range ss {
		if ss[i].Proto == ports.ProtoTCP {
			out[i].TCP = in.m[detailKey{ss[i].Local, ss[i].Remote, ss[i].Inode}]
		}
	}
	return nil
}

// internalsV1 converts d.
func internalsV1(d *socktable.TCPDetail) *render.TCPInternalsV1 {
	ms := func(x interface{ Seconds() float64 }) float64 { return x.Seconds() * 1000 }
	out := &render.TCPInternalsV1{Cong: d.Cong}
	if d.Timer != socktable.TimerNone {
		out.Timer = &render.TimerV1{Name: d.Timer.String(), LeftMS: ms(d.TimerLeft), Count: d.TimerCount}
	}
	if d.HasMem {
		m := d.Mem
		out.Mem = &render.SockMemV1{RmemAlloc: m.RmemAlloc, RcvBuf: m.RcvBuf, WmemAlloc: m.WmemAlloc, SndBuf: m.SndBuf,
			FwdAlloc: m.FwdAlloc, WmemQueued: m.WmemQueued, Optmem: m.Optmem, Backlog: m.Backlog, Drops: m.Drops}
	}
	if !d.HasInfo || d.Socket.State == socktable.StateListen {
		return out
	}
	i := &render.TCPInfoV1{
		CAState: d.CAState, Options: []string{}, SndWscale: d.SndWscale, RcvWscale: d.RcvWscale,
		RTOMS: ms(d.RTO), ATOMS: ms(d.ATO), RTTMS: ms(d.RTT), RTTVarMS: ms(d.RTTVar), MinRTTMS: ms(d.MinRTT), RcvRTTMS: ms(d.RcvRTT),
		MSS: d.SndMSS, RcvMSS: d.RcvMSS, AdvMSS: d.AdvMSS, PMTU: d.PMTU, Cwnd: d.SndCwnd,
		RcvSsthresh: d.RcvSsthresh, RcvSpace: d.RcvSpace, SndWnd: d.SndWnd, RcvWnd: d.RcvWnd,
		Unacked: d.Unacked, Sacked: d.Sacked, Lost: d.Lost, Retrans: d.Retrans,
		Retransmits: d.Retransmits, TotalRetrans: d.TotalRetrans, Probes: d.Probes, Backoff: d.Backoff,
		Reordering: d.Reordering, NotsentBytes: d.NotsentBytes,
		LastSendMS: ms(d.LastDataSent), LastRecvMS: ms(d.LastDataRecv), LastAckMS: ms(d.LastAckRecv),
		PacingRate: bitRate(d.PacingRate), MaxPacing: bitRate(d.MaxPacingRate), DeliveryRate: d.DeliveryRate * 8,
		BytesSent: d.BytesSent, BytesRetrans: d.BytesRetrans, BytesAcked: d.BytesAcked, BytesRecv: d.BytesReceived,
		SegsOut: d.SegsOut, SegsIn: d.SegsIn, DataSegsOut: d.DataSegsOut, DataSegsIn: d.DataSegsIn, Delivered: d.Delivered,
	}
	// The kernel's TCPI_OPT_* bits.
	for bit, name := range []string{"ts", "sack", "wscale", "ecn"} {
		if d.Options&(1<<bit) != 0 {
			i.Options = append(i.Options, name)
		}
	}
	// ss, too, shows no ssthresh while it is TCP_INFINITE_SSTHRESH.
	if d.SndSsthresh < 0xffff {
		s := d.SndSsthresh
		i.Ssthresh = &s
	}
	out.Info = i
	return out
}

// bitRate converts a pacing rate in bytes/s to bits/s; nil for the
// kernel's "no limit" (~0).
func bitRate(r uint64) *uint64 {
	if r == ^uint64(0) {
		return nil
	}
	r *= 8
	return &r
}
