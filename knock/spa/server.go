package spa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sync/errgroup"

	"github.com/portkit/ports/knock"
)

// DefaultMaxAge is how far a packet's timestamp may be from the
// server's clock, either way: fwknopd's MAX_SPA_PACKET_AGE.
const DefaultMaxAge = 120 * time.Second

// Grant is what an accepted packet obtained.
type Grant struct {
	Stanza    int        // index in ServerConfig.Access
	AllowIP   netip.Addr // the address to let in: the request's, or the packet's source for 0.0.0.0
	PacketSrc netip.AddrPort
	PacketDst netip.Addr // the address the packet was sent to, if known
	Ports     []PortSpec
	Timeout   time.Duration // how long access lasts
	User      string

	Timestamp     int64 // the packet's
	ClientTimeout int   // the packet's client timeout, seconds; 0 if none

	// NAT, if valid, is where connections from AllowIP to the first of
	// Ports are to be sent (fwknop -N, or the stanza's FORCE_NAT): the
	// caller maps them there (knock/nftset.NATMap) instead of opening
	// Ports on this host.
	NAT netip.AddrPort

	// LocalNAT reports a local NAT request (fwknop --nat-local): NAT is
	// then an address of this host (as the client named it) and the
	// port of a local service, and the first of Ports the port the
	// client connects to (--nat-port, else the service's).
	LocalNAT bool

	// Command is a command message's command (fwknop --server-cmd), run
	// by the server for a stanza with ENABLE_CMD_EXEC; Ports is then
	// empty and AllowIP the address the message names.
	Command string
}

// ServerConfig configures NewServer.
type ServerConfig struct {
	// Access is the access list; it must not be empty.
	Access []Stanza

	// Replay is the replay cache; nil means a new one in memory only (so
	// replays across restarts are not caught). Its window is widened to
	// MaxAge.
	Replay *ReplayCache

	// MaxAge bounds the timestamp's distance from Now; 0 means
	// DefaultMaxAge.
	MaxAge time.Duration

	// Logger gets one line per packet: the grant, or the reason for the
	// reject. nil means no logging.
	Logger *slog.Logger

	// Now returns the time; nil means time.Now.
	Now func() time.Time

	// OnGrant, if not nil, is called for each access grant (a Gate
	// records it); not for command messages, which open nothing.
	OnGrant func(Grant)

	// SniffICMP makes Sniff also take SPA packets carried in ICMP
	// messages (fwknop -P icmp: an echo reply by default), as fwknopd
	// does when its PCAP_FILTER lets ICMP in. Messages whose data is not
	// base64 (pings) are ignored without a log line.
	SniffICMP bool

	// NAT is fwknopd's ENABLE_IPT_FORWARDING: NAT access messages
	// (fwknop -N) and stanzas with FORCE_NAT are granted, with Grant.NAT
	// set, for OnGrant to apply. Without it they are refused (FORCE_NAT
	// at NewServer, as fwknopd refuses it at start).
	NAT bool

	// LocalNAT is fwknopd's ENABLE_IPT_LOCAL_NAT (default Y there, with
	// ENABLE_IPT_FORWARDING): local NAT requests (fwknop --nat-local)
	// are granted, with Grant.NAT and Grant.LocalNAT set, for OnGrant to
	// apply as a DNAT to this host. It needs NAT.
	LocalNAT bool

	// CommandTimeout bounds each server command (ENABLE_CMD_EXEC); 0
	// means CommandTimeout.
	CommandTimeout time.Duration

	// SudoExe is fwknopd.conf's SUDO_EXE: the sudo that runs the
	// commands of stanzas with ENABLE_CMD_SUDO_EXEC, split at blanks;
	// "" means DefaultSudoExe.
	SudoExe string

	// Run runs CMD_CYCLE commands; nil means exec them directly.
	Run knock.RunFunc
}

// Server checks SPA packets against an access list: HMAC first, then
// replay, decryption, digest, timestamp and access. It never answers.
type Server struct {
	cfg     ServerConfig
	log     *slog.Logger
	pending sync.WaitGroup
	cmds    chan struct{} // one token per running server command
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewServer returns a server for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if len(cfg.Access) == 0 {
		return nil, errors.New("spa: empty access list")
	}
	for _, st := range cfg.Access {
		if st.ForceNAT.IsValid() && !cfg.NAT {
			return nil, fmt.Errorf("spa: the stanza on line %d has FORCE_NAT, which needs NAT (fwknopd's ENABLE_IPT_FORWARDING; knockd --spa --nat-map)", st.Line)
		}
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = CommandTimeout
	}
	if len(SplitServerCommand(cfg.SudoExe)) == 0 {
		cfg.SudoExe = DefaultSudoExe
	}
	if cfg.Replay == nil {
		cfg.Replay = newReplayCache(cfg.MaxAge)
	}
	cfg.Replay.widen(cfg.MaxAge)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Run == nil {
		cfg.Run = func(ctx context.Context, argv []string) error {
			return exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, cmds: make(chan struct{}, MaxCommands)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Handle checks one packet from src, logs the outcome, and on success
// calls OnGrant and starts the stanza's command cycle, or for a command
// message (ENABLE_CMD_EXEC) starts its command.
func (s *Server) Handle(packet []byte, src netip.AddrPort) (*Grant, error) {
	return s.HandleTo(packet, src, netip.Addr{})
}

// HandleTo is Handle for a packet whose destination address is known
// (CMD_CYCLE's $DST).
func (s *Server) HandleTo(packet []byte, src netip.AddrPort, dst netip.Addr) (*Grant, error) {
	g, err := s.check(string(packet), src)
	if g != nil {
		g.PacketDst = dst.Unmap()
	}
	if err != nil {
		s.log.Warn(fmt.Sprintf("%s: SPA packet rejected: %v", src.Addr(), err))
		return nil, err
	}
	if g.Command != "" {
		return s.command(g)
	}
	if g.LocalNAT && !s.cfg.Access[g.Stanza].ForceNAT.IsValid() {
		s.log.Info(fmt.Sprintf("%s: SPA local NAT access accepted (user %q, stanza on line %d): %s from %s forwarded to %s for %v",
			src.Addr(), g.User, s.cfg.Access[g.Stanza].Line, g.Ports[0], g.AllowIP, g.NAT, g.Timeout))
	} else if g.NAT.IsValid() {
		s.log.Info(fmt.Sprintf("%s: SPA NAT access accepted (user %q, stanza on line %d): %s from %s forwarded to %s for %v",
			src.Addr(), g.User, s.cfg.Access[g.Stanza].Line, g.Ports[0], g.AllowIP, g.NAT, g.Timeout))
	} else {
		s.log.Info(fmt.Sprintf("%s: SPA packet accepted (user %q, stanza on line %d): %s open to %s for %v",
			src.Addr(), g.User, s.cfg.Access[g.Stanza].Line, joinPorts(g.Ports), g.AllowIP, g.Timeout))
	}
	if s.cfg.OnGrant != nil {
		s.cfg.OnGrant(*g)
	}
	s.cycle(*g)
	return g, nil
}

// command starts the command of a granted command message, unless
// MaxCommands already run.
func (s *Server) command(g *Grant) (*Grant, error) {
	select {
	case s.cmds <- struct{}{}:
	default:
		err := fmt.Errorf("%w (%d): command message refused", ErrBusy, MaxCommands)
		s.log.Warn(fmt.Sprintf("%s: SPA packet rejected: %v", g.PacketSrc.Addr(), err))
		return nil, err
	}
	st := &s.cfg.Access[g.Stanza]
	s.log.Info(fmt.Sprintf("%s: SPA command message accepted (user %q, stanza on line %d, for %s): %q",
		g.PacketSrc.Addr(), g.User, st.Line, g.AllowIP, g.Command))
	s.pending.Add(1)
	go func() {
		defer func() { <-s.cmds; s.pending.Done() }()
		s.runCommand(s.ctx, st, *g)
	}()
	return g, nil
}

func joinPorts(ps []PortSpec) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (s *Server) check(packet string, src netip.AddrPort) (*Grant, error) {
	srcIP := src.Addr().Unmap()
	gpg := len(packet) >= gnupgPacket // fwknop's rule (fko_encryption_type)
	if len(packet) < minPacket || len(packet) > maxPacket || !isB64(packet) {
		_, err := verifyHMAC(packet, []byte{0}, DigestSHA256)
		return nil, err
	}
	gpgStanzas := 0
	// As fwknopd: every stanza whose SOURCE matches is tried in turn, and
	// the first that grants the request wins; a stanza whose keys fit but
	// whose other checks refuse passes the packet on to the next one.
	digest := Digest(packet)
	matched, recorded := false, false
	var refusals stanzaErrors
	now := s.cfg.Now()
	for i := range s.cfg.Access {
		st := &s.cfg.Access[i]
		if !st.allowsSource(srcIP) {
			continue
		}
		if !matched {
			matched = true
			if s.cfg.Replay.Seen(digest) {
				return nil, ErrReplay
			}
		}
		var m *Message
		if gpg {
			if st.GPG == nil {
				continue
			}
			gpgStanzas++
			enc, err := verifyGPGHMAC(packet, st.Keys.HMAC, st.Keys.HMACType)
			if errors.Is(err, ErrHMAC) {
				continue
			}
			if err == nil {
				m, err = decryptGPG(enc, st.GPG, now)
			}
			if err != nil {
				refusals = append(refusals, stanzaError{i, st.Line, err})
				continue
			}
		} else {
			if len(st.Keys.Enc) == 0 {
				continue
			}
			enc, err := verifyHMAC(packet, st.Keys.HMAC, st.Keys.HMACType)
			if err != nil {
				continue
			}
			if m, err = decrypt(enc, st.Keys.Enc, st.Keys.Mode); err != nil {
				refusals = append(refusals, stanzaError{i, st.Line, err})
				continue
			}
		}
		// Recorded (and on disk) before anything is granted, once per
		// packet whichever stanza grants it.
		if !recorded {
			if err := s.cfg.Replay.Add(digest, m.Timestamp, now); err != nil {
				return nil, err
			}
			recorded = true
		}
		g, err := s.grant(i, m, src, now)
		if err != nil {
			refusals = append(refusals, stanzaError{i, st.Line, err})
			continue
		}
		return g, nil
	}
	switch {
	case !matched:
		return nil, fmt.Errorf("%w: no SOURCE stanza matches %s", ErrDenied, srcIP)
	case gpg && gpgStanzas == 0:
		return nil, fmt.Errorf("%w: %d bytes: a packet of %d bytes or more is GnuPG-encrypted (fwknop -g), and no stanza for %s reads those (GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y)", ErrFormat, len(packet), gnupgPacket, srcIP)
	case len(refusals) == 0:
		return nil, ErrHMAC
	case len(refusals) == 1:
		return nil, refusals[0].err
	}
	return nil, refusals
}

// grant checks the decrypted message m against stanza i.
func (s *Server) grant(i int, m *Message, src netip.AddrPort, now time.Time) (*Grant, error) {
	st := &s.cfg.Access[i]
	if d := now.Sub(time.Unix(m.Timestamp, 0)); d > s.cfg.MaxAge || d < -s.cfg.MaxAge {
		return nil, fmt.Errorf("%w: %v from this server's clock (at most %v)", ErrStale, d.Round(time.Second), s.cfg.MaxAge)
	}
	switch m.Type {
	case AccessMsg, ClientTimeoutAccessMsg, CommandMsg:
	case NATAccessMsg, ClientTimeoutNATAccessMsg:
		if !s.cfg.NAT {
			return nil, fmt.Errorf("%w: NAT access (fwknop -N) is not enabled here (knockd --spa --nat-map)", ErrDenied)
		}
	case LocalNATAccessMsg, ClientTimeoutLocalNATAccess:
		if !s.cfg.NAT || !s.cfg.LocalNAT {
			return nil, fmt.Errorf("%w: local NAT (fwknop --nat-local) is not enabled here (knockd --spa --nat-map, without --no-local-nat)", ErrDenied)
		}
	default:
		return nil, fmt.Errorf("%w: message type %d", ErrFormat, m.Type)
	}
	if st.RequireUsername != "" && m.User != st.RequireUsername {
		return nil, fmt.Errorf("%w: user %q is not %q", ErrDenied, m.User, st.RequireUsername)
	}
	if m.Type == CommandMsg {
		return s.grantCommand(i, m, src)
	}
	ip, specs, err := ParseAccess(m.Access)
	if err != nil {
		return nil, err
	}
	if ip.IsUnspecified() {
		if st.RequireSourceAddress {
			return nil, fmt.Errorf("%w: request for 0.0.0.0 with REQUIRE_SOURCE_ADDRESS", ErrDenied)
		}
		ip = src.Addr().Unmap()
	}
	for _, p := range specs {
		if !st.allowsPort(p) {
			return nil, fmt.Errorf("%w: %s is not in OPEN_PORTS", ErrDenied, p)
		}
	}
	g := &Grant{Stanza: i, AllowIP: ip, PacketSrc: src, Ports: specs, Timeout: st.timeout(m.ClientTimeout), User: m.User,
		Timestamp: m.Timestamp, ClientTimeout: m.ClientTimeout}
	switch {
	case st.ForceNAT.IsValid():
		g.NAT = st.ForceNAT
	case m.Type.hasNAT():
		if g.NAT, err = parseNATAccess(m.NATAccess); err != nil {
			return nil, err
		}
		g.LocalNAT = m.Type == LocalNATAccessMsg || m.Type == ClientTimeoutLocalNATAccess
	}
	return g, nil
}

// parseNATAccess parses a NAT access message's "IP,PORT" (fwknop -N).
func parseNATAccess(s string) (netip.AddrPort, error) {
	ip, port, ok := strings.Cut(s, ",")
	a, err := netip.ParseAddr(ip)
	n, perr := strconv.ParseUint(port, 10, 16)
	if !ok || err != nil || !a.Is4() || perr != nil || n == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: NAT access %q is not IPv4,PORT", ErrFormat, s)
	}
	return netip.AddrPortFrom(a, uint16(n)), nil
}

// grantCommand checks command message m against stanza i, as fwknopd:
// the address (0.0.0.0 and REQUIRE_SOURCE_ADDRESS), then ENABLE_CMD_EXEC;
// OPEN_PORTS does not apply.
func (s *Server) grantCommand(i int, m *Message, src netip.AddrPort) (*Grant, error) {
	st := &s.cfg.Access[i]
	ip, cmd, err := parseCommand(m.Access)
	if err != nil {
		return nil, err
	}
	if ip.IsUnspecified() {
		if st.RequireSourceAddress {
			return nil, fmt.Errorf("%w: request for 0.0.0.0 with REQUIRE_SOURCE_ADDRESS", ErrDenied)
		}
		ip = src.Addr().Unmap()
	}
	if st.CmdCycleOpen != "" {
		return nil, fmt.Errorf("%w: command message to a stanza with CMD_CYCLE_OPEN", ErrDenied)
	}
	if !st.EnableCmdExec {
		return nil, fmt.Errorf("%w: command messages are not allowed (the stanza has no ENABLE_CMD_EXEC Y)", ErrDenied)
	}
	return &Grant{Stanza: i, AllowIP: ip, PacketSrc: src, User: m.User, Timestamp: m.Timestamp, Command: cmd}, nil
}

// stanzaError is why one stanza whose keys fit a packet refused it.
type stanzaError struct {
	index, line int
	err         error
}

// stanzaErrors are the refusals of each stanza that could read a packet
// when none granted it; errors.Is finds each one's cause.
type stanzaErrors []stanzaError

func (e stanzaErrors) Error() string {
	s := make([]string, len(e))
	for i, x := range e {
		if x.line > 0 {
			s[i] = fmt.Sprintf("stanza on line %d: %v", x.line, x.err)
		} else {
			s[i] = fmt.Sprintf("stanza %d: %v", x.index+1, x.err)
		}
	}
	return strings.Join(s, "; ")
}

func (e stanzaErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, x := range e {
		out[i] = x.err
	}
	return out
}

// cycle runs CMD_CYCLE_OPEN, and CMD_CYCLE_CLOSE after the client's
// timeout if the packet has one, else after CMD_CYCLE_TIMER (0: the
// access timeout), as fwknopd 2.6: once, for the first port of the
// request. Unlike fwknopd, the client's timeout is bounded by
// MAX_FW_TIMEOUT here too.
func (s *Server) cycle(g Grant) {
	st := &s.cfg.Access[g.Stanza]
	if st.CmdCycleOpen == "" || len(g.Ports) == 0 {
		return
	}
	wait := s.cycleWait(st, g)
	p := g.Ports[0]
	open := s.expand(st.CmdCycleOpen, g, p, wait)
	var close []string
	if st.CmdCycleClose != "" && st.CmdCycleClose != "NONE" {
		close = s.expand(st.CmdCycleClose, g, p, wait)
	}
	if open == nil {
		return
	}
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		s.run(s.ctx, open)
		if close == nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
		s.run(context.WithoutCancel(s.ctx), close)
	}()
}

// cycleWait is how long after CMD_CYCLE_OPEN the close command runs.
func (s *Server) cycleWait(st *Stanza, g Grant) time.Duration {
	if g.ClientTimeout > 0 {
		return g.Timeout // the client's, bounded by MAX_FW_TIMEOUT
	}
	if st.CmdCycleTimer > 0 {
		return st.CmdCycleTimer
	}
	return g.Timeout
}

// expand substitutes fwknopd's CMD_CYCLE variables in each word of cmd:
// $IP and $SRC (the address let in), $PKT_SRC (the packet's source),
// $DST (its destination), $PORT, $PROTO (its number), $TIMEOUT (the
// packet's timestamp plus the time until the close command) and
// $CLIENT_TIMEOUT (the time until the close command, in seconds: the
// client's timeout, or CMD_CYCLE_TIMER without one, as fwknopd 2.6.10
// gives it).
func (s *Server) expand(cmd string, g Grant, p PortSpec, wait time.Duration) []string {
	words, err := knock.SplitCommand(cmd)
	if err != nil {
		s.log.Error(fmt.Sprintf("command %q: %v", cmd, err))
		return nil
	}
	dst := ""
	if g.PacketDst.IsValid() {
		dst = g.PacketDst.String()
	}
	r := strings.NewReplacer("$CLIENT_TIMEOUT", strconv.Itoa(int(wait/time.Second)), "$PKT_SRC", g.PacketSrc.Addr().String(),
		"$IP", g.AllowIP.String(), "$SRC", g.AllowIP.String(), "$DST", dst, "$PORT", strconv.Itoa(int(p.Port)),
		"$PROTO", strconv.Itoa(int(p.Proto)), "$TIMEOUT", strconv.FormatInt(g.Timestamp+int64(wait/time.Second), 10))
	for i, w := range words {
		words[i] = r.Replace(w)
	}
	return words
}

func (s *Server) run(ctx context.Context, argv []string) {
	s.log.Info(fmt.Sprintf("running command: %s", strings.Join(argv, " ")))
	if err := s.cfg.Run(ctx, argv); err != nil {
		s.log.Error(fmt.Sprintf("command %s: %v", argv[0], err))
	}
}

// readWithDst returns a read on conn that also gives each datagram's
// destination address: the socket's own if it is bound to one, else
// from IP_PKTINFO (a wildcard UDP socket), else none.
func readWithDst(conn net.PacketConn) func([]byte) (int, net.Addr, netip.Addr, error) {
	plain := func(b []byte) (int, net.Addr, netip.Addr, error) {
		n, a, err := conn.ReadFrom(b)
		return n, a, netip.Addr{}, err
	}
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		return plain
	}
	local := ua.AddrPort().Addr().Unmap()
	if !local.IsUnspecified() {
		return func(b []byte) (int, net.Addr, netip.Addr, error) {
			n, a, err := conn.ReadFrom(b)
			return n, a, local, err
		}
	}
	if local.Is4() {
		pc := ipv4.NewPacketConn(conn)
		if pc.SetControlMessage(ipv4.FlagDst, true) != nil {
			return plain
		}
		return func(b []byte) (int, net.Addr, netip.Addr, error) {
			n, cm, a, err := pc.ReadFrom(b)
			var dst netip.Addr
			if cm != nil {
				dst, _ = netip.AddrFromSlice(cm.Dst)
			}
			return n, a, dst.Unmap(), err
		}
	}
	pc := ipv6.NewPacketConn(conn)
	if pc.SetControlMessage(ipv6.FlagDst, true) != nil {
		return plain
	}
	return func(b []byte) (int, net.Addr, netip.Addr, error) {
		n, cm, a, err := pc.ReadFrom(b)
		var dst netip.Addr
		if cm != nil {
			dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		return n, a, dst.Unmap(), err
	}
}

// Serve reads packets from conn until ctx ends or conn fails, handling
// each; it never writes to conn. It closes conn when ctx ends.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, 2048)
	read := readWithDst(conn)
	for {
		n, addr, dst, err := read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		ap, perr := netip.ParseAddrPort(addr.String())
		if ua, ok := addr.(*net.UDPAddr); ok {
			ap, perr = ua.AddrPort(), nil
		}
		if perr != nil {
			continue
		}
		s.HandleTo(buf[:n], ap, dst)
	}
}

// ListenAndServe opens a UDP socket on each of addrs and serves them all
// (see Serve) until ctx ends, when it returns ctx.Err(), or a socket
// fails, whose error it returns after ending the others. listening, if
// not nil, is called with each address once its socket is open. A socket
// that cannot be opened is returned as is, with those already open
// closed.
func (s *Server) ListenAndServe(ctx context.Context, addrs []netip.AddrPort, listening func(netip.AddrPort)) error {
	var lc net.ListenConfig
	var conns []net.PacketConn
	for _, a := range addrs {
		network := "udp4"
		if a.Addr().Is6() {
			network = "udp6"
		}
		c, err := lc.ListenPacket(ctx, network, a.String())
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return err
		}
		conns = append(conns, c)
		if listening != nil {
			listening(a)
		}
	}
	// Serve always returns an error; the first one ends the others.
	eg, gctx := errgroup.WithContext(ctx)
	for _, c := range conns {
		eg.Go(func() error { return s.Serve(gctx, c) })
	}
	err := eg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Close runs the pending close commands at once and waits for them.
func (s *Server) Close() error {
	s.cancel()
	s.pending.Wait()
	return nil
}
