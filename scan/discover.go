package scan

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portkit/ports"
)

// Reasons, in nmap's words, for a host's state.
const (
	ReasonARPResponse       = "arp-response"       // a neighbour answered ARP
	ReasonNDResponse        = "nd-response"        // a neighbour answered a neighbour solicitation
	ReasonEchoReply         = "echo-reply"         // ICMP or ICMPv6 echo reply
	ReasonTimestampReply    = "timestamp-reply"    // ICMP timestamp reply
	ReasonLocalhostResponse = "localhost-response" // the address is the scanner's own
	ReasonUserSet           = "user-set"           // up because the caller said so (-Pn)
)

const (
	// DefaultDiscoverRate is the discovery's send rate, in packets per
	// second, when DiscoverConfig.Rate is 0: a /24 in a few
	// milliseconds, a /16 in a few seconds a round, and no flood of
	// broadcasts on a real LAN.
	DefaultDiscoverRate = 20000
	// minDiscoverWait is the shortest wait for answers after a round.
	minDiscoverWait = 50 * time.Millisecond
	// linkDiscoverWait is the wait after a round before any round trip
	// was measured, when every pending host is on a local link:
	// neighbours answer ARP and NDP within milliseconds.
	linkDiscoverWait = 250 * time.Millisecond
	// discoverTCPPorts: the SYN goes to 443 and the ACK to 80, as nmap's.
	discoverSYNPort, discoverACKPort = 443, 80
)

// DefaultDiscoverConnectPorts are the ports the unprivileged discovery
// connects to: nmap's 80 and 443, and 22.
var DefaultDiscoverConnectPorts = []ports.Port{80, 443, 22}

// HostResult is what host discovery concluded about one target.
type HostResult struct {
	Addr   netip.Addr
	Up     bool
	Reason string           // why: ReasonARPResponse, ReasonEchoReply, ReasonSynAck, ReasonReset, ReasonNoResponse, ReasonHostUnreach...
	RTT    time.Duration    // of the answer; 0 when down
	MAC    net.HardwareAddr // on a local link (ARP or NDP), else nil
	TTL    uint8            // of the answer (IPv4 TTL, IPv6 hop limit); 0 when unknown
	Tries  int              // rounds of probes sent to the host
	ICMP   ICMPInfo         // the ICMP error that said the host is down, if one did
}

// DiscoverConfig configures [Discover]. A nil *DiscoverConfig means the
// zero value; every zero field is a default.
type DiscoverConfig struct {
	// Rate is the largest number of probes sent per second, retries
	// included. 0 means DefaultDiscoverRate.
	Rate float64

	// MaxRetries is how many more rounds probe the hosts still silent
	// after the first, as SYNConfig.MaxRetries: 0 means 4, negative none.
	MaxRetries int

	// Timeout is how long a round waits for answers after its last
	// probe. 0 means adaptive, as the SYN scan's (at least 50ms), and
	// 250ms before the first answer when every host is on a local link,
	// InitialTimeout when some are not.
	Timeout time.Duration

	// Unprivileged discovers with TCP connects only (to ConnectPorts), as
	// nmap does without raw sockets: a connection made or refused says
	// the host is up. Discover falls back to it by itself when it may
	// not open raw sockets.
	Unprivileged bool

	// ConnectPorts are the ports of the unprivileged discovery. nil
	// means DefaultDiscoverConnectPorts.
	ConnectPorts []ports.Port

	// Dial makes the unprivileged connects, as ConnectConfig.Dial; nil
	// means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	// OpenIn, if not nil, is called with the function that opens the
	// sockets (and reads the interfaces) and must run it, as in
	// SYNConfig.OpenIn.
	OpenIn func(open func() error) error

	// Stats, if not nil, receives the counters when discovery ends.
	Stats *DiscoverStats

	// Logger receives debug messages about rounds. nil means none.
	Logger *slog.Logger

	// linkOnly resolves neighbours on local links only, and says nothing
	// of other hosts (see SYNScan): unexported, the SYN scan's.
	linkOnly bool
}

// DiscoverStats counts what a discovery sent and received.
type DiscoverStats struct {
	Sent    uint64 // probes sent, retries included
	Rounds  int
	Up      int
	Down    int
	Stray   uint64 // answers that failed verification
	Replies uint64 // verified answers, duplicates included
}

// Host kinds: how discovery probes a target.
const (
	kindRemote uint8 = iota // off-link: ICMP echo (and timestamp), SYN 443, ACK 80
	kindARP                 // on a local IPv4 link
	kindNDP                 // on a local IPv6 link
	kindLocal               // one of our own addresses
	kindSkip                // not probed: broadcast, no route (decided at open)
)

// Host states.
const (
	hostPending uint32 = iota
	hostUp
	hostDown
)

// discLink is a local link that hosts are on.
type discLink struct {
	ifindex int
	mac     net.HardwareAddr
}

// discIO is the system's side of a privileged discovery.
type discIO interface {
	// sendProbes sends the probes of one round to host hi.
	sendProbes(d *discoverer, hi int) (int, error)
	// receive reads answers until close, passing each to d.answer.
	receive(d *discoverer)
	close()
}

type discoverer struct {
	cfg     DiscoverConfig
	log     *slog.Logger
	hosts   []netip.Addr
	byAddr  []int32 // indexes in hosts, by address: see lookup
	kind    []uint8
	link    []uint8 // index in links, for kindARP and kindNDP
	links   []discLink
	srcs    []netip.Addr
	skip    []*HostError // for kindSkip
	state   []atomic.Uint32
	sentAt  []atomic.Int64  // ns since start of the host's last probe
	tries   []atomic.Uint32 // rounds sent to each host
	key     sipKey
	lport   uint16
	io      discIO
	rate    float64
	rounds  int
	start   time.Time
	rtt     rttEstimator
	pending atomic.Int64
	out     chan HostResult

	lastReply                   atomic.Int64
	sent, replies, stray        atomic.Uint64
	up, down                    atomic.Int64
	allLink                     bool
	connectMu                   sync.Mutex
	ctx                         context.Context
	unprivileged, permissionErr bool
}

// Discover finds which targets are up, as nmap's host discovery (-sn)
// does, and yields one HostResult per target: each host that is up as
// soon as it answers, the others at the end. A host that answers any
// probe is up. Probes:
//
//   - a target on a directly connected IPv4 link gets an ARP request
//     (through an AF_PACKET socket), one on an IPv6 link a neighbour
//     solicitation: the answer carries its MAC address, and a silent
//     neighbour costs one ARP per round instead of a timeout per port;
//   - other targets get an ICMP echo request (and an ICMP timestamp
//     request, IPv4), a TCP SYN to port 443 and a TCP ACK to port 80:
//     nmap's defaults. An echo or timestamp reply, a SYN-ACK or a RST
//     says up; an ICMP host or network unreachable from a router says
//     down at once;
//   - the scanner's own addresses are up (localhost-response); a
//     broadcast address or one with no route is down, and not probed.
//
// Silent hosts are probed again in rounds (MaxRetries), at most Rate
// probes a second, each round waiting for answers as long as the round
// trips measured say, so that a lossy link does not make live hosts look
// down. Probes carry a keyed cookie (TCP sequence numbers, ICMP
// identifiers) that answers must match. Memory is a few bytes per target.
//
// Without the privilege to open raw sockets (root or CAP_NET_RAW), or
// with cfg.Unprivileged, discovery makes TCP connects to ConnectPorts
// instead: a connection made or refused says up. On systems other than
// Linux it always does.
//
// An invalid target ends discovery with an error before anything is
// sent; so does a target given twice. If ctx ends, discovery stops and
// yields ctx's error last.
func Discover(ctx context.Context, targets []netip.Addr, cfg *DiscoverConfig) iter.Seq2[HostResult, error] {
	return func(yield func(HostResult, error) bool) {
		d, err := newDiscoverer(targets, cfg)
		if err != nil {
			yield(HostResult{}, err)
			return
		}
		if len(d.hosts) == 0 {
			return
		}
		open := d.open
		if d.cfg.OpenIn != nil {
			open = func() error { return d.cfg.OpenIn(d.open) }
		}
		if !d.cfg.Unprivileged {
			if err := open(); err != nil {
				if !errors.Is(err, errNoRaw) || d.cfg.linkOnly {
					yield(HostResult{}, err)
					return
				}
				d.unprivileged = true
			}
		} else {
			d.unprivileged = true
		}
		sctx, cancel := context.WithCancel(ctx)
		defer func() {
			cancel()
			for range d.out {
			}
			if d.cfg.Stats != nil {
				*d.cfg.Stats = DiscoverStats{Sent: d.sent.Load(), Rounds: d.rounds, Up: int(d.up.Load()), Down: int(d.down.Load()),
					Stray: d.stray.Load(), Replies: d.replies.Load()}
			}
		}()
		if d.unprivileged {
			go d.runConnect(sctx)
		} else {
			go d.run(sctx)
		}
		for r := range d.out {
			if !yield(r, nil) {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(HostResult{}, err)
		}
	}
}

// errNoRaw wraps the error of a discovery that may not open raw sockets.
var errNoRaw = errors.New("scan: discovery needs raw sockets")

func newDiscoverer(targets []netip.Addr, cfg *DiscoverConfig) (*discoverer, error) {
	if cfg == nil {
		cfg = &DiscoverConfig{}
	}
	d := &discoverer{cfg: *cfg, log: cfg.Logger, rate: cfg.Rate}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case !(cfg.Rate >= 0):
		return nil, fmt.Errorf("scan: invalid discovery rate %v", cfg.Rate)
	case cfg.Rate == 0:
		d.rate = DefaultDiscoverRate
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("scan: negative discovery timeout %v", cfg.Timeout)
	}
	// A sorted index, not a map: 4 bytes a target instead of about 50,
	// and answers, to be looked up, come from the few hosts up.
	d.hosts = make([]netip.Addr, len(targets))
	d.byAddr = make([]int32, len(targets))
	for i, a := range targets {
		if !a.IsValid() {
			return nil, fmt.Errorf("scan: target %d is not a valid address", i)
		}
		d.hosts[i], d.byAddr[i] = a.Unmap(), int32(i)
	}
	slices.SortFunc(d.byAddr, func(a, b int32) int { return d.hosts[a].Compare(d.hosts[b]) })
	for i := 1; i < len(d.byAddr); i++ {
		if a := d.hosts[d.byAddr[i]]; a == d.hosts[d.byAddr[i-1]] {
			return nil, fmt.Errorf("scan: target %s is given twice", a)
		}
	}
	n := len(d.hosts)
	d.state, d.sentAt, d.tries = make([]atomic.Uint32, n), make([]atomic.Int64, n), make([]atomic.Uint32, n)
	var kb [16]byte
	rand.Read(kb[:])
	d.key = sipKey{binary.LittleEndian.Uint64(kb[:8]), binary.LittleEndian.Uint64(kb[8:])}
	d.out = make(chan HostResult, 256)
	return d, nil
}

// lookup returns the index of target a.
func (d *discoverer) lookup(a netip.Addr) (int32, bool) {
	j, ok := slices.BinarySearchFunc(d.byAddr, a, func(i int32, a netip.Addr) int { return d.hosts[i].Compare(a) })
	if !ok {
		return -1, false
	}
	return d.byAddr[j], true
}

func (d *discoverer) maxTries() int {
	switch {
	case d.cfg.MaxRetries == 0:
		return 1 + defaultSYNRetries
	case d.cfg.MaxRetries > 0:
		return 1 + d.cfg.MaxRetries
	}
	return 1
}

func (d *discoverer) since() time.Duration { return time.Since(d.start) }

// decide moves host hi from pending to up or down and yields r; only the
// first decision counts.
func (d *discoverer) decide(hi int, r HostResult) bool {
	st := hostDown
	if r.Up {
		st = hostUp
	}
	if !d.state[hi].CompareAndSwap(hostPending, st) {
		return false
	}
	d.pending.Add(-1)
	if r.Up {
		d.up.Add(1)
	} else {
		d.down.Add(1)
	}
	r.Addr = d.hosts[hi]
	r.Tries = int(d.tries[hi].Load())
	select {
	case d.out <- r:
	case <-d.ctx.Done():
	}
	return true
}

// answered decides host hi up for an answer of reason, measuring its
// round trip from the host's last probe.
func (d *discoverer) answered(hi int32, reason string, mac net.HardwareAddr, ttl uint8) {
	d.replies.Add(1)
	if d.state[hi].Load() != hostPending {
		return
	}
	now := d.since()
	rtt := max(now-time.Duration(d.sentAt[hi].Load()), 0)
	if d.decide(int(hi), HostResult{Up: true, Reason: reason, RTT: rtt, MAC: mac, TTL: ttl}) {
		d.rtt.sample(rtt)
		d.lastReply.Store(int64(now))
	}
}

// run sends the rounds of a privileged discovery and closes d.out.
func (d *discoverer) run(ctx context.Context) {
	d.ctx = ctx
	d.start = time.Now()
	var wg sync.WaitGroup
	defer func() {
		d.io.close()
		wg.Wait()
		close(d.out)
	}()
	wg.Go(func() { d.io.receive(d) })
	stop := context.AfterFunc(ctx, d.io.close)
	defer stop()
	d.pending.Store(int64(len(d.hosts)))
	for hi, k := range d.kind {
		switch k {
		case kindLocal:
			d.decide(hi, HostResult{Up: true, Reason: ReasonLocalhostResponse})
		case kindSkip:
			e := d.skip[hi]
			d.decide(hi, HostResult{Reason: e.Reason})
		}
	}
	interval := time.Duration(float64(time.Second) / d.rate)
	for round := 0; round < d.maxTries() && d.pending.Load() > 0; round++ {
		next := time.Now()
		for hi := range d.hosts {
			if ctx.Err() != nil {
				return
			}
			if d.state[hi].Load() != hostPending || d.kind[hi] >= kindLocal {
				continue
			}
			// Probes go out in bursts of up to a millisecond's worth: a
			// timer per probe would cost more than the probe.
			if dl := time.Until(next); dl > time.Millisecond {
				t := time.NewTimer(dl)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
			} else if dl < -10*time.Millisecond {
				next = time.Now()
			}
			d.tries[hi].Add(1)
			d.sentAt[hi].Store(int64(d.since()))
			n, err := d.io.sendProbes(d, hi)
			d.sent.Add(uint64(n))
			next = next.Add(time.Duration(max(n, 1)) * interval)
			if err != nil {
				reason := hostErrReason(err)
				if reason == "" {
					reason = ReasonUnreach
				}
				d.decide(hi, HostResult{Reason: reason})
			}
		}
		d.rounds++
		d.log.Debug("scan: discover: round sent", "round", round, "pending", d.pending.Load(), "elapsed", d.since())
		d.waitRound(ctx, time.Now())
		if ctx.Err() != nil {
			return
		}
	}
	for hi := range d.hosts {
		if d.state[hi].Load() == hostPending {
			d.decide(hi, HostResult{Reason: ReasonNoResponse})
		}
	}
}

// waitRound waits for the answers to a round, as the SYN scan does.
func (d *discoverer) waitRound(ctx context.Context, lastSend time.Time) {
	wait := d.cfg.Timeout
	if wait == 0 {
		wait = d.rtt.rto(minDiscoverWait)
		if d.rtt.empty() && d.allLink {
			wait = linkDiscoverWait
		}
	}
	limit := lastSend.Add(max(4*wait, time.Second))
	for d.pending.Load() > 0 && ctx.Err() == nil {
		deadline := lastSend.Add(wait)
		if lr := d.start.Add(time.Duration(d.lastReply.Load())).Add(wait); lr.After(deadline) {
			deadline = lr
		}
		if deadline.After(limit) {
			deadline = limit
		}
		dl := time.Until(deadline)
		if dl <= 0 {
			return
		}
		t := time.NewTimer(min(dl, 5*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// runConnect is the unprivileged discovery: a connect to each of the
// ports per host and round; the first connection made or refused says
// up.
func (d *discoverer) runConnect(ctx context.Context) {
	d.ctx = ctx
	d.start = time.Now()
	defer close(d.out)
	d.pending.Store(int64(len(d.hosts)))
	dial := d.cfg.Dial
	if dial == nil {
		var dl net.Dialer
		dial = dl.DialContext
	}
	pl := d.cfg.ConnectPorts
	if pl == nil {
		pl = DefaultDiscoverConnectPorts
	}
	interval := time.Duration(float64(time.Second) / d.rate)
	sem := make(chan struct{}, 512)
	for round := 0; round < d.maxTries() && d.pending.Load() > 0; round++ {
		timeout := d.cfg.Timeout
		if timeout == 0 {
			timeout = min(d.rtt.rto(MinTimeout)<<round, MaxTimeout)
		}
		var wg sync.WaitGroup
		next := time.Now()
		for hi := range d.hosts {
			if d.state[hi].Load() != hostPending {
				continue
			}
			d.tries[hi].Add(1)
			for _, p := range pl {
				if time.Until(next) > 0 {
					time.Sleep(time.Until(next))
				}
				next = next.Add(interval)
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					wg.Wait()
					return
				}
				d.sent.Add(1)
				wg.Go(func() {
					defer func() { <-sem }()
					d.connectProbe(ctx, dial, hi, p, timeout)
				})
			}
		}
		wg.Wait()
		d.rounds++
		if ctx.Err() != nil {
			return
		}
	}
	for hi := range d.hosts {
		if d.state[hi].Load() == hostPending {
			d.decide(hi, HostResult{Reason: ReasonNoResponse})
		}
	}
}

func (d *discoverer) connectProbe(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), hi int, p ports.Port, timeout time.Duration) {
	if d.state[hi].Load() != hostPending {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	c, err := dial(cctx, "tcp", netip.AddrPortFrom(d.hosts[hi], uint16(p)).String())
	rtt := time.Since(start)
	switch {
	case err == nil:
		closeReset(c)
		d.rtt.sample(rtt)
		d.decide(hi, HostResult{Up: true, Reason: ReasonSynAck, RTT: rtt})
	case errors.Is(err, syscall.ECONNREFUSED):
		d.rtt.sample(rtt)
		d.decide(hi, HostResult{Up: true, Reason: ReasonConnRefused, RTT: rtt})
	case errors.Is(err, syscall.EHOSTUNREACH):
		d.decide(hi, HostResult{Reason: ReasonHostUnreach})
	case errors.Is(err, syscall.ENETUNREACH):
		d.decide(hi, HostResult{Reason: ReasonNetUnreach})
	case errors.Is(err, syscall.EACCES):
		d.decide(hi, HostResult{Reason: ReasonBroadcast})
	}
}

// echoID is the ICMP identifier of the echo and timestamp requests to
// dst: 16 bits of the cookie, which an answer must carry back.
func (d *discoverer) echoID(src, dst netip.Addr) uint16 {
	c := d.key.cookie(src, dst, 0, 0)
	return uint16(c) ^ uint16(c>>16)
}

// DiscoverStage returns a Plan.Discover stage that runs Discover with
// cfg over the targets: each host is up or down with Discover's reason,
// round trip and MAC address.
func DiscoverStage(cfg *DiscoverConfig) func(ctx context.Context, targets []Target) iter.Seq2[HostStatus, error] {
	return func(ctx context.Context, targets []Target) iter.Seq2[HostStatus, error] {
		addrs := make([]netip.Addr, len(targets))
		for i, t := range targets {
			addrs[i] = t.Addr
		}
		return func(yield func(HostStatus, error) bool) {
			for r, err := range Discover(ctx, addrs, cfg) {
				if err != nil {
					yield(HostStatus{}, err)
					return
				}
				st := HostStatus{Addr: r.Addr, State: HostDown, Reason: r.Reason, ReasonTTL: r.TTL, Latency: r.RTT, MAC: r.MAC}
				if r.Up {
					st.State = HostUp
				}
				if !yield(st, nil) {
					return
				}
			}
		}
	}
}
