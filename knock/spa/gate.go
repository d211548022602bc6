package spa

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/portkit/ports/knock"
)

// Send sends an SPA packet to the address by UDP, as the fwknop client
// does (one datagram, no answer expected).
func Send(ctx context.Context, to netip.AddrPort, packet string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", to.String())
	if err != nil {
		return err
	}
	_, err = c.Write([]byte(packet))
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// GateConfig configures NewGate.
type GateConfig struct {
	// Access is the access list, as for Server; it must not be empty.
	Access []Stanza

	// Port, if not zero, is the service the gate guards: only grants
	// that include it open the gate.
	Port PortSpec

	// Listen are the UDP addresses to receive SPA packets on; empty means
	// 0.0.0.0 and [::] on DefaultPort.
	Listen []netip.AddrPort

	// Replay is the replay cache; nil means a new one, kept in
	// DigestFile if that is set.
	Replay *ReplayCache

	// DigestFile, with Replay nil, is the file that keeps the replay
	// cache across restarts (see ReplayCache); Run opens it, refusing to
	// run if it cannot, and closes it when it returns. "" keeps the cache
	// in memory only: a packet is then accepted again after a restart.
	DigestFile string

	// MakeDigestDir makes DigestFile's directory (mode 0700) when Run
	// finds it missing: for a default file in a state directory.
	MakeDigestDir bool

	// MaxAge, Logger and Now are as in ServerConfig.
	MaxAge time.Duration
	Logger *slog.Logger
	Now    func() time.Time

	// OnAllow, if not nil, is called for each grant that opens the gate,
	// with its timeout (to add the address to an nftables set as well).
	// It must not block.
	OnAllow func(addr netip.Addr, timeout time.Duration)
}

// Gate admits the addresses granted by a valid SPA packet, for the
// access timeout of the grant, without privileges: it reads packets on
// plain UDP sockets and never answers. Its Allow has the shape of the
// serve rules' Gate hook.
type Gate struct {
	cfg    GateConfig
	srv    *Server
	now    func() time.Time
	replay *ReplayCache

	mu      sync.Mutex // orders grants and their OnAllow calls
	allowed *knock.Allowlist
}

// NewGate returns a gate; nothing is opened until Run.
func NewGate(cfg GateConfig) (*Gate, error) {
	g := &Gate{cfg: cfg, now: cfg.Now}
	if g.now == nil {
		g.now = time.Now
	}
	g.allowed = knock.NewAllowlist(g.now)
	g.replay = cfg.Replay
	if g.replay == nil {
		g.replay = newReplayCache(cfg.MaxAge)
	}
	srv, err := NewServer(ServerConfig{Access: cfg.Access, Replay: g.replay, MaxAge: cfg.MaxAge,
		Logger: cfg.Logger, Now: g.now, OnGrant: g.grant})
	if err != nil {
		return nil, err
	}
	g.srv = srv
	return g, nil
}

func (g *Gate) grant(gr Grant) {
	if g.cfg.Port != (PortSpec{}) {
		found := false
		for _, p := range gr.Ports {
			found = found || p == g.cfg.Port
		}
		if !found {
			return
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.allowed.Prune(now)
	g.allowed.Add(gr.AllowIP, now.Add(gr.Timeout))
	if g.cfg.OnAllow != nil {
		g.cfg.OnAllow(gr.AllowIP, gr.Timeout)
	}
}

// Handle checks one packet, as Run does for each datagram.
func (g *Gate) Handle(packet []byte, src netip.AddrPort) error {
	_, err := g.srv.Handle(packet, src)
	return err
}

// Allow reports whether addr holds a grant that has not expired.
func (g *Gate) Allow(addr netip.Addr) bool {
	return g.allowed.Allow(addr)
}

// Run opens the digest file, if any, and receives packets until ctx
// ends; it returns ctx.Err() then, or the first error (the digest file's,
// a socket's). It may run again after it returned (a reload that failed
// puts the gate back): the file is read again then.
func (g *Gate) Run(ctx context.Context) error {
	if g.cfg.Replay == nil && g.cfg.DigestFile != "" {
		if g.cfg.MakeDigestDir {
			if err := os.MkdirAll(filepath.Dir(g.cfg.DigestFile), 0o700); err != nil {
				return fmt.Errorf("spa: gate: the digest file's directory: %w", err)
			}
		}
		if err := g.replay.attach(g.cfg.DigestFile, g.now()); err != nil {
			return fmt.Errorf("spa: gate: %w", err)
		}
		defer g.replay.detach()
	}
	addrs := g.cfg.Listen
	if len(addrs) == 0 {
		addrs = []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), DefaultPort),
			netip.AddrPortFrom(netip.IPv6Unspecified(), DefaultPort)}
	}
	err := g.srv.ListenAndServe(ctx, addrs, nil)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("spa: gate: %w", err)
	}
	return err
}
