package systemd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// A Notifier sends state changes to the service manager. The nil
// *Notifier (what [FromEnv] returns outside systemd) does nothing.
type Notifier struct {
	addr     string
	watchdog time.Duration
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET, or nil when it is not
// set. It unsets NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID so that
// the commands the daemon runs (knockd's Start_Command) do not talk to
// the service manager in its name.
func FromEnv() *Notifier {
	addr := os.Getenv("NOTIFY_SOCKET")
	wd := watchdogFromEnv()
	os.Unsetenv("NOTIFY_SOCKET")
	os.Unsetenv("WATCHDOG_USEC")
	os.Unsetenv("WATCHDOG_PID")
	if addr == "" {
		return nil
	}
	return &Notifier{addr: addr, watchdog: wd}
}

// watchdogFromEnv is WATCHDOG_USEC when it is meant for this process
// (WATCHDOG_PID unset or ours), else 0.
func watchdogFromEnv() time.Duration {
	if p := os.Getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(os.Getpid()) {
		return 0
	}
	us, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 63)
	if err != nil || us == 0 || us > uint64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

// ErrBadSocket is returned by Notify for a NOTIFY_SOCKET that is neither
// a path nor an abstract ('@') name: systemd also allows vsock
// addresses, which this package does not speak.
var ErrBadSocket = errors.New("NOTIFY_SOCKET is not a unix socket path or an abstract name")

// Notify sends state, newline-separated VAR=value assignments, in one
// datagram.
func (n *Notifier) Notify(state string) error {
	if n == nil {
		return nil
	}
	if n.addr[0] != '/' && n.addr[0] != '@' {
		return ErrBadSocket
	}
	// Go's unix sockets take a leading '@' as Linux's abstract
	// namespace, as systemd means it.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", n.addr, err)
	}
	defer c.Close()
	// A datagram to a full socket blocks; the manager not reading must
	// not stop the daemon.
	c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", n.addr, err)
	}
	return nil
}

// status makes a STATUS= line of s: one line, as systemctl status
// shows it.
func status(s string) string {
	if s == "" {
		return ""
	}
	return "\nSTATUS=" + strings.ReplaceAll(s, "\n", " ")
}

// Ready says that the daemon serves: every listener is open.
func (n *Notifier) Ready(statusText string) error {
	return n.Notify("READY=1" + status(statusText))
}

// Reloading says that a reload started; Ready ends it. MONOTONIC_USEC
// lets systemd (Type=notify-reload) tell this reload from an earlier one.
func (n *Notifier) Reloading(statusText string) error {
	msg := "RELOADING=1"
	if us, ok := monotonicUsec(); ok {
		msg += "\nMONOTONIC_USEC=" + strconv.FormatUint(us, 10)
	}
	return n.Notify(msg + status(statusText))
}

// Stopping says that the daemon is shutting down.
func (n *Notifier) Stopping(statusText string) error {
	return n.Notify("STOPPING=1" + status(statusText))
}

// Status changes only the status text.
func (n *Notifier) Status(statusText string) error {
	if statusText == "" {
		return nil
	}
	return n.Notify(status(statusText)[1:])
}

// WatchdogInterval is how often [Notifier.Watchdog] pings: half of
// WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; 0 when the watchdog
// is off.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog / 2
}

// Watchdog sends WATCHDOG=1 every WatchdogInterval until ctx ends; it
// returns at once when the watchdog is off. Run it in its own goroutine.
func (n *Notifier) Watchdog(ctx context.Context) {
	every := n.WatchdogInterval()
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.Notify("WATCHDOG=1")
		}
	}
}
