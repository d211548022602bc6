package tui

import (
	"fmt"
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/portkit/ports"
)

// maxDetailSockets caps the list of a process's sockets in the pane.
const maxDetailSockets = 200

// detailRow returns the group and socket (nil for a process row) that the
// detail pane is about, as they are in the current snapshot.
func (m *Model) detailRow() (*group, *Socket) {
	k := m.detailKey
	for gi := range m.groups {
		g := &m.groups[gi]
		if g.pid != k.pid {
			continue
		}
		if k.sock == (sockKey{}) {
			return g, nil
		}
		for _, si := range g.socks {
			if keyOf(&m.snap.Sockets[si]) == k.sock {
				return g, &m.snap.Sockets[si]
			}
		}
		return g, nil
	}
	return nil, nil
}

// openDetail fills the pane and asks for the `ports info` text of the
// socket's well-known port (a process: its lowest listening port).
func (m *Model) openDetail() tea.Cmd {
	m.infoText = ""
	m.detailPort = ""
	g, s := m.detailRow()
	var proto ports.Proto
	var port uint16
	switch {
	case s != nil:
		proto, port = s.Proto, s.ServicePort
	case g != nil:
		for _, si := range g.socks {
			if t := &m.snap.Sockets[si]; t.IsListener() && int(t.Local.Port()) == g.minPort {
				proto, port = t.Proto, t.Local.Port()
				break
			}
		}
	}
	var cmd tea.Cmd
	if port != 0 && m.cfg.Info != nil {
		key := strconv.Itoa(int(port)) + "/" + proto.String()
		m.detailPort = key
		info, ctx := m.cfg.Info, m.ctx
		cmd = func() tea.Msg {
			text, err := info(ctx, proto, port)
			return infoMsg{key, text, err}
		}
	}
	m.setDetail()
	return cmd
}

// setDetail lays out the pane's text for the current snapshot.
func (m *Model) setDetail() {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	g, s := m.detailRow()
	if g == nil {
		line("This process has no sockets any more.")
	}
	if s == nil && m.detailKey.sock != (sockKey{}) && g != nil {
		line("This socket has closed.\n")
	}
	if s != nil {
		peer := "(no peer)"
		if s.HasPeer() {
			peer = "peer " + s.Remote.String()
		}
		line("Socket     %s %s %s, %s", s.Proto, s.State, s.Local, peer)
		svc := s.Service
		if svc == "" {
			svc = "no registered service"
		}
		line("Service    port %d: %s (%s)", s.ServicePort, svc, s.Class)
		if s.Ephemeral {
			line("           the local port was picked by the kernel from the ephemeral range")
		}
		if r := m.rateOf(s); r.ok {
			line("Throughput received %s/s, sent %s/s", formatBytes(r.rx)+"B", formatBytes(r.tx)+"B")
		}
		if s.HasCounters {
			line("Bytes      received %sB, sent and acknowledged %sB", formatBytes(float64(s.BytesReceived)), formatBytes(float64(s.BytesAcked)))
		}
		if s.Inode != 0 {
			line("Inode      %d (uid %d)", s.Inode, s.UID)
		}
		if len(s.Procs) > 1 {
			var others []string
			for _, p := range s.Procs[1:] {
				others = append(others, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
			}
			line("Shared     with %s", strings.Join(others, ", "))
		}
		line("")
	}
	if g != nil {
		switch {
		case g.proc != nil:
			p := g.proc
			line("Process    %s (pid %d)", p.Name, p.PID)
			user := p.User
			if user == "" {
				user = "?"
			}
			line("User       %s (uid %d)", user, p.UID)
			if len(p.Cmdline) > 0 {
				line("Command    %s", strings.Join(p.Cmdline, " "))
			} else {
				line("Command    (unreadable)")
			}
			if p.Container != "" {
				line("Container  %s %s", p.Container, p.ContainerID)
			}
		case g.pid == pidHidden:
			line("Process    another user's: run ports top as root to see it")
		default:
			line("Process    none (TIME-WAIT sockets, kernel sockets, or a process in another PID namespace)")
		}
		if g.rated {
			line("Throughput received %sB/s, sent %sB/s over all its sockets", formatBytes(g.rx), formatBytes(g.tx))
		}
		line("")
		title := "Its sockets"
		if s != nil {
			title = "Its other sockets"
		}
		n := len(g.socks)
		if s != nil {
			n--
		}
		line("%s (%d):", title, n)
		shown := 0
		for _, si := range g.socks {
			t := &m.snap.Sockets[si]
			if t == s {
				continue
			}
			if shown == maxDetailSockets {
				line("  … and %d more", n-shown)
				break
			}
			shown++
			peer := "*"
			if t.HasPeer() {
				peer = t.Remote.String()
			}
			svc := t.Service
			if svc == "" {
				svc = "-"
			}
			rates := ""
			if r := m.rates[si]; r.ok {
				rates = fmt.Sprintf("  RX %s/s TX %s/s", formatBytes(r.rx), formatBytes(r.tx))
			}
			line("  %-4s %-11s %-22s %-22s %s%s", t.Proto, t.State, t.Local, peer, svc, rates)
		}
		line("")
	}
	if m.detailPort != "" {
		line("ports info %s", m.detailPort)
		if m.infoText == "" {
			line("  …")
		} else {
			b.WriteString(strings.TrimRight(m.infoText, "\n") + "\n")
		}
	}
	text := strings.TrimRight(b.String(), "\n")
	if m.width > 0 {
		text = ansi.Wrap(text, m.width, "")
	}
	m.detail.SetContent(text)
}

// rateOf returns the throughput of s, a socket of the current snapshot.
func (m *Model) rateOf(s *Socket) rate {
	socks := m.snap.Sockets
	for i := range socks {
		if &socks[i] == s {
			return m.rates[i]
		}
	}
	return rate{}
}

// detailView is the detail pane: a title, the text, and where it is.
func (m *Model) detailView() string {
	title := m.st.header.Render(fit("details · ↑↓ pgup pgdn scroll · esc back · q quit", m.width, false))
	pos := fmt.Sprintf("%d%%", int(m.detail.ScrollPercent()*100+0.5))
	if m.detail.TotalLineCount() <= m.detail.Height {
		pos = ""
	}
	return title + "\n" + m.detail.View() + "\n" + m.st.dim.Render(fitRight(pos, m.width))
}
