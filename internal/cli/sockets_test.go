package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/socktable"
)

// requireSockets skips the test where socktable cannot list sockets.
func requireSockets(t *testing.T) {
	t.Helper()
	_, err := socktable.Append(context.Background(), nil, &socktable.Options{States: listenerStates})
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("listing sockets is not supported here: %v", err)
	}
	if err != nil {
		t.Fatalf("socktable: %v", err)
	}
}

// runJSON runs a command that must succeed and decodes its JSON array.
func runJSON(t *testing.T, args ...string) []render.SocketV1 {
	t.Helper()
	code, out, stderr := run(t, args...)
	if code != ExitOK {
		t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	var socks []render.SocketV1
	if err := json.Unmarshal([]byte(out), &socks); err != nil {
		t.Fatalf("%s: output is not a JSON array of SocketV1: %v\n%s", strings.Join(args, " "), err, out)
	}
	return socks
}

// sockKey is what identifies a socket in a listing: "tcp ESTAB
// 127.0.0.1:1 127.0.0.1:2" ("*" for no peer).
func sockKey(s render.SocketV1) string {
	remote := "*"
	if s.Remote != nil {
		remote = s.Remote.String()
	}
	return fmt.Sprintf("%s %s %s %s", s.Proto, s.State, s.Local, remote)
}

func keyOf(proto, state string, local, remote netip.AddrPort) string {
	r := "*"
	if remote.IsValid() {
		r = remote.String()
	}
	return fmt.Sprintf("%s %s %s %s", proto, state, local, r)
}

// find returns the sockets of socks with the key, as keyOf builds it.
func find(socks []render.SocketV1, key string) []render.SocketV1 {
	var out []render.SocketV1
	for _, s := range socks {
		if sockKey(s) == key {
			out = append(out, s)
		}
	}
	return out
}

// notTimeWait returns the sockets of socks not in TIME-WAIT, which an
// earlier test on the same port number can leave behind.
func notTimeWait(socks []render.SocketV1) []render.SocketV1 {
	var out []render.SocketV1
	for _, s := range socks {
		if s.State != "TIME-WAIT" {
			out = append(out, s)
		}
	}
	return out
}

// ownedByUs reports whether this test process holds s.
func ownedByUs(s render.SocketV1) bool {
	for _, p := range s.Processes {
		if p.PID == os.Getpid() {
			return true
		}
	}
	return false
}

// expectOne fails unless socks holds exactly one socket with key, held
// by this process, and returns it.
func expectOne(t *testing.T, socks []render.SocketV1, key string) render.SocketV1 {
	t.Helper()
	got := find(socks, key)
	if len(got) != 1 {
		var keys []string
		for _, s := range socks {
			keys = append(keys, sockKey(s))
		}
		t.Fatalf("want one socket %q, got %d in:\n%s", key, len(got), strings.Join(keys, "\n"))
	}
	if !ownedByUs(got[0]) {
		t.Errorf("%s: processes %+v do not include this process (pid %d)", key, got[0].Processes, os.Getpid())
	}
	return got[0]
}

// eventually retries check until it returns nil, for state the kernel
// changes asynchronously (sockets going away after close), and fails
// with its last error after a generous limit. It asserts nothing about
// time.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	var err error
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(20 * time.Millisecond) {
		if err = check(); err == nil {
			return
		}
	}
	t.Fatal(err)
}

// acceptAll accepts connections on l until it closes. Each call of the
// returned function waits for the next accepted connection; the
// connections stay open (referenced, so that no finalizer closes them)
// until the test ends.
func acceptAll(t *testing.T, l net.Listener) func() net.Conn {
	ch := make(chan net.Conn, 4096)
	go func() {
		defer close(ch)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	var kept []net.Conn
	t.Cleanup(func() {
		l.Close()
		for c := range ch {
			c.Close()
		}
		for _, c := range kept {
			c.Close()
		}
	})
	return func() net.Conn {
		c, ok := <-ch
		if !ok {
			t.Fatal("the listener closed")
		}
		kept = append(kept, c)
		return c
	}
}

// dialTCP connects to ap and closes the connection with a reset when the
// test ends, so that it leaves no TIME-WAIT behind to get in the way of
// later binds.
func dialTCP(t *testing.T, ap netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.SetLinger(0)
		c.Close()
	})
	return c
}

// quietPort returns a port free for TCP and UDP on both loopback
// addresses that no other test comes near: above the ephemeral range,
// where no connection takes its local port, and above the ranges other
// packages' tests scan (up to 32767). Counting the sockets of a port is
// then exact although go test runs other packages alongside.
func quietPort(t *testing.T) uint16 {
	t.Helper()
	cfg := hostports.FreeConfig{Proto: []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}}
	if host, err := hostports.Read(); err == nil && host.Ephemeral.Last < 65535-1000 {
		cfg.Range = ports.Range{First: host.Ephemeral.Last + 1, Last: 65535}
	}
	return uint16(porttest.FreePort(t, cfg))
}

// listenTCP4 listens on 127.0.0.1 on a quietPort.
func listenTCP4(t *testing.T) (net.Listener, netip.AddrPort) {
	t.Helper()
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(quietPort(t)))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).AddrPort()
}

// listenTCP6 listens on [::1] (port 0 for any), or skips the test
// without IPv6.
func listenTCP6(t *testing.T, port uint16) (net.Listener, netip.AddrPort) {
	t.Helper()
	l, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(int(port))))
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).AddrPort()
}

func TestLsListeners(t *testing.T) {
	requireSockets(t)
	_, tcp4 := listenTCP4(t)
	udp4c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tcp4.Port())))
	if err != nil {
		t.Skipf("udp port %d is taken: %v", tcp4.Port(), err)
	}
	defer udp4c.Close()
	udp4 := udp4c.LocalAddr().(*net.UDPAddr).AddrPort()
	_, tcp6 := listenTCP6(t, tcp4.Port())
	udp6c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv6Loopback(), tcp4.Port())))
	if err != nil {
		t.Skipf("udp6 port %d is taken: %v", tcp4.Port(), err)
	}
	defer udp6c.Close()
	udp6 := udp6c.LocalAddr().(*net.UDPAddr).AddrPort()
	p := strconv.Itoa(int(tcp4.Port()))

	socks := runJSON(t, "ls", "--json", "--port", p)
	for _, k := range []string{
		keyOf("tcp", "LISTEN", tcp4, netip.AddrPort{}),
		keyOf("tcp", "LISTEN", tcp6, netip.AddrPort{}),
		keyOf("udp", "UNCONN", udp4, netip.AddrPort{}),
		keyOf("udp", "UNCONN", udp6, netip.AddrPort{}),
	} {
		s := expectOne(t, socks, k)
		if s.Ephemeral || s.ServicePort != tcp4.Port() || s.Remote != nil || s.Inode == 0 {
			t.Errorf("%s: %+v, want not ephemeral, service port %d, no remote, an inode", k, s, tcp4.Port())
		}
	}
	if len(socks) != 4 {
		t.Errorf("ls --port %s: %d sockets, want 4: %+v", p, len(socks), socks)
	}

	// The filters.
	// Count only sockets on our endpoints, in case another process
	// binds the port number elsewhere.
	ours := map[render.AddrPortV1]bool{}
	for _, ap := range []netip.AddrPort{tcp4, tcp6, udp4, udp6} {
		ours[render.AddrPortOf(ap)] = true
	}
	count := func(args ...string) int {
		t.Helper()
		n := 0
		for _, s := range runJSON(t, append([]string{"ls", "--json", "--port", p}, args...)...) {
			if ours[s.Local] {
				n++
			}
		}
		return n
	}
	me := strconv.Itoa(os.Getpid())
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"--tcp"}, 2},
		{[]string{"-u"}, 2},
		{[]string{"-t", "-u"}, 4},
		{[]string{"-4"}, 2},
		{[]string{"-6", "--udp"}, 1},
		{[]string{"-4", "-6"}, 4},
		{[]string{"--pid", me}, 4},
		{[]string{"--pid", "1"}, 0},
		{[]string{"--proc", strings.ToUpper(procName(t))}, 4},
		{[]string{"--proc", "no-such-process-name"}, 0},
		{[]string{"--no-procs"}, 4},
		{[]string{"--state", "listen"}, 2},
		{[]string{"--state", "unconn,listen"}, 4},
		{[]string{"--state", "estab"}, 0},
	} {
		if got := count(tt.args...); got != tt.want {
			t.Errorf("ls --port %s %s: %d sockets, want %d", p, strings.Join(tt.args, " "), got, tt.want)
		}
	}
	// --port in the set grammar, per protocol.
	if got := len(runJSON(t, "ls", "--json", "--port", "U:"+p)); got != 2 {
		t.Errorf("ls --port U:%s: %d sockets, want the 2 UDP ones", p, got)
	}
	if got := len(runJSON(t, "ls", "--json", "--port", "T:"+p+",U:1")); got != 2 {
		t.Errorf("ls --port T:%s,U:1: %d sockets, want the 2 TCP ones", p, got)
	}

	// --no-procs leaves processes null; otherwise they are an array.
	for _, s := range runJSON(t, "ls", "--json", "--no-procs", "--port", p) {
		if s.Processes != nil {
			t.Errorf("--no-procs: processes %+v, want null", s.Processes)
		}
	}

	// The table.
	code, out, _ := run(t, "ls", "--port", p)
	if code != ExitOK {
		t.Fatalf("ls table: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "PROTO") || !strings.Contains(lines[0], "PROCESS") {
		t.Fatalf("ls table: want a header and 4 rows:\n%s", out)
	}
	for _, line := range lines[1:] {
		if !strings.Contains(line, procName(t)+"/"+me) || !strings.Contains(line, " * ") {
			t.Errorf("row %q lacks %s/%s or the * peer", line, procName(t), me)
		}
	}
	if !strings.HasPrefix(lines[1], "tcp ") || !strings.HasPrefix(lines[4], "udp ") {
		t.Errorf("rows not sorted by protocol:\n%s", out)
	}
	code, out, _ = run(t, "ls", "--no-procs", "--port", p)
	if code != ExitOK || strings.Contains(out, "PROCESS") {
		t.Errorf("ls --no-procs: exit %d, want no PROCESS column:\n%s", code, out)
	}

	// jsonl: one socket per line.
	code, out, _ = run(t, "ls", "--format", "jsonl", "--port", p)
	if n := strings.Count(out, "\n"); code != ExitOK || n != 4 {
		t.Errorf("ls --format jsonl: exit %d, %d lines, want 4:\n%s", code, n, out)
	}
}

// procName is this process's command name, as /proc/self/comm gives it.
func procName(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skipf("no /proc/self/comm: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func TestLsConnections(t *testing.T) {
	requireSockets(t)
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			var l net.Listener
			var lap netip.AddrPort
			if network == "tcp4" {
				l, lap = listenTCP4(t)
			} else {
				l, lap = listenTCP6(t, quietPort(t))
			}
			accepted := acceptAll(t, l)
			c, err := net.Dial(network, lap.String())
			if err != nil {
				t.Fatal(err)
			}
			s := accepted()
			cap := c.LocalAddr().(*net.TCPAddr).AddrPort()
			p := strconv.Itoa(int(lap.Port()))

			socks := runJSON(t, "ls", "-a", "--json", "--port", p)
			expectOne(t, socks, keyOf("tcp", "LISTEN", lap, netip.AddrPort{}))
			client := expectOne(t, socks, keyOf("tcp", "ESTAB", cap, lap))
			server := expectOne(t, socks, keyOf("tcp", "ESTAB", lap, cap))
			if client.ServicePort != lap.Port() || server.ServicePort != lap.Port() {
				t.Errorf("service ports: client %d, server %d, want the listener's %d both", client.ServicePort, server.ServicePort, lap.Port())
			}
			host, err := hostports.Read()
			if err == nil && host.InEphemeral(ports.Port(cap.Port())) && !client.Ephemeral {
				t.Errorf("client port %d is in the ephemeral range %v but not marked", cap.Port(), host.Ephemeral)
			}
			if server.Ephemeral {
				t.Errorf("server side %v is marked ephemeral, but its port is the listener's", lap)
			}
			if n := len(notTimeWait(socks)); n != 3 {
				t.Errorf("ls -a --port %s: %d sockets (not in TIME-WAIT), want 3: %+v", p, n, socks)
			}
			// A remote port matches too: the client side alone has the
			// client's port as local port, the server side as remote.
			cp := strconv.Itoa(int(cap.Port()))
			if got := runJSON(t, "ls", "-a", "--json", "--port", cp); len(find(got, keyOf("tcp", "ESTAB", cap, lap))) != 1 || len(find(got, keyOf("tcp", "ESTAB", lap, cap))) != 1 {
				t.Errorf("ls -a --port %s (the client's port) lacks a side of the connection: %+v", cp, got)
			}
			// Without -a, only the listener.
			if got := runJSON(t, "ls", "--json", "--port", p); len(got) != 1 || got[0].State != "LISTEN" {
				t.Errorf("ls --port %s without -a: %+v, want the listener only", p, got)
			}

			// Close with a reset, leaving no TIME-WAIT: everything goes.
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			s.Close()
			l.Close()
			eventually(t, func() error {
				got := runJSON(t, "ls", "-a", "--json", "--port", p)
				for _, s := range got {
					if s.Local == render.AddrPortOf(lap) || s.Local == render.AddrPortOf(cap) {
						return fmt.Errorf("after closing, ls -a --port %s still lists %s", p, sockKey(s))
					}
				}
				return nil
			})
		})
	}
}

func TestLsWatch(t *testing.T) {
	requireSockets(t)
	_, lap := listenTCP4(t)
	p := strconv.Itoa(int(lap.Port()))

	// jsonl: one line per listing; stop after three.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelAfter{lines: 3, cancel: cancel}
	var errb bytes.Buffer
	if code := Run(ctx, []string{"ls", "--watch=1ms", "--format", "jsonl", "--port", p}, w, &errb); code != ExitOK {
		t.Fatalf("ls --watch: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(w.buf.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("ls --watch jsonl: %d lines, want 3 or more:\n%s", len(lines), w.buf.String())
	}
	for _, line := range lines {
		var socks []render.SocketV1
		if err := json.Unmarshal([]byte(line), &socks); err != nil || len(socks) != 1 || socks[0].Local.Port != lap.Port() {
			t.Errorf("watch line %q: %v; want an array holding the listener", line, err)
		}
	}

	// Tables on something not a terminal: separated by a blank line, each
	// under the time it was taken.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w = &cancelAfter{lines: 7, cancel: cancel}
	if code := Run(ctx, []string{"ls", "--watch=0.001", "--port", p}, w, &errb); code != ExitOK {
		t.Fatalf("ls --watch table: exit %d: %s", code, errb.String())
	}
	stamped := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\nPROTO[^\n]*\n[^\n]+\n\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\nPROTO`)
	if out := w.buf.String(); !stamped.MatchString(out) || strings.Contains(out, "\x1b") {
		t.Errorf("ls --watch to a pipe: want timed tables separated by blank lines, no escapes:\n%q", out)
	}

	// On a terminal: clear the screen before each listing.
	defer func(f func(any) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(any) bool { return true }
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w = &cancelAfter{lines: 8, cancel: cancel}
	if code := Run(ctx, []string{"ls", "--watch=1ms", "--port", p}, w, &errb); code != ExitOK {
		t.Fatalf("ls --watch terminal: exit %d: %s", code, errb.String())
	}
	if out := w.buf.String(); !strings.HasPrefix(out, "\x1b[H\x1b[2J") || strings.Count(out, "\x1b[H\x1b[2J") < 2 {
		t.Errorf("ls --watch on a terminal: want clear-screen before each listing:\n%q", out)
	}
}

// cancelAfter collects output and cancels a context once it holds the
// given number of lines.
type cancelAfter struct {
	buf    bytes.Buffer
	lines  int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if bytes.Count(w.buf.Bytes(), []byte("\n")) >= w.lines {
		w.cancel()
	}
	return len(p), nil
}

func TestWho(t *testing.T) {
	requireSockets(t)
	l, lap := listenTCP4(t)
	accepted := acceptAll(t, l)
	dialTCP(t, lap)
	accepted()
	p := strconv.Itoa(int(lap.Port()))

	socks := runJSON(t, "who", "--json", p)
	if len(socks) != 1 {
		t.Fatalf("who %s: %+v, want the listener alone", p, socks)
	}
	expectOne(t, socks, keyOf("tcp", "LISTEN", lap, netip.AddrPort{}))
	socks = notTimeWait(runJSON(t, "who", "--all", "--json", p+"/tcp"))
	if len(socks) != 3 || socks[0].State != "LISTEN" {
		t.Errorf("who --all %s/tcp: %d sockets, want the listener first and both sides of the connection: %+v", p, len(socks), socks)
	}
	code, out, _ := run(t, "who", p)
	if code != ExitOK || !strings.Contains(out, "/"+strconv.Itoa(os.Getpid())) {
		t.Errorf("who %s: exit %d, output lacks this pid:\n%s", p, code, out)
	}

	// Nothing on UDP there, nor on a free port.
	code, out, stderr := run(t, "who", p+"/udp")
	if code != ExitFailure || out != "" || stderr != "ports who: nothing is listening on port "+p+"/udp\n" {
		t.Errorf("who %s/udp: exit %d, stdout %q, stderr %q", p, code, out, stderr)
	}
	var free ports.Port
	for fp, err := range hostports.Free(context.Background(), hostports.FreeConfig{Proto: []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}}) {
		if err != nil {
			t.Fatal(err)
		}
		free = fp
		break
	}
	code, out, stderr = run(t, "who", free.String())
	if code != ExitFailure || out != "" || stderr != "ports who: nothing is listening on port "+free.String()+"\n" {
		t.Errorf("who %d (free): exit %d, stdout %q, stderr %q", free, code, out, stderr)
	}
	code, out, _ = run(t, "who", "--json", free.String())
	if code != ExitFailure || strings.TrimSpace(out) != "[]" {
		t.Errorf("who --json %d (free): exit %d, stdout %q, want [] and exit 1", free, code, out)
	}
}

func TestInfoListening(t *testing.T) {
	requireSockets(t)
	_, lap := listenTCP4(t)
	p := strconv.Itoa(int(lap.Port()))
	code, out, stderr := run(t, "info", "--json", p)
	if code != ExitOK {
		t.Fatalf("info %s: exit %d: %s", p, code, stderr)
	}
	var infos []render.PortInfoV1
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatal(err)
	}
	want := []render.ListenerV1{{Proto: "tcp", Local: render.AddrPortOf(lap)}}
	if len(infos) != 1 {
		t.Fatalf("info %s: %d entries", p, len(infos))
	}
	got := infos[0].Listening
	for i := range got {
		if len(got[i].Processes) == 0 || got[i].Processes[0].PID != os.Getpid() {
			t.Errorf("listener %+v is not held by this process", got[i])
		}
		got[i].Processes = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("info %s: listening (-want +got):\n%s", p, diff)
	}
	code, out, _ = run(t, "info", p)
	line := fmt.Sprintf("here now: %s (pid %d) on %s/tcp", procName(t), os.Getpid(), lap)
	if code != ExitOK || !strings.Contains(out, "listening") || !strings.Contains(out, line) {
		t.Errorf("info %s table lacks %q:\n%s", p, line, out)
	}
	code, out, _ = run(t, "info", "--json", p+"/udp")
	if code != ExitOK || strings.Contains(out, `"listening"`) {
		t.Errorf("info %s/udp: exit %d; lists a listener:\n%s", p, code, out)
	}
}

func TestEphemeral(t *testing.T) {
	requireSockets(t)
	host, err := hostports.Read()
	if err != nil {
		t.Skipf("no ephemeral range here: %v", err)
	}
	l, lap := listenTCP4(t)
	accepted := acceptAll(t, l)
	const n = 200
	clientPorts := map[uint16]bool{}
	for range n {
		c := dialTCP(t, lap)
		accepted()
		cp := c.LocalAddr().(*net.TCPAddr).AddrPort().Port()
		if !host.InEphemeral(ports.Port(cp)) {
			t.Skipf("the kernel gave port %d, outside the ephemeral range %v", cp, host.Ephemeral)
		}
		clientPorts[cp] = true
	}

	code, out, stderr := run(t, "ephemeral", "--json", "-n", "0")
	if code != ExitOK {
		t.Fatalf("ephemeral: exit %d: %s", code, stderr)
	}
	var rep render.EphemeralV1
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Range != host.Ephemeral.String() || rep.Size != host.Ephemeral.Len() {
		t.Errorf("range %s (%d ports), want %v", rep.Range, rep.Size, host.Ephemeral)
	}
	var dest *render.EphemeralDestV1
	for i, d := range rep.Destinations {
		if d.Proto == "tcp" && d.Remote == render.AddrPortOf(lap) {
			dest = &rep.Destinations[i]
		}
	}
	if dest == nil {
		t.Fatalf("no destination %v among %+v", lap, rep.Destinations)
	}
	// Connections of an earlier run to the same port may linger in
	// TIME-WAIT.
	if dest.Sockets-dest.TimeWait != n || dest.BusiestSockets < n || dest.Busiest != "127.0.0.1" || dest.LocalAddrs != 1 || dest.TimeWait != 0 {
		t.Errorf("destination %v: %+v, want %d sockets from 127.0.0.1", lap, *dest, n)
	}
	if rep.TCP.Sockets < n || rep.TCP.Ports < n {
		t.Errorf("tcp use %+v, want at least %d sockets and ports", rep.TCP, n)
	}
	if rep.DestinationsTotal != len(rep.Destinations) {
		t.Errorf("-n 0 listed %d of %d destinations", len(rep.Destinations), rep.DestinationsTotal)
	}

	// A low --warn makes it warn about our destination; -n 1 keeps one.
	code, out, _ = run(t, "ephemeral", "--warn", "0.1", "-n", "1")
	if code != ExitOK || !strings.Contains(out, "warning: "+lap.String()+"/tcp: ") || !strings.Contains(out, "ephemeral range "+host.Ephemeral.String()) {
		t.Errorf("ephemeral --warn 0.1: exit %d, lacks the range or a warning for %v:\n%s", code, lap, out)
	}
	code, out, _ = run(t, "ephemeral", "--format", "jsonl")
	if code != ExitOK || strings.Count(out, "\n") != 1 {
		t.Errorf("ephemeral --format jsonl: exit %d, want one line:\n%s", code, out)
	}
}

func TestSocketErrors(t *testing.T) {
	requireSockets(t)
	tests := []struct {
		args    []string
		code    int
		errWant string
	}{
		{[]string{"ls", "--port", "70000"}, ExitUsage, `ports ls: invalid port set "70000"`},
		{[]string{"ls", "--port", "S:80"}, ExitUsage, `"S:80"`},
		{[]string{"ls", "--state", "bogus"}, ExitUsage, `"bogus"`},
		{[]string{"ls", "--state", "listen,bogus"}, ExitUsage, `"bogus"`},
		{[]string{"ls", "--netns", "/nonexistent"}, ExitFailure, `"/nonexistent"`},
		{[]string{"ls", "--netns", "no-such-netns-name"}, ExitFailure, `"no-such-netns-name"`},
		{[]string{"ls", "--watch=0"}, ExitUsage, `"0"`},
		{[]string{"ls", "--watch=soon"}, ExitUsage, `"soon"`},
		{[]string{"ls", "--watch", "5s"}, ExitUsage, "--watch=5s"},
		{[]string{"ls", "--pid", "0"}, ExitUsage, "--pid 0"},
		{[]string{"ls", "--pid", "x"}, ExitUsage, `"x"`},
		{[]string{"ls", "--proc", "x", "--no-procs"}, ExitUsage, "--no-procs"},
		{[]string{"ls", "extra"}, ExitUsage, `"extra"`},
		{[]string{"ls", "--local", "localhost"}, ExitUsage, `--local: address filter "localhost"`},
		{[]string{"ls", "--peer", "10.0.0.0/33"}, ExitUsage, `--peer: address filter "10.0.0.0/33"`},
		{[]string{"ls", "--peer", "10.0.0.1:http"}, ExitUsage, `"10.0.0.1:http"`},
		{[]string{"ls", "--events", "--format", "json"}, ExitUsage, "--format jsonl"},
		{[]string{"ls", "--events", "-i"}, ExitUsage, "--events does not go with"},
		{[]string{"who"}, ExitUsage, "missing PORT"},
		{[]string{"who", "80", "81"}, ExitUsage, `"81"`},
		{[]string{"who", "70000"}, ExitUsage, `"70000"`},
		{[]string{"who", "80/sctp"}, ExitUsage, `"sctp"`},
		{[]string{"who", "0"}, ExitUsage, "port 0 is never listened on"},
		{[]string{"kill", "0/tcp"}, ExitUsage, "port 0 is never listened on"},
		{[]string{"who", "no-such-service-xyz"}, ExitUsage, `"no-such-service-xyz"`},
		{[]string{"who", "--netns", "/nonexistent", "80"}, ExitFailure, `"/nonexistent"`},
		{[]string{"kill", "--signal", "BOGUS", "80"}, ExitUsage, `"BOGUS"`},
		{[]string{"kill", "--signal", "999", "80"}, ExitUsage, `"999"`},
		{[]string{"kill", "--dry-run", "70000"}, ExitUsage, `"70000"`},
		{[]string{"kill"}, ExitUsage, "missing PORT"},
		{[]string{"ephemeral", "-n", "-1"}, ExitUsage, "-n must be"},
		{[]string{"ephemeral", "--warn", "0"}, ExitUsage, "--warn 0"},
		{[]string{"ephemeral", "--warn", "101"}, ExitUsage, "--warn 101"},
		{[]string{"ephemeral", "--netns", "/nonexistent"}, ExitFailure, `"/nonexistent"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.errWant) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.errWant)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "ports "+tt.args[0]+": ") {
				t.Errorf("stderr %q is not one line starting with the command name", stderr)
			}
		})
	}
}

// TestIntegrationNetNS checks that --netns lists another namespace's
// sockets, and only there. It needs root (porttest.NewPair skips).
func TestIntegrationNetNS(t *testing.T) {
	requireSockets(t)
	pair := porttest.NewPair(t, nil)
	l, err := pair.A.Listen("tcp", netip.AddrPortFrom(pair.A.Addr4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lap := l.Addr().(*net.TCPAddr).AddrPort()
	p := strconv.Itoa(int(lap.Port()))
	key := keyOf("tcp", "LISTEN", lap, netip.AddrPort{})

	expectOne(t, runJSON(t, "ls", "--json", "--netns", pair.A.Name, "--port", p), key)
	if got := find(runJSON(t, "ls", "--json", "--port", p), key); len(got) != 0 {
		t.Errorf("the listener in %s shows in this namespace: %+v", pair.A.Name, got)
	}
	if got := find(runJSON(t, "ls", "--json", "--netns", pair.B.Name, "--port", p), key); len(got) != 0 {
		t.Errorf("the listener in %s shows in %s: %+v", pair.A.Name, pair.B.Name, got)
	}
	expectOne(t, runJSON(t, "who", "--json", "--netns", pair.A.Name, p), key)
	if code, _, _ := run(t, "who", p+"/tcp"); code == ExitOK {
		// Something else may hold the port here; it must not be ours.
		for _, s := range runJSON(t, "who", "--json", p+"/tcp") {
			if s.Local == render.AddrPortOf(lap) {
				t.Errorf("who %s in this namespace finds the listener of %s", p, pair.A.Name)
			}
		}
	}
}

// TestLsMatchesSS holds about 2000 loopback sockets and checks that
// `ports ls -a --tcp` lists the same (state, local, remote, owning pids)
// set as `ss -tanp`.
// Sockets in TIME-WAIT are left out on both sides: the test makes none,
// but those of an earlier run on the same port can expire between the
// two listings.
func TestLsMatchesSS(t *testing.T) {
	requireSockets(t)
	ss, err := exec.LookPath("ss")
	if err != nil {
		t.Skipf("needs ss from iproute2: %v", err)
	}
	const conns = 1000
	l, lap := listenTCP4(t)
	accepted := acceptAll(t, l)
	for range conns {
		dialTCP(t, lap)
		accepted()
	}
	p := strconv.Itoa(int(lap.Port()))

	out, err := exec.Command(ss, "-tanpH", "( sport = :"+p+" or dport = :"+p+" )").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			t.Fatalf("ss line %q: want state, recv-q, send-q, local, peer", sc.Text())
		}
		if f[0] != "TIME-WAIT" {
			// users:(("cli.test",pid=1234,fd=7),...) names the owners.
			var pids []string
			for _, m := range ssPID.FindAllStringSubmatch(strings.Join(f[5:], " "), -1) {
				pids = append(pids, m[1])
			}
			slices.Sort(pids)
			want = append(want, ssKey(t, f[0], f[3], f[4])+" pids="+strings.Join(pids, ","))
		}
	}
	var got []string
	for _, s := range notTimeWait(runJSON(t, "ls", "-a", "--tcp", "--json", "--port", p)) {
		var pids []string
		for _, proc := range s.Processes {
			pids = append(pids, strconv.Itoa(proc.PID))
		}
		slices.Sort(pids)
		got = append(got, sockKey(s)+" pids="+strings.Join(pids, ","))
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) != 2*conns+1 {
		t.Errorf("ss lists %d sockets, want %d", len(want), 2*conns+1)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ports ls -a --tcp --port %s vs ss -tanp (-ss +ports):\n%s", p, diff)
	}
	if mine := "pids=" + strconv.Itoa(os.Getpid()); !strings.HasSuffix(got[0], mine) {
		t.Errorf("first socket %q is not owned by this test (%s)", got[0], mine)
	}
}

var ssPID = regexp.MustCompile(`pid=(\d+)`)

// ssKey turns a line of ss -tan into a sockKey.
func ssKey(t *testing.T, state, local, peer string) string {
	t.Helper()
	lap, err := netip.ParseAddrPort(local)
	if err != nil {
		t.Fatalf("ss local %q: %v", local, err)
	}
	var rap netip.AddrPort
	if !strings.HasSuffix(peer, ":*") {
		if rap, err = netip.ParseAddrPort(peer); err != nil {
			t.Fatalf("ss peer %q: %v", peer, err)
		}
	}
	return keyOf("tcp", state, lap, rap)
}
