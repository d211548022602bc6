package scan

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/portkit/ports"
	sprobe "github.com/portkit/ports/scan/probe"
)

// ReasonUDPResponse is the reason for an open UDP port: a datagram came
// back from it. ICMP errors give the reasons of the SYN scan
// (ReasonPortUnreach for closed, ReasonAdminProhibited...).
const ReasonUDPResponse = "udp-response"

const (
	// defaultUDPRetries is the UDP scan's MaxRetries when it is 0:
	// one more than for TCP, since a silent UDP port costs no more than a
	// timeout and a reply lost to 5% loss each way (about 10% of round
	// trips) must be missed four times in a row to lose an open port.
	defaultUDPRetries = 3
	// defaultUDPWindow is how many UDP probes may await an answer at once
	// when UDPConfig.Window is 0.
	defaultUDPWindow = 512
	// defaultRateLimitWait bounds the time spent on the unanswered ports
	// of a host that rate-limits its ICMP errors.
	defaultRateLimitWait = 20 * time.Second
	// Paced sending to a host that rate-limits ICMP: the first interval,
	// its bounds, and the number of answers judged at a time.
	pacedInitial = 100 * time.Millisecond
	pacedMin     = time.Millisecond
	pacedMax     = 2 * time.Second
	pacedWindow  = 8               // answers judged at a time in the slow phase
	pacedGiveUp  = 3 * time.Second // a window this long without an answer ends the slow phase
	// maxBufErrors is how many sends in a row may fail with ENOBUFS
	// before the probe is reported as a *ProbeError.
	maxBufErrors = 1000
)

// errUDPUnsupported is returned where UDPScan has no implementation.
var errUDPUnsupported = fmt.Errorf("scan: UDP scan is not implemented on this system: %w", errors.ErrUnsupported)

// UDPConfig configures [UDPScan]. A nil *UDPConfig means the zero value,
// which scans no ports; every other zero field is a default. The
// adaptive Timeout uses the round trips of the replies and ICMP errors
// each host sent; a port silent after its retries is open|filtered.
type UDPConfig struct {
	Options

	// Window is the largest number of probes awaiting an answer at once.
	// 0 means 512.
	Window int

	// RateLimitWait bounds the slow phase (see UDPScan): the time spent,
	// per host that seems to rate-limit its ICMP errors, probing again
	// the ports its first phase left unanswered. 0 means 20 seconds; a
	// negative value means no slow phase: the unanswered ports are
	// reported open|filtered after the ordinary retries.
	RateLimitWait time.Duration

	// Payload returns the datagram sent to port. nil means the port's
	// probe from package probe (probe.ForUDPPort), or an empty datagram
	// for ports without one.
	Payload func(port ports.Port) []byte
}

// UDPScan sends a UDP probe to every port of cfg.Ports on every target,
// as nmap -sU does, and yields one Result per port and target, in no
// particular order:
//
//   - open, "udp-response", when a datagram comes back from the port;
//     Result.Service holds what the port's probe recognised in it;
//   - closed, "port-unreach", on an ICMP or ICMPv6 port unreachable;
//   - filtered on any other ICMP destination unreachable, with its reason
//     ("host-unreach", "admin-prohibited"...);
//   - open|filtered, "no-response", when nothing came back after every
//     retry.
//
// The probe is the payload written for the port's protocol (package
// probe) or an empty datagram. Only unanswered ports are probed again.
//
// How it works: one unconnected UDP socket per address family sends
// every probe, so the scan needs no privileges and two file descriptors.
// Replies are matched by their source address and port. The sockets' own
// port is chosen outside the ports scanned (up to 16 tries), so that a
// scan of this machine does not take its own probe for a reply. On Linux the
// sockets set IP_RECVERR and IPV6_RECVERR, so that the kernel queues the
// ICMP errors our probes provoke, with their type, code and the
// destination of the probe, on the socket's error queue (MSG_ERRQUEUE),
// without raw sockets. Other systems report ICMP errors only to connected
// sockets, without their type: there UDPScan yields an error wrapping
// errors.ErrUnsupported.
//
// ICMP rate limits: Linux sends a host about one ICMP error per second
// after a burst of six (net.ipv4.icmp_ratelimit; IPv6 a few per second),
// so a fast scan sees a few closed ports and then silence. The scan goes
// in two phases. First every port gets its 1+MaxRetries probes at full
// speed, whatever the host's ICMP behaviour: open ports answer with
// datagrams, which no rate limit delays, so they are all found there. A
// host that answered something (it is up) yet left most of those probes
// unanswered may be rate limiting (random loss leaves most answered; a
// host that answered nothing is down or firewalled, and waiting would
// not help). Its silent ports get a slow phase, for at most
// cfg.RateLimitWait: one probe at a time, starting every 100ms, faster
// while nearly all are answered, else one per answer's worth of time
// (the rate the host's token bucket refills at, once we outpace it); the
// phase ends early if nothing answers for 3 seconds. Ports still silent
// then are open|filtered, never closed: the scan reports closed only on
// an ICMP port unreachable it received, and open only on a datagram from
// the port.
//
// Errors, ctx and break work as for ConnectScan. A probe that cannot be
// sent (a local firewall, EPERM) yields its Result with StateUnknown and
// a *ProbeError. The scan takes copies of targets and *cfg when it starts
// iterating.
func UDPScan(ctx context.Context, targets []netip.Addr, cfg *UDPConfig) iter.Seq2[Result, error] {
	return udpScan(ctx, targets, cfg, nil)
}

// udpScan is UDPScan, with a hook for tests to adjust the scanner.
func udpScan(ctx context.Context, targets []netip.Addr, cfg *UDPConfig, tweak func(*udpScanner)) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		s, err := newUDPScanner(targets, cfg)
		if err == nil && tweak != nil {
			tweak(s)
		}
		if err != nil {
			yield(Result{}, err)
			return
		}
		if len(s.ports) == 0 || len(s.hosts) == 0 {
			return
		}
		sctx, cancel := context.WithCancel(ctx)
		out := make(chan item)
		errc := make(chan error, 1)
		go func() {
			defer close(out)
			errc <- s.run(sctx, out)
		}()
		defer func() {
			cancel()
			for range out {
			}
		}()
		for it := range out {
			if !yield(it.r, it.err) {
				return
			}
		}
		if err := <-errc; err != nil && ctx.Err() == nil {
			yield(Result{}, err)
			return
		}
		if err := ctx.Err(); err != nil {
			yield(Result{}, err)
		}
	}
}

// udpEvent is what a socket received: a reply or an ICMP error.
type udpEvent struct {
	peer      netip.AddrPort // the reply's source, or the destination of the probe an ICMP error is about
	reply     []byte
	icmp      bool
	icmpType  uint8
	icmpCode  uint8
	icmpFrom  netip.Addr // the sender of the ICMP error, when known
	v6        bool
	at        time.Time
	readError error // the socket failed; the scan ends
}

// udpTransport sends probes from one socket; its reader delivers events.
type udpTransport interface {
	send(dst netip.AddrPort, payload []byte) error
	close() error
}

// udpPort is the state of one probe: one port of one host.
type udpPort struct {
	tries   int // probes sent
	stries  int // probes sent in the slow phase
	done    bool
	pending bool // a probe awaits its answer
	slow    bool // the pending probe was sent in the slow phase
	sentAt  time.Time
	epoch   int // the host's epoch when sent
}

// udpSent is a probe awaiting its answer.
type udpSent struct {
	idx int // port index
	at  time.Time
}

// udpHost is what the scan knows of one target. Ports go through two
// phases: every port gets 1+retries probes as fast as the window and
// rate allow (queue); the ports still silent then, on a host found to
// rate-limit its ICMP errors, get as many more, paced, within the time
// budget (slow).
type udpHost struct {
	hostState
	queue    []int     // port indices to probe, in order
	slow     []int     // port indices to probe in the slow phase
	inflight []udpSent // in order of sending
	pending  int       // probes awaiting their answer

	resolved int           // first-phase probes answered or timed out
	answered int           // of which answered
	icmpSeen bool          // has sent a port unreachable
	interval time.Duration // between slow probes
	nextSend time.Time     // of the next slow probe
	deadline time.Time     // end of the slow phase's budget; zero before it
	epoch    int           // bumped when the interval changes
	epochAt  time.Time     // when the epoch began
	quiet    time.Time     // slow phase: when it began, or its latest answer
	winN     int           // outcomes of this epoch's slow probes
	winAns   int           // of which answered
}

type udpScanner struct {
	hosts      []udpHost
	byAddr     map[netip.Addr]int
	ports      []ports.Port
	portIdx    map[ports.Port]int
	payloads   [][]byte
	probes     []*sprobe.UDPProbe
	timeout    time.Duration
	retries    int
	interval   time.Duration
	window     int
	rlWait     time.Duration
	listen     func(network, address string) (net.PacketConn, error)
	log        *slog.Logger
	state      []udpPort // host*len(ports) + port
	inflight   int       // probes awaiting their answer, over all hosts
	pauseUntil time.Time // no sending before, after ENOBUFS
	bufErrors  int       // ENOBUFS in a row
	left       int       // ports without a result
	events     chan udpEvent
	transport  [2]udpTransport // IPv4, IPv6
	out        chan<- item
	ctx        context.Context

	// newTransport opens a transport: newUDPTransport, or a fake in tests.
	newTransport func(ctx context.Context, listen func(network, address string) (net.PacketConn, error),
		v6 bool, avoid func(port uint16) bool, events chan<- udpEvent) (udpTransport, error)
}

func newUDPScanner(targets []netip.Addr, cfg *UDPConfig) (*udpScanner, error) {
	if cfg == nil {
		cfg = &UDPConfig{}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &udpScanner{
		byAddr:   map[netip.Addr]int{},
		ports:    slices.Collect(cfg.Ports.Ports(ports.ProtoUDP)),
		portIdx:  map[ports.Port]int{},
		timeout:  cfg.Timeout,
		retries:  cfg.retries(defaultUDPRetries),
		interval: cfg.interval(),
		window:   cfg.Window,
		rlWait:   cfg.RateLimitWait,
		log:      cfg.logger(),

		newTransport: newUDPTransport,
	}
	s.listen = func(network, address string) (c net.PacketConn, err error) {
		err = cfg.open(func() error {
			c, err = net.ListenPacket(network, address)
			return err
		})
		return c, err
	}
	for i, a := range targets {
		if !a.IsValid() {
			return nil, fmt.Errorf("scan: target %d is not a valid address", i)
		}
		a = a.Unmap()
		key := a.WithZone("") // replies come without the zone
		if _, dup := s.byAddr[key]; dup {
			return nil, fmt.Errorf("scan: target %s is given twice", a)
		}
		s.byAddr[key] = len(s.hosts)
		s.hosts = append(s.hosts, udpHost{hostState: hostState{addr: a}})
	}
	if cfg.Window < 0 {
		return nil, fmt.Errorf("scan: negative window %d", cfg.Window)
	}
	if s.window == 0 {
		s.window = defaultUDPWindow
	}
	if s.rlWait == 0 {
		s.rlWait = defaultRateLimitWait
	}
	s.payloads = make([][]byte, len(s.ports))
	s.probes = make([]*sprobe.UDPProbe, len(s.ports))
	for i, p := range s.ports {
		s.portIdx[p] = i
		if cfg.Payload != nil {
			s.payloads[i] = cfg.Payload(p)
		} else if pr := sprobe.ForUDPPort(p); pr != nil {
			s.probes[i] = pr
			s.payloads[i] = pr.Payload()
		}
	}
	for i := range s.hosts {
		h := &s.hosts[i]
		h.queue = make([]int, len(s.ports))
		for j := range h.queue {
			h.queue[j] = j
		}
	}
	s.state = make([]udpPort, len(s.hosts)*len(s.ports))
	s.left = len(s.state)
	return s, nil
}

// finish yields the result of a port, once. It reports false if the scan
// must stop.
func (s *udpScanner) finish(hi, pi int, r Result, err error) bool {
	st := &s.state[hi*len(s.ports)+pi]
	if st.done {
		return true
	}
	st.done = true
	s.settle(hi, st)
	s.left--
	r.Addr, r.Port, r.Proto, r.Tries = s.hosts[hi].addr, s.ports[pi], ports.ProtoUDP, st.tries
	select {
	case s.out <- item{r: r, err: err}:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// settle marks st's probe as no longer awaiting an answer.
func (s *udpScanner) settle(hi int, st *udpPort) {
	if st.pending {
		st.pending = false
		s.inflight--
		s.hosts[hi].pending--
	}
}

// send sends the probe of port pi to host hi. It reports false if the
// scan must stop.
func (s *udpScanner) send(hi, pi int, slow bool, now time.Time) bool {
	h := &s.hosts[hi]
	st := &s.state[hi*len(s.ports)+pi]
	st.tries++
	if slow {
		st.stries++
	}
	st.sentAt, st.epoch, st.slow = now, h.epoch, slow
	fam := 0
	if h.addr.Is6() {
		fam = 1
	}
	dst := netip.AddrPortFrom(h.addr, uint16(s.ports[pi]))
	if err := s.transport[fam].send(dst, s.payloads[pi]); err != nil {
		if (errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EAGAIN)) && s.bufErrors < maxBufErrors {
			// Full buffers or queues on the way out: not the port's
			// fault. Put the probe back and pause all sending.
			st.tries--
			if slow {
				st.stries--
				h.slow = append([]int{pi}, h.slow...)
			} else {
				h.queue = append([]int{pi}, h.queue...)
			}
			s.bufErrors++
			d := min(time.Millisecond<<min(s.bufErrors-1, 10), 100*time.Millisecond)
			s.pauseUntil = now.Add(d)
			s.log.Debug("scan: udp: send: out of buffers, pausing", "addr", dst, "pause", d, "err", err)
			return true
		}
		if r, ok := localError(err); ok {
			return s.finish(hi, pi, r, nil)
		}
		return s.finish(hi, pi, Result{}, &ProbeError{Op: "send", Proto: ports.ProtoUDP, Addr: dst, Err: err})
	}
	s.bufErrors = 0
	h.inflight = append(h.inflight, udpSent{idx: pi, at: now})
	st.pending = true
	s.inflight++
	h.pending++
	return true
}

// run scans until every port has a result. It owns all the state; the
// transports' readers only send events.
func (s *udpScanner) run(ctx context.Context, out chan<- item) error {
	s.ctx, s.out = ctx, out
	s.events = make(chan udpEvent, 256)
	rctx, stopReaders := context.WithCancel(ctx)
	defer func() {
		for _, t := range s.transport {
			if t != nil {
				t.close()
			}
		}
		stopReaders()
	}()
	for hi := range s.hosts {
		fam := 0
		if s.hosts[hi].addr.Is6() {
			fam = 1
		}
		if s.transport[fam] != nil {
			continue
		}
		avoid := func(port uint16) bool { _, ok := s.portIdx[ports.Port(port)]; return ok }
		t, err := s.newTransport(rctx, s.listen, fam == 1, avoid, s.events)
		if err != nil {
			return err
		}
		s.transport[fam] = t
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var nextGlobal time.Time // the rate limit
	for s.left > 0 {
		now := time.Now()
		// Send what may be sent now, round robin over the hosts: first
		// probes and retries, then slow probes when their time has come.
		for progress := true; progress; {
			progress = false
			for hi := range s.hosts {
				h := &s.hosts[hi]
				if s.inflight >= s.window || (s.interval > 0 && now.Before(nextGlobal)) || now.Before(s.pauseUntil) {
					break
				}
				var pi int
				slow := false
				switch {
				case len(h.queue) > 0:
					pi, h.queue = h.queue[0], h.queue[1:]
				case len(h.slow) > 0 && !now.Before(h.nextSend) && now.Before(h.deadline):
					pi, h.slow, slow = h.slow[0], h.slow[1:], true
					h.nextSend = now.Add(h.interval)
				default:
					continue
				}
				progress = true
				if s.state[hi*len(s.ports)+pi].done {
					continue
				}
				if !s.send(hi, pi, slow, now) {
					return nil
				}
				if s.interval > 0 {
					if nextGlobal.Before(now) {
						nextGlobal = now
					}
					nextGlobal = nextGlobal.Add(s.interval)
				}
			}
		}

		// Expire the probes whose time is up; end the slow phase of hosts
		// whose budget is spent.
		var wake time.Time
		soon := func(t time.Time) {
			if wake.IsZero() || t.Before(wake) {
				wake = t
			}
		}
		for hi := range s.hosts {
			h := &s.hosts[hi]
			timeout := s.timeout
			if timeout == 0 {
				timeout = h.timeout()
			}
			for len(h.inflight) > 0 {
				f := h.inflight[0]
				if exp := f.at.Add(timeout); exp.After(now) {
					soon(exp)
					break
				}
				h.inflight = h.inflight[1:]
				st := &s.state[hi*len(s.ports)+f.idx]
				if st.done || !st.pending || st.sentAt != f.at {
					continue // answered, or sent again since
				}
				s.settle(hi, st)
				if !st.slow {
					h.resolved++
				} else if st.epoch == h.epoch {
					h.winN++
				}
				switch {
				case !st.slow && st.tries <= s.retries:
					h.queue = append(h.queue, f.idx)
				case !st.slow && s.rlWait >= 0 && h.rateLimited() && (h.deadline.IsZero() || now.Before(h.deadline)):
					if h.deadline.IsZero() {
						h.deadline, h.interval, h.nextSend = now.Add(s.rlWait), pacedInitial, now
						h.epoch++
						h.epochAt, h.quiet, h.winN, h.winAns = now, now, 0, 0
						s.log.Debug("scan: udp: host seems to rate-limit ICMP errors: probing its silent ports slowly",
							"addr", h.addr, "answered", h.answered, "of", h.resolved, "budget", s.rlWait)
					}
					h.slow = append(h.slow, f.idx)
				case st.slow && st.stries <= s.retries && now.Before(h.deadline):
					h.slow = append(h.slow, f.idx)
				default:
					if !s.finish(hi, f.idx, Result{State: StateOpenFiltered, Reason: ReasonNoResponse}, nil) {
						return nil
					}
				}
			}
			s.judge(h, now)
			if !h.deadline.IsZero() && !now.Before(h.deadline) && len(h.slow) > 0 {
				s.log.Debug("scan: udp: rate-limit budget spent", "addr", h.addr, "unanswered", len(h.slow))
				for _, pi := range h.slow {
					if !s.finish(hi, pi, Result{State: StateOpenFiltered, Reason: ReasonNoResponse}, nil) {
						return nil
					}
				}
				h.slow = nil
			}
			if s.inflight < s.window {
				t := time.Time{}
				switch {
				case len(h.queue) > 0:
					t = now
				case len(h.slow) > 0:
					t = h.nextSend
				}
				if !t.IsZero() {
					if s.interval > 0 && nextGlobal.After(t) {
						t = nextGlobal
					}
					if s.pauseUntil.After(t) {
						t = s.pauseUntil
					}
					soon(t)
				}
			}
		}
		if s.left == 0 {
			break
		}

		var timerC <-chan time.Time
		if !wake.IsZero() {
			timer.Reset(max(time.Until(wake), 0))
			timerC = timer.C
		}
		select {
		case ev := <-s.events:
			for {
				if ev.readError != nil {
					return ev.readError
				}
				if !s.handle(ev) {
					return nil
				}
				select { // take what is there before sending more
				case ev = <-s.events:
					continue
				default:
				}
				break
			}
		case <-timerC:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// handle applies a reply or ICMP error. It reports false if the scan must
// stop.
func (s *udpScanner) handle(ev udpEvent) bool {
	hi, ok := s.byAddr[ev.peer.Addr().Unmap().WithZone("")]
	if !ok {
		return true
	}
	pi, ok := s.portIdx[ports.Port(ev.peer.Port())]
	if !ok {
		return true
	}
	st := &s.state[hi*len(s.ports)+pi]
	if st.done || st.tries == 0 {
		return true // a stray, or a duplicate
	}
	h := &s.hosts[hi]
	rtt := max(ev.at.Sub(st.sentAt), 0)
	var r Result
	if !ev.icmp {
		r = Result{State: StateOpen, Reason: ReasonUDPResponse, RTT: rtt}
		if pr := s.probes[pi]; pr != nil {
			r.Service, _ = pr.Match(ev.reply)
		}
	} else {
		r.State, r.Reason = icmpState(ev.v6, ev.icmpType, ev.icmpCode)
		if r.Reason == "" {
			return true // not an unreachable: say, a time exceeded
		}
		r.RTT = rtt
		r.ICMP = ICMPInfo{From: ev.icmpFrom, V6: ev.v6, Type: ev.icmpType, Code: ev.icmpCode}
		if r.State == StateClosed {
			h.icmpSeen = true
		}
	}
	if st.pending {
		h.sample(max(rtt, 1))
		switch {
		case !st.slow:
			h.resolved++
			h.answered++
		case st.epoch == h.epoch:
			h.winN++
			h.winAns++
			h.quiet = ev.at
		default:
			h.quiet = ev.at
		}
	}
	return s.finish(hi, pi, r, nil)
}

// rateLimited reports whether the host may be rate-limiting its ICMP
// errors: it answered something (a port unreachable or a datagram: it is
// up), yet most first-phase probes went unanswered. With random loss most
// probes are answered; a host that answered nothing is down or behind a
// firewall, and waiting would not help. A host that answered with
// datagrams only may have an ICMP token bucket that something else
// emptied just before the scan, so it gets the slow phase too. A firewall
// that drops most ports of a host that is up looks the same; the slow
// phase then ends after pacedGiveUp without an answer.
func (h *udpHost) rateLimited() bool {
	return h.answered > 0 && 2*h.answered < h.resolved
}

// judge sets the pace of the slow phase from the answers to the latest
// pacedWindow slow probes: faster while nearly all are answered; else one
// probe per answer's worth of time, which is the rate the host's ICMP
// token bucket refills at once we send faster than it; and an end to the
// slow phase when nothing answered for pacedGiveUp.
func (s *udpScanner) judge(h *udpHost, now time.Time) {
	if h.deadline.IsZero() || !now.Before(h.deadline) {
		return
	}
	if quiet := now.Sub(h.quiet); quiet >= pacedGiveUp {
		s.log.Debug("scan: udp: no answer in the slow phase: ending it", "addr", h.addr, "for", quiet)
		h.deadline = now
		return
	}
	if h.winN < pacedWindow {
		return
	}
	n, ans := h.winN, h.winAns
	elapsed := now.Sub(h.epochAt)
	switch {
	case ans == 0:
		h.interval = min(h.interval*4, pacedMax)
	case 10*ans >= 9*n:
		h.interval = max(h.interval/2, pacedMin)
	default:
		h.interval = min(max(elapsed/time.Duration(ans), pacedMin), pacedMax)
	}
	h.epoch++
	h.epochAt, h.winN, h.winAns = now, 0, 0
	s.log.Debug("scan: udp: slow phase pace", "addr", h.addr, "interval", h.interval, "answered", ans, "of", n, "in", elapsed)
}

// localError turns a send that failed for lack of a route into a result.
func localError(err error) (Result, bool) {
	if reason := unreachReason(err); reason != "" {
		return Result{State: StateFiltered, Reason: reason}, true
	}
	return Result{}, false
}
