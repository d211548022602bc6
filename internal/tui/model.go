package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/portkit/ports"
)

// mode is what the screen shows.
type mode uint8

const (
	modeTable   mode = iota
	modeFilter       // the table, typing into the filter
	modeConfirm      // the table, asking whether to kill
	modeDetail       // the detail pane
	modeHelp         // the keys
)

// Messages.
type (
	// snapshotMsg is a refresh's result.
	snapshotMsg struct {
		snap *Snapshot
		err  error
	}
	// tickMsg asks for a refresh; gen tells stale ticks apart.
	tickMsg struct{ gen int }
	// infoMsg is the `ports info` text for the detail pane.
	infoMsg struct {
		key  string
		text string
		err  error
	}
	// killMsg is the result of signalling a process.
	killMsg struct {
		target killTarget
		err    error
	}
)

// killTarget is the process `k` would signal.
type killTarget struct {
	pid   int
	name  string
	where []string // "0.0.0.0:80/tcp"
}

func (t killTarget) describe() string {
	return fmt.Sprintf("%s (pid %d, listening on %s)", t.name, t.pid, strings.Join(t.where, ", "))
}

// Model is the state of `ports top`. Its pointer is a tea.Model.
type Model struct {
	cfg      Config
	ctx      context.Context
	interval time.Duration
	keys     keyMap
	help     help.Model
	st       styles

	width, height int

	// The data: the last snapshot, its throughput and groups.
	snap     *Snapshot
	rates    []rate
	groups   []group
	hay      []string // the sockets' filter text, made when first needed
	prev     map[uint64][2]uint64
	spare    map[uint64][2]uint64
	prevTime time.Time
	err      error // the last refresh's error
	// Totals of the snapshot, for the header.
	stateCounts    [16]int
	nTCP, nUDP     int
	ephTCP, ephUDP int
	// Refreshes: one at a time; a tick of an older generation is stale.
	fetching bool
	gen      int

	// The table.
	v      view
	rows   []row
	cursor int
	offset int // the first row on screen
	sel    rowKey

	mode    mode
	filter  lineInput
	target  killTarget // modeConfirm
	message string     // shown once in the status line

	// The detail pane.
	detail     viewport.Model
	detailKey  rowKey
	detailPort string // "80/tcp": the port whose info is shown
	infoText   string
}

// New returns the model for cfg.
func New(cfg Config) *Model {
	m := &Model{
		cfg:      cfg,
		ctx:      cfg.Context,
		interval: cfg.Interval,
		keys:     newKeyMap(),
		help:     help.New(),
		st:       newStyles(),
		spare:    map[uint64][2]uint64{},
	}
	if m.ctx == nil {
		m.ctx = context.Background()
	}
	if m.interval <= 0 {
		m.interval = DefaultInterval
	}
	m.v = view{listenOnly: cfg.ListenOnly, proto: cfg.Proto, family: cfg.Family, sort: colLocal, collapsed: map[int]bool{}}
	if m.cfg.Kill == nil {
		m.keys.Kill.SetEnabled(false)
	}
	m.filter = lineInput{Prompt: "/", Placeholder: "port, process, address or state"}
	m.filter.SetValue(cfg.Filter)
	m.v.filter = strings.Fields(strings.ToLower(cfg.Filter))
	m.detail = viewport.New(0, 0)
	return m
}

// Init starts the first refresh.
func (m *Model) Init() tea.Cmd { return m.fetch() }

// fetch takes a snapshot in the background.
func (m *Model) fetch() tea.Cmd {
	m.fetching = true
	src, ctx := m.cfg.Source, m.ctx
	return func() tea.Msg {
		snap, err := src.Snapshot(ctx)
		return snapshotMsg{snap, err}
	}
}

// tick schedules the next refresh.
func (m *Model) tick() tea.Cmd {
	gen := m.gen
	return tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{gen} })
}

// refreshNow refreshes at once (after a kill), unless a refresh runs.
func (m *Model) refreshNow() tea.Cmd {
	if m.fetching {
		return nil
	}
	m.gen++ // the pending tick is stale
	return m.fetch()
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.filter.Width = max(msg.Width-3, 1)
		m.detail.Width, m.detail.Height = msg.Width, max(msg.Height-2, 1)
		m.scroll()
		if m.mode == modeDetail {
			m.setDetail() // wrapped for the new width
		}
		return m, nil
	case snapshotMsg:
		m.fetching = false
		if msg.err != nil {
			m.err = msg.err
		} else if msg.snap != nil {
			m.err = nil
			m.setSnapshot(msg.snap)
		}
		if m.mode == modeDetail {
			m.setDetail()
		}
		return m, m.tick()
	case tickMsg:
		if msg.gen != m.gen || m.fetching {
			return m, nil
		}
		return m, m.fetch()
	case infoMsg:
		if m.mode == modeDetail && msg.key == m.detailPort {
			m.infoText = msg.text
			if msg.err != nil {
				m.infoText = "ports info: " + msg.err.Error()
			}
			m.setDetail()
		}
		return m, nil
	case killMsg:
		if msg.err != nil {
			m.message = fmt.Sprintf("%s (pid %d): %v", msg.target.name, msg.target.pid, msg.err)
		} else {
			m.message = fmt.Sprintf("sent %s to %s (pid %d)", m.signal(), msg.target.name, msg.target.pid)
		}
		return m, m.refreshNow()
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

// setSnapshot takes in a new snapshot: rates, groups, rows.
func (m *Model) setSnapshot(snap *Snapshot) {
	var prev map[uint64][2]uint64
	dt := 0.0
	if m.snap != nil && m.snap.Counters && snap.Counters {
		prev = m.prev
		dt = snap.Time.Sub(m.prevTime).Seconds()
	}
	next := m.spare
	clear(next)
	m.rates = computeRates(snap.Sockets, prev, next, dt)
	m.prev, m.spare = next, m.prev
	if m.spare == nil {
		m.spare = map[uint64][2]uint64{}
	}
	m.prevTime = snap.Time
	m.snap = snap
	m.groups = buildGroups(snap.Sockets, m.rates)
	m.stateCounts = [16]int{}
	m.nTCP, m.nUDP = 0, 0
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		m.stateCounts[s.State&15]++
		if s.Proto == ports.ProtoUDP {
			m.nUDP++
		} else {
			m.nTCP++
		}
	}
	m.ephTCP, m.ephUDP = ephemeralUse(snap.Sockets)
	m.hay = nil
	m.rebuild()
}

// sockHayAt returns socket i's filter text, making them all on first use.
func (m *Model) sockHayAt(i int32) string {
	if m.hay == nil {
		m.hay = make([]string, len(m.snap.Sockets))
		for j := range m.snap.Sockets {
			m.hay[j] = sockHay(&m.snap.Sockets[j])
		}
	}
	return m.hay[i]
}

// rebuild lays out the rows again and keeps the cursor on its row.
func (m *Model) rebuild() {
	if m.snap == nil {
		return
	}
	m.rows = buildRows(&m.v, m.snap.Sockets, m.rates, m.groups, m.sockHayAt)
	m.cursor = m.find(m.sel)
	m.scroll()
	m.remember()
}

// find returns the index of the row with key k: that row, its process's
// row if the socket is gone, or the cursor's old place.
func (m *Model) find(k rowKey) int {
	if k.ok {
		groupAt := -1
		for i, r := range m.rows {
			g := &m.groups[r.g]
			if g.pid != k.pid {
				continue
			}
			if r.kind == rowGroup {
				groupAt = i
				if k.sock == (sockKey{}) {
					return i
				}
				continue
			}
			if keyOf(&m.snap.Sockets[r.s]) == k.sock {
				return i
			}
		}
		if groupAt >= 0 {
			return groupAt
		}
	}
	return min(m.cursor, max(len(m.rows)-1, 0))
}

// remember records the cursor's row.
func (m *Model) remember() {
	if m.cursor >= len(m.rows) {
		m.sel = rowKey{}
		return
	}
	r := m.rows[m.cursor]
	m.sel = rowKey{pid: m.groups[r.g].pid, ok: true}
	if r.kind == rowSock {
		m.sel.sock = keyOf(&m.snap.Sockets[r.s])
	}
}

// tableHeight is the number of rows on screen.
func (m *Model) tableHeight() int { return max(m.height-headerLines-footerLines, 1) }

// scroll keeps the cursor on screen.
func (m *Model) scroll() {
	h := m.tableHeight()
	m.offset = min(m.offset, max(len(m.rows)-h, 0))
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	m.offset = max(m.offset, 0)
}

func (m *Model) move(to int) {
	m.cursor = max(min(to, len(m.rows)-1), 0)
	m.scroll()
	m.remember()
}

func (m *Model) signal() string {
	if m.cfg.Signal == "" {
		return "a signal"
	}
	return m.cfg.Signal
}

// key handles a key press in the current mode.
func (m *Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.String() == "ctrl+c" {
		return m, tea.Quit
	}
	// Keys typed faster than the program reads them (or pasted) arrive
	// as one message of several runes: outside the filter, take them one
	// by one, so that "/8080" starts a filter and types its text.
	if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && m.mode != modeFilter {
		var cmds []tea.Cmd
		for i, r := range msg.Runes {
			if m.mode == modeFilter { // the rest is the filter's
				msg.Runes = msg.Runes[i:]
				_, cmd := m.key(msg)
				return m, tea.Batch(append(cmds, cmd)...)
			}
			_, cmd := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
			cmds = append(cmds, cmd)
		}
		return m, tea.Batch(cmds...)
	}
	switch m.mode {
	case modeFilter:
		switch msg.String() {
		case "enter", "down":
			m.mode = modeTable
			m.filter.Blur()
			return m, nil
		case "esc":
			m.mode = modeTable
			m.filter.Blur()
			m.setFilter("")
			return m, nil
		}
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Update(msg)
		if strings.Join(strings.Fields(strings.ToLower(m.filter.Value())), " ") != strings.Join(m.v.filter, " ") {
			m.v.filter = strings.Fields(strings.ToLower(m.filter.Value()))
			m.rebuild()
		}
		return m, cmd
	case modeConfirm:
		m.mode = modeTable
		if s := msg.String(); s == "y" || s == "Y" {
			t, kill := m.target, m.cfg.Kill
			return m, func() tea.Msg { return killMsg{t, kill(t.pid)} }
		}
		m.message = fmt.Sprintf("left %s (pid %d) alone", m.target.name, m.target.pid)
		return m, nil
	case modeHelp:
		switch msg.String() {
		case "q":
			return m, tea.Quit
		}
		m.mode = modeTable
		return m, nil
	case modeDetail:
		switch msg.String() {
		case "esc", "enter", "backspace", "left":
			m.mode = modeTable
			return m, nil
		case "q":
			return m, tea.Quit
		}
		var cmd tea.Cmd
		m.detail, cmd = m.detail.Update(msg)
		return m, cmd
	}

	m.message = ""
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case key.Matches(msg, k.Up):
		m.move(m.cursor - 1)
	case key.Matches(msg, k.Down):
		m.move(m.cursor + 1)
	case key.Matches(msg, k.PageUp):
		m.move(m.cursor - m.tableHeight())
	case key.Matches(msg, k.PageDown):
		m.move(m.cursor + m.tableHeight())
	case key.Matches(msg, k.Home):
		m.move(0)
	case key.Matches(msg, k.End):
		m.move(len(m.rows) - 1)
	case key.Matches(msg, k.Collapse), key.Matches(msg, k.Expand):
		if m.cursor < len(m.rows) {
			r := m.rows[m.cursor]
			pid := m.groups[r.g].pid
			m.v.collapsed[pid] = key.Matches(msg, k.Collapse)
			if m.v.collapsed[pid] {
				m.sel = rowKey{pid: pid, ok: true} // onto the process row
			}
			m.rebuild()
		}
	case key.Matches(msg, k.Filter):
		m.mode = modeFilter
		m.filter.CursorEnd()
		return m, m.filter.Focus()
	case key.Matches(msg, k.ClearFilter):
		m.setFilter("")
	case key.Matches(msg, k.SortNext), key.Matches(msg, k.SortPrev):
		step := column(1)
		if key.Matches(msg, k.SortPrev) {
			step = numColumns - 1
		}
		m.v.sort = (m.v.sort + step) % numColumns
		m.v.desc = m.v.sort.byRate()
		m.rebuild()
	case key.Matches(msg, k.Reverse):
		m.v.desc = !m.v.desc
		m.rebuild()
	case key.Matches(msg, k.Listening):
		m.v.listenOnly = !m.v.listenOnly
		m.rebuild()
	case key.Matches(msg, k.TCP):
		m.v.proto = toggleProto(m.v.proto, ports.ProtoTCP)
		m.rebuild()
	case key.Matches(msg, k.UDP):
		m.v.proto = toggleProto(m.v.proto, ports.ProtoUDP)
		m.rebuild()
	case key.Matches(msg, k.IPv4):
		m.v.family = toggleFamily(m.v.family, 4)
		m.rebuild()
	case key.Matches(msg, k.IPv6):
		m.v.family = toggleFamily(m.v.family, 6)
		m.rebuild()
	case key.Matches(msg, k.Help):
		m.mode = modeHelp
	case key.Matches(msg, k.Detail):
		if m.cursor < len(m.rows) {
			m.mode = modeDetail
			m.detailKey = m.sel
			m.detail.GotoTop()
			return m, m.openDetail()
		}
	case key.Matches(msg, k.Kill):
		t, why := m.killTarget()
		if why != "" {
			m.message = why
			return m, nil
		}
		m.target = t
		m.mode = modeConfirm
	}
	return m, nil
}

func (m *Model) setFilter(s string) {
	m.filter.SetValue(s)
	m.v.filter = strings.Fields(strings.ToLower(s))
	m.rebuild()
}

// toggleProto shows only p, or both when only p was shown.
func toggleProto(cur, p ports.Proto) ports.Proto {
	if cur == p {
		return ports.ProtoAny
	}
	return p
}

func toggleFamily(cur, f int) int {
	if cur == f {
		return 0
	}
	return f
}

// killTarget finds the process that `k` would signal: the process of the
// selected process row, listening socket, or connection under a
// listener. It returns why not when there is none.
func (m *Model) killTarget() (killTarget, string) {
	if m.cursor >= len(m.rows) {
		return killTarget{}, "nothing selected"
	}
	r := m.rows[m.cursor]
	g := &m.groups[r.g]
	if g.pid <= 0 {
		if g.pid == pidHidden {
			return killTarget{}, "the process is another user's: run ports top as root to see it"
		}
		return killTarget{}, "no process holds this socket"
	}
	t := killTarget{pid: g.pid, name: g.label}
	port := -1 // any listener of the process
	var proto ports.Proto
	if r.kind == rowSock {
		s := &m.snap.Sockets[r.s]
		if !s.IsListener() && r.depth < 2 {
			return killTarget{}, "k kills listeners: select a listening socket or its process"
		}
		port, proto = int(s.Local.Port()), s.Proto
	}
	for _, si := range g.socks {
		s := &m.snap.Sockets[si]
		if s.IsListener() && (port < 0 || int(s.Local.Port()) == port && s.Proto == proto) {
			t.where = append(t.where, s.Local.String()+"/"+s.Proto.String())
		}
	}
	if len(t.where) == 0 {
		return killTarget{}, fmt.Sprintf("%s (pid %d) listens on nothing: k kills listeners", t.name, t.pid)
	}
	return t, ""
}
