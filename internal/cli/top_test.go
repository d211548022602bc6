package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/tui"
	"github.com/portkit/ports/socktable"
)

func TestTopNotATerminal(t *testing.T) {
	// run gives the command a buffer, not a terminal.
	code, out, stderr := run(t, "top")
	if code != ExitUsage || out != "" {
		t.Errorf("top on a pipe: exit %d, stdout %q; want exit %d and nothing", code, out, ExitUsage)
	}
	for _, want := range []string{"not a terminal", "ports ls --watch", "--format jsonl"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not one line: %q", stderr)
	}
}

func TestTopUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "extra"}, `unexpected argument "extra"`},
		{[]string{"top", "--interval", "soon"}, `--interval "soon"`},
		{[]string{"top", "--interval", "10ms"}, "at least 100ms"},
		{[]string{"top", "--interval", "-1"}, "at least 100ms"},
		{[]string{"top", "--signal", "NOPE"}, `--signal "NOPE"`},
	} {
		code, _, stderr := run(t, tt.args...)
		if code != ExitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
	for arg, want := range map[string]time.Duration{"2s": 2 * time.Second, "500ms": 500 * time.Millisecond, "5": 5 * time.Second, "0.25": 250 * time.Millisecond} {
		if got, err := parseInterval("interval", arg, minTopInterval); err != nil || got != want {
			t.Errorf("parseInterval(interval, %q) = %v, %v; want %v", arg, got, err, want)
		}
	}
}

// findSock returns the socket of snap from local to remote (remote
// invalid: a listener).
func findSock(snap *tui.Snapshot, local, remote string) *tui.Socket {
	for i := range snap.Sockets {
		s := &snap.Sockets[i]
		if s.Local.String() == local && (remote == "" && !s.HasPeer() || s.HasPeer() && s.Remote.String() == remote) {
			return s
		}
	}
	return nil
}

// TestTopSource takes snapshots while this test listens, connects and
// sends: the sockets come with their process, service and counters, and
// a socket opened between snapshots gets its process too.
func TestTopSource(t *testing.T) {
	requireSockets(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	next := acceptAll(t, l)
	lap := l.Addr().String()
	src := newTopSource("")
	ctx := context.Background()
	snap, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := findSock(snap, lap, "")
	if s == nil {
		t.Fatalf("no listener %s in the snapshot", lap)
	}
	if !s.IsListener() || s.State != socktable.StateListen || len(s.Procs) == 0 || s.Procs[0].PID != os.Getpid() {
		t.Errorf("listener %s: %+v, want LISTEN held by pid %d", lap, s, os.Getpid())
	}
	if s.ServicePort != uint16(l.Addr().(*net.TCPAddr).Port) || s.Class == "" {
		t.Errorf("listener %s: service port %d, class %q", lap, s.ServicePort, s.Class)
	}
	if snap.Ephemeral.Len() == 0 && runtime.GOOS == "linux" {
		t.Error("no ephemeral range")
	}

	// A connection made after the first snapshot, and traffic on it.
	c, err := net.Dial("tcp4", lap)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := next()
	const n = 1 << 20
	go c.Write(make([]byte, n))
	if _, err := io.CopyN(io.Discard, srv, n); err != nil {
		t.Fatal(err)
	}
	snap, err = src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := findSock(snap, c.LocalAddr().String(), lap)
	server := findSock(snap, lap, c.LocalAddr().String())
	if client == nil || server == nil {
		t.Fatalf("connection %s -> %s: client %v, server %v", c.LocalAddr(), lap, client, server)
	}
	for _, s := range []*tui.Socket{client, server} {
		if len(s.Procs) == 0 || s.Procs[0].PID != os.Getpid() {
			t.Errorf("%s -> %s: processes %+v, want this one", s.Local, s.Remote, s.Procs)
		}
		if s.IsListener() {
			t.Errorf("%s -> %s is marked a listener", s.Local, s.Remote)
		}
	}
	if server.ServicePort != l.Addr().(*net.TCPAddr).AddrPort().Port() {
		t.Errorf("the server end's service port is %d, want the listener's", server.ServicePort)
	}
	if runtime.GOOS == "linux" {
		if !snap.Counters || !server.HasCounters || server.BytesReceived < n {
			t.Errorf("server end: counters %v, has %v, received %d; want at least %d (note %q)", snap.Counters, server.HasCounters, server.BytesReceived, n, snap.CountersNote)
		}
		if !client.HasCounters {
			t.Error("client end: no counters")
		}
	}
	// Nothing new: the processes come from the poller's cache (that it
	// looks nothing up again is socktable's
	// TestIntegrationPollerLooksUpOnlyNewSockets, where no other test's
	// sockets come and go).
	snap, err = src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*tui.Socket{findSock(snap, c.LocalAddr().String(), lap), findSock(snap, lap, c.LocalAddr().String())} {
		if s == nil || len(s.Procs) == 0 || s.Procs[0].PID != os.Getpid() {
			t.Errorf("again: %+v, want the connection's ends held by this process", s)
		}
	}
}

func TestTopInfo(t *testing.T) {
	requireSockets(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	text, err := topInfo(context.Background(), "", ports.ProtoTCP, port)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("%d/tcp", port), "class", fmt.Sprintf("(pid %d) on 127.0.0.1:%d/tcp", os.Getpid(), port)} {
		if !strings.Contains(text, want) {
			t.Errorf("info lacks %q:\n%s", want, text)
		}
	}
}

// tmuxSession runs args in a detached tmux session of w x h cells, on a
// tmux server of its own that the test's end kills.
type tmuxSession struct {
	t      *testing.T
	socket string
	name   string
}

// tmuxServers counts the tmux servers started, to name each.
var tmuxServers int

func newTmux(t *testing.T, w, h int, args ...string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux to run ports top in a terminal (Debian: apt-get install tmux; .ci/run installs it)")
	}
	tmuxServers++
	s := &tmuxSession{t: t, socket: fmt.Sprintf("ports-test-%d-%d", os.Getpid(), tmuxServers), name: "top"}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	cmd := append([]string{"new-session", "-d", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), "-s", s.name}, args...)
	s.run(cmd...)
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) capture() string { return s.run("capture-pane", "-p", "-t", s.name) }

func (s *tmuxSession) keys(keys ...string) {
	s.run(append([]string{"send-keys", "-t", s.name}, keys...)...)
}

// waitFor polls the screen until ok accepts it, and fails with the last
// screen after a deadline (a limit for failing, not a timing assertion).
func (s *tmuxSession) waitFor(what string, ok func(screen string) bool) string {
	s.t.Helper()
	var screen string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		screen = s.capture()
		if ok(screen) {
			return screen
		}
	}
	s.t.Fatalf("waiting for %s; the screen is:\n%s", what, screen)
	return ""
}

// TestTopTmux runs ports top in tmux: the listener this test opens shows
// up, typing its port filters the table down to it, Enter opens its
// details, the view fits 80x24 after a resize, and q ends it.
func TestTopTmux(t *testing.T) {
	requireSockets(t)
	if runtime.GOOS == "windows" {
		t.Skip("tmux runs on Unix")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build ports")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux to run ports top in a terminal (Debian: apt-get install tmux; .ci/run installs it)")
	}
	bin := filepath.Join(t.TempDir(), "ports")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/portkit/ports/cmd/ports").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tm := newTmux(t, 120, 40, bin, "top", "--interval", "500ms")

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	addr := "127.0.0.1:" + port
	me := filepath.Base(os.Args[0])
	if len(me) > 15 {
		me = me[:15] // comm holds 15 bytes
	}
	tm.waitFor("the listener "+addr, func(s string) bool { return strings.Contains(s, addr) })

	// Filter: type the port.
	tm.keys("/")
	tm.keys("-l", ":"+port)
	tm.keys("Enter")
	screen := tm.waitFor("the filter", func(s string) bool { return strings.Contains(s, `filter ":`+port+`"`) })
	var rows []string
	for _, line := range strings.Split(screen, "\n")[4:] {
		if strings.HasPrefix(line, "▾") || strings.HasPrefix(line, "    tcp") {
			rows = append(rows, strings.Join(strings.Fields(line), " "))
		}
	}
	if len(rows) != 2 || !strings.Contains(rows[0], me) || !strings.Contains(rows[0], strconv.Itoa(os.Getpid())) || !strings.HasPrefix(rows[1], "tcp LISTEN "+addr+" * ") {
		t.Errorf("filtered on :%s, want this process (%s %d) and its listener, got rows %q; screen:\n%s", port, me, os.Getpid(), rows, screen)
	}

	// Details of the listener.
	tm.keys("Home", "Down", "Enter")
	screen = tm.waitFor("the details with ports info", func(s string) bool {
		return strings.Contains(s, "ports info "+port+"/tcp") && strings.Contains(s, "here now")
	})
	for _, want := range []string{
		"Socket     tcp LISTEN " + addr,
		fmt.Sprintf("Process    %s (pid %d)", me, os.Getpid()),
		"User       ",
		"Command    " + os.Args[0],
		// The first process found holding the socket: another test's
		// child between fork and exec holds it too for a moment, so
		// only the name is certain.
		fmt.Sprintf("here now: %s (pid ", me),
		fmt.Sprintf(") on %s/tcp", addr),
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("details lack %q:\n%s", want, screen)
		}
	}

	// Back, clear the filter, and shrink to 80x24.
	tm.keys("Escape")
	tm.waitFor("the table", func(s string) bool { return strings.Contains(s, "STATE") })
	tm.keys("Escape")
	tm.run("resize-window", "-t", tm.name, "-x", "80", "-y", "24")
	screen = tm.waitFor("the table at 80x24", func(s string) bool {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		return len(lines) == 24 && strings.Contains(s, "all states") && !strings.Contains(s, `filter "`)
	})
	for i, line := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line %d at 80 columns is %d long: %q", i, n, line)
		}
	}
	tm.keys("/")
	tm.keys("-l", port)
	tm.keys("Enter")
	tm.waitFor("the listener at 80x24", func(s string) bool { return strings.Contains(s, addr) })

	// q quits: the session ends with the program.
	tm.keys("q")
	tm.waitEnd("q")

	// So does SIGTERM, as Ctrl-C does for ls --watch.
	tm = newTmux(t, 80, 24, bin, "top")
	tm.waitFor("the table", func(s string) bool { return strings.Contains(s, "STATE") })
	pid, err := strconv.Atoi(strings.TrimSpace(tm.run("display-message", "-p", "-t", tm.name, "#{pane_pid}")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	tm.waitEnd("SIGTERM")
}

// waitEnd waits for the session to end with its program, within a
// deadline.
func (s *tmuxSession) waitEnd(after string) {
	s.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if exec.Command("tmux", "-L", s.socket, "has-session", "-t", s.name).Run() != nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not end ports top; the screen is:\n%s", after, s.capture())
		}
	}
}

// TestIntegrationTopNetNS takes a snapshot of another network namespace:
// its listener shows with this process, its connection with counters,
// and the detail pane's info finds the listener there.
func TestIntegrationTopNetNS(t *testing.T) {
	requireSockets(t)
	pair := porttest.NewPair(t, nil)
	l, err := pair.A.Listen("tcp", netip.AddrPortFrom(pair.A.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	next := acceptAll(t, l)
	c, err := pair.B.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := next()
	const n = 100000
	go c.Write(make([]byte, n))
	if _, err := io.CopyN(io.Discard, srv, n); err != nil {
		t.Fatal(err)
	}
	snap, err := newTopSource(pair.A.Name).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lap := l.Addr().String()
	if s := findSock(snap, lap, ""); s == nil || len(s.Procs) == 0 || s.Procs[0].PID != os.Getpid() {
		t.Errorf("in %s, listener %s: %+v", pair.A.Name, lap, s)
	}
	if s := findSock(snap, lap, c.LocalAddr().String()); s == nil || !s.HasCounters || s.BytesReceived < n {
		t.Errorf("in %s, connection %s -> %s: %+v, want at least %d bytes received", pair.A.Name, c.LocalAddr(), lap, s, n)
	}
	here, err := newTopSource("").Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := findSock(here, lap, ""); s != nil {
		t.Errorf("the listener of %s shows in this namespace: %+v", pair.A.Name, s)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	text, err := topInfo(context.Background(), pair.A.Name, ports.ProtoTCP, port)
	if err != nil || !strings.Contains(text, fmt.Sprintf("(pid %d) on %s/tcp", os.Getpid(), lap)) {
		t.Errorf("info in %s (err %v):\n%s", pair.A.Name, err, text)
	}
}
