package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/socktable"
)

// lsEvents is ls --events: each socket's end, as the kernel reports it,
// one line each, until ctx ends (Ctrl-C), which is a clean exit.
func lsEvents(ctx context.Context, w io.Writer, q *sockQuery, format render.Format, procs bool) error {
	opts := q.opts
	opts.States = 0
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if format == render.Table {
		fmt.Fprintln(w, "TIME             PROTO  STATE   LOCAL                  PEER                   ACKED     RECEIVED  LIVED     PROCESS")
	}
	var line []byte
	for e, err := range socktable.Ends(ctx, &opts) {
		if err != nil {
			return err
		}
		s := &e.Socket
		if q.port != nil && !q.port.matchLocal(s) && !q.port.matchRemote(s) {
			continue
		}
		v := socketEndV1(&e, procs)
		if format == render.JSONL {
			if err := enc.Encode(v); err != nil {
				return err
			}
			continue
		}
		line = appendEndRow(line[:0], &v, e.Time, procs)
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

func socketEndV1(e *socktable.SocketEnd, procs bool) render.SocketEndV1 {
	s := &e.Socket
	v := render.SocketEndV1{
		Time:   e.Time.Format(time.RFC3339Nano),
		Proto:  s.Proto.String(),
		State:  s.State.String(),
		Local:  render.AddrPortOf(s.Local),
		Known:  e.Known,
		Lost:   e.Lost,
		Cookie: s.Cookie,
	}
	if s.HasPeer() {
		r := render.AddrPortOf(s.Remote)
		v.Remote = &r
	}
	if e.HasInfo {
		v.BytesSent, v.BytesAcked, v.BytesReceived, v.Retrans = &e.BytesSent, &e.BytesAcked, &e.BytesReceived, &e.TotalRetrans
	}
	if e.Known {
		d := e.Duration.Seconds()
		v.DurationS = &d
		if procs {
			v.Processes = processesV1(s.Procs)
		}
	}
	return v
}

// appendEndRow appends one table row: fixed columns, since a stream
// cannot be aligned over rows it has not seen.
func appendEndRow(b []byte, v *render.SocketEndV1, t time.Time, procs bool) []byte {
	if v.Lost > 0 {
		b = fmt.Appendf(b, "(%d ends lost: the kernel dropped them while this fell behind)\n", v.Lost)
	}
	peer := "*"
	if v.Remote != nil {
		peer = v.Remote.String()
	}
	// The kernel's counters as ss shows them (with the SYN and FIN).
	sent, recv := "-", "-"
	if v.BytesAcked != nil {
		sent, recv = fmt.Sprint(*v.BytesAcked), fmt.Sprint(*v.BytesReceived)
	}
	dur := "-" // at least this long: since the first listing that held it
	if v.DurationS != nil {
		dur = (time.Duration(*v.DurationS * float64(time.Second))).Round(time.Millisecond).String()
	}
	proc := "-"
	if procs && len(v.Processes) > 0 {
		var names []string
		for _, p := range v.Processes {
			names = append(names, fmt.Sprintf("%s/%d", p.Name, p.PID))
		}
		proc = strings.Join(names, ",")
	}
	if !procs {
		proc = ""
	}
	b = fmt.Appendf(b, "%-16s %-6s %-7s %-22s %-22s %-9s %-9s %-9s %s", t.Format("15:04:05.000000"), v.Proto, v.State, v.Local.String(), peer, sent, recv, dur, proc)
	b = []byte(strings.TrimRight(string(b), " "))
	return append(b, '\n')
}
