package scan

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portkit/ports"
)

// Timeout bounds of the adaptive timeout, as nmap's --initial-rtt-timeout,
// --min-rtt-timeout and --max-rtt-timeout.
const (
	// InitialTimeout is the connect timeout for a host before any
	// round-trip time to it has been measured.
	InitialTimeout = time.Second
	// MinTimeout is the smallest adaptive connect timeout.
	MinTimeout = 100 * time.Millisecond
	// MaxTimeout is the largest adaptive connect timeout.
	MaxTimeout = 10 * time.Second
)

const (
	// defaultRetries is the connect scan's MaxRetries when it is 0: four
	// tries, as a connect lost to 5% loss each way (p ≈ 0.0975 per try)
	// is then missed with p ≈ 1e-4.
	defaultRetries = 3
	// maxLateTries is how many tries of one port may time out late (see
	// lateTimeout) without counting as tries.
	maxLateTries = 2
	// maxDefaultConcurrency caps the default concurrency: more SYNs at
	// once than most networks and hosts take without dropping some (and,
	// with net.Dialer, one goroutine of about 8 KiB per connect).
	maxDefaultConcurrency = 4096
	// fdSpare is how many file descriptors the default concurrency leaves
	// to the rest of the process.
	fdSpare = 64
	// maxResourceErrors is how many times in a row one probe may fail for
	// lack of file descriptors or local ports before it is reported as a
	// *ProbeError.
	maxResourceErrors = 64
	// Backoff after a resource error: minBackoff, doubling per failure of
	// the same probe up to maxBackoff.
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// ConnectConfig configures [ConnectScan]. A nil *ConnectConfig means the
// zero value, which scans no ports; every other zero field is a default.
//
// With the adaptive Timeout, a port's timeout doubles for each of its
// tries that timed out (up to MaxTimeout), as TCP backs off its
// retransmissions: a pause of the scanning process longer than the
// timeout times out every connect in flight, and their retries, sent at
// once, would meet the same pause. A try whose timeout the scan noticed
// late (by more than a quarter of it and 10 ms: the process was not
// running, and an answer may have gone unseen) does not count against
// MaxRetries, at most twice per port.
type ConnectConfig struct {
	Options

	// Concurrency is the largest number of connects in flight at once.
	// 0 means as many as file descriptors allow: the soft RLIMIT_NOFILE
	// less 64 kept spare (1024 where there is no such limit), capped by
	// the size of the ephemeral port range (16384 where it cannot be
	// read), by 4096, and by the number of probes. Whatever it is, a connect that
	// fails with EMFILE, ENFILE or EADDRNOTAVAIL is not reported: the scan
	// lowers its concurrency, backs off and tries that port again.
	Concurrency int

	// Seed, Shard and Shards order and split the scan as in SYNConfig:
	// with Seed not 0 the (target, port) pairs are probed in the
	// pseudo-random order Seed gives, and with Shards N > 1 only every
	// N-th of them from the Shard-th (1 to N). All 0 means every pair,
	// hosts interleaved, ports in increasing order.
	Seed          uint64
	Shard, Shards int
}

// ConnectScan probes every TCP port of cfg.Ports on every target with a
// full connect, as nmap -sT does, and yields one Result per port and
// target, in no particular order: open ("syn-ack") if the connection
// was made, closed ("conn-refused") if it was refused, filtered if an
// ICMP error came back ("host-unreach", "net-unreach") or if every try
// timed out ("no-response"). A connection made is closed at once with a
// reset (SO_LINGER 0), so that scans leave no TIME_WAIT sockets behind.
//
// A probe that fails otherwise yields its Result, with StateUnknown, and
// a *ProbeError; the scan goes on. An invalid target (netip.Addr{}) ends
// the scan with an error before anything is sent. If ctx ends, the scan
// stops and yields ctx's error last. Breaking out of the loop stops the
// scan: by the time the loop has ended, every connect has been abandoned
// and every goroutine of the scan has returned.
//
// The scan takes copies of targets and *cfg when it starts iterating.
func ConnectScan(ctx context.Context, targets []netip.Addr, cfg *ConnectConfig) iter.Seq2[Result, error] {
	return connectScan(ctx, targets, cfg, nil)
}

// connectScan is ConnectScan, with a hook for tests to adjust the scanner.
func connectScan(ctx context.Context, targets []netip.Addr, cfg *ConnectConfig, tweak func(*connectScanner)) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		s, err := newConnectScanner(targets, cfg)
		if err == nil && tweak != nil {
			tweak(s)
		}
		if err != nil {
			yield(Result{}, err)
			return
		}
		if s.total == 0 {
			return
		}
		sctx, cancel := context.WithCancel(ctx)
		// Buffered, so that the native engines (each an event loop making
		// thousands of connects) rarely wait for the caller's loop.
		out := make(chan item, 256)
		go func() {
			if !s.native || !s.runNative(sctx, out) {
				s.run(sctx, out)
			}
		}()
		defer func() {
			cancel()
			for range out { // run or runNative closes out once every goroutine is done
			}
		}()
		for it := range out {
			if it.skip {
				continue
			}
			if !yield(it.r, it.err) {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(Result{}, err)
		}
	}
}

// item is one value for the iterator.
type item struct {
	r    Result
	err  error
	skip bool // a port of a host already ended by a HostError: not yielded
}

// probe is one port of one target still to be probed.
type probe struct {
	host      int // index into connectScanner.hosts
	port      ports.Port
	tries     int // connects made so far that timed out in time
	late      int // connects that timed out late, not counted in tries
	resErrors int // resource errors in a row
}

// outcome kinds a worker reports to the coordinator.
const (
	doneFinal    = iota // a Result was yielded
	doneTimeout         // timed out, retry it
	doneResource        // out of fds or local ports: back off, retry it
)

type outcome struct {
	p    probe
	kind int
}

type connectScanner struct {
	hosts       []hostState
	ports       []ports.Port
	order       *shardOrder // nil: hosts interleaved, ports in order
	total       int         // len(hosts) * len(ports)
	concurrency int
	timeout     time.Duration // 0: adaptive
	retries     int
	interval    time.Duration // between connect starts; 0: unlimited
	maxBackoff  time.Duration // after resource errors
	dial        func(ctx context.Context, network, address string) (net.Conn, error)
	openIn      func(open func() error) error // Options.open
	native      bool                          // runNative may make the connects itself (tests turn it off)
	log         *slog.Logger
}

func newConnectScanner(targets []netip.Addr, cfg *ConnectConfig) (*connectScanner, error) {
	if cfg == nil {
		cfg = &ConnectConfig{}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &connectScanner{
		hosts:    make([]hostState, len(targets)),
		ports:    slices.Collect(cfg.Ports.Ports(ports.ProtoTCP)),
		timeout:  cfg.Timeout,
		retries:  cfg.retries(defaultRetries),
		interval: cfg.interval(),
		openIn:   cfg.open,
		native:   true,
		log:      cfg.logger(),

		maxBackoff: maxBackoff,
	}
	for i, a := range targets {
		if !a.IsValid() {
			return nil, fmt.Errorf("scan: target %d is not a valid address", i)
		}
		s.hosts[i].addr = a
	}
	s.total = len(s.hosts) * len(s.ports)
	if cfg.Seed != 0 || cfg.Shard != 0 || cfg.Shards != 0 {
		shard, shards := cfg.Shard, cfg.Shards
		if shard == 0 && shards == 0 {
			shard, shards = 1, 1
		}
		if err := CheckShard(shard, shards); err != nil {
			return nil, err
		}
		seed := cfg.Seed
		if seed == 0 {
			seed = rand.Uint64() | 1
		}
		o := newShardOrder(uint64(s.total), seed, uint64(shard-1), uint64(shards))
		s.order, s.total = &o, int(o.len)
	}
	s.concurrency = cfg.Concurrency
	if s.concurrency <= 0 {
		s.concurrency = defaultConcurrency()
	}
	s.concurrency = max(1, min(s.concurrency, s.total))
	// net.Dialer where the native engine does not run; its sockets are
	// opened through OpenIn too.
	s.dial = func(ctx context.Context, network, address string) (c net.Conn, err error) {
		err = s.openIn(func() error {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, address)
			return err
		})
		return c, err
	}
	return s, nil
}

// defaultConcurrency derives the default from the file descriptor limit
// and the ephemeral port range.
func defaultConcurrency() int {
	n := fdLimit() - fdSpare
	return max(1, min(n, ephemeralPorts(), maxDefaultConcurrency))
}

// run coordinates the scan: it hands probes to the workers, respecting
// the rate and the concurrency limit, and takes back those to retry. It
// closes out when every worker has returned.
func (s *connectScanner) run(ctx context.Context, out chan<- item) {
	jobs := make(chan probe)
	done := make(chan outcome)
	var wg sync.WaitGroup
	workers := 0 // started lazily, so that a slow scan needs few
	defer func() {
		close(jobs)
		wg.Wait()
		close(out)
	}()

	type delayedProbe struct {
		at time.Time
		p  probe
	}
	var (
		next      int // next fresh probe: host next%len(hosts), port next/len(hosts)
		finished  int
		inflight  int
		limit     = s.concurrency // lowered on resource errors, raised again slowly
		growth    int
		retry     []probe // ready to go again, before fresh probes
		delayed   []delayedProbe
		nextStart time.Time // rate limit
		timer     = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	nh := len(s.hosts)
	for finished < s.total {
		now := time.Now()
		// Move backed-off probes whose time has come to retry.
		var wake time.Time
		delayed = slices.DeleteFunc(delayed, func(d delayedProbe) bool {
			if !d.at.After(now) {
				retry = append(retry, d.p)
				return true
			}
			if wake.IsZero() || d.at.Before(wake) {
				wake = d.at
			}
			return false
		})

		var send chan probe
		var cand probe
		if inflight < limit && (len(retry) > 0 || next < s.total) {
			if s.interval > 0 && now.Before(nextStart) {
				if wake.IsZero() || nextStart.Before(wake) {
					wake = nextStart
				}
			} else {
				send = jobs
				if workers <= inflight && workers < s.concurrency {
					workers++
					wg.Go(func() { s.worker(ctx, jobs, done, out) })
				}
				if len(retry) > 0 {
					cand = retry[0]
				} else {
					cand = probe{host: next % nh, port: s.ports[next/nh]}
					if s.order != nil {
						idx := s.order.at(uint64(next))
						cand = probe{host: int(idx / uint64(len(s.ports))), port: s.ports[idx%uint64(len(s.ports))]}
					}
				}
			}
		}
		var timerC <-chan time.Time
		if !wake.IsZero() {
			timer.Reset(wake.Sub(now))
			timerC = timer.C
		}

		select {
		case send <- cand:
			inflight++
			if len(retry) > 0 {
				retry = retry[1:]
			} else {
				next++
			}
			if s.interval > 0 {
				if nextStart.Before(now) {
					nextStart = now
				}
				nextStart = nextStart.Add(s.interval)
			}
		case o := <-done:
			inflight--
			switch o.kind {
			case doneFinal:
				finished++
			case doneTimeout:
				retry = append(retry, o.p)
			case doneResource:
				// The other connects in flight hold what there is: go no
				// higher than them for now.
				limit = max(1, inflight-inflight/8)
				growth = 0
				d := min(minBackoff<<min(o.p.resErrors-1, 16), s.maxBackoff)
				delayed = append(delayed, delayedProbe{at: time.Now().Add(d), p: o.p})
				s.log.Debug("scan: connect: out of resources, backing off",
					"addr", s.hosts[o.p.host].addr, "port", o.p.port,
					"inflight", inflight, "limit", limit, "backoff", d)
			}
			if o.kind != doneResource && limit < s.concurrency {
				if growth++; growth >= 4 {
					limit++
					growth = 0
				}
			}
		case <-timerC:
		case <-ctx.Done():
			return
		}
	}
}

// worker makes connects until jobs is closed or ctx ends.
func (s *connectScanner) worker(ctx context.Context, jobs <-chan probe, done chan<- outcome, out chan<- item) {
	for p := range jobs {
		kind := s.connect(ctx, &p, out)
		if ctx.Err() != nil {
			return
		}
		select {
		case done <- outcome{p, kind}:
		case <-ctx.Done():
			return
		}
	}
}

// connect probes p once and either sends its result to out or tells how
// it should be retried.
func (s *connectScanner) connect(ctx context.Context, p *probe, out chan<- item) int {
	h := &s.hosts[p.host]
	ap := netip.AddrPortFrom(h.addr, uint16(p.port))
	timeout := s.timeout
	if timeout == 0 {
		// Back off as TCP does its retransmission timeout: a port that
		// timed out waits twice as long on its next try.
		timeout = min(h.timeout()<<min(p.tries+p.late, 8), MaxTimeout)
	}
	if h.dead.Load() && !h.answered.Load() {
		return doneFinal // the host was ended as unreachable
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	c, err := s.dial(dctx, "tcp", ap.String())
	rtt := time.Since(start)
	cancel()
	if ctx.Err() != nil { // the scan is over
		if c != nil {
			closeReset(c)
		}
		return doneFinal
	}
	if err == nil {
		closeReset(c)
	}
	kind, it := s.classify(p, err, rtt, timeout)
	if kind != doneFinal {
		return kind
	}
	select {
	case out <- it:
	case <-ctx.Done():
	}
	return doneFinal
}

// classify turns the outcome of one try of p, err after rtt with the
// given timeout (nil: connected), into a Result to yield (doneFinal) or
// the way to try p again.
func (s *connectScanner) classify(p *probe, err error, rtt, timeout time.Duration) (int, item) {
	h := &s.hosts[p.host]
	ap := netip.AddrPortFrom(h.addr, uint16(p.port))
	r := Result{Addr: h.addr, Port: p.port, Proto: ports.ProtoTCP, Tries: p.tries + p.late + 1}
	var perr error
	if h.dead.Load() && !h.answered.Load() {
		// The host was ended as unreachable: its other ports are not
		// probed, nor reported one by one.
		return doneFinal, item{skip: true}
	}
	if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
		h.answered.Store(true)
	}
	if reason := hostErrReason(err); reason != "" && !h.answered.Load() {
		// The system or a router says the host cannot be reached, and
		// it never answered: every port would fail the same way, and
		// each would cost a neighbour resolution or a timeout. One
		// result for the host.
		if !h.dead.CompareAndSwap(false, true) {
			return doneFinal, item{skip: true}
		}
		r.State, r.Reason, r.Port = StateFiltered, reason, 0
		return doneFinal, item{r: r, err: &HostError{Addr: h.addr, Reason: reason, Err: err}}
	}
	switch {
	case err == nil:
		h.sample(rtt)
		r.State, r.Reason, r.RTT = StateOpen, ReasonSynAck, rtt
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE),
		errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.ENOBUFS):
		p.resErrors++
		if p.resErrors < maxResourceErrors {
			return doneResource, item{}
		}
		r.Tries = p.tries + p.late
		perr = &ProbeError{Op: "connect", Proto: ports.ProtoTCP, Addr: ap, Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		h.sample(rtt)
		r.State, r.Reason, r.RTT = StateClosed, ReasonConnRefused, rtt
	case unreachReason(err) != "":
		r.State, r.Reason, r.RTT = StateFiltered, unreachReason(err), rtt
	case isTimeout(err), errors.Is(err, errHangup), errors.Is(err, syscall.ECONNRESET):
		// A reset or hang-up of a connect that never connected says
		// nothing of the port (a SYN-ACK would have connected, a RST
		// been refused): a try lost, as a timeout.
		p.resErrors = 0
		if lateTimeout(rtt, timeout) && p.late < maxLateTries {
			// The scan noticed its deadline late: it was not running (a
			// loaded machine, a GC pause), and an answer may have come
			// in time and gone unseen. Not the network's fault: this try
			// does not count.
			p.late++
			s.log.Debug("scan: connect timed out late, trying again", "addr", ap, "late", p.late, "timeout", timeout, "elapsed", rtt)
			return doneTimeout, item{}
		}
		p.tries++
		if p.tries <= s.retries {
			s.log.Debug("scan: connect timed out, retrying", "addr", ap, "try", p.tries, "timeout", timeout, "elapsed", rtt)
			return doneTimeout, item{}
		}
		r.State, r.Reason, r.Tries = StateFiltered, ReasonNoResponse, p.tries+p.late
	default:
		perr = &ProbeError{Op: "connect", Proto: ports.ProtoTCP, Addr: ap, Err: err}
	}
	return doneFinal, item{r: r, err: perr}
}

// errHangup is a non-blocking connect that ended in a hang-up with no
// error on the socket.
var errHangup = errors.New("connect ended with no error and no connection")

// lateTimeout reports whether a connect that timed out after elapsed,
// with a deadline timeout after its start, was noticed late: by more
// than a quarter of the timeout and 10 ms.
func lateTimeout(elapsed, timeout time.Duration) bool {
	return elapsed > timeout+max(timeout/4, 10*time.Millisecond)
}

// isTimeout reports whether a dial failed by timing out, in the dialer's
// deadline or in the kernel (ETIMEDOUT).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ETIMEDOUT) || (errors.As(err, &ne) && ne.Timeout())
}

// closeReset closes c with a reset rather than a FIN where it can.
func closeReset(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		l.SetLinger(0)
	}
	c.Close()
}

// hostState is what the scan knows about one target.
type hostState struct {
	addr netip.Addr

	answered atomic.Bool // a connect was made or refused
	dead     atomic.Bool // ended by a HostError

	rtt rttEstimator
}

// sample adds a measured round trip.
func (h *hostState) sample(rtt time.Duration) { h.rtt.sample(rtt) }

// timeout returns the connect timeout for the host: RFC 6298's RTO,
// from MinTimeout to MaxTimeout.
func (h *hostState) timeout() time.Duration { return h.rtt.rto(MinTimeout) }

// parseRange parses "lo hi", as in /proc/sys/net/ipv4/ip_local_port_range,
// and returns the number of ports, or 0.
func parseRange(s string) int {
	var f []int
	for _, w := range strings.Fields(s) {
		n, err := strconv.Atoi(w)
		if err != nil {
			return 0
		}
		f = append(f, n)
	}
	if len(f) != 2 || f[1] < f[0] {
		return 0
	}
	return f[1] - f[0] + 1
}
