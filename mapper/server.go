package mapper

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portkit/ports/httpproxy"
)

// Observer receives per-rule events, for metrics. Its methods are called
// from many goroutines at once and must not block.
type Observer interface {
	// Accepted counts a connection (or UDP session) let in.
	Accepted(rule string)
	// Transferred counts bytes as they move, client→upstream (up) and
	// upstream→client (down).
	Transferred(rule string, up, down int64)
	// Closed ends a connection Accepted counted.
	Closed(rule string, st Stats)
	// Refused counts a client turned away: reason is one of the
	// Refuse* constants.
	Refused(rule string, reason string)
	// Failed counts an error on a connection let in (a failed dial, a
	// broken PROXY header, ...): stage says where.
	Failed(rule string, stage string)
}

// UpstreamObserver is an optional method of an Observer: Upstreams is
// called with +1 or -1 as an upstream socket of a rule opens or closes
// (a mapping's or tunnel's upstream connection, a UDP session's socket,
// an HTTP proxy's kept-alive connections), for a gauge. It must not
// block.
type UpstreamObserver interface {
	Upstreams(rule string, delta int)
}

// Reasons a client is refused.
const (
	RefuseSource       = "source"    // not in the rule's allow-list
	RefuseGate         = "gate"      // the rule's Gate said no
	RefuseMaxConns     = "max_conns" // the rule is full
	RefuseMaxPerSource = "max_conns_per_source"
	RefuseSessionCap   = "udp_session_cap" // the UDP session table is full
	RefuseHandshake    = "handshake"       // the proxy handshake failed or timed out
	RefuseAuth         = "auth"            // bad proxy credentials
	RefuseDestination  = "destination"     // the proxy's destination policy denied it
	RefuseAllDown      = "all_down"        // the health checks found every destination of the mapping down
	RefuseDestsFull    = "dest_max_conns"  // every destination up has its max_conns
	RefuseUnknownName  = "unknown_name"    // no route for the TLS server name or HTTP Host, and no default_to
)

// Config configures a [Server]; a nil *Config means the zero value.
type Config struct {
	// Logger gets one line per connection end and per refusal; nil
	// discards.
	Logger *slog.Logger
	// Observer, if not nil, gets per-rule events for metrics.
	Observer Observer
	// UDPBatch is how many datagrams a UDP mapping reads per system call
	// (recvmmsg on Linux). 0 means 8; 1 reads one at a time.
	UDPBatch int
	// Sockets, if not nil, is asked for the sockets of each rule started
	// that are already open (systemd's socket activation); when it gives
	// any, the rule serves them instead of binding its own. The server
	// closes them when the rule stops, so each call must give fresh ones
	// (duplicates of the passed descriptors).
	Sockets func(Rule) ([]*net.TCPListener, []*net.UDPConn, error)
}

// ApplyStats says what the last successful [Server.Apply] did.
type ApplyStats struct {
	Kept, Started, Stopped int
}

// Server runs a set of rules and replaces it on [Server.Apply].
type Server struct {
	log      *slog.Logger
	obs      Observer
	udpBatch int
	sockets  func(Rule) ([]*net.TCPListener, []*net.UDPConn, error)

	ctx    context.Context // connections live in it
	cancel context.CancelFunc
	conns  sync.WaitGroup

	mu     sync.Mutex
	rules  map[string]*running
	closed bool
	last   ApplyStats
}

// New returns a Server with no rules.
func New(cfg *Config) *Server {
	if cfg == nil {
		cfg = &Config{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	batch := cfg.UDPBatch
	if batch <= 0 {
		batch = 8
	}
	return &Server{log: log, obs: obs, udpBatch: batch, sockets: cfg.Sockets, ctx: ctx, cancel: cancel, rules: map[string]*running{}}
}

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("mapper: server closed")

// Apply makes rules the running set: rules whose name and configuration
// did not change keep running with their connections; changed ones are
// restarted; removed ones stop accepting while their TCP connections
// drain (UDP sessions end with their listening socket). If any rule is
// invalid or cannot listen, Apply returns the error and the previous
// set keeps running (a changed rule whose new listener failed is put
// back as it was when possible).
func (s *Server) Apply(rules []Rule) error {
	seen := map[string]bool{}
	for i := range rules {
		r := &rules[i]
		if err := r.Validate(); err != nil {
			return err
		}
		if seen[r.Name] {
			return &RuleError{Rule: r.Name, Field: "name", Err: errors.New("two rules have this name")}
		}
		seen[r.Name] = true
	}
	// Certificates first, of kept rules too: a file that does not load
	// fails the reload before anything changed.
	certs := map[string]*tls.Certificate{}
	for i := range rules {
		if r := &rules[i]; r.TLSCert != "" {
			c, err := loadCert(r)
			if err != nil {
				return err
			}
			certs[r.Name] = c
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var keep, add []*Rule
	var drop []*running
	for i := range rules {
		r := &rules[i]
		if old, ok := s.rules[r.Name]; ok && old.rule.same(r) {
			keep = append(keep, r)
			continue
		}
		add = append(add, r)
	}
	for name, old := range s.rules {
		if !seen[name] || !slices.ContainsFunc(keep, func(r *Rule) bool { return r.Name == name }) {
			drop = append(drop, old)
		}
	}
	// Stop the changed and removed rules first: a changed rule usually
	// listens where it did. Each is logged as stopped only once the
	// reload succeeds, or if it cannot be put back: a failed reload
	// leaves them running, and the log says only what happened.
	for _, old := range drop {
		old.halt()
	}
	started := make([]*running, 0, len(add))
	for _, r := range add {
		rt, err := s.start(*r)
		if err != nil {
			for _, n := range started {
				n.halt() // never announced as started
			}
			// Put back what was stopped.
			for _, old := range drop {
				if again, err2 := s.start(old.rule); err2 == nil {
					s.rules[old.rule.Name] = again
				} else {
					delete(s.rules, old.rule.Name)
					old.logStopped()
					s.log.Error("rule lost in a failed reload", "rule", old.rule.Name, "err", err2)
				}
			}
			return err
		}
		started = append(started, rt)
	}
	for _, old := range drop {
		delete(s.rules, old.rule.Name)
		old.logStopped()
	}
	for _, r := range keep {
		if rt := s.rules[r.Name]; rt.cert != nil && certs[r.Name] != nil {
			if prev := rt.cert.cert.Swap(certs[r.Name]); !bytes.Equal(prev.Certificate[0], certs[r.Name].Certificate[0]) {
				rt.log.Info("certificate reloaded", "tls_cert", r.TLSCert, "note", "new handshakes get it; open connections go on")
			}
		}
	}
	for _, rt := range started {
		s.rules[rt.rule.Name] = rt
		s.log.Info("rule started", "rule", rt.rule.Name, "type", rt.rule.Type.String(), "listen", rt.addrStrings(),
			"max_conns", rt.maxConns())
		rt.warnFDs()
	}
	if len(started) > 0 {
		s.warnFDsTogether()
	}
	s.last = ApplyStats{Kept: len(keep), Started: len(started), Stopped: len(drop) - (len(started) - countNew(started, drop))}
	return nil
}

// warnFDs warns when the rule's explicit max_conns does not fit in the
// descriptor limit: the limit is kept (it is what the user asked for),
// but accept would fail with "too many open files" before it.
func (rt *running) warnFDs() {
	if rt.fdLimit == 0 || rt.rule.MaxConns <= FDBudget(rt.fdLimit) {
		return
	}
	rt.log.Warn("max_conns does not fit the file descriptor limit",
		"max_conns", rt.rule.MaxConns, "fd_limit", rt.fdLimit, "fit", FDBudget(rt.fdLimit),
		"note", "each connection needs about 2 descriptors: raise the limit (ulimit -n, LimitNOFILE=) or lower max_conns")
}

// warnFDsTogether warns when the running rules together may hold more
// connections than the descriptor limit fits. s.mu is held.
func (s *Server) warnFDsTogether() {
	if len(s.rules) < 2 {
		return
	}
	sum := 0
	limit := fdLimit()
	for _, rt := range s.rules {
		sum += rt.maxConns()
	}
	if limit == 0 || sum <= FDBudget(limit) {
		return
	}
	s.log.Warn("the rules' max_conns together do not fit the file descriptor limit",
		"rules", len(s.rules), "max_conns_sum", sum, "fd_limit", limit, "fit", FDBudget(limit),
		"note", "each connection needs about 2 descriptors: raise the limit or set max_conns per rule")
}

// countNew counts the rules of started that were not running before
// (not restarted ones).
func countNew(started, drop []*running) int {
	n := 0
	for _, rt := range started {
		if !slices.ContainsFunc(drop, func(o *running) bool { return o.rule.Name == rt.rule.Name }) {
			n++
		}
	}
	return n
}

// LastApply says what the last successful Apply did: rules kept
// running, started (new or changed) and stopped (removed).
func (s *Server) LastApply() ApplyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Addrs returns the addresses a running rule listens on (useful with
// port 0), or nil.
func (s *Server) Addrs(name string) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.rules[name]
	if rt == nil {
		return nil
	}
	return rt.addrs()
}

// Close stops every rule, ends every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for name, rt := range s.rules {
		rt.stop()
		delete(s.rules, name)
	}
	s.mu.Unlock()
	s.cancel()
	s.conns.Wait()
	return nil
}

// Shutdown stops every rule from accepting, waits for connections to end
// until ctx is done, then ends the rest as Close does.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for name, rt := range s.rules {
		rt.stop()
		delete(s.rules, name)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return ctx.Err()
	}
}

// running is one started rule.
type running struct {
	s      *Server
	rule   Rule
	log    *slog.Logger
	cancel context.CancelFunc // stops accepting, not connections
	loops  sync.WaitGroup

	lns   []*net.TCPListener
	pcs   []*net.UDPConn
	dests *dests // a mapping's To; nil with routes

	cert *certHolder    // the certificate of a terminating rule; nil otherwise
	toCA *x509.CertPool // to_ca; nil: the system's roots

	routes   *routeSet // nil without routes
	destSets []*dests  // every destination set of the rule, for checks

	active atomic.Int64
	// For Server.Status: bytes each way and refusals since the start.
	upBytes, downBytes, refused atomic.Int64
	mu                          sync.Mutex
	perSrc                      map[netip.Addr]int

	defMax  int    // max_conns when the rule names none, from the descriptor limit
	fdLimit uint64 // RLIMIT_NOFILE when the rule started; 0: unknown

	// upstreams bounds an HTTP proxy rule's upstream connections,
	// kept-alive ones included, by its max_conns.
	upstreams *httpproxy.Upstreams
}

// upstreamDelta reports an upstream socket opened (+1) or closed (-1).
func (rt *running) upstreamDelta(d int) {
	if o, ok := rt.s.obs.(UpstreamObserver); ok {
		o.Upstreams(rt.rule.Name, d)
	}
}

// maxConns is the rule's limit of connections (UDP sessions) at once.
func (rt *running) maxConns() int {
	if rt.rule.MaxConns > 0 {
		return rt.rule.MaxConns
	}
	return rt.defMax
}

func (s *Server) start(r Rule) (*running, error) {
	rt := &running{s: s, rule: r, log: s.log.With("rule", r.Name), perSrc: map[netip.Addr]int{}}
	rt.defMax, rt.fdLimit = defaultMaxConns()
	if r.Type == TCP || r.Type == UDP {
		if len(r.Routes) == 0 {
			rt.dests = newDests(rt, r.To)
			rt.destSets = append(rt.destSets, rt.dests)
		} else {
			rt.routes = &routeSet{}
			for _, ro := range r.Routes {
				rd := routeDests{name: strings.ToLower(ro.SNI + ro.Host), dests: newDests(rt, ro.To)}
				if ro.SNI != "" {
					rt.routes.sni = append(rt.routes.sni, rd)
				} else {
					rt.routes.host = append(rt.routes.host, rd)
				}
				rt.destSets = append(rt.destSets, rd.dests)
			}
			if len(r.DefaultTo) > 0 {
				rt.routes.def = newDests(rt, r.DefaultTo)
				rt.destSets = append(rt.destSets, rt.routes.def)
			}
		}
	}
	if r.TLSCert != "" {
		c, err := loadCert(&r)
		if err != nil {
			return nil, err
		}
		rt.cert = &certHolder{}
		rt.cert.cert.Store(c)
	}
	if r.ToCA != "" {
		pool, err := loadCA(&r)
		if err != nil {
			return nil, err
		}
		rt.toCA = pool
	}
	if r.Type == HTTP {
		rt.upstreams = &httpproxy.Upstreams{Max: rt.maxConns(), Changed: rt.upstreamDelta}
	}
	if err := rt.listen(); err != nil {
		rt.closeListeners()
		return nil, &RuleError{Rule: r.Name, Field: "listen", Err: err}
	}
	if err := rt.checkLoop(); err != nil {
		rt.closeListeners()
		return nil, &RuleError{Rule: r.Name, Field: "to", Err: err}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	rt.cancel = cancel
	for _, ln := range rt.lns {
		rt.loops.Add(1)
		go func() { defer rt.loops.Done(); rt.acceptLoop(ctx, ln) }()
	}
	for _, pc := range rt.pcs {
		rt.loops.Add(1)
		go func() { defer rt.loops.Done(); rt.udpLoop(ctx, pc) }()
	}
	if g, ok := r.Gate.(gateRunner); ok {
		rt.loops.Add(1)
		go func() {
			defer rt.loops.Done()
			if err := g.Run(ctx); err != nil && ctx.Err() == nil {
				rt.log.Error("gate stopped: it lets in only the sources it already let in", "err", err.Error())
			}
		}()
	}
	if check := rt.checker(); check != nil {
		every := orDefault(r.CheckInterval, DefaultCheckInterval)
		n, k := 0, 0
		for _, d := range rt.destSets {
			n += len(d.addrs)
		}
		for _, d := range rt.destSets {
			for i := range d.addrs {
				delay := every * time.Duration(k) / time.Duration(n)
				k++
				rt.loops.Add(1)
				go func() { defer rt.loops.Done(); rt.healthCheckLoop(ctx, d, i, delay, check) }()
			}
		}
	} else if r.Type == TCP {
		for _, d := range rt.destSets {
			if len(d.addrs) < 2 {
				continue
			}
			rt.loops.Add(1)
			go func() {
				defer rt.loops.Done()
				d.healthLoop(ctx, orDefault(r.DownTime, DefaultDownTime)/2, rt.dialer().DialContext)
			}()
		}
	}
	return rt, nil
}

func (rt *running) listen() error {
	if rt.s.sockets != nil {
		lns, pcs, err := rt.s.sockets(rt.rule)
		if err != nil {
			return err
		}
		if len(lns)+len(pcs) > 0 {
			rt.lns, rt.pcs = lns, pcs
			return nil
		}
	}
	host, port, _ := net.SplitHostPort(rt.rule.Listen)
	lc := net.ListenConfig{KeepAlive: rt.keepAlive()} // for the connections accepted
	if host == "" {                                   // one dual-stack socket, so port 0 means one port
		if rt.rule.Type == UDP {
			pc, err := lc.ListenPacket(context.Background(), "udp", ":"+port)
			if err != nil {
				return err
			}
			rt.pcs = append(rt.pcs, pc.(*net.UDPConn))
			return nil
		}
		ln, err := lc.Listen(context.Background(), "tcp", ":"+port)
		if err != nil {
			return err
		}
		rt.lns = append(rt.lns, ln.(*net.TCPListener))
		return nil
	}
	addrs, err := ListenAddrs(rt.rule.Listen)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		network := "tcp4"
		if a.Addr().Is6() {
			network = "tcp6"
		}
		if rt.rule.Type == UDP {
			pc, err := net.ListenUDP("udp"+network[3:], net.UDPAddrFromAddrPort(a))
			if err != nil {
				return err
			}
			rt.pcs = append(rt.pcs, pc)
			continue
		}
		ln, err := lc.Listen(context.Background(), network, a.String())
		if err != nil {
			return err
		}
		rt.lns = append(rt.lns, ln.(*net.TCPListener))
	}
	return nil
}

// checkLoop refuses a mapping whose destination (an IP literal) is one of
// its own listening addresses: every connection would dial the rule
// again, without end, until the machine runs out of ports.
func (rt *running) checkLoop() error {
	var all []string
	all = append(all, rt.rule.To...)
	all = append(all, rt.rule.DefaultTo...)
	for _, ro := range rt.rule.Routes {
		all = append(all, ro.To...)
	}
	for _, s := range all {
		ds, _ := ParseDest(s)
		d := ds.Addr
		dst, err := netip.ParseAddrPort(d)
		if err != nil {
			continue
		}
		dst = unmapAP(dst)
		for _, a := range rt.addrs() {
			if a.Port() != dst.Port() {
				continue
			}
			if a.Addr() == dst.Addr() || (a.Addr().IsUnspecified() && (dst.Addr().IsLoopback() || dst.Addr().IsUnspecified())) {
				return fmt.Errorf("destination %s is this rule's own listening address %s: a loop", d, a)
			}
		}
	}
	return nil
}

func (rt *running) addrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, ln := range rt.lns {
		out = append(out, unmapAP(ln.Addr().(*net.TCPAddr).AddrPort()))
	}
	for _, pc := range rt.pcs {
		out = append(out, unmapAP(pc.LocalAddr().(*net.UDPAddr).AddrPort()))
	}
	return out
}

func (rt *running) addrStrings() []string {
	var out []string
	for _, a := range rt.addrs() {
		out = append(out, a.String())
	}
	return out
}

func unmapAP(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func (rt *running) closeListeners() {
	for _, ln := range rt.lns {
		ln.Close()
	}
	for _, pc := range rt.pcs {
		pc.Close()
	}
}

// stop closes the listeners and waits for the accept loops; TCP
// connections already accepted go on.
func (rt *running) stop() {
	rt.halt()
	rt.logStopped()
}

// halt is stop without the log line.
func (rt *running) halt() {
	if rt.cancel != nil {
		rt.cancel()
	}
	rt.closeListeners()
	rt.loops.Wait()
	for _, d := range rt.destSets {
		d.stop()
	}
}

func (rt *running) logStopped() {
	rt.log.Info("rule stopped", "active", rt.active.Load())
}

// acceptLoop accepts until ctx ends or the listener closes. On EMFILE,
// ENFILE and other temporary errors it backs off (5 ms doubling to 1 s)
// instead of spinning.
func (rt *running) acceptLoop(ctx context.Context, ln *net.TCPListener) {
	var backoff time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			if !isTemporaryAccept(err) {
				rt.log.Error("accept failed; rule stops accepting", "err", err)
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			rt.log.Warn("accept failed, backing off", "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		// The rule-wide limit first, here rather than on the
		// connection's goroutine: a burst beyond it then holds one
		// descriptor at a time on its way out, not one each, which the
		// descriptor budget of max_conns does not count.
		if reason := rt.admitRule(); reason != "" {
			c.Close()
			rt.refuse(unmapAP(c.RemoteAddr().(*net.TCPAddr).AddrPort()), reason, nil)
			continue
		}
		rt.s.conns.Add(1)
		goWorker(func() {
			defer rt.s.conns.Done()
			defer rt.active.Add(-1)
			rt.serveTCP(rt.s.ctx, c)
		})
	}
}

func isTemporaryAccept(err error) bool {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}

// check applies the source filter and the gate.
func (rt *running) check(src netip.Addr) string {
	if rt.rule.Allow != nil && !rt.rule.Allow.Permit(src) {
		return RefuseSource
	}
	if rt.rule.Gate != nil && !rt.rule.Gate.Allow(src) {
		return RefuseGate
	}
	return ""
}

func (rt *running) refuse(client netip.AddrPort, reason string, err error) {
	args := []any{"client", client.String(), "reason", reason}
	if err != nil {
		args = append(args, "err", err.Error())
	}
	rt.log.Warn("refused", args...)
	rt.refused.Add(1)
	rt.s.obs.Refused(rt.rule.Name, reason)
}

// dialer is the rule's upstream dialer (egress bind, dial timeout,
// keepalive).
func (rt *running) dialer() *net.Dialer {
	d := &net.Dialer{Timeout: orDefault(rt.rule.DialTimeout, DefaultDialTimeout), KeepAlive: rt.keepAlive()}
	if rt.rule.Bind.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: rt.rule.Bind.AsSlice()}
	}
	return d
}

// keepAlive is the TCP keepalive of the rule's connections, both sides:
// none (-1) while an idle timeout ends connections that stopped moving,
// dead peers included, as haproxy and socat leave it by default; Go's
// default (0: probes after 15 s idle) when the rule has no idle timeout,
// so that a vanished peer does not hold a connection for ever. Each
// keepalive costs four setsockopt calls per socket.
func (rt *running) keepAlive() time.Duration {
	if rt.rule.IdleTimeout < 0 {
		return 0
	}
	return -1
}

type nopObserver struct{}

func (nopObserver) Accepted(string)                  {}
func (nopObserver) Transferred(string, int64, int64) {}
func (nopObserver) Closed(string, Stats)             {}
func (nopObserver) Refused(string, string)           {}
func (nopObserver) Failed(string, string)            {}
