package knock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portkit/ports"
)

// RunFunc runs a command given as an argument list and waits for it.
type RunFunc func(ctx context.Context, argv []string) error

// ServerConfig configures NewServer.
type ServerConfig struct {
	// Config holds the doors. It must not be nil.
	Config *Config

	// Logger receives one line per event, worded as knockd's log; nil
	// means no logging.
	Logger *slog.Logger

	// Run runs commands; nil means exec them directly (no shell), with
	// standard input, output and error discarded. Tests replace it.
	Run RunFunc

	// OnOpen, if not nil, is called when a source completes a door's
	// sequence, before its command starts (to add the source to an
	// nftables set, for example). It must not block.
	OnOpen func(d Door, src netip.Addr)

	// MaxAttempts bounds the knock attempts in progress (see Machine);
	// 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Listening, if not nil, is called by Sniff once its capture is in
	// place with the doors' filter: a daemon tells systemd it is ready
	// then, not before.
	Listening func(iface string)
}

// Server is knockd: it feeds hits to a Machine and runs the doors'
// commands. Handle and Reload may be called from any goroutine.
type Server struct {
	log         *slog.Logger
	run         RunFunc
	onOpen      func(Door, netip.Addr)
	maxAttempts int

	listening func(string) // ServerConfig.Listening

	mu      sync.Mutex
	cfg     *Config
	m       *Machine
	changed chan struct{} // closed when the doors (and so the filter) change
	pending sync.WaitGroup
	ctx     context.Context // for commands; set by Serve
	cancel  context.CancelFunc

	dropped, droppedLogged uint64 // attempts evicted (EventEvicted), and how many of them a log line told
}

// DropLogInterval is how often the server logs how many knock attempts
// it dropped to make room, when it dropped some.
const DropLogInterval = 10 * time.Second

// NewServer returns a server for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Config == nil {
		return nil, errors.New("knock: ServerConfig.Config is nil")
	}
	s := &Server{log: cfg.Logger, run: cfg.Run, onOpen: cfg.OnOpen, maxAttempts: cfg.MaxAttempts, listening: cfg.Listening, changed: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.run == nil {
		s.run = execRun
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.setConfig(cfg.Config)
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		t := time.NewTicker(DropLogInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.logDropped()
			case <-s.ctx.Done():
				s.logDropped()
				return
			}
		}
	}()
	return s, nil
}

// Dropped returns the number of knock attempts dropped so far to make
// room for new ones (see Machine).
func (s *Server) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// logDropped logs the attempts dropped since the last such line, if any:
// one line per DropLogInterval, not one per attempt.
func (s *Server) logDropped() {
	s.mu.Lock()
	n, total := s.dropped-s.droppedLogged, s.dropped
	s.droppedLogged = s.dropped
	max := s.m.MaxAttempts
	s.mu.Unlock()
	if n == 0 {
		return
	}
	if max <= 0 {
		max = DefaultMaxAttempts
	}
	s.log.Warn(fmt.Sprintf("dropped %d knock attempts to make room for new ones (%d in all; at most %d are tracked): a flood of first knocks?", n, total, max),
		"kind", "knock dropped")
}

func execRun(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = time.Second
	return cmd.Run()
}

func (s *Server) setConfig(c *Config) {
	s.cfg = c
	s.m = NewMachine(c.Doors)
	s.m.MaxAttempts = s.maxAttempts
	close(s.changed)
	s.changed = make(chan struct{})
}

// Reload replaces the configuration (SIGHUP). Attempts in progress are
// dropped; commands already started go on, and their Stop_Command still
// runs.
func (s *Server) Reload(c *Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setConfig(c)
	s.log.Info(fmt.Sprintf("reloaded the configuration: %d doors", len(c.Doors)))
}

// Filter returns the capture filter for the current doors, in the
// tcpdump language of package filter, as knockd builds it: the TCP and
// UDP destination ports of every sequence (flags are checked by the
// Machine), and a channel closed when that may change.
//
// Past MaxFilterRanges ranges of ports for a protocol, the filter admits
// more ports than the doors use: the closest ranges are joined, so that
// the program stays a few hundred instructions whatever the number of
// doors (the kernel refuses 4096, and with an optmem_max of 20 KiB,
// older kernels' default, about 1,200). The Machine ignores the knocks
// on ports of no sequence that this lets through.
func (s *Server) Filter() (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var tcp, udp []ports.Port
	for _, d := range s.m.doors {
		for _, k := range d.Sequence {
			if k.Proto == ports.ProtoTCP {
				tcp = append(tcp, k.Port)
			} else {
				udp = append(udp, k.Port)
			}
		}
	}
	var parts []string
	for _, p := range []struct {
		name  string
		ports []ports.Port
	}{{"tcp", tcp}, {"udp", udp}} {
		for _, r := range coverPorts(p.ports, MaxFilterRanges) {
			if r.First == r.Last {
				parts = append(parts, fmt.Sprintf("%s dst port %d", p.name, r.First))
			} else {
				parts = append(parts, fmt.Sprintf("%s dst portrange %d-%d", p.name, r.First, r.Last))
			}
		}
	}
	if len(parts) == 0 {
		// No door left: a filter nothing passes.
		return "tcp and udp", s.changed
	}
	return strings.Join(parts, " or "), s.changed
}

// MaxFilterRanges is the most ranges of ports per protocol that the
// capture filter of [Server.Filter] tests: 64 ranges of TCP and 64 of
// UDP compile to about 550 BPF instructions.
const MaxFilterRanges = 64

// coverPorts returns at most max sorted ranges that hold every port of
// ps: the ports' own ranges, and if there are more than max, those
// separated by the smallest gaps joined, which admits the fewest other
// ports.
func coverPorts(ps []ports.Port, max int) []ports.Range {
	slices.Sort(ps)
	ps = slices.Compact(ps)
	var rs []ports.Range
	for _, p := range ps {
		if n := len(rs); n > 0 && rs[n-1].Last+1 == p {
			rs[n-1].Last = p
			continue
		}
		rs = append(rs, ports.Range{First: p, Last: p})
	}
	if len(rs) <= max {
		return rs
	}
	// Keep the max-1 widest gaps; join across the others.
	gaps := make([]int, len(rs)-1) // gaps[i] is between rs[i] and rs[i+1]
	for i := range gaps {
		gaps[i] = i
	}
	width := func(i int) int { return int(rs[i+1].First) - int(rs[i].Last) }
	slices.SortStableFunc(gaps, func(a, b int) int { return width(b) - width(a) })
	keep := make([]bool, len(rs)-1)
	for _, i := range gaps[:max-1] {
		keep[i] = true
	}
	out := []ports.Range{rs[0]}
	for i := 1; i < len(rs); i++ {
		if keep[i-1] {
			out = append(out, rs[i])
		} else {
			out[len(out)-1].Last = rs[i].Last
		}
	}
	return out
}

// Handle feeds one hit to the state machine, logs what happened and
// starts the commands of a door that opened.
func (s *Server) Handle(h Hit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.m.Observe(h) {
		switch e.Kind {
		case EventStage:
			// The kind is for a rate limit (internal/ratelog): a flood
			// of first knocks does not crowd out the later stages.
			kind := "knock stage"
			if e.Stage == 1 {
				kind = "knock stage 1"
			}
			s.log.Info(e.String(), "kind", kind)
		case EventEvicted:
			s.dropped++
		case EventOpen:
			s.log.Info(e.String(), "kind", "knock open")
			if s.onOpen != nil {
				s.onOpen(s.m.doors[e.Door], e.Src)
			}
			s.open(s.m.doors[e.Door], e.Src)
			if d := s.m.doors[e.Door]; d.OneTimeSequences != "" {
				s.nextOneTime(e.Door, d)
			}
		default:
			s.log.Warn(e.String(), "kind", "knock "+e.Kind.String())
		}
	}
}

func (s *Server) nextOneTime(i int, d Door) {
	var seq Sequence
	err := useOneTimeSequence(d.OneTimeSequences)
	if err == nil {
		seq, _, err = LoadOneTimeSequence(d.OneTimeSequences)
	}
	if err != nil {
		s.log.Warn(fmt.Sprintf("%s: one-time sequences: %v: disabling the door", d.Name, err))
	} else {
		s.log.Info(fmt.Sprintf("%s: next one-time sequence loaded", d.Name))
	}
	s.m.SetSequence(i, seq)
	close(s.changed)
	s.changed = make(chan struct{})
}

// open runs the door's start command, then after Cmd_Timeout its stop
// command, in a goroutine.
func (s *Server) open(d Door, ip netip.Addr) {
	start, stop := d.StartCommand, d.StopCommand
	if ip.Is6() && !ip.Is4In6() {
		if d.StartCommand6 != "" {
			start = d.StartCommand6
		}
		if d.StopCommand6 != "" {
			stop = d.StopCommand6
		}
	}
	if start == "" {
		return
	}
	startArgv, err := d.command(start, ip)
	if err != nil {
		s.log.Error(fmt.Sprintf("%s: %v", d.Name, err))
		return
	}
	var stopArgv []string
	if stop != "" {
		if stopArgv, err = d.command(stop, ip); err != nil {
			s.log.Error(fmt.Sprintf("%s: %v: not running the start command", d.Name, err))
			return
		}
	}
	wait := d.CmdTimeout
	if wait <= 0 {
		wait = DefaultCmdTimeout
	}
	ctx := s.ctx
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		s.runLogged(ctx, d.Name, startArgv)
		if stopArgv == nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			s.log.Info(fmt.Sprintf("%s: %s: command timeout", ip, d.Name))
		case <-ctx.Done():
			t.Stop()
			s.log.Info(fmt.Sprintf("%s: %s: shutting down: running the stop command now", ip, d.Name))
		}
		s.runLogged(context.WithoutCancel(ctx), d.Name, stopArgv)
	}()
}

func (s *Server) runLogged(ctx context.Context, name string, argv []string) {
	s.log.Info(fmt.Sprintf("%s: running command: %s", name, quoteArgv(argv)))
	if err := s.run(ctx, argv); err != nil {
		s.log.Error(fmt.Sprintf("%s: command %s: %v", name, argv[0], err))
	}
}

// quoteArgv formats an argument list for a log line.
func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>(){}*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Close runs the stop commands still pending at once and waits for the
// commands to finish.
func (s *Server) Close() error {
	s.cancel()
	s.pending.Wait()
	return nil
}
