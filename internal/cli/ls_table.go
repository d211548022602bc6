package cli

import (
	"io"
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/socktable"
)

// This file writes the socket table of ls straight from the sockets:
// the table path has no render.SocketV1 values (an address string and a
// peer per socket, which cost about half of a 50,000-socket listing's
// user time with the collector), and no render.Aligner buffering every
// formatted row. A first pass computes each column's width from the
// sockets (addresses and ports have bounded, computable lengths), the
// second formats each row once, padded, into a buffer written out in
// 64 KiB pieces. The output is byte for byte render.Aligner's over
// render.AppendSocketRow's rows (a test checks it).

// tableRow is what the table needs of one socket beyond the socket.
type tableRow struct {
	service string // "" for none
	svcPort uint16
	eph     bool
}

// socketTable is one table of ls: sorted sockets, their rows, and the
// detail line of a socket where -i asks for one.
type socketTable struct {
	v     *sockView
	procs bool
	socks []socktable.Socket
	// detail appends socks[i]'s detail line (without the newline), or
	// returns b unchanged for none; nil for no detail lines.
	detail func(b []byte, i int) []byte
}

// tableHeader is render.SocketHeader's cells.
var tableHeader = [...]string{"PROTO", "STATE", "LOCAL", "PEER", "SERVICE", "CLASS", "PROCESS"}

// write writes the table, with the ephemeral ports' legend after it when
// a port is marked, to w.
func (t *socketTable) write(w io.Writer) error {
	cols := 6
	if t.procs {
		cols = 7
	}
	// The last column is not padded, so its width does not matter.
	var width [7]int
	for c := 0; c < cols-1; c++ {
		width[c] = len(tableHeader[c])
	}
	rows := make([]tableRow, len(t.socks))
	marked := false
	for i := range t.socks {
		s := &t.socks[i]
		r := &rows[i]
		r.svcPort = t.v.servicePort(s)
		r.service = t.v.serviceName(s.Proto, r.svcPort)
		r.eph = t.v.ephemeral(s)
		marked = marked || r.eph
		cells := [6]int{
			len(s.Proto.String()),
			len(s.State.String()),
			addrPortLen(s.Local),
			1,
			max(len(r.service), 1),
			len(ports.Port(r.svcPort).Class().String()),
		}
		if r.eph {
			cells[2]++
		}
		if s.HasPeer() {
			cells[3] = addrPortLen(s.Remote)
		}
		for c := 0; c < cols-1; c++ {
			width[c] = max(width[c], cells[c])
		}
	}

	b := make([]byte, 0, 80<<10)
	flush := func() error {
		_, err := w.Write(b)
		b = b[:0]
		return err
	}
	// cell appends the cell that starts at start, padded for column c
	// unless it is the last.
	cell := func(start, c int) {
		if c == cols-1 {
			return
		}
		for pad := width[c] - (len(b) - start) + 2; pad > 0; pad-- {
			b = append(b, ' ')
		}
	}
	for c := 0; c < cols; c++ {
		start := len(b)
		b = append(b, tableHeader[c]...)
		cell(start, c)
	}
	b = append(b, '\n')
	for i := range t.socks {
		s := &t.socks[i]
		r := &rows[i]
		start := len(b)
		b = append(b, s.Proto.String()...)
		cell(start, 0)
		start = len(b)
		b = append(b, s.State.String()...)
		cell(start, 1)
		start = len(b)
		b = appendAddrPort(b, s.Local)
		if r.eph {
			b = append(b, '*')
		}
		cell(start, 2)
		start = len(b)
		if s.HasPeer() {
			b = appendAddrPort(b, s.Remote)
		} else {
			b = append(b, '*')
		}
		cell(start, 3)
		start = len(b)
		if r.service == "" {
			b = append(b, '-')
		} else {
			b = append(b, r.service...)
		}
		cell(start, 4)
		start = len(b)
		b = append(b, ports.Port(r.svcPort).Class().String()...)
		cell(start, 5)
		if t.procs {
			b = appendProcsCell(b, s.Procs, s.ProcsHidden)
		}
		b = append(b, '\n')
		if t.detail != nil {
			n := len(b)
			if b = t.detail(b, i); len(b) > n {
				b = append(b, '\n')
			}
		}
		if len(b) >= 64<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if marked {
		b = append(b, render.EphemeralLegend(t.v.host.Ephemeral.String())...)
		b = append(b, '\n')
	}
	return flush()
}

// appendAddrPort appends ap as render.AddrPortV1's String writes it:
// "addr:port", an IPv6 address (IPv4-mapped too) in brackets.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr()
	switch {
	case !a.IsValid():
		b = append(b, "invalid IP"...)
	case a.Is4():
		b = a.AppendTo(b)
	default:
		b = append(b, '[')
		b = a.AppendTo(b)
		b = append(b, ']')
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// addrPortLen is len(appendAddrPort(nil, ap)), computed without
// formatting an IPv4 address.
func addrPortLen(ap netip.AddrPort) int {
	a := ap.Addr()
	n := 1 + digits(uint64(ap.Port())) // ":port"
	if a.Is4() {
		b := a.As4()
		return n + 3 + digits(uint64(b[0])) + digits(uint64(b[1])) + digits(uint64(b[2])) + digits(uint64(b[3]))
	}
	var buf [64]byte
	return len(appendAddrPort(buf[:0], netip.AddrPortFrom(a, 0))) - 2 + n
}

// digits returns the number of decimal digits of n.
func digits(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// appendProcsCell appends render.ProcessesCell's text for ps: "name/pid"
// joined by ",", "(needs root)" when hidden and none was found, "-"
// when none.
func appendProcsCell(b []byte, ps []socktable.Process, hidden bool) []byte {
	if len(ps) == 0 {
		if hidden {
			return append(b, "(needs root)"...)
		}
		return append(b, '-')
	}
	for i := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ps[i].Name...)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(ps[i].PID), 10)
	}
	return b
}
