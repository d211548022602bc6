package tui

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portkit/ports"
	"github.com/portkit/ports/socktable"
)

// Pseudo process ids of the groups of sockets without a process.
const (
	pidNone   = 0  // no process holds them (TIME-WAIT, kernel sockets)
	pidHidden = -1 // held by processes this user cannot see
)

// group is a process and its sockets, or one of the pseudo groups.
type group struct {
	pid     int
	proc    *socktable.Process // nil for a pseudo group
	label   string             // the process name, or "(no process)"
	socks   []int32            // indexes into the snapshot's sockets, all of the process's
	listens int                // listeners among socks
	minPort int                // the lowest listening port; 1<<16 without
	rx, tx  float64            // bytes/s over the sockets with a rate
	rated   bool               // some socket has a rate
	hay     string             // lower-case text the filter searches
}

// rate is a socket's throughput in bytes per second.
type rate struct {
	rx, tx float64
	ok     bool
}

// rowKind tells a process row from a socket row.
type rowKind uint8

const (
	rowGroup rowKind = iota
	rowSock
)

// row is one line of the table.
type row struct {
	kind  rowKind
	depth uint8 // sockets: 1, or 2 for a connection under its listener
	g     int32 // index in groups
	s     int32 // index in the snapshot's sockets (rowSock)
	// For a group row: its listeners and other sockets that the view
	// shows (the filter and toggles apply to the counts too).
	listens, others int32
}

// sockKey names a socket across snapshots.
type sockKey struct {
	proto         ports.Proto
	local, remote netip.AddrPort
	inode         uint64
}

func keyOf(s *Socket) sockKey {
	return sockKey{s.Proto, s.Local, s.Remote, s.Inode}
}

// rowKey names a row across snapshots, to keep the cursor on it.
type rowKey struct {
	pid  int
	sock sockKey // zero for a process row
	ok   bool
}

// column is a sort column.
type column uint8

const (
	colProcess column = iota
	colProto
	colState
	colLocal
	colPeer
	colService
	colRX
	colTX
	numColumns
)

var columnNames = [numColumns]string{"PROCESS", "PROTO", "STATE", "LOCAL", "PEER", "SERVICE", "RX/s", "TX/s"}

func (c column) String() string { return columnNames[c] }

// byRate reports whether c sorts by throughput (largest first by default).
func (c column) byRate() bool { return c == colRX || c == colTX }

// buildGroups groups the snapshot's sockets by their first process.
func buildGroups(socks []Socket, rates []rate) []group {
	var groups []group
	index := map[int]int{}
	for i := range socks {
		s := &socks[i]
		pid := pidNone
		switch {
		case len(s.Procs) > 0:
			pid = s.Procs[0].PID
		case s.ProcsHidden:
			pid = pidHidden
		}
		gi, ok := index[pid]
		if !ok {
			gi = len(groups)
			index[pid] = gi
			g := group{pid: pid, minPort: 1 << 16}
			switch pid {
			case pidNone:
				g.label = "(no process)"
			case pidHidden:
				g.label = "(needs root)"
			default:
				g.proc = &s.Procs[0]
				g.label = s.Procs[0].Name
				if g.label == "" {
					g.label = "pid " + strconv.Itoa(pid)
				}
			}
			g.hay = strings.ToLower(g.label + " " + strconv.Itoa(pid))
			if g.proc != nil && g.proc.User != "" {
				g.hay += " " + strings.ToLower(g.proc.User)
			}
			groups = append(groups, g)
		}
		g := &groups[gi]
		g.socks = append(g.socks, int32(i))
		if s.IsListener() {
			g.listens++
			g.minPort = min(g.minPort, int(s.Local.Port()))
		}
		if r := rates[i]; r.ok {
			g.rx += r.rx
			g.tx += r.tx
			g.rated = true
		}
	}
	return groups
}

// view is what the table shows: the toggles, the filter and the sort.
type view struct {
	listenOnly bool
	proto      ports.Proto // ProtoTCP or ProtoUDP; anything else: both
	family     int         // 4 or 6; anything else: both
	filter     []string    // lower-case terms, all of which must match
	sort       column
	desc       bool
	collapsed  map[int]bool // by pid
}

// shows reports whether s passes the toggles.
func (v *view) shows(s *Socket) bool {
	if v.listenOnly && !s.IsListener() {
		return false
	}
	if (v.proto == ports.ProtoTCP || v.proto == ports.ProtoUDP) && s.Proto != v.proto {
		return false
	}
	switch v.family {
	case 4:
		return !s.Local.Addr().Is6() || s.Local.Addr().Is4In6()
	case 6:
		return s.Local.Addr().Is6() && !s.Local.Addr().Is4In6()
	}
	return true
}

// sockHay is the lower-case text of s that the filter searches: protocol,
// state, addresses, ports, service and class.
func sockHay(s *Socket) string {
	b := make([]byte, 0, 96)
	b = append(b, s.Proto.String()...)
	b = append(b, ' ')
	b = append(b, strings.ToLower(s.State.String())...)
	b = append(b, ' ')
	b = s.Local.AppendTo(b)
	if s.HasPeer() {
		b = append(b, ' ')
		b = s.Remote.AppendTo(b)
	}
	b = append(b, ' ')
	b = append(b, strings.ToLower(s.Service)...)
	b = append(b, ' ')
	b = append(b, s.Class...)
	return string(b)
}

// matches reports whether every filter term is in the socket's text or
// its process's.
func matches(terms []string, sock, proc string) bool {
	for _, t := range terms {
		if !strings.Contains(sock, t) && !strings.Contains(proc, t) {
			return false
		}
	}
	return true
}

// compareSocks orders two sockets by column c, ascending (descending
// with sign -1); ties go by local port and address, then the peer, then
// the inode, always ascending.
func compareSocks(c column, sign int, a, b *Socket, ra, rb rate) int {
	var r int
	switch c {
	case colProto:
		r = cmp.Compare(a.Proto, b.Proto)
	case colState:
		r = strings.Compare(a.State.String(), b.State.String())
	case colPeer:
		r = a.Remote.Compare(b.Remote)
	case colService:
		r = strings.Compare(a.Service, b.Service)
	case colRX:
		r = cmp.Compare(ra.rx, rb.rx)
	case colTX:
		r = cmp.Compare(ra.tx, rb.tx)
	}
	if r != 0 {
		return sign * r
	}
	return cmp.Or(
		cmp.Compare(a.Local.Port(), b.Local.Port()),
		a.Local.Addr().Compare(b.Local.Addr()),
		cmp.Compare(a.Proto, b.Proto),
		a.Remote.Compare(b.Remote),
		cmp.Compare(a.Inode, b.Inode),
	)
}

// compareGroups orders two groups by column c, ascending (descending
// with sign -1): by name for PROCESS, by total throughput for RX and TX,
// otherwise by the lowest listening port (processes that do not listen
// last). Ties go by name and pid, ascending.
func compareGroups(c column, sign int, a, b *group) int {
	var r int
	switch c {
	case colProcess:
		r = strings.Compare(strings.ToLower(a.label), strings.ToLower(b.label))
	case colRX:
		r = cmp.Compare(a.rx, b.rx)
	case colTX:
		r = cmp.Compare(a.tx, b.tx)
	default:
		r = cmp.Compare(a.minPort, b.minPort)
	}
	return cmp.Or(sign*r, strings.Compare(a.label, b.label), cmp.Compare(a.pid, b.pid))
}

// buildRows lays out the table: the groups in order, each followed (unless
// folded) by its listeners, each listener by the connections on its port,
// then the group's other sockets. A group shows when one of its sockets
// passes the toggles and the filter; a filter term may match the process
// (name, pid, user) or the socket.
func buildRows(v *view, socks []Socket, rates []rate, groups []group, hay func(i int32) string) []row {
	sign := 1
	if v.desc {
		sign = -1
	}
	order := make([]int32, len(groups))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ga, gb := &groups[a], &groups[b]
		// The pseudo groups come last, except by throughput.
		if pa, pb := ga.pid <= 0, gb.pid <= 0; pa != pb && !v.sort.byRate() {
			if pa {
				return 1
			}
			return -1
		}
		return compareGroups(v.sort, sign, ga, gb)
	})
	sockCmp := func(a, b int32) int {
		return compareSocks(v.sort, sign, &socks[a], &socks[b], rates[a], rates[b])
	}
	var rows []row
	var shown, listeners, others []int32
	for _, gi := range order {
		g := &groups[gi]
		shown = shown[:0]
		for _, si := range g.socks {
			if v.shows(&socks[si]) && (len(v.filter) == 0 || matches(v.filter, hay(si), g.hay)) {
				shown = append(shown, si)
			}
		}
		if len(shown) == 0 {
			continue
		}
		gr := row{kind: rowGroup, g: gi}
		for _, si := range shown {
			if socks[si].IsListener() {
				gr.listens++
			} else {
				gr.others++
			}
		}
		rows = append(rows, gr)
		if v.collapsed[g.pid] {
			continue
		}
		listeners, others = listeners[:0], others[:0]
		for _, si := range shown {
			if socks[si].IsListener() {
				listeners = append(listeners, si)
			} else {
				others = append(others, si)
			}
		}
		slices.SortFunc(listeners, sockCmp)
		slices.SortFunc(others, sockCmp)
		// A connection goes under the first listener on its protocol and
		// local port: it is that server's accepted connection.
		type lkey struct {
			proto ports.Proto
			port  uint16
		}
		under := map[lkey][]int32{}
		if len(listeners) > 0 {
			lports := map[lkey]bool{}
			for _, li := range listeners {
				lports[lkey{socks[li].Proto, socks[li].Local.Port()}] = true
			}
			rest := others[:0]
			for _, si := range others {
				k := lkey{socks[si].Proto, socks[si].Local.Port()}
				if lports[k] {
					under[k] = append(under[k], si)
				} else {
					rest = append(rest, si)
				}
			}
			others = rest
		}
		for _, li := range listeners {
			rows = append(rows, row{kind: rowSock, depth: 1, g: gi, s: li})
			k := lkey{socks[li].Proto, socks[li].Local.Port()}
			for _, si := range under[k] {
				rows = append(rows, row{kind: rowSock, depth: 2, g: gi, s: si})
			}
			delete(under, k)
		}
		for _, si := range others {
			rows = append(rows, row{kind: rowSock, depth: 1, g: gi, s: si})
		}
	}
	return rows
}

// computeRates works out each socket's throughput from the counters of
// this snapshot and the previous one (prev: by inode, rx then tx; dt in
// seconds). A socket missing from prev is new since then and counts from
// zero; there are no rates when prev is nil (the first snapshot). It
// returns the rates and this snapshot's counters, written into next.
func computeRates(socks []Socket, prev, next map[uint64][2]uint64, dt float64) []rate {
	rates := make([]rate, len(socks))
	for i := range socks {
		s := &socks[i]
		if !s.HasCounters || s.Inode == 0 {
			continue
		}
		next[s.Inode] = [2]uint64{s.BytesReceived, s.BytesAcked}
		if prev == nil || dt <= 0 {
			continue
		}
		p := prev[s.Inode]
		if p[0] > s.BytesReceived || p[1] > s.BytesAcked {
			p = [2]uint64{} // not the same socket: a reused inode
		}
		rates[i] = rate{rx: float64(s.BytesReceived-p[0]) / dt, tx: float64(s.BytesAcked-p[1]) / dt, ok: true}
	}
	return rates
}

// stateOrder is the order of the totals per state.
var stateOrder = []socktable.State{
	socktable.StateListen, socktable.StateClose, socktable.StateEstablished,
	socktable.StateSynSent, socktable.StateSynRecv, socktable.StateNewSynRecv,
	socktable.StateFinWait1, socktable.StateFinWait2, socktable.StateCloseWait,
	socktable.StateClosing, socktable.StateLastAck, socktable.StateTimeWait,
}

// ephemeralUse counts the distinct local ports of each protocol that the
// kernel picked from the ephemeral range.
func ephemeralUse(socks []Socket) (tcp, udp int) {
	type pk struct {
		proto ports.Proto
		port  uint16
	}
	seen := map[pk]bool{}
	for i := range socks {
		s := &socks[i]
		if !s.Ephemeral {
			continue
		}
		k := pk{s.Proto, s.Local.Port()}
		if seen[k] {
			continue
		}
		seen[k] = true
		if s.Proto == ports.ProtoUDP {
			udp++
		} else {
			tcp++
		}
	}
	return tcp, udp
}
