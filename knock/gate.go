package knock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/portkit/ports"
)

// DefaultWindow is how long a Gate lets a source in after it knocked.
const DefaultWindow = 30 * time.Second

// GateConfig configures NewGate.
type GateConfig struct {
	// Sequence is the knock sequence; it must not be empty.
	Sequence Sequence

	// Window is how long after completing the sequence a source is
	// allowed; 0 means DefaultWindow.
	Window time.Duration

	// SeqTimeout is the time allowed from the first knock to the last; 0
	// means DefaultSeqTimeout.
	SeqTimeout time.Duration

	// Listen are the addresses whose knock ports are listened on; empty
	// means the unspecified addresses 0.0.0.0 and :: (all of the host's).
	Listen []netip.Addr

	// Logger receives a line per knock event; nil means none.
	Logger *slog.Logger

	// Now returns the time; nil means time.Now. Tests replace it.
	Now func() time.Time

	// OnAllow, if not nil, is called when a source is allowed, with the
	// window (to add it to an nftables set as well, for services that
	// are not behind the gate). It must not block.
	OnAllow func(src netip.Addr, window time.Duration)
}

// Gate admits the source addresses that completed a knock sequence in
// the last Window, seen without privileges: Run listens on the knock
// ports with ordinary sockets, accepting and closing TCP connections at
// once and reading UDP datagrams.
//
// A TCP knock is therefore seen only when its handshake completes: use
// "ports knock --connect" (or any client that connects, such as nc -z).
// knockd's knock client closes its socket right after sending the SYN,
// so its TCP knocks may be missed; its UDP knocks always count. Any
// connection or datagram from the source to a knock port counts as a
// knock, following the same rules as knockd (see [Machine]).
//
// Each knock port is a socket of its own, read by its own goroutine, so
// the gate knows the order of knocks only by when it reads them: knocks
// sent back to back can be seen out of order (and the attempt reset).
// Space them: ports knock -d 100 --connect is plenty on an idle host.
//
// The gate's answer is a source address, so it is only as strong as
// that address: anyone sharing it (behind the same NAT) shares the
// access, and anyone who can spoof it and see the knock ports can
// replay a sequence. Prefer the SPA gate of package spa where that
// matters.
type Gate struct {
	cfg GateConfig
	log *slog.Logger

	allowed *Allowlist

	mu sync.Mutex // guards m
	m  *Machine
}

// NewGate checks cfg and returns a gate; nothing is opened until Run.
func NewGate(cfg GateConfig) (*Gate, error) {
	if len(cfg.Sequence) == 0 {
		return nil, errors.New("knock: gate: empty knock sequence")
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gate{cfg: cfg, log: cfg.Logger, allowed: NewAllowlist(cfg.Now)}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.m = NewMachine([]Door{{Name: "gate", Sequence: cfg.Sequence, SeqTimeout: cfg.SeqTimeout}})
	return g, nil
}

// Allow reports whether addr completed the sequence within the window.
// It is what a proxy calls for each new connection.
func (g *Gate) Allow(addr netip.Addr) bool {
	return g.allowed.Allow(addr)
}

// Observe feeds a knock to the gate, as Run does for each connection or
// datagram on a knock port. It is exported for sources other than Run's
// sockets.
func (g *Gate) Observe(src netip.Addr, k Knock) {
	src = src.Unmap()
	now := g.cfg.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowed.Prune(now)
	for _, e := range g.m.Observe(Hit{Time: now, Src: src, Proto: k.Proto, Port: k.Port}) {
		switch e.Kind {
		case EventOpen:
			g.allowed.Add(src, now.Add(g.cfg.Window))
			g.log.Info(fmt.Sprintf("%s: knock complete: allowed for %v", src, g.cfg.Window))
			if g.cfg.OnAllow != nil {
				g.cfg.OnAllow(src, g.cfg.Window)
			}
		case EventStage:
			g.log.Debug(e.String())
		default:
			// The kind is for a rate limit (internal/ratelog).
			g.log.Warn(e.String(), "kind", "knock "+e.Kind.String())
		}
	}
}

// Run listens on the knock ports until ctx ends, and returns the first
// error opening or reading a socket (ctx.Err() when ctx ends).
func (g *Gate) Run(ctx context.Context) error {
	addrs := g.cfg.Listen
	if len(addrs) == 0 {
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	var lc net.ListenConfig
	var closers []func() error
	var loops []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	seen := map[Knock]bool{}
	for _, k := range g.cfg.Sequence {
		if seen[k] {
			continue
		}
		seen[k] = true
		for _, a := range addrs {
			ap := netip.AddrPortFrom(a, uint16(k.Port)).String()
			network := "tcp4"
			if a.Is6() {
				network = "tcp6"
			}
			if k.Proto == ports.ProtoUDP {
				network = "udp" + network[3:]
				c, err := lc.ListenPacket(ctx, network, ap)
				if err != nil {
					closeAll()
					return fmt.Errorf("knock: gate: %w", err)
				}
				closers = append(closers, c.Close)
				loops = append(loops, func() error { return g.readUDP(c, k) })
				continue
			}
			l, err := lc.Listen(ctx, network, ap)
			if err != nil {
				closeAll()
				return fmt.Errorf("knock: gate: %w", err)
			}
			closers = append(closers, l.Close)
			loops = append(loops, func() error { return g.acceptTCP(l, k) })
		}
	}
	// The first failing loop, or the end of ctx, closes every socket,
	// which ends the other loops.
	eg, gctx := errgroup.WithContext(ctx)
	for _, loop := range loops {
		eg.Go(loop)
	}
	eg.Go(func() error {
		<-gctx.Done()
		closeAll()
		return nil
	})
	g.log.Info(fmt.Sprintf("gate listening for %s on %v", g.cfg.Sequence, addrs))
	err := eg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (g *Gate) acceptTCP(l net.Listener, k Knock) error {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close with RST: keep no state for knocks
		}
		c.Close()
		g.Observe(ap.Addr(), k)
	}
}

func (g *Gate) readUDP(c net.PacketConn, k Knock) error {
	buf := make([]byte, 64)
	uc, _ := c.(*net.UDPConn)
	for {
		var src netip.Addr
		if uc != nil {
			_, ap, err := uc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return err
			}
			src = ap.Addr()
		} else {
			_, a, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			ap, _ := netip.ParseAddrPort(a.String())
			src = ap.Addr()
		}
		g.Observe(src, k)
	}
}
