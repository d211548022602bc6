package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/portkit/ports/internal/systemd"
	"github.com/portkit/ports/mapper"
)

// service is a daemon's side of systemd: the notify protocol and, for
// the rule servers, the sockets passed by socket activation. Outside
// systemd (no NOTIFY_SOCKET, no LISTEN_FDS) every method does nothing.
type service struct {
	n     *systemd.Notifier
	socks *systemd.Sockets
	log   *slog.Logger

	spaOpen int
}

// startService reads systemd's variables and runs the watchdog pings
// until ctx ends.
func startService(ctx context.Context, log *slog.Logger) (*service, error) {
	socks, err := systemd.ListenFromEnv()
	if err != nil {
		return nil, err
	}
	s := &service{n: systemd.FromEnv(), socks: socks, log: log}
	go s.n.Watchdog(ctx)
	return s, nil
}

func (s *service) send(err error) {
	if err != nil {
		s.log.Warn("cannot tell systemd", "err", err.Error())
	}
}

// sockets is what a mapper.Config takes for socket activation: nil
// when no socket was passed, so rules bind as usual.
func (s *service) sockets() func(mapper.Rule) ([]*net.TCPListener, []*net.UDPConn, error) {
	if len(s.socks.List()) == 0 {
		return nil
	}
	return s.socks.ForRule
}

// ready is sent once every rule listens.
func (s *service) ready(srv *mapper.Server, rules int) {
	for _, u := range s.socks.Unused() {
		s.log.Warn("passed socket used by no rule", "name", u.Name, "addr", u.Addr.String())
	}
	s.send(s.n.Ready(fmt.Sprintf("%d rules running", rules)))
}

// readyText is ready for a daemon without rules (knockd).
func (s *service) readyText(status string) { s.send(s.n.Ready(status)) }

func (s *service) reloading(why string) { s.send(s.n.Reloading("reloading: " + why)) }

// reloaded ends a reload: what it did, or why the old state stays.
func (s *service) reloaded(srv *mapper.Server, err error) {
	if err != nil {
		s.send(s.n.Ready("reload refused, old rules keep running: " + err.Error()))
		return
	}
	st := srv.LastApply()
	s.send(s.n.Ready(fmt.Sprintf("reloaded: %d rules kept, %d started, %d stopped", st.Kept, st.Started, st.Stopped)))
}

func (s *service) stopping() { s.send(s.n.Stopping("shutting down")) }

// textHandler is slog's text handler on stderr, with each line's
// syslog priority before it when stderr is the journal.
func textHandler(stderr io.Writer) slog.Handler {
	return systemd.JournalHandler(stderr, func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) })
}

// knockdListening is knock.ServerConfig.Listening: READY=1 once the
// capture is open (the first time; after a reload, knockdReloaded says
// it).
func (s *service) knockdListening(doors int) func(string) {
	var once sync.Once
	return func(iface string) {
		once.Do(func() { s.send(s.n.Ready(fmt.Sprintf("watching %s for %d doors", iface, doors))) })
	}
}

func (s *service) knockdReloaded(doors int, err error) {
	if err != nil {
		s.send(s.n.Ready("reload refused, old doors kept: " + err.Error()))
		return
	}
	s.send(s.n.Ready(fmt.Sprintf("reloaded: %d doors", doors)))
}

// journalLineLogger is newLineLogger whose lines on the first writer
// (standard error) carry their syslog priority when it is the journal.
func journalLineLogger(w ...io.Writer) *slog.Logger {
	return slog.New(systemd.JournalHandler(w[0], func(first io.Writer) slog.Handler {
		return newLineLogger(append([]io.Writer{first}, w[1:]...)...).Handler()
	}))
}

// spaListening counts the SPA sockets open: READY=1 once all of them are.
func (s *service) spaListening(a netip.AddrPort, of int) {
	s.spaOpen++
	if s.spaOpen == of {
		s.send(s.n.Ready(fmt.Sprintf("receiving SPA on %d sockets", of)))
	}
}
