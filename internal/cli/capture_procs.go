package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/procattr"
	"github.com/portkit/ports/socktable"
)

// procSelect is capture's and flows' --pid, --proc and --user: a
// packet is kept when a process at either end matches every kind given
// (any of its values).
type procSelect struct {
	pids  []int
	names []string
	users []string
}

func (s *procSelect) empty() bool { return len(s.pids)+len(s.names)+len(s.users) == 0 }

func (s *procSelect) match(p *procattr.Process) bool {
	if p == nil {
		return false
	}
	if len(s.pids) > 0 && !slices.Contains(s.pids, p.PID) {
		return false
	}
	if len(s.names) > 0 && !slices.Contains(s.names, p.Name) {
		return false
	}
	if len(s.users) > 0 && !slices.Contains(s.users, p.User) && !slices.Contains(s.users, strconv.FormatUint(uint64(p.UID), 10)) {
		return false
	}
	return true
}

// matchV1 is match for a process as JSON shows it.
func (s *procSelect) matchV1(p *render.ProcessV1) bool {
	if p == nil {
		return false
	}
	return s.match(&procattr.Process{PID: p.PID, Name: p.Name, UID: p.UID, User: p.User})
}

// procV1Text is procText for a process as JSON shows it.
func procV1Text(p *render.ProcessV1) string {
	if p == nil {
		return "-"
	}
	return p.Name + "/" + strconv.Itoa(p.PID)
}

func (s *procSelect) matchAttr(a procattr.Attribution) bool { return s.match(a.Src) || s.match(a.Dst) }

func (s *procSelect) String() string {
	var parts []string
	for _, p := range s.pids {
		parts = append(parts, "pid "+strconv.Itoa(p))
	}
	for _, n := range s.names {
		parts = append(parts, "process "+n)
	}
	for _, u := range s.users {
		parts = append(parts, "user "+u)
	}
	return strings.Join(parts, ", ")
}

// localPorts returns the local ports of the selected processes' TCP and
// UDP sockets, sorted.
func (s *procSelect) localPorts(ctx context.Context, netns string) (tcp, udp []ports.Port, err error) {
	for sock, err := range socktable.List(ctx, &socktable.Options{Processes: true, NetNS: netns}) {
		if err != nil {
			return nil, nil, err
		}
		for i := range sock.Procs {
			if s.match(&sock.Procs[i]) {
				if sock.Proto == ports.ProtoTCP {
					tcp = append(tcp, ports.Port(sock.Local.Port()))
				} else {
					udp = append(udp, ports.Port(sock.Local.Port()))
				}
				break
			}
		}
	}
	slices.Sort(tcp)
	slices.Sort(udp)
	return slices.Compact(tcp), slices.Compact(udp), nil
}

// maxFilterRanges bounds the port ranges put in a kernel filter; past
// it the filter keeps all TCP and UDP and the check in user space does
// the rest.
const maxFilterRanges = 64

// portsFilter is the filter expression keeping the TCP packets of tcp's
// ports and the UDP packets of udp's, as port ranges; "less 1" (no
// packet) when both are empty.
func portsFilter(tcp, udp []ports.Port) string {
	var terms []string
	for _, pr := range []struct {
		proto string
		ps    []ports.Port
	}{{"tcp", tcp}, {"udp", udp}} {
		rs := portRanges(pr.ps)
		if len(rs) == 0 {
			continue
		}
		if len(rs) > maxFilterRanges {
			terms = append(terms, pr.proto)
			continue
		}
		var alts []string
		for _, r := range rs {
			if r.First == r.Last {
				alts = append(alts, "port "+strconv.Itoa(int(r.First)))
			} else {
				alts = append(alts, fmt.Sprintf("portrange %d-%d", r.First, r.Last))
			}
		}
		terms = append(terms, "("+pr.proto+" and ("+strings.Join(alts, " or ")+"))")
	}
	if len(terms) == 0 {
		return "less 1"
	}
	return strings.Join(terms, " or ")
}

// combineFilters is the user's filter and the process filter together.
func combineFilters(user, procs string) string {
	if strings.TrimSpace(user) == "" {
		return procs
	}
	return "(" + user + ") and (" + procs + ")"
}

// procFilterInterval is how often the selected processes' ports are
// listed again, to follow their sockets in the kernel filter.
const procFilterInterval = 200 * time.Millisecond

// followProcs keeps h's kernel filter on the selected processes'
// current local ports (with the user's filter) until ctx ends. The
// first filter is set before it returns; later ones are swapped in
// place as sockets come and go. The returned function waits for the
// goroutine to end.
func followProcs(ctx context.Context, h *capture.Handle, sel *procSelect, userFilter, netns string) (wait func(), err error) {
	tcp, udp, err := sel.localPorts(ctx, netns)
	if err != nil {
		return nil, err
	}
	cur := combineFilters(userFilter, portsFilter(tcp, udp))
	if err := h.SetFilter(cur); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(procFilterInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			tcp, udp, err := sel.localPorts(ctx, netns)
			if err != nil {
				continue // keep the last filter; the user-space check still holds
			}
			if f := combineFilters(userFilter, portsFilter(tcp, udp)); f != cur && h.SetFilter(f) == nil {
				cur = f
			}
		}
	}()
	return func() { <-done }, nil
}

// procText is the PROCESS field of a line: "name/pid", or "-".
func procText(p *procattr.Process) string { return string(appendProcText(nil, p)) }

// appendProcText appends procText(p) to b (without a string per packet).
func appendProcText(b []byte, p *procattr.Process) []byte {
	if p == nil {
		return append(b, '-')
	}
	b = append(b, p.Name...)
	b = append(b, '/')
	return strconv.AppendInt(b, int64(p.PID), 10)
}

// appendProcComment appends the PROCESS field of a as decode shows it
// and as a pcapng packet comment keeps it: "process SRC > DST".
func appendProcComment(b []byte, a procattr.Attribution) []byte {
	b = append(b, "process "...)
	b = appendProcText(b, a.Src)
	b = append(b, " > "...)
	return appendProcText(b, a.Dst)
}

// parseProcComment reads a comment appendProcComment wrote back into
// the processes' pids and names; ok is false for any other comment.
func parseProcComment(c []byte) (v render.PacketProcessV1, ok bool) {
	rest, ok := strings.CutPrefix(string(c), "process ")
	if !ok {
		return v, false
	}
	src, dst, ok := strings.Cut(rest, " > ")
	if !ok {
		return v, false
	}
	end := func(s string) (*render.ProcessV1, bool) {
		if s == "-" {
			return nil, true
		}
		i := strings.LastIndexByte(s, '/')
		if i < 0 {
			return nil, false
		}
		pid, err := strconv.Atoi(s[i+1:])
		if err != nil || pid <= 0 {
			return nil, false
		}
		return &render.ProcessV1{PID: pid, Name: s[:i]}, true
	}
	var ok1, ok2 bool
	v.Src, ok1 = end(src)
	v.Dst, ok2 = end(dst)
	return v, ok1 && ok2
}

// procV1 is a process in JSON, nil for none.
func procV1(p *procattr.Process) *render.ProcessV1 {
	if p == nil {
		return nil
	}
	return &render.ProcessV1{PID: p.PID, Name: p.Name, Cmdline: p.Cmdline, UID: p.UID, User: p.User, Container: p.Container, ContainerID: p.ContainerID}
}

// portRanges folds sorted, distinct ports into ranges.
func portRanges(ps []ports.Port) []ports.Range {
	var rs []ports.Range
	for _, p := range ps {
		if n := len(rs); n > 0 && rs[n-1].Last+1 == p {
			rs[n-1].Last = p
			continue
		}
		rs = append(rs, ports.Range{First: p, Last: p})
	}
	return rs
}
