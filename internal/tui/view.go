package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/portkit/ports"
	"github.com/portkit/ports/socktable"
)

// The screen: headerLines above the table (title, totals per state,
// ephemeral bar, column header), footerLines below (status, keys).
const (
	headerLines = 4
	footerLines = 2
)

type styles struct {
	title, header, group, selected, dim, listen, warn, bar, err lipgloss.Style
}

func newStyles() styles {
	return styles{
		title:    lipgloss.NewStyle().Bold(true),
		header:   lipgloss.NewStyle().Reverse(true),
		group:    lipgloss.NewStyle().Bold(true),
		selected: lipgloss.NewStyle().Reverse(true).Bold(true),
		dim:      lipgloss.NewStyle().Faint(true),
		listen:   lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		warn:     lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		bar:      lipgloss.NewStyle().Foreground(lipgloss.Color("6")),
		err:      lipgloss.NewStyle().Foreground(lipgloss.Color("1")),
	}
}

// fit pads or cuts s to exactly w cells: cut on the right, or with
// keepRight on the left (for addresses, whose port matters most).
func fit(s string, w int, keepRight bool) string {
	if w <= 0 {
		return ""
	}
	n := ansi.StringWidth(s)
	switch {
	case n > w && keepRight:
		return ansi.TruncateLeft(s, n-w+1, "…")
	case n > w:
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-n)
}

// fitRight right-aligns s in w cells.
func fitRight(s string, w int) string {
	n := ansi.StringWidth(s)
	if n >= w {
		return fit(s, w, false)
	}
	return strings.Repeat(" ", w-n) + s
}

// layout is the width of each column for a screen width.
type layout struct {
	indent, proto, state, local, peer, service, class, rate int
}

func layoutFor(width int) layout {
	// STATE fits all but NEW-SYN-RECV, which is rare and cut; a rate
	// takes 5 cells ("12.3k") and its header 5 ("RX/s▼").
	l := layout{indent: 4, proto: 5, state: 11, service: 8, class: 0, rate: 6}
	if width >= 100 {
		l.service, l.class = 12, 7
	}
	// Columns are separated by one space; the rest goes to the addresses.
	fixed := l.indent + l.proto + 1 + l.state + 1 + 1 + 1 + l.service + 1 + 2*l.rate + 1
	if l.class > 0 {
		fixed += l.class + 1
	}
	rest := max(width-fixed, 20)
	l.local = rest / 2
	l.peer = rest - l.local
	return l
}

// View renders the screen.
func (m *Model) View() string {
	if m.width == 0 || m.height == 0 {
		return ""
	}
	switch m.mode {
	case modeDetail:
		return m.detailView()
	case modeHelp:
		return m.helpView()
	}
	lines := make([]string, 0, m.height)
	lines = append(lines, m.titleLine(), m.statesLine(), m.ephemeralLine(), m.headerLine())
	h := m.tableHeight()
	l := layoutFor(m.width)
	for i := m.offset; i < len(m.rows) && i < m.offset+h; i++ {
		lines = append(lines, m.rowLine(i, l))
	}
	if len(m.rows) == 0 {
		switch {
		case m.snap == nil && m.err == nil:
			lines = append(lines, m.st.dim.Render("reading sockets…"))
		case m.snap != nil:
			lines = append(lines, m.st.dim.Render(fit("no socket matches (esc clears the filter, l shows all states)", m.width, false)))
		}
	}
	for len(lines) < m.height-footerLines {
		lines = append(lines, "")
	}
	lines = append(lines, m.statusLine(), m.footerLine())
	return strings.Join(lines[:min(len(lines), m.height)], "\n")
}

func (m *Model) titleLine() string {
	left := "ports top"
	if m.cfg.Title != "" {
		left += " · " + m.cfg.Title
	}
	left += " · every " + m.interval.String()
	right := ""
	if m.snap != nil {
		right = fmt.Sprintf("%d sockets: tcp %d, udp %d · %s", m.nTCP+m.nUDP, m.nTCP, m.nUDP, m.snap.Time.Format("15:04:05"))
	}
	gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 1 {
		return m.st.title.Render(fit(left+" "+right, m.width, false))
	}
	return m.st.title.Render(left) + strings.Repeat(" ", gap) + right
}

// statesLine is the totals per state, over all the machine's sockets.
func (m *Model) statesLine() string {
	if m.snap == nil {
		return ""
	}
	var parts []string
	for _, s := range stateOrder {
		if n := m.stateCounts[s&15]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	if len(parts) == 0 {
		return fit("no sockets", m.width, false)
	}
	return fit(strings.Join(parts, "  "), m.width, false)
}

// ephemeralLine is the share of the ephemeral range in use, as a bar.
func (m *Model) ephemeralLine() string {
	if m.snap == nil {
		return ""
	}
	r := m.snap.Ephemeral
	if r.First == 0 && r.Last == 0 {
		return fit("ephemeral range: unknown here", m.width, false)
	}
	tcp, udp := m.ephTCP, m.ephUDP
	size := r.Len()
	pct := 100 * float64(tcp) / float64(size)
	label := fmt.Sprintf("ephemeral %s ", r)
	tail := fmt.Sprintf(" %s tcp (%d of %d ports), udp %d", percent(pct), tcp, size, udp)
	barW := m.width - ansi.StringWidth(label) - ansi.StringWidth(tail) - 2
	if barW < 10 {
		tail = " " + percent(pct)
		barW = m.width - ansi.StringWidth(label) - ansi.StringWidth(tail) - 2
	}
	if barW < 4 {
		return fit(label+tail, m.width, false)
	}
	st := m.st.bar
	if pct >= 80 {
		st = m.st.warn
	}
	return label + "[" + st.Render(fillBar(tcp, size, barW)) + "]" + tail
}

// percent prints a share as "12.3%", and one too small to show at that
// precision as "<0.1%", so that a range in use never reads as empty.
func percent(pct float64) string {
	if pct > 0 && pct < 0.05 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", pct)
}

// partialBlocks are the left-aligned eighths of a cell, from one eighth
// to a full block.
var partialBlocks = []string{"▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"}

// fillBar draws used of size as a bar width cells wide, in eighths of a
// cell, padded with dots: at least one eighth when used > 0, so that a
// little use shows as a sliver, never as a full block.
func fillBar(used, size, width int) string {
	eighths := 0
	if size > 0 {
		eighths = int(float64(8*width)*float64(used)/float64(size) + 0.5)
	}
	if used > 0 {
		eighths = max(eighths, 1)
	}
	eighths = min(eighths, 8*width)
	full, part := eighths/8, eighths%8
	var b strings.Builder
	b.WriteString(strings.Repeat("█", full))
	cells := full
	if part > 0 {
		b.WriteString(partialBlocks[part-1])
		cells++
	}
	b.WriteString(strings.Repeat("·", width-cells))
	return b.String()
}

func (m *Model) headerLine() string {
	l := layoutFor(m.width)
	name := func(c column, w int, right bool) string {
		s := c.String()
		if m.v.sort == c {
			if m.v.desc {
				s += "▼"
			} else {
				s += "▲"
			}
		}
		if right {
			return fitRight(s, w)
		}
		return fit(s, w, false)
	}
	var b strings.Builder
	b.WriteString(fit("", l.indent, false))
	b.WriteString(name(colProto, l.proto, false) + " ")
	b.WriteString(name(colState, l.state, false) + " ")
	b.WriteString(name(colLocal, l.local, false) + " ")
	b.WriteString(name(colPeer, l.peer, false) + " ")
	b.WriteString(name(colService, l.service, false) + " ")
	if l.class > 0 {
		b.WriteString(fit("CLASS", l.class, false) + " ")
	}
	b.WriteString(name(colRX, l.rate, true) + " ")
	b.WriteString(name(colTX, l.rate, true))
	return m.st.header.Render(fit(b.String(), m.width, false))
}

// formatBytes writes a number of bytes (per second) in 5 cells at most:
// 950, 12.3k, 456k, 4.5M, 1.2G.
func formatBytes(v float64) string {
	switch {
	case v < 999.5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 9.95e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case v < 999.5e3:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case v < 9.95e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case v < 999.5e6:
		return strconv.FormatFloat(v/1e6, 'f', 0, 64) + "M"
	}
	return strconv.FormatFloat(v/1e9, 'f', 1, 64) + "G"
}

// rowLine renders row i.
func (m *Model) rowLine(i int, l layout) string {
	r := m.rows[i]
	selected := i == m.cursor
	if r.kind == rowGroup {
		line := m.groupText(&m.groups[r.g], r, l)
		if selected {
			return m.st.selected.Render(line)
		}
		return m.st.group.Render(line)
	}
	s := &m.snap.Sockets[r.s]
	rt := m.rates[r.s]
	indent := "  "
	if r.depth > 1 {
		indent = "  └ "
	}
	local := s.Local.String()
	if s.Ephemeral {
		local += "*"
	}
	peer := "*"
	if s.HasPeer() {
		peer = s.Remote.String()
	}
	svc := s.Service
	if svc == "" {
		svc = "-"
	}
	state := fit(s.State.String(), l.state, false)
	var b strings.Builder
	b.WriteString(fit(indent, l.indent, false))
	b.WriteString(fit(s.Proto.String(), l.proto, false) + " ")
	stateAt := b.Len()
	b.WriteString(state + " ")
	b.WriteString(fit(local, l.local, true) + " ")
	b.WriteString(fit(peer, l.peer, true) + " ")
	b.WriteString(fit(svc, l.service, false) + " ")
	if l.class > 0 {
		b.WriteString(fit(s.Class, l.class, false) + " ")
	}
	rx, tx := "", ""
	if rt.ok {
		rx, tx = formatBytes(rt.rx), formatBytes(rt.tx)
	}
	b.WriteString(fitRight(rx, l.rate) + " ")
	b.WriteString(fitRight(tx, l.rate))
	line := fit(b.String(), m.width, false)
	if selected {
		return m.st.selected.Render(line)
	}
	// Colour the state cell: listeners green, closing states yellow,
	// TIME-WAIT faint.
	var st *lipgloss.Style
	switch s.State {
	case socktable.StateListen:
		st = &m.st.listen
	case socktable.StateCloseWait, socktable.StateFinWait1, socktable.StateFinWait2, socktable.StateLastAck, socktable.StateClosing:
		st = &m.st.warn
	case socktable.StateTimeWait:
		st = &m.st.dim
	}
	if st == nil || s.Proto == ports.ProtoUDP || stateAt+len(state) > len(line) {
		return line
	}
	return line[:stateAt] + st.Render(state) + line[stateAt+len(state):]
}

// groupText is a process row: fold marker, name, pid, user, the counts
// of its sockets that the view shows, and the total throughput under the
// RX and TX columns.
func (m *Model) groupText(g *group, r row, l layout) string {
	mark := "▾ "
	if m.v.collapsed[g.pid] {
		mark = "▸ "
	}
	text := mark + g.label
	if g.proc != nil {
		text += "  " + strconv.Itoa(g.pid)
		if g.proc.User != "" {
			text += "  " + g.proc.User
		}
		if g.proc.Container != "" {
			text += "  [" + g.proc.Container + "]"
		}
	}
	conns := r.others
	switch {
	case r.listens > 0 && conns > 0:
		text += fmt.Sprintf("  · %d listening, %d other", r.listens, conns)
	case r.listens > 0:
		text += fmt.Sprintf("  · %d listening", r.listens)
	case conns == 1:
		text += "  · 1 socket"
	default:
		text += fmt.Sprintf("  · %d sockets", conns)
	}
	rx, tx := "", ""
	if g.rated {
		rx, tx = formatBytes(g.rx), formatBytes(g.tx)
	}
	rates := " " + fitRight(rx, l.rate) + " " + fitRight(tx, l.rate)
	return fit(text, max(m.width-len(rates), 0), false) + rates
}

// statusLine shows the filter being typed, the kill question, a message,
// or the toggles.
func (m *Model) statusLine() string {
	switch {
	case m.mode == modeFilter:
		return fit(m.filter.View(), m.width, false)
	case m.mode == modeConfirm:
		return m.st.warn.Render(fit(fmt.Sprintf("Send %s to %s? [y/N]", m.signal(), m.target.describe()), m.width, false))
	case m.message != "":
		return fit(m.message, m.width, false)
	case m.err != nil:
		return m.st.err.Render(fit("refresh failed: "+m.err.Error(), m.width, false))
	}
	var parts []string
	if m.v.listenOnly {
		parts = append(parts, "listening")
	} else {
		parts = append(parts, "all states")
	}
	switch m.v.proto {
	case ports.ProtoTCP:
		parts = append(parts, "tcp only")
	case ports.ProtoUDP:
		parts = append(parts, "udp only")
	}
	switch m.v.family {
	case 4:
		parts = append(parts, "ipv4 only")
	case 6:
		parts = append(parts, "ipv6 only")
	}
	if len(m.v.filter) > 0 {
		parts = append(parts, fmt.Sprintf("filter %q", strings.Join(m.v.filter, " ")))
	}
	dir := "▲"
	if m.v.desc {
		dir = "▼"
	}
	parts = append(parts, "sort "+m.v.sort.String()+dir)
	if m.snap != nil && !m.snap.Counters && m.snap.CountersNote != "" {
		parts = append(parts, m.snap.CountersNote)
	}
	if n := len(m.rows); n > 0 {
		parts = append(parts, fmt.Sprintf("row %d of %d", m.cursor+1, n))
	}
	return m.st.dim.Render(fit(strings.Join(parts, " · "), m.width, false))
}

func (m *Model) footerLine() string {
	return fit(m.help.ShortHelpView(m.keys.ShortHelp()), m.width, false)
}

// helpView is the `?` screen.
func (m *Model) helpView() string {
	var b strings.Builder
	b.WriteString(m.st.title.Render("ports top: keys") + "\n\n")
	h := m.help
	h.ShowAll = true
	b.WriteString(h.FullHelpView(m.keys.FullHelp()))
	b.WriteString("\n\n")
	b.WriteString(`The filter keeps sockets whose protocol, state, addresses, ports,
service or process (name, pid, user) contain every word typed; ":8080"
matches port 8080. RX/s and TX/s are bytes per second received and sent
(acknowledged), per socket and per process.

Any key goes back.`)
	lines := strings.Split(b.String(), "\n")
	for i := range lines {
		lines[i] = fit(lines[i], m.width, false)
	}
	for len(lines) < m.height {
		lines = append(lines, "")
	}
	return strings.Join(lines[:m.height], "\n")
}
