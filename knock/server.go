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

	// Listening, if not nil, is called by Sniff once its capture is in
	// place with the doors' filter: a daemon tells systemd it is ready
	// then, not before.
	Listening func(iface string)
}

// Server is knockd: it feeds hits to a Machine and runs the doors'
// commands. Handle and Reload may be called from any goroutine.
type Server struct {
	log    *slog.Logger
	run    RunFunc
	onOpen func(Door, netip.Addr)

	listening func(string) // ServerConfig.Listening

	mu      sync.Mutex
	cfg     *Config
	m       *Machine
	changed chan struct{} // closed when the doors (and so the filter) change
	pending sync.WaitGroup
	ctx     context.Context // for commands; set by Serve
	cancel  context.CancelFunc
}

// NewServer returns a server for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Config == nil {
		return nil, errors.New("knock: ServerConfig.Config is nil")
	}
	s := &Server{log: cfg.Logger, run: cfg.Run, onOpen: cfg.OnOpen, listening: cfg.Listening, changed: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.run == nil {
		s.run = execRun
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.setConfig(cfg.Config)
	return s, nil
}

func execRun(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = time.Second
	return cmd.Run()
}

func (s *Server) setConfig(c *Config) {
	s.cfg = c
	s.m = NewMachine(c.Doors)
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
	for _, p := range compact(tcp) {
		parts = append(parts, fmt.Sprintf("tcp dst port %d", p))
	}
	for _, p := range compact(udp) {
		parts = append(parts, fmt.Sprintf("udp dst port %d", p))
	}
	if len(parts) == 0 {
		// No door left: a filter nothing passes.
		return "tcp and udp", s.changed
	}
	return strings.Join(parts, " or "), s.changed
}

func compact(p []ports.Port) []ports.Port {
	slices.Sort(p)
	return slices.Compact(p)
}

// Handle feeds one hit to the state machine, logs what happened and
// starts the commands of a door that opened.
func (s *Server) Handle(h Hit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.m.Observe(h) {
		switch e.Kind {
		case EventStage:
			s.log.Info(e.String())
		case EventOpen:
			s.log.Info(e.String())
			if s.onOpen != nil {
				s.onOpen(s.m.doors[e.Door], e.Src)
			}
			s.open(s.m.doors[e.Door], e.Src)
			if d := s.m.doors[e.Door]; d.OneTimeSequences != "" {
				s.nextOneTime(e.Door, d)
			}
		default:
			s.log.Warn(e.String())
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
	startArgv, err := ExpandCommand(start, ip)
	if err != nil {
		s.log.Error(fmt.Sprintf("%s: %v", d.Name, err))
		return
	}
	var stopArgv []string
	if stop != "" {
		if stopArgv, err = ExpandCommand(stop, ip); err != nil {
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
