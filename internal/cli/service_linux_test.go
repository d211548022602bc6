//go:build linux

package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSystemd is a unix datagram socket standing in for systemd's
// notify socket.
type fakeSystemd struct {
	path string
	c    *net.UnixConn
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeSystemd{path: path, c: c}
}

// next returns the next message's assignments.
func (s *fakeSystemd) next(t *testing.T) map[string]string {
	t.Helper()
	buf := make([]byte, 4096)
	s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := s.c.Read(buf)
	if err != nil {
		t.Fatalf("no message from the service: %v", err)
	}
	m := map[string]string{}
	for line := range strings.SplitSeq(string(buf[:n]), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

// expect reads the next message and checks that key=value is in it.
func (s *fakeSystemd) expect(t *testing.T, key, value string) map[string]string {
	t.Helper()
	m := s.next(t)
	if m[key] != value {
		t.Fatalf("message %v: want %s=%s", m, key, value)
	}
	return m
}

func startChild(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	var stderr lockedBuf
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("child's stderr:\n%s", stderr.String())
		}
	})
	return cmd
}

func monotonicNow(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3
}

// TestServeNotifyReadyReloadStopping runs `ports serve` as systemd
// would with Type=notify: READY=1 only once its rule accepts, RELOADING=1
// (with MONOTONIC_USEC) then READY=1 with what the reload did on SIGHUP,
// the reason in STATUS for a refused file, and STOPPING=1 on SIGTERM.
func TestServeNotifyReadyReloadStopping(t *testing.T) {
	sd := newFakeSystemd(t)
	echo := echoServer(t)
	listen := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	cfg := filepath.Join(t.TempDir(), "serve.toml")
	rule := fmt.Sprintf("[[rule]]\nname = \"web\"\ntype = \"tcp\"\nlisten = %q\nto = [%q]\n", listen, echo)
	if err := os.WriteFile(cfg, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := childCommand(t, exec.Command, "serve", "-c", cfg)
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sd.path)
	startChild(t, cmd)

	m := sd.expect(t, "READY", "1")
	// Ready means serving: a connection made the moment READY=1 arrives
	// goes through.
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatalf("READY=1 (%v) but the rule does not accept: %v", m, err)
	}
	if err := echoOnce(c, "ready"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if m["STATUS"] != "1 rules running" {
		t.Errorf("STATUS=%q", m["STATUS"])
	}

	before := monotonicNow(t)
	cmd.Process.Signal(syscall.SIGHUP)
	m = sd.expect(t, "RELOADING", "1")
	us, err := strconv.ParseUint(m["MONOTONIC_USEC"], 10, 64)
	if err != nil || us < before || us > monotonicNow(t) {
		t.Errorf("MONOTONIC_USEC=%q, want CLOCK_MONOTONIC between %d and now", m["MONOTONIC_USEC"], before)
	}
	m = sd.expect(t, "READY", "1")
	if want := "reloaded: 1 rules kept, 0 started, 0 stopped"; m["STATUS"] != want {
		t.Errorf("STATUS=%q, want %q", m["STATUS"], want)
	}

	// A second rule added, then a file with a problem: refused, and
	// STATUS says why.
	added := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	rule2 := rule + fmt.Sprintf("\n[[rule]]\nname = \"added\"\ntype = \"tcp\"\nlisten = %q\nto = [%q]\n", added, echo)
	os.WriteFile(cfg, []byte(rule2), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	sd.expect(t, "RELOADING", "1")
	m = sd.expect(t, "READY", "1")
	if want := "reloaded: 1 rules kept, 1 started, 0 stopped"; m["STATUS"] != want {
		t.Errorf("STATUS=%q, want %q", m["STATUS"], want)
	}
	os.WriteFile(cfg, []byte("[[rule]]\nname = \"bad\"\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	sd.expect(t, "RELOADING", "1")
	m = sd.expect(t, "READY", "1")
	if !strings.HasPrefix(m["STATUS"], "reload refused, old rules keep running: ") || !strings.Contains(m["STATUS"], cfg) {
		t.Errorf("STATUS=%q, want the refusal naming the file", m["STATUS"])
	}
	if !dialable(listen) || !dialable(added) {
		t.Error("a refused reload stopped the rules")
	}

	cmd.Process.Signal(syscall.SIGTERM)
	sd.expect(t, "STOPPING", "1")
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
}

// TestServeSocketActivation passes two listening sockets as systemd
// does (fds 3 and 4, LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES): the rule
// listening on the first one's address serves it, and the rule named
// like the second one serves it although its own listen address is
// another port. Both sockets stay open here, so a rule binding its
// address itself would fail.
func TestServeSocketActivation(t *testing.T) {
	sd := newFakeSystemd(t)
	echo := echoServer(t)
	var files []*os.File
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp4", testHost+":0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close(); f.Close() })
		files = append(files, f)
		addrs = append(addrs, ln.Addr().String())
	}
	unbound := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	cfg := filepath.Join(t.TempDir(), "serve.toml")
	rules := fmt.Sprintf("[[rule]]\nname = \"byaddr\"\ntype = \"tcp\"\nlisten = %q\nto = [%q]\n\n", addrs[0], echo) +
		fmt.Sprintf("[[rule]]\nname = \"byname\"\ntype = \"tcp\"\nlisten = %q\nto = [%q]\n", unbound, echo)
	if err := os.WriteFile(cfg, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	// LISTEN_PID is the service's own pid, known only once it runs: a
	// shell sets it to its pid and execs the child.
	viaShell := func(name string, args ...string) *exec.Cmd {
		return exec.Command("sh", append([]string{"-c", `export LISTEN_PID=$$; exec "$@"`, "sh", name}, args...)...)
	}
	cmd := childCommand(t, viaShell, "serve", "-c", cfg)
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sd.path, "LISTEN_FDS=2", "LISTEN_FDNAMES=web:byname")
	cmd.ExtraFiles = files
	startChild(t, cmd)
	sd.expect(t, "READY", "1")
	for _, a := range addrs {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		if err := echoOnce(c, "through "+a); err != nil {
			t.Errorf("passed socket %s: %v", a, err)
		}
		c.Close()
	}
	if dialable(unbound) {
		t.Errorf("rule byname bound its own address %s besides the passed socket", unbound)
	}
	// A reload restarting the rules serves the same passed sockets.
	os.WriteFile(cfg, []byte(strings.ReplaceAll(rules, "byaddr", "renamed")), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	sd.expect(t, "RELOADING", "1")
	if m := sd.expect(t, "READY", "1"); m["STATUS"] != "reloaded: 1 rules kept, 1 started, 1 stopped" {
		t.Errorf("STATUS=%q", m["STATUS"])
	}
	c, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(c, "after reload"); err != nil {
		t.Errorf("passed socket after the reload: %v", err)
	}
	c.Close()
}

// TestServeLogsPrioritiesToJournal runs serve with standard error being
// the stream JOURNAL_STREAM names: each text line starts with its
// syslog priority, <6> for a rule started, <3> for a refused reload.
func TestServeLogsPrioritiesToJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	listen := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	cfg := filepath.Join(t.TempDir(), "serve.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[[rule]]\nname = \"web\"\ntype = \"tcp\"\nlisten = %q\nto = [%q]\n", listen, echoServer(t))), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"serve", "-c", cfg}, &lockedBuf{}, f) }()
	read := func() string { b, _ := os.ReadFile(f.Name()); return string(b) }
	waitFor(t, "the rule to start", func() bool { return strings.Contains(read(), "rule started") })
	os.WriteFile(cfg, []byte("[[rule]]\nname = \"bad\"\n"), 0o644)
	if err := sendHUP(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused reload", func() bool { return strings.Contains(read(), "reload failed") })
	cancel()
	<-done
	for line := range strings.Lines(read()) {
		var want string
		switch {
		case strings.Contains(line, "rule started"):
			want = "<6>"
		case strings.Contains(line, "reload failed"):
			want = "<3>"
		}
		if !strings.HasPrefix(line, "<") || (want != "" && !strings.HasPrefix(line, want)) {
			t.Errorf("line %q: want the %s priority prefix", line, want)
		}
	}
}
