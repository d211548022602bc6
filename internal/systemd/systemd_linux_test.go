//go:build linux

package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func listenGram(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readGram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	b := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := c.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

// TestNotifyAbstractSocket: an '@' NOTIFY_SOCKET is Linux's abstract
// namespace, which systemd uses for its own notify socket.
func TestNotifyAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@ports-test-%d", rand.Uint64())
	c := listenGram(t, name)
	t.Setenv("NOTIFY_SOCKET", name)
	n := FromEnv()
	if os.Getenv("NOTIFY_SOCKET") != "" {
		t.Error("NOTIFY_SOCKET left set for the commands the daemon runs")
	}
	if err := n.Ready("serving\nall"); err != nil {
		t.Fatal(err)
	}
	if got, want := readGram(t, c), "READY=1\nSTATUS=serving all"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := n.Stopping(""); err != nil {
		t.Fatal(err)
	}
	if got := readGram(t, c); got != "STOPPING=1" {
		t.Errorf("got %q", got)
	}
}

// TestNotifyUnsetIsNoop: outside systemd nothing is sent and nothing
// fails.
func TestNotifyUnsetIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv()
	if n != nil {
		t.Fatalf("FromEnv() = %v without NOTIFY_SOCKET", n)
	}
	for _, err := range []error{n.Ready("x"), n.Reloading("x"), n.Stopping("x"), n.Status("x")} {
		if err != nil {
			t.Error(err)
		}
	}
	n.Watchdog(context.Background()) // returns at once
}

// TestNotifyVsockRefused: a vsock NOTIFY_SOCKET is named as such, not
// dialled as a relative path.
func TestNotifyVsockRefused(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	if err := FromEnv().Ready(""); !errors.Is(err, ErrBadSocket) {
		t.Errorf("err = %v, want ErrBadSocket", err)
	}
}

// TestWatchdogPingsAtHalfTheTimeout: WATCHDOG_USEC=200000 gives pings
// every 100ms; another process's WATCHDOG_PID turns it off.
func TestWatchdogPingsAtHalfTheTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n")
	c := listenGram(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	n := FromEnv()
	if got := n.WatchdogInterval(); got != 100*time.Millisecond {
		t.Fatalf("interval %v, want 100ms", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Watchdog(ctx)
	for range 2 {
		if got := readGram(t, c); got != "WATCHDOG=1" {
			t.Fatalf("got %q", got)
		}
	}
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "1")
	if got := FromEnv().WatchdogInterval(); got != 0 {
		t.Errorf("watchdog of pid 1 taken: %v", got)
	}
}

// TestListenFromEnvErrors: malformed variables are refused with what is
// wrong; another process's LISTEN_PID, or none, passes nothing.
func TestListenFromEnvErrors(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tc := range []struct{ pid, fds, names, want string }{
		{me, "x", "", `LISTEN_FDS="x": not a count`},
		{me, "-1", "", `LISTEN_FDS="-1": not a count`},
		{me, "5000", "", "LISTEN_FDS=5000: more than 1024 sockets"},
		{me, "2", "a", "LISTEN_FDNAMES has 1 names for 2 sockets"},
	} {
		t.Setenv("LISTEN_PID", tc.pid)
		t.Setenv("LISTEN_FDS", tc.fds)
		t.Setenv("LISTEN_FDNAMES", tc.names)
		_, err := ListenFromEnv()
		if !errors.Is(err, ErrListenEnv) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc, err, tc.want)
		}
	}
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "1")
	s, err := ListenFromEnv()
	if err != nil || len(s.List()) != 0 {
		t.Errorf("LISTEN_PID=1: %v, %v", s.List(), err)
	}
	if os.Getenv("LISTEN_FDS") != "" {
		t.Error("LISTEN_FDS left set")
	}
}

// TestJournalHandlerPriorities: with JOURNAL_STREAM naming the file,
// each line gets its syslog priority; naming another, none.
func TestJournalHandlerPriorities(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	unix.Fstat(int(f.Fd()), &st)
	text := func(w io.Writer) slog.Handler {
		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	log := slog.New(JournalHandler(f, text)).With("rule", "web")
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.Error("e")
	b, _ := os.ReadFile(f.Name())
	var prefixes []string
	for line := range strings.Lines(string(b)) {
		prefixes = append(prefixes, line[:3])
		if !strings.Contains(line, "rule=web") {
			t.Errorf("line %q lost the logger's attributes", line)
		}
	}
	if got := strings.Join(prefixes, ""); got != "<7><6><4><3>" {
		t.Errorf("prefixes %s, want <7><6><4><3>", got)
	}

	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1))
	var buf bytes.Buffer
	slog.New(JournalHandler(f, text)).Warn("w")
	slog.New(JournalHandler(&buf, text)).Warn("w")
	b, _ = os.ReadFile(f.Name())
	if last := string(b[bytes.LastIndexByte(b[:len(b)-1], '\n')+1:]); strings.HasPrefix(last, "<") || strings.HasPrefix(buf.String(), "<") {
		t.Errorf("prefixed although not the journal: %q %q", last, buf.String())
	}
}
