package tui

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/socktable"
)

var (
	nginx   = socktable.Process{PID: 100, Name: "nginx", User: "root", Cmdline: []string{"nginx", "-g", "daemon off;"}}
	curl    = socktable.Process{PID: 200, Name: "curl", User: "alice", UID: 1000, Cmdline: []string{"curl", "https://example.com/"}}
	dnsmasq = socktable.Process{PID: 300, Name: "dnsmasq", User: "nobody", UID: 65534}
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// machine is a made-up machine's sockets: nginx listening on 80 and 443
// with a connection on 80, curl connected out to 443, dnsmasq on UDP 53,
// a TIME-WAIT socket without a process and another user's listener.
func machine() []Socket {
	return []Socket{
		{Socket: socktable.Socket{Proto: ports.ProtoTCP, State: socktable.StateListen, Local: ap("0.0.0.0:80"), Inode: 1, Procs: []socktable.Process{nginx}}, ServicePort: 80, Service: "http", Class: "system", HasCounters: true},
		{Socket: socktable.Socket{Proto: ports.ProtoTCP, State: socktable.StateListen, Local: ap("[::]:443"), Inode: 2, Procs: []socktable.Process{nginx}}, ServicePort: 443, Service: "https", Class: "system", HasCounters: true},
		{Socket: socktable.Socket{Proto: ports.ProtoUDP, State: socktable.StateClose, Local: ap("0.0.0.0:53"), Inode: 3, Procs: []socktable.Process{dnsmasq}}, ServicePort: 53, Service: "domain", Class: "system"},
		{Socket: socktable.Socket{Proto: ports.ProtoTCP, State: socktable.StateEstablished, Local: ap("10.0.0.1:80"), Remote: ap("10.0.0.9:50000"), Inode: 4, Procs: []socktable.Process{nginx}}, ServicePort: 80, Service: "http", Class: "system", HasCounters: true, BytesAcked: 1000, BytesReceived: 500},
		{Socket: socktable.Socket{Proto: ports.ProtoTCP, State: socktable.StateEstablished, Local: ap("10.0.0.1:40000"), Remote: ap("93.184.216.34:443"), Inode: 5, Procs: []socktable.Process{curl}}, ServicePort: 443, Service: "https", Class: "system", Ephemeral: true, HasCounters: true, BytesAcked: 100, BytesReceived: 10000},
		{Socket: socktable.Socket{Proto: ports.ProtoTCP, State: socktable.StateTimeWait, Local: ap("10.0.0.1:40001"), Remote: ap("93.184.216.34:443")}, ServicePort: 443, Service: "https", Class: "system", Ephemeral: true},
		{Socket: socktable.Socket{Proto: ports.ProtoTCP, State: socktable.StateListen, Local: ap("127.0.0.1:5432"), Inode: 7, ProcsHidden: true}, ServicePort: 5432, Service: "postgresql", Class: "user", HasCounters: true},
	}
}

var t0 = time.Now()

func snapshotAt(sec float64, socks []Socket) *Snapshot {
	return &Snapshot{
		Time:      t0.Add(time.Duration(sec * float64(time.Second))),
		Sockets:   socks,
		Ephemeral: ports.Range{First: 32768, Last: 60999},
		Counters:  true,
	}
}

// newModel returns a model of size w x h that has taken in snap.
func newModel(t *testing.T, cfg Config, w, h int, snap *Snapshot) *Model {
	t.Helper()
	if cfg.Source == nil {
		cfg.Source = SourceFunc(func(context.Context) (*Snapshot, error) { return snap, nil })
	}
	m := New(cfg)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	if snap != nil {
		m.Update(snapshotMsg{snap: snap})
	}
	return m
}

func press(m *Model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "up":
			msg = tea.KeyMsg{Type: tea.KeyUp}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "end":
			msg = tea.KeyMsg{Type: tea.KeyEnd}
		case "home":
			msg = tea.KeyMsg{Type: tea.KeyHome}
		case "left":
			msg = tea.KeyMsg{Type: tea.KeyLeft}
		case "right":
			msg = tea.KeyMsg{Type: tea.KeyRight}
		case "pgdown":
			msg = tea.KeyMsg{Type: tea.KeyPgDown}
		case "backspace":
			msg = tea.KeyMsg{Type: tea.KeyBackspace}
		case "ctrl+c":
			msg = tea.KeyMsg{Type: tea.KeyCtrlC}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd = m.Update(msg)
	}
	return cmd
}

// typeText types s one key at a time.
func typeText(m *Model, s string) {
	for _, r := range s {
		press(m, string(r))
	}
}

// outline describes the table's rows: "nginx" for a process row, "  tcp
// LISTEN 0.0.0.0:80" for a socket, one more indent under a listener.
func outline(m *Model) []string {
	var out []string
	for _, r := range m.rows {
		if r.kind == rowGroup {
			out = append(out, m.groups[r.g].label)
			continue
		}
		s := &m.snap.Sockets[r.s]
		out = append(out, fmt.Sprintf("%s%s %s %s", strings.Repeat("  ", int(r.depth)), s.Proto, s.State, s.Local))
	}
	return out
}

// screen is the view without styles.
func screen(m *Model) string { return ansi.Strip(m.View()) }

func TestLayout(t *testing.T) {
	m := newModel(t, Config{}, 120, 40, snapshotAt(0, machine()))
	want := []string{
		"dnsmasq",
		"  udp UNCONN 0.0.0.0:53",
		"nginx",
		"  tcp LISTEN 0.0.0.0:80",
		"    tcp ESTAB 10.0.0.1:80",
		"  tcp LISTEN [::]:443",
		"curl",
		"  tcp ESTAB 10.0.0.1:40000",
		"(needs root)",
		"  tcp LISTEN 127.0.0.1:5432",
		"(no process)",
		"  tcp TIME-WAIT 10.0.0.1:40001",
	}
	if diff := cmp.Diff(want, outline(m)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	s := screen(m)
	for _, w := range []string{
		"7 sockets: tcp 6, udp 1",
		"LISTEN 3  UNCONN 1  ESTAB 2  TIME-WAIT 1",
		"ephemeral 32768-60999 [",
		"(2 of 28232 ports)",
		"nginx  100  root  · 2 listening, 1 other",
		"0.0.0.0:80", "10.0.0.9:50000", "http", "system",
		"10.0.0.1:40000*", // the ephemeral marker
		"postgresql",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("screen lacks %q:\n%s", w, s)
		}
	}
}

func TestRates(t *testing.T) {
	m := newModel(t, Config{}, 120, 40, snapshotAt(0, machine()))
	for i, r := range m.rates {
		if r.ok {
			t.Errorf("socket %d has a rate after the first snapshot: %+v", i, r)
		}
	}
	socks := machine()
	socks[3].BytesAcked, socks[3].BytesReceived = 5000, 2500 // +4000, +2000 in 2s
	socks[4].BytesAcked, socks[4].BytesReceived = 50, 20     // lower: a new socket on a reused inode
	socks = append(socks, Socket{Socket: socktable.Socket{Proto: ports.ProtoTCP, State: socktable.StateEstablished, Local: ap("10.0.0.1:80"), Remote: ap("10.0.0.8:1234"), Inode: 9, Procs: []socktable.Process{nginx}}, HasCounters: true, BytesAcked: 600, BytesReceived: 200})
	m.Update(snapshotMsg{snap: snapshotAt(2, socks)})
	got := map[uint64]rate{}
	for i, r := range m.rates {
		if r.ok {
			got[m.snap.Sockets[i].Inode] = r
		}
	}
	want := map[uint64]rate{
		1: {0, 0, true}, 2: {0, 0, true}, 7: {0, 0, true},
		4: {rx: 1000, tx: 2000, ok: true},
		5: {rx: 10, tx: 25, ok: true},   // from zero
		9: {rx: 100, tx: 300, ok: true}, // new: from zero
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(rate{})); diff != "" {
		t.Errorf("rates by inode (-want +got):\n%s", diff)
	}
	for _, g := range m.groups {
		if g.label == "nginx" && (g.rx != 1100 || g.tx != 2300 || !g.rated) {
			t.Errorf("nginx totals rx %v tx %v, want 1100 and 2300", g.rx, g.tx)
		}
		if g.label == "dnsmasq" && g.rated {
			t.Error("dnsmasq (UDP only) has a rate")
		}
	}
	s := screen(m)
	if !regexp.MustCompile(`nginx .* 1\.1k +2\.3k\n`).MatchString(s) || !regexp.MustCompile(`10\.0\.0\.9:50000 .* 1\.0k +2\.0k\n`).MatchString(s) {
		t.Errorf("screen lacks nginx's totals 1.1k/2.3k and its connection's 1.0k/2.0k:\n%s", s)
	}
	// A snapshot without counters: no rates, and the next one with
	// counters starts over.
	noCounters := snapshotAt(4, machine())
	noCounters.Counters, noCounters.CountersNote = false, "no throughput: test"
	m.Update(snapshotMsg{snap: noCounters})
	for i, r := range m.rates {
		if r.ok {
			t.Errorf("socket %d has a rate without counters", i)
		}
	}
	if !strings.Contains(screen(m), "no throughput: test") {
		t.Error("the status line does not say why there is no throughput")
	}
}

func TestFormatBytes(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 999.6: "1.0k", 1234: "1.2k", 12345: "12k", 999499: "999k", 999500: "1.0M", 4.56e6: "4.6M", 45.6e6: "46M", 1.2e9: "1.2G"} {
		if got := formatBytes(v); got != want {
			t.Errorf("formatBytes(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestFilter(t *testing.T) {
	m := newModel(t, Config{}, 120, 40, snapshotAt(0, machine()))
	press(m, "/")
	typeText(m, "443")
	if !strings.Contains(screen(m), "/443") {
		t.Errorf("the filter being typed is not shown:\n%s", screen(m))
	}
	press(m, "enter")
	want := []string{
		"nginx",
		"  tcp LISTEN [::]:443",
		"curl",
		"  tcp ESTAB 10.0.0.1:40000",
		"(no process)",
		"  tcp TIME-WAIT 10.0.0.1:40001",
	}
	if diff := cmp.Diff(want, outline(m)); diff != "" {
		t.Errorf("filter 443 (-want +got):\n%s", diff)
	}
	if !strings.Contains(screen(m), `filter "443"`) {
		t.Errorf("the status line does not show the filter:\n%s", screen(m))
	}
	// The process row counts what the filter shows: one listener of
	// nginx's two, not its three sockets.
	if s := screen(m); !strings.Contains(s, "nginx  100  root  · 1 listening") || strings.Contains(s, "2 listening") {
		t.Errorf("nginx's counts ignore the filter:\n%s", s)
	}
	// Keys work again after enter: q would quit, so move instead.
	press(m, "down")
	if m.cursor != 1 {
		t.Errorf("cursor %d after down, want 1", m.cursor)
	}
	// Keys typed fast arrive together: "/" starts the filter, the rest
	// is its text.
	press(m, "esc", "/:80")
	if m.mode != modeFilter || m.filter.Value() != ":80" {
		t.Errorf(`"/:80" in one message: mode %d, filter %q`, m.mode, m.filter.Value())
	}
	press(m, "esc", "l4")
	if !m.v.listenOnly || m.v.family != 4 {
		t.Errorf(`"l4" in one message: listening %v, family %d`, m.v.listenOnly, m.v.family)
	}
	press(m, "l", "4")
	// Terms AND, and may match the process: nginx's sockets on 443.
	press(m, "/")
	for range 3 {
		press(m, "backspace")
	}
	typeText(m, "NGINX :443")
	press(m, "enter")
	if diff := cmp.Diff([]string{"nginx", "  tcp LISTEN [::]:443"}, outline(m)); diff != "" {
		t.Errorf("filter nginx :443 (-want +got):\n%s", diff)
	}
	// States, pids and users.
	for filter, want := range map[string][]string{
		"time-wait": {"(no process)", "  tcp TIME-WAIT 10.0.0.1:40001"},
		"300":       {"dnsmasq", "  udp UNCONN 0.0.0.0:53"},
		"alice":     {"curl", "  tcp ESTAB 10.0.0.1:40000"},
		"10.0.0.9":  {"nginx", "  tcp ESTAB 10.0.0.1:80"}, // without its listener: not under it
	} {
		m.setFilter(filter)
		if diff := cmp.Diff(want, outline(m)); diff != "" {
			t.Errorf("filter %q (-want +got):\n%s", filter, diff)
		}
	}
	// Nothing matches: the screen says so; esc clears the filter.
	m.setFilter("nosuchthing")
	if len(m.rows) != 0 || !strings.Contains(screen(m), "no socket matches") {
		t.Errorf("filter nosuchthing: rows %v", outline(m))
	}
	press(m, "esc")
	if len(m.rows) != 12 {
		t.Errorf("esc: %d rows, want all 12", len(m.rows))
	}
	// esc while typing clears too.
	press(m, "/")
	typeText(m, "curl")
	press(m, "esc")
	if len(m.rows) != 12 || m.mode != modeTable {
		t.Errorf("esc while typing: %d rows, mode %d", len(m.rows), m.mode)
	}
}

func TestToggles(t *testing.T) {
	m := newModel(t, Config{}, 120, 40, snapshotAt(0, machine()))
	press(m, "l")
	want := []string{"dnsmasq", "  udp UNCONN 0.0.0.0:53", "nginx", "  tcp LISTEN 0.0.0.0:80", "  tcp LISTEN [::]:443", "(needs root)", "  tcp LISTEN 127.0.0.1:5432"}
	if diff := cmp.Diff(want, outline(m)); diff != "" {
		t.Errorf("listening only (-want +got):\n%s", diff)
	}
	if !strings.Contains(screen(m), "listening ·") {
		t.Error("the status line does not say listening")
	}
	press(m, "u")
	if diff := cmp.Diff([]string{"dnsmasq", "  udp UNCONN 0.0.0.0:53"}, outline(m)); diff != "" {
		t.Errorf("listening, UDP (-want +got):\n%s", diff)
	}
	press(m, "t") // TCP only now
	press(m, "6")
	if diff := cmp.Diff([]string{"nginx", "  tcp LISTEN [::]:443"}, outline(m)); diff != "" {
		t.Errorf("listening, TCP, IPv6 (-want +got):\n%s", diff)
	}
	press(m, "4")
	if diff := cmp.Diff([]string{"nginx", "  tcp LISTEN 0.0.0.0:80", "(needs root)", "  tcp LISTEN 127.0.0.1:5432"}, outline(m)); diff != "" {
		t.Errorf("listening, TCP, IPv4 (-want +got):\n%s", diff)
	}
	press(m, "4", "t", "l") // all back
	if len(m.rows) != 12 {
		t.Errorf("after toggling back: %d rows, want 12:\n%v", len(m.rows), outline(m))
	}
	// The initial toggles come from Config.
	m = newModel(t, Config{ListenOnly: true, Proto: ports.ProtoUDP}, 120, 40, snapshotAt(0, machine()))
	if diff := cmp.Diff([]string{"dnsmasq", "  udp UNCONN 0.0.0.0:53"}, outline(m)); diff != "" {
		t.Errorf("Config listening UDP (-want +got):\n%s", diff)
	}
	m = newModel(t, Config{Filter: "curl"}, 120, 40, snapshotAt(0, machine()))
	if diff := cmp.Diff([]string{"curl", "  tcp ESTAB 10.0.0.1:40000"}, outline(m)); diff != "" {
		t.Errorf("Config filter (-want +got):\n%s", diff)
	}
}

func TestFold(t *testing.T) {
	m := newModel(t, Config{}, 120, 40, snapshotAt(0, machine()))
	press(m, "down", "down", "down") // nginx's listener on 80
	press(m, "left")
	want := []string{"dnsmasq", "  udp UNCONN 0.0.0.0:53", "nginx", "curl"}
	if diff := cmp.Diff(want, outline(m)[:4]); diff != "" {
		t.Errorf("folded nginx (-want +got):\n%s", diff)
	}
	if m.cursor != 2 {
		t.Errorf("cursor %d, want 2 (nginx)", m.cursor)
	}
	if !strings.Contains(screen(m), "▸ nginx") {
		t.Error("the folded process is not marked ▸")
	}
	press(m, "right")
	if len(m.rows) != 12 {
		t.Errorf("unfolded: %d rows", len(m.rows))
	}
}

func TestSort(t *testing.T) {
	socks := machine()
	m := newModel(t, Config{}, 120, 40, snapshotAt(0, socks))
	next := machine()
	next[3].BytesReceived += 100000 // nginx's connection: 50 kB/s
	next[4].BytesReceived += 2000   // curl: 1 kB/s
	m.Update(snapshotMsg{snap: snapshotAt(2, next)})
	press(m, ">", ">", ">") // LOCAL -> PEER, SERVICE, RX/s
	if m.v.sort != colRX || !m.v.desc {
		t.Fatalf("sort %v desc %v, want RX/s, largest first", m.v.sort, m.v.desc)
	}
	want := []string{
		"nginx",
		"  tcp LISTEN 0.0.0.0:80",
		"    tcp ESTAB 10.0.0.1:80",
		"  tcp LISTEN [::]:443",
		"curl",
		"  tcp ESTAB 10.0.0.1:40000",
		"(needs root)", // no throughput: by name
		"  tcp LISTEN 127.0.0.1:5432",
		"(no process)",
		"  tcp TIME-WAIT 10.0.0.1:40001",
		"dnsmasq",
		"  udp UNCONN 0.0.0.0:53",
	}
	if diff := cmp.Diff(want, outline(m)); diff != "" {
		t.Errorf("by RX/s (-want +got):\n%s", diff)
	}
	if !strings.Contains(screen(m), "RX/s▼") {
		t.Error("the header does not mark RX/s▼")
	}
	press(m, "r")
	if got := outline(m); indexOf(got, "nginx") < indexOf(got, "curl") || indexOf(got, "curl") < indexOf(got, "dnsmasq") {
		t.Errorf("reversed RX/s: %v", got)
	}
	press(m, "<", "<", "<", "<", "<", "<") // RX/s back to PROCESS
	if m.v.sort != colProcess || m.v.desc {
		t.Fatalf("sort %v desc %v, want PROCESS ascending", m.v.sort, m.v.desc)
	}
	var groups []string
	for _, r := range m.rows {
		if r.kind == rowGroup {
			groups = append(groups, m.groups[r.g].label)
		}
	}
	if diff := cmp.Diff([]string{"curl", "dnsmasq", "nginx", "(needs root)", "(no process)"}, groups); diff != "" {
		t.Errorf("by PROCESS (-want +got):\n%s", diff)
	}
}

func TestCursorFollowsRow(t *testing.T) {
	m := newModel(t, Config{}, 120, 40, snapshotAt(0, machine()))
	press(m, "down", "down", "down", "down") // nginx's connection on 80
	if got := outline(m)[m.cursor]; got != "    tcp ESTAB 10.0.0.1:80" {
		t.Fatalf("cursor on %q", got)
	}
	// dnsmasq goes away: the rows move up, the cursor stays on the socket.
	socks := machine()
	socks = append(socks[:2], socks[3:]...)
	m.Update(snapshotMsg{snap: snapshotAt(2, socks)})
	if got := outline(m)[m.cursor]; got != "    tcp ESTAB 10.0.0.1:80" {
		t.Errorf("after a refresh the cursor is on %q", got)
	}
	// The socket closes: the cursor goes to its process.
	socks = append(socks[:2], socks[3:]...)
	m.Update(snapshotMsg{snap: snapshotAt(4, socks)})
	if got := outline(m)[m.cursor]; got != "nginx" {
		t.Errorf("after its socket closed the cursor is on %q", got)
	}
}

func TestDetail(t *testing.T) {
	var asked string
	info := func(_ context.Context, proto ports.Proto, port uint16) (string, error) {
		asked = fmt.Sprintf("%d/%s", port, proto)
		return "80/tcp         http\n  class        system (well-known, 0-1023)\n", nil
	}
	m := newModel(t, Config{Info: info}, 120, 40, snapshotAt(0, machine()))
	press(m, "down", "down", "down") // nginx's listener on 80
	cmd := press(m, "enter")
	if m.mode != modeDetail || cmd == nil {
		t.Fatalf("enter: mode %d, cmd %v", m.mode, cmd)
	}
	if s := screen(m); !strings.Contains(s, "ports info 80/tcp") || !strings.Contains(s, "…") {
		t.Errorf("before the info arrives, the pane lacks its heading:\n%s", s)
	}
	m.Update(cmd())
	if asked != "80/tcp" {
		t.Errorf("info asked for %q, want 80/tcp", asked)
	}
	s := screen(m)
	for _, w := range []string{
		"Socket     tcp LISTEN 0.0.0.0:80, (no peer)",
		"Service    port 80: http (system)",
		"Process    nginx (pid 100)",
		"User       root (uid 0)",
		"Command    nginx -g daemon off;",
		"Its other sockets (2):",
		"[::]:443",
		"10.0.0.9:50000",
		"ports info 80/tcp",
		"system (well-known, 0-1023)",
		"esc back",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("detail pane lacks %q:\n%s", w, s)
		}
	}
	// A refresh keeps the pane, with the socket's new state.
	m.Update(snapshotMsg{snap: snapshotAt(2, machine()[1:])})
	if s := screen(m); !strings.Contains(s, "This socket has closed") {
		t.Errorf("after the socket closed, the pane says:\n%s", s)
	}
	press(m, "esc")
	if m.mode != modeTable {
		t.Errorf("esc: mode %d", m.mode)
	}
	// A process row: its sockets, and the info of its lowest listening port.
	m = newModel(t, Config{Info: info}, 120, 40, snapshotAt(0, machine()))
	press(m, "down", "down") // nginx
	m.Update(press(m, "enter")())
	if s := screen(m); !strings.Contains(s, "Its sockets (3):") || asked != "80/tcp" {
		t.Errorf("process details (asked %q):\n%s", asked, s)
	}
	// A client connection: the info of the peer's service port.
	press(m, "esc", "down", "down", "down", "down", "down")
	if got := outline(m)[m.cursor]; got != "  tcp ESTAB 10.0.0.1:40000" {
		t.Fatalf("cursor on %q", got)
	}
	m.Update(press(m, "enter")())
	if asked != "443/tcp" {
		t.Errorf("info of curl's connection asked for %q, want 443/tcp", asked)
	}
	if s := screen(m); !strings.Contains(s, "User       alice (uid 1000)") || !strings.Contains(s, "picked by the kernel") {
		t.Errorf("curl's connection:\n%s", s)
	}
	// An error from info is shown in its place.
	m = newModel(t, Config{Info: func(context.Context, ports.Proto, uint16) (string, error) { return "", errors.New("boom") }}, 120, 40, snapshotAt(0, machine()))
	press(m, "down")
	m.Update(press(m, "enter")())
	if s := screen(m); !strings.Contains(s, "ports info: boom") {
		t.Errorf("info error:\n%s", s)
	}
}

func TestKill(t *testing.T) {
	var killed []int
	kill := func(pid int) error {
		killed = append(killed, pid)
		if pid == 300 {
			return errors.New("operation not permitted")
		}
		return nil
	}
	m := newModel(t, Config{Kill: kill, Signal: "SIGTERM"}, 120, 40, snapshotAt(0, machine()))
	press(m, "down", "down", "down") // nginx's listener on 80
	press(m, "k")
	if m.mode != modeConfirm {
		t.Fatalf("k: mode %d, message %q", m.mode, m.message)
	}
	if s := screen(m); !strings.Contains(s, "Send SIGTERM to nginx (pid 100, listening on 0.0.0.0:80/tcp)? [y/N]") {
		t.Errorf("no question:\n%s", s)
	}
	press(m, "n")
	if len(killed) != 0 || !strings.Contains(screen(m), "left nginx (pid 100) alone") {
		t.Errorf("n: killed %v, screen:\n%s", killed, screen(m))
	}
	press(m, "k")
	cmd := press(m, "y")
	if cmd == nil {
		t.Fatal("y: no command")
	}
	_, refresh := m.Update(cmd())
	if diff := cmp.Diff([]int{100}, killed); diff != "" {
		t.Errorf("killed (-want +got):\n%s", diff)
	}
	if !strings.Contains(screen(m), "sent SIGTERM to nginx (pid 100)") {
		t.Errorf("after y:\n%s", screen(m))
	}
	if refresh == nil {
		t.Error("no refresh after the kill")
	}
	// The process row names all its listeners; a connection under a
	// listener kills that listener's process.
	press(m, "up")
	press(m, "k")
	if !strings.Contains(screen(m), "listening on 0.0.0.0:80/tcp, [::]:443/tcp)?") {
		t.Errorf("process row:\n%s", screen(m))
	}
	press(m, "n", "down", "down")
	press(m, "k")
	if !strings.Contains(screen(m), "Send SIGTERM to nginx (pid 100, listening on 0.0.0.0:80/tcp)?") {
		t.Errorf("connection under a listener:\n%s", screen(m))
	}
	press(m, "n")
	// An error is shown.
	press(m, "home", "k")
	m.Update(press(m, "y")())
	if !strings.Contains(screen(m), "dnsmasq (pid 300): operation not permitted") {
		t.Errorf("kill error:\n%s", screen(m))
	}
	// No listener, no process, another user's.
	for _, tt := range []struct {
		row  string
		want string
	}{
		{"curl", "listens on nothing"},
		{"  tcp ESTAB 10.0.0.1:40000", "k kills listeners"},
		{"  tcp TIME-WAIT 10.0.0.1:40001", "no process holds"},
		{"  tcp LISTEN 127.0.0.1:5432", "as root"},
	} {
		m.move(indexOf(outline(m), tt.row))
		press(m, "k")
		if m.mode != modeTable || !strings.Contains(screen(m), tt.want) {
			t.Errorf("k on %q: mode %d, screen:\n%s", tt.row, m.mode, screen(m))
		}
	}
	// Without Kill the key does nothing.
	m = newModel(t, Config{}, 120, 40, snapshotAt(0, machine()))
	press(m, "down", "k")
	if m.mode != modeTable || strings.Contains(screen(m), "kill") {
		t.Errorf("k without Kill: mode %d\n%s", m.mode, screen(m))
	}
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

func TestHelpAndQuit(t *testing.T) {
	m := newModel(t, Config{Kill: func(int) error { return nil }}, 80, 24, snapshotAt(0, machine()))
	press(m, "?")
	s := screen(m)
	for _, w := range []string{"filter", "listening / all", "TCP only / both", "IPv6 only / both", "kill the listener", "details", "quit"} {
		if !strings.Contains(s, w) {
			t.Errorf("help lacks %q:\n%s", w, s)
		}
	}
	press(m, "x")
	if m.mode != modeTable {
		t.Errorf("a key did not close the help")
	}
	for _, k := range []string{"q", "ctrl+c"} {
		m := newModel(t, Config{}, 80, 24, snapshotAt(0, machine()))
		cmd := press(m, k)
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s does not quit", k)
		}
	}
	// q types into the filter instead of quitting.
	m = newModel(t, Config{}, 80, 24, snapshotAt(0, machine()))
	press(m, "/", "q")
	if m.filter.Value() != "q" {
		t.Errorf("q while filtering: filter %q", m.filter.Value())
	}
}

// checkScreen fails unless the view fills exactly w x h cells or less
// per line and h lines.
func checkScreen(t *testing.T, m *Model, w, h int, what string) {
	t.Helper()
	lines := strings.Split(m.View(), "\n")
	if len(lines) != h {
		t.Errorf("%s at %dx%d: %d lines, want %d", what, w, h, len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("%s at %dx%d: line %d is %d cells: %q", what, w, h, i, n, ansi.Strip(l))
		}
	}
}

func TestSizes(t *testing.T) {
	// Many sockets, long addresses and names.
	socks := machine()
	long := socktable.Process{PID: 4242, Name: "a-process-with-a-very-long-name-indeed", User: "someone-with-a-long-name"}
	for i := range 500 {
		socks = append(socks, Socket{
			Socket: socktable.Socket{
				Proto: ports.ProtoTCP, State: socktable.StateEstablished,
				Local:  netip.AddrPortFrom(netip.MustParseAddr("2001:db8:1234:5678:9abc:def0:1234:5678"), uint16(40000+i)),
				Remote: ap("[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:443"), Inode: uint64(100 + i), Procs: []socktable.Process{long},
			},
			Service: "https", Class: "system", HasCounters: true,
		})
	}
	m := newModel(t, Config{Kill: func(int) error { return nil }, Info: func(context.Context, ports.Proto, uint16) (string, error) {
		return strings.Repeat("a long line of ports info that must wrap in the pane ", 5), nil
	}}, 80, 24, snapshotAt(0, socks))
	m.Update(snapshotMsg{snap: snapshotAt(2, socks)})
	for _, size := range [][2]int{{80, 24}, {120, 40}, {60, 15}, {200, 50}, {80, 24}} {
		w, h := size[0], size[1]
		m.Update(tea.WindowSizeMsg{Width: w, Height: h})
		checkScreen(t, m, w, h, "table")
		press(m, "end")
		checkScreen(t, m, w, h, "table at the end")
		if s := screen(m); !strings.Contains(s, fmt.Sprintf("row %d of %d", len(m.rows), len(m.rows))) {
			t.Errorf("%dx%d: the last row is not selected:\n%s", w, h, s)
		}
		if r := m.rows[m.cursor]; m.cursor < m.offset || m.cursor >= m.offset+m.tableHeight() || r.kind != rowSock {
			t.Errorf("%dx%d: cursor %d off screen (offset %d)", w, h, m.cursor, m.offset)
		}
		press(m, "home", "down", "down", "down", "k")
		checkScreen(t, m, w, h, "kill question")
		press(m, "n", "/")
		typeText(m, "2001:db8")
		checkScreen(t, m, w, h, "filtering")
		press(m, "esc", "?")
		checkScreen(t, m, w, h, "help")
		press(m, "x", "end")
		m.Update(press(m, "enter")())
		checkScreen(t, m, w, h, "details")
		press(m, "pgdown")
		checkScreen(t, m, w, h, "details, scrolled")
		press(m, "esc")
	}
	// The address keeps its port when cut.
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	press(m, "end")
	if s := screen(m); !strings.Contains(s, ":40499") {
		t.Errorf("at 80 columns the last local port is cut off:\n%s", s)
	}
}

func TestRefreshLoop(t *testing.T) {
	calls := 0
	var fail error
	src := SourceFunc(func(context.Context) (*Snapshot, error) {
		calls++
		if fail != nil {
			return nil, fail
		}
		return snapshotAt(float64(calls), machine()), nil
	})
	m := New(Config{Source: src, Interval: time.Hour})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	if s := screen(m); !strings.Contains(s, "reading sockets") {
		t.Errorf("before the first snapshot:\n%s", s)
	}
	msg := m.Init()()
	if calls != 1 {
		t.Fatalf("Init's command called the source %d times", calls)
	}
	_, tick := m.Update(msg)
	if tick == nil || len(m.rows) != 12 {
		t.Fatalf("after the first snapshot: tick %v, %d rows", tick, len(m.rows))
	}
	// A tick fetches; a stale tick (from before a kill's refresh) does not.
	_, fetch := m.Update(tickMsg{gen: m.gen})
	if fetch == nil {
		t.Fatal("a tick does not fetch")
	}
	if _, cmd := m.Update(tickMsg{gen: m.gen}); cmd != nil {
		t.Error("a tick during a fetch fetches again")
	}
	fail = errors.New("netlink went away")
	m.Update(fetch())
	if s := screen(m); !strings.Contains(s, "refresh failed: netlink went away") || len(m.rows) != 12 {
		t.Errorf("after a failed refresh (rows %d):\n%s", len(m.rows), s)
	}
	m.gen++
	if _, cmd := m.Update(tickMsg{gen: m.gen - 1}); cmd != nil {
		t.Error("a stale tick fetches")
	}
	if !strings.Contains(screen(m), "every 1h0m0s") {
		t.Error("the title does not give the interval")
	}
}

// TestEphemeralBarSliver: a range barely in use shows "<0.1%" and a
// sliver, not "0.0%" beside a full block.
func TestEphemeralBarSliver(t *testing.T) {
	for _, tt := range []struct {
		used, size, width int
		want              string
	}{
		{0, 28232, 4, "····"},
		{2, 28232, 4, "▏···"},
		{14116, 28232, 4, "██··"},
		{28232, 28232, 4, "████"},
		{3, 8, 4, "█▌··"},
	} {
		if got := fillBar(tt.used, tt.size, tt.width); got != tt.want {
			t.Errorf("fillBar(%d, %d, %d) = %q, want %q", tt.used, tt.size, tt.width, got, tt.want)
		}
	}
	if got := percent(100 * 2.0 / 28232); got != "<0.1%" {
		t.Errorf("2 of 28232 is %q, want <0.1%%", got)
	}
	if got := percent(0); got != "0.0%" {
		t.Errorf("0 is %q, want 0.0%%", got)
	}
}
