package scan

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portkit/ports"
)

// ReasonReset is the SYN scan's reason for a closed port: a RST
// answered the SYN. The ICMP reasons are in icmp.go.
const ReasonReset = "reset"

const (
	// DefaultSYNRate is the SYN scan's send rate, in packets per second,
	// when Rate is 0: 65,535 ports in about a quarter of a second, if the
	// system keeps up (docs/BENCHMARKS.md has the rates reached). The
	// scan slows down by itself when it finds that a host drops more
	// replies at this rate than at a lower one.
	DefaultSYNRate = 250000
	// defaultSYNRetries is the SYN scan's MaxRetries when it is 0: five tries
	// in all. At 5% loss each way a try fails with p = 1-0.95² ≈ 0.0975,
	// and five in a row with p ≈ 9e-6, far below the 0.1% of missed open
	// ports the project allows.
	defaultSYNRetries = 4
	// minSYNWait is the shortest wait for replies after a round.
	minSYNWait = 50 * time.Millisecond
	// minSYNRate is the lowest rate the scan slows down to.
	minSYNRate = 100
	// tarpitMinPorts and tarpitFraction: a host probed on at least
	// tarpitMinPorts ports that SYN-ACKs at least tarpitFraction of them,
	// and does not RST at least 1/20 of them, is a SYN proxy or tarpit.
	tarpitMinPorts = 100
	tarpitFraction = 0.9
	// abMinAnswers is how many answers the earlier round must have had
	// for a rate test to be meaningful.
	abMinAnswers = 60
	// maxSourcePorts is the most source ports a scan reserves, one per
	// round, cycling.
	maxSourcePorts = 16
	// timeSlot is how many consecutive probe positions share one send
	// time stamp, from which round-trip times are measured.
	timeSlot = 16
)

// SYNConfig configures [SYNScan]. A nil *SYNConfig means the zero value,
// which scans no ports; every other zero field is a default. Its
// retries are rounds: each probes again the ports still silent after
// the last; when the scan finds a host that limits its reply rate, it
// slows down and may add as many rounds again. OpenIn opens all its
// sockets in one call.
type SYNConfig struct {
	Options

	// Seed orders the probes: every (target, port) pair is visited in a
	// pseudo-random order that depends on Seed alone, so that scans with
	// the same Seed, targets and ports visit them in the same order. 0
	// means a random seed.
	Seed uint64

	// Shard and Shards split the scan: with Shards N > 1 the scan probes
	// only shard Shard (1 to N) of the pairs, every N-th one in the order
	// Seed gives, so that N scans with the same Seed and the shards 1 to N
	// probe each pair exactly once. Shards 0 means 1.
	Shard, Shards int

	// Resume continues the scan that Checkpoint described: the pairs
	// whose results it records as delivered are skipped, and sending
	// resumes where it stopped. Seed, Shard, Shards, targets and ports
	// must be those of the interrupted scan, or SYNScan fails.
	Resume *SYNProgress

	// Checkpoint, if not nil, is called with the scan's progress about
	// once a second, and once more when the scan ends, interrupted or
	// not. It runs on the goroutine iterating over the results, between
	// two results; the *SYNProgress is the callee's to keep.
	Checkpoint func(*SYNProgress)

	// Stats, if not nil, receives the scan's counters when it ends.
	Stats *SYNStats
}

// SYNStats counts what a SYN scan sent and received.
type SYNStats struct {
	Sent        uint64  // SYNs sent, retries included
	Rounds      int     // rounds of probes sent
	Replies     uint64  // verified replies that decided a port
	Duplicates  uint64  // verified replies for a port already decided
	Stray       uint64  // TCP and ICMP replies that failed verification (wrong cookie, address or port): ignored
	Rate        float64 // the send rate at the end, in packets per second
	RateLimited bool    // whether the scan found a host limiting its replies, and slowed down
}

// TarpitError is yielded, with a Result naming only the host, for a host
// that SYN-ACKs (nearly) every port probed, as SYN proxies and tarpits
// do: the scan does not list its open ports, which say nothing. Its
// closed and filtered ports are yielded as usual.
type TarpitError struct {
	Addr   netip.Addr
	Open   int // ports that SYN-ACKed
	Probed int // ports probed
}

func (e *TarpitError) Error() string {
	return fmt.Sprintf("scan: host %s answers SYN-ACK on %d of %d ports probed (SYN proxy or tarpit); its open ports are not listed",
		e.Addr, e.Open, e.Probed)
}

// ConflictError is yielded, with a Result of state StateUnknown and the
// reason "syn-ack+reset" (or "reset+syn-ack": in the order they came),
// for a port whose probe got both a SYN-ACK and a RST that acknowledge
// it: someone on the path forges replies, racing the host, and the port's
// state cannot be told. The port was yielded before, with the first
// reply; this Result replaces it.
type ConflictError struct {
	Addr          netip.Addr
	Port          ports.Port
	First, Second string // the reasons of the two replies, in the order they came
	SecondTTL     uint8  // the TTL or hop limit of the second
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("scan: %s port %d/tcp: the probe got both a %s and a %s (ttl %d): someone on the path may forge replies; its state is unknown",
		e.Addr, e.Port, replyName(e.First), replyName(e.Second), e.SecondTTL)
}

func replyName(reason string) string {
	if reason == ReasonSynAck {
		return "SYN-ACK"
	}
	return "RST"
}

// SYNProgress is where a SYN scan stands, for [SYNConfig.Resume]. It is
// small and meant to be written as JSON: the pairs already delivered are
// one bit each.
type SYNProgress struct {
	Version     int    `json:"version"`     // 1
	Seed        uint64 `json:"seed"`        // the scan's seed
	Shard       int    `json:"shard"`       // 1-based
	Shards      int    `json:"shards"`      //
	Total       uint64 `json:"total"`       // targets × ports
	Fingerprint string `json:"fingerprint"` // SHA-256 of the targets and ports, hex, first 16 bytes
	Round       int    `json:"round"`       // the round being sent, from 0
	Next        uint64 `json:"next"`        // the next position of that round to send
	Done        []byte `json:"done"`        // bit i set: the result of pair i was delivered
	Finished    bool   `json:"finished"`    // the scan ended by itself
}

// ErrResume reports a SYNConfig.Resume that does not fit the scan.
var ErrResume = errors.New("scan: the resume state is for another scan (seed, shard, targets or ports differ)")

// SYNScan probes every TCP port of cfg.Ports on every target with a SYN
// from a raw socket, as nmap -sS does, and yields one Result per port and
// target as the answers come in: open ("syn-ack") for a SYN-ACK, closed
// ("reset") for a RST, filtered for an ICMP unreachable (reasons such as
// "port-unreach", "host-unreach", "admin-prohibited") or for silence
// after every retry ("no-response", yielded at the end). Result.TTL is
// the answer's TTL or hop limit. A port whose probe got both a SYN-ACK
// and a RST is yielded again, with a [ConflictError].
//
// Replies are verified against a keyed cookie in each SYN's sequence
// number, so a forged or stray packet cannot make a port open; silent
// ports are probed again in rounds, and an A/B test of two rates tells
// a host that limits its reply rate (the scan slows down) from random
// loss; a host that SYN-ACKs nearly every port is one *TarpitError.
// The design notes are at synScanner.
//
// Opening the raw sockets needs root or CAP_NET_RAW; without it the scan
// yields one error that wraps os.ErrPermission. On systems other than
// Linux it yields an error wrapping errors.ErrUnsupported. An invalid
// target ends the scan with an error before anything is sent. If ctx
// ends, the scan stops and yields ctx's error last; breaking out of the
// loop stops it too, and by then all its goroutines have returned and its
// sockets are closed.
//
// The scan takes copies of targets and *cfg when it starts iterating.
func SYNScan(ctx context.Context, targets []netip.Addr, cfg *SYNConfig) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		s, err := newSYNScanner(targets, cfg)
		if err != nil {
			yield(Result{}, err)
			return
		}
		if s.total == 0 {
			return
		}
		if err := s.cfg.open(s.open); err != nil {
			yield(Result{}, err)
			return
		}
		sctx, cancel := context.WithCancel(ctx)
		go s.run(sctx)
		delivered := newBitmap(s.total)
		if s.cfg.Resume != nil {
			copy(delivered, s.cfg.Resume.Done)
		}
		finished := false
		defer func() {
			cancel()
			for range s.out { // run closes out once every goroutine is done
			}
			if s.cfg.Checkpoint != nil {
				s.cfg.Checkpoint(s.progress(delivered, finished))
			}
			if s.cfg.Stats != nil {
				*s.cfg.Stats = s.statsNow()
			}
		}()
		lastCk := time.Now()
		for it := range s.out {
			for _, i := range it.marks {
				delivered.set(i)
			}
			if !it.noPair {
				delivered.set(s.index(it.r))
			}
			if !yield(it.r, it.err) {
				return
			}
			if s.cfg.Checkpoint != nil && time.Since(lastCk) >= time.Second {
				lastCk = time.Now()
				s.cfg.Checkpoint(s.progress(delivered, false))
			}
		}
		if err := ctx.Err(); err != nil {
			yield(Result{}, err)
			return
		}
		finished = true
	}
}

// bitmap is one bit per pair.
type bitmap []byte

func newBitmap(n uint64) bitmap    { return make(bitmap, (n+7)/8) }
func (b bitmap) set(i uint64)      { b[i/8] |= 1 << (i % 8) }
func (b bitmap) has(i uint64) bool { return b[i/8]&(1<<(i%8)) != 0 }
func (s *synScanner) index(r Result) uint64 {
	return uint64(s.hostIdx[r.Addr])*s.np + uint64(s.pidx[r.Port])
}

// synIO is the system's side of a SYN scan: raw sockets.
type synIO interface {
	// source returns the address the system sends from to reach dst.
	source(dst netip.Addr) (netip.Addr, error)
	// localPorts returns the scan's source ports, reserved for the scan.
	localPorts() []uint16
	// send sends the segments of batch; it returns how many went out and,
	// if not all did, the error of batch[n].
	send(batch []outSeg) (n int, err error)
	// receive reads packets until close, passing each to fn, which may be
	// called from several goroutines at once: b is the packet (for IPv4
	// with its IP header), from the sender and hop the IPv6 hop limit.
	receive(fn func(b []byte, v6, icmp bool, from netip.Addr, hop uint8))
	close()
}

// outSeg is one SYN to send.
type outSeg struct {
	src netip.Addr
	dst netip.Addr
	seg []byte
	idx uint64 // the pair
}

// How the SYN scan works, and why:
//
//   - The sequence number of each SYN is a cookie, SipHash-2-4 with a
//     key drawn for each scan over both addresses and ports. A SYN-ACK
//     counts only if it acknowledges cookie+1, a RST only if it carries
//     ACK and acknowledges cookie+1 (RFC 9293's reply to a SYN at a
//     closed port), an ICMP error only if it quotes the cookie. Anything
//     else is stray, counted in SYNStats and ignored, so a forged or
//     stray packet cannot make a port open. The send path keeps no state
//     per probe beyond the 2 bits that say whether the probe is answered.
//   - Each round of probes comes from a source port of its own (masscan
//     uses one port per scan, nmap varies them), a free port that the
//     scan reserves by binding a TCP socket to it (without listening),
//     so that no connection of the system can take it during the scan,
//     and the receive side can match replies by port (a BPF filter). One
//     port per round, and not per scan, because a retry must not look
//     like a retransmission: when a SYN-ACK is lost, the target keeps the
//     half-open connection, and Linux answers a repeated SYN on the same
//     4-tuple at most once per 500 ms (tcp_invalid_ratelimit), so fast
//     retries from the same port go unanswered until the target's own
//     SYN-ACK retransmission a second later. The kernel sees the
//     SYN-ACKs for a port without a connection and answers them with a
//     RST, which closes the half-open connection on the target; nmap
//     relies on the same.
//   - Probes go out in batches (sendmmsg) at cfg.Rate, in the order of a
//     keyed permutation of all (target, port) pairs (see Seed, Shard).
//     Replies are read in batches (recvmmsg) by a reader that polls its
//     raw socket, sleeping about half a millisecond when it is empty, instead
//     of waiting in the runtime's poller: a wake-up per reply cost more
//     CPU than the reading (see docs/BENCHMARKS.md), and an RTT measured
//     may come out up to about a millisecond too long.
//   - Rounds: after each round the scan waits for late replies, then
//     probes again only the ports still silent, up to MaxRetries times.
//   - Random loss and rate limits are told apart by an A/B test: in the
//     first retry round (and the next ones while limits are found) the
//     first half of the silent ports, by position, is probed at the
//     current rate and the second half at a quarter of the rate the last
//     full round really reached (the system may send slower than Rate).
//     The halves are random samples of the same ports, so under random
//     loss they answer in the same proportion; if the slow half answers
//     half again as often (with at least 20 answers), the host limits its
//     rate: the scan slows down to that quarter, tests again in the next
//     round, and allows one more round (at most MaxRetries more in all).
//     Otherwise the rate stays, and the retries alone make up for the
//     loss. Rate limits of a few packets per second, such as Linux's
//     limit on ICMP errors, are below what this can find in bounded time:
//     the ports they hide end up filtered, "no-response".
//   - A host probed on 100 ports or more that SYN-ACKs 90% of them is a
//     SYN proxy or tarpit: instead of its open ports the scan yields one
//     *TarpitError. Open ports of a host are therefore held back until
//     the host has also refused (RST or ICMP) 1/20 of its ports, or until
//     the scan ends.
//
// synScanner is one SYN scan.
type synScanner struct {
	cfg     SYNConfig
	log     *slog.Logger
	hosts   []netip.Addr
	srcs    []netip.Addr // source address for each host
	unreach []*HostError // for each host: why it is not probed (no route, broadcast), or nil
	hostIdx map[netip.Addr]int32
	plist   []ports.Port
	pidx    []int32 // port -> index in plist, or -1
	np      uint64
	total   uint64
	order   shardOrder
	state   stateMap
	key     sipKey
	lports  []uint16 // source port of each round, cycling
	io      synIO
	rate    float64
	tries   int // rounds allowed: tries0, and more for a host that limits its rate
	tries0  int // 1 + the retries configured
	start   time.Time
	fprint  string

	sendTimes []atomic.Uint32 // µs since start, per timeSlot positions
	pending   atomic.Int64    // pairs of the shard still undecided
	lastReply atomic.Int64    // ns since start of the last verified reply
	round     atomic.Int64
	next      atomic.Uint64 // next position of the round

	rtt rttEstimator

	// rate test (A/B) of the current round
	abSplit          atomic.Uint64 // positions >= abSplit are the slow half; 0: no test
	abFast, abSlow   atomic.Int64  // answers
	abFastN, abSlowN int64         // probes sent (sender only)

	// per host, for tarpits
	opens, refusals []atomic.Int32
	answered        []atomic.Int32 // TCP answers (SYN-ACK or RST) per host
	probed          []int32        // sender only
	holdMu          sync.Mutex
	streaming       []bool
	held            [][]Result
	conflicts       map[uint64]bool // pairs reported with a ConflictError (holdMu)

	out chan synItem
	ctx context.Context // of run

	sent, replies, dups, stray atomic.Uint64
	rounds                     int
	rateLimited                bool
	achieved                   float64 // send rate reached in the last full round, or 0
}

// baseRate is the rate that the scan really reached: cfg.Rate, or less
// if the system could not send that fast.
func (s *synScanner) baseRate() float64 {
	if s.achieved > 0 {
		return min(s.rate, s.achieved)
	}
	return s.rate
}

// item is one value for the iterator, with the pairs it delivers.
type synItem struct {
	r      Result
	err    error
	marks  []uint64
	noPair bool // r names no (target, port) pair: an error of the scan or a host
}

func newSYNScanner(targets []netip.Addr, cfg *SYNConfig) (*synScanner, error) {
	if cfg == nil {
		cfg = &SYNConfig{}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &synScanner{cfg: *cfg, log: cfg.logger(), rate: cfg.Rate, tries0: 1 + cfg.retries(defaultSYNRetries)}
	s.tries = s.tries0
	if s.rate == 0 {
		s.rate = DefaultSYNRate
	}
	s.hostIdx = make(map[netip.Addr]int32, len(targets))
	for i, a := range targets {
		if !a.IsValid() {
			return nil, fmt.Errorf("scan: target %d is not a valid address", i)
		}
		a = a.Unmap()
		if _, dup := s.hostIdx[a]; dup {
			return nil, fmt.Errorf("scan: target %s is given twice", a)
		}
		s.hostIdx[a] = int32(len(s.hosts))
		s.hosts = append(s.hosts, a)
	}
	s.plist = slices.Collect(cfg.Ports.Ports(ports.ProtoTCP))
	s.pidx = make([]int32, 1<<16)
	for i := range s.pidx {
		s.pidx[i] = -1
	}
	for i, p := range s.plist {
		s.pidx[p] = int32(i)
	}
	s.np = uint64(len(s.plist))
	s.total = uint64(len(s.hosts)) * s.np
	shard, shards := cfg.Shard, cfg.Shards
	if shards == 0 && shard == 0 {
		shard, shards = 1, 1
	}
	if err := CheckShard(shard, shards); err != nil {
		return nil, err
	}
	s.cfg.Shard, s.cfg.Shards = shard, shards
	if s.cfg.Seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		s.cfg.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	var kb [16]byte
	rand.Read(kb[:])
	s.key = sipKey{binary.LittleEndian.Uint64(kb[:8]), binary.LittleEndian.Uint64(kb[8:])}
	s.order = newShardOrder(s.total, s.cfg.Seed, uint64(shard-1), uint64(shards))
	s.state = newStateMap(s.total)
	s.fprint = fingerprint(s.hosts, s.plist)
	s.pending.Store(int64(s.order.len))
	if r := cfg.Resume; r != nil {
		if r.Version != 1 || r.Seed != s.cfg.Seed || r.Shard != shard || r.Shards != shards ||
			r.Total != s.total || r.Fingerprint != s.fprint || uint64(len(r.Done)) != (s.total+7)/8 {
			return nil, ErrResume
		}
		done := bitmap(r.Done)
		for i := range s.total {
			if done.has(i) {
				s.state.finish(i, probeDone)
				if _, mine := s.order.position(i); mine {
					s.pending.Add(-1)
				}
			}
		}
		s.round.Store(int64(r.Round))
		s.next.Store(r.Next)
	}
	s.sendTimes = make([]atomic.Uint32, s.order.len/timeSlot+1)
	nh := len(s.hosts)
	s.opens, s.refusals = make([]atomic.Int32, nh), make([]atomic.Int32, nh)
	s.answered = make([]atomic.Int32, nh)
	s.probed, s.streaming, s.held = make([]int32, nh), make([]bool, nh), make([][]Result, nh)
	s.out = make(chan synItem, 1024)
	return s, nil
}

// CheckShard checks a shard number: shard i of n, 1 <= i <= n.
func CheckShard(i, n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("scan: shard %d/%d: the number of shards must be 1 or more", i, n)
	case i < 1 || i > n:
		return fmt.Errorf("scan: shard %d/%d: the shard must be from 1 to %d", i, n, n)
	}
	return nil
}

// fingerprint identifies the targets and ports of a scan.
func fingerprint(hosts []netip.Addr, pl []ports.Port) string {
	h := sha256.New()
	for _, a := range hosts {
		b, _ := a.MarshalBinary()
		h.Write(b)
		h.Write([]byte{0xff})
	}
	for _, p := range pl {
		h.Write([]byte{byte(p >> 8), byte(p)})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// open opens the sockets and finds the source addresses.
func (s *synScanner) open() error {
	var fam [2]bool
	for _, a := range s.hosts {
		fam[b2i(a.Is6())] = true
	}
	io, err := openSYNIO(fam, min(2*s.tries0, maxSourcePorts))
	if err != nil {
		return err
	}
	s.srcs = make([]netip.Addr, len(s.hosts))
	s.unreach = make([]*HostError, len(s.hosts))
	for i, a := range s.hosts {
		src, err := io.source(a)
		if err != nil {
			// No route, a broadcast address: a result for the host,
			// nothing sent there, and the scan goes on.
			e := &HostError{Addr: a, Reason: hostErrReason(err), Err: err}
			if e.Reason == "" {
				e.Reason = ReasonUnreach
			}
			if e.Reason == ReasonBroadcast {
				e.Err = nil
			}
			s.unreach[i] = e
			continue
		}
		s.srcs[i] = src.Unmap()
	}
	s.io, s.lports = io, io.localPorts()
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *synScanner) since() time.Duration { return time.Since(s.start) }

// run sends the rounds and closes s.out when every goroutine is done.
func (s *synScanner) run(ctx context.Context) {
	s.start = time.Now()
	s.ctx = ctx
	var wg sync.WaitGroup
	defer func() {
		s.io.close()
		wg.Wait()
		close(s.out)
	}()
	wg.Go(func() { s.io.receive(s.handle) })
	stop := context.AfterFunc(ctx, s.io.close)
	defer stop()

	for hi, e := range s.unreach {
		if e != nil {
			s.finishHost(ctx, hi, e)
		}
	}
	s.resolveNeighbours(ctx)
	firstRound := int(s.round.Load())
	var prevAnswers int64
	abTest := false
	for round := firstRound; round < s.tries && s.pending.Load() > 0; round++ {
		s.round.Store(int64(round))
		from := uint64(0)
		if round == firstRound {
			from = s.next.Load()
		}
		ab := abTest || (round == 1 && prevAnswers >= abMinAnswers)
		before := int64(s.replies.Load())
		lastSend, err := s.sendRound(ctx, round, from, ab)
		if err != nil {
			s.emit(ctx, synItem{err: err, noPair: true})
			return
		}
		s.rounds++
		s.log.Debug("scan: syn: round sent", "round", round, "elapsed", s.since(), "pending", s.pending.Load())
		s.waitRound(ctx, lastSend)
		if ctx.Err() != nil {
			return
		}
		prevAnswers = int64(s.replies.Load()) - before
		abTest = false
		if ab {
			fastN, slowN := max(s.abFastN, 1), max(s.abSlowN, 1)
			fast, slow := float64(s.abFast.Load())/float64(fastN), float64(s.abSlow.Load())/float64(slowN)
			s.log.Debug("scan: syn: rate test", "round", round, "rate", s.rate,
				"fast", s.abFast.Load(), "fastSent", s.abFastN, "slow", s.abSlow.Load(), "slowSent", s.abSlowN)
			if s.abSlow.Load() >= 20 && slow >= 1.5*fast && s.baseRate()/4 >= minSYNRate {
				// The host answers more of what comes slower: it limits
				// its rate. Slow down, test again, and allow one more
				// round (at most MaxRetries more in all).
				s.rate = s.baseRate() / 4
				s.rateLimited = true
				abTest = true
				if s.tries < 2*s.tries0 {
					s.tries++
				}
				s.log.Debug("scan: syn: host limits its reply rate, slowing down", "rate", s.rate)
			}
			s.abSplit.Store(0)
		}
		s.log.Debug("scan: syn: round done", "round", round, "answers", prevAnswers, "pending", s.pending.Load(), "elapsed", s.since())
	}
	s.lingerForLateReplies(ctx)
	s.io.close()
	wg.Wait()
	s.finish(ctx)
}

// sendRound sends a SYN for every pending pair from position from on. In
// an A/B round the second half of the positions goes at a quarter of
// the rate. It returns when the last probe went out.
func (s *synScanner) sendRound(ctx context.Context, round int, from uint64, ab bool) (time.Time, error) {
	split := s.order.len
	if ab {
		split = max(s.order.len/2, 1)
		s.abFast.Store(0)
		s.abSlow.Store(0)
		s.abFastN, s.abSlowN = 0, 0
		s.abSplit.Store(split)
	}
	rate := s.rate
	lport := s.lports[round%len(s.lports)]
	maxBatch := int(min(max(rate/1000, 1), 64))
	// Sending on a fast link costs mostly the kernel's time, so that
	// several goroutines (threads) send batches at once; the pacing stays
	// here. Four of them even on 2 CPUs: each spends nearly all its time
	// in sendmmsg, and the runtime lets another run while one is in the
	// kernel (a namespace scan of 65,535 ports on 2 CPUs: 0.35-0.39 s
	// with 2, 0.29-0.34 s with 4, no better with 8 or 16).
	workers := 1
	if rate >= 50000 {
		workers = 4
	}
	type job struct {
		segs []outSeg
		buf  []byte
	}
	free := make(chan *job, 2*workers)
	for range 2 * workers {
		free <- &job{segs: make([]outSeg, 0, 64), buf: make([]byte, 0, 64*24)}
	}
	work := make(chan *job)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range work {
				s.sendBatch(ctx, j.segs)
				j.segs, j.buf = j.segs[:0], j.buf[:0]
				free <- j
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	cur := <-free
	next := time.Now()
	roundStart, roundSent := next, 0
	flush := func() error {
		if len(cur.segs) == 0 {
			return nil
		}
		now := time.Now()
		if d := next.Sub(now); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		} else if d < -10*time.Millisecond {
			next = now // do not burst to catch up after a stall
		}
		us := uint32(time.Since(s.start).Microseconds())
		for _, o := range cur.segs {
			pos, _ := s.order.position(o.idx)
			s.sendTimes[pos/timeSlot].Store(us)
		}
		next = next.Add(time.Duration(float64(len(cur.segs)) / rate * float64(time.Second)))
		select {
		case work <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		cur = <-free
		return nil
	}
	for j := from; j < s.order.len; j++ {
		if j == split && ab {
			if err := flush(); err != nil {
				return time.Now(), err
			}
			rate = s.baseRate() / 4
			maxBatch = int(min(max(rate/1000, 1), 64))
		}
		idx := s.order.at(j)
		if s.state.get(idx) != probePending {
			continue
		}
		h, p := idx/s.np, s.plist[idx%s.np]
		if round == 0 {
			s.probed[h]++
		}
		if ab {
			if j < split {
				s.abFastN++
			} else {
				s.abSlowN++
			}
		}
		dst, src := s.hosts[h], s.srcs[h]
		off := len(cur.buf)
		cur.buf = appendSYN(cur.buf, src, dst, lport, uint16(p), s.key.cookie(src, dst, lport, uint16(p)))
		cur.segs = append(cur.segs, outSeg{src: src, dst: dst, seg: cur.buf[off:], idx: idx})
		roundSent++
		if len(cur.segs) >= maxBatch {
			if err := flush(); err != nil {
				return time.Now(), err
			}
			s.next.Store(j + 1)
		}
	}
	if err := flush(); err != nil {
		return time.Now(), err
	}
	close(work)
	wg.Wait()
	work = make(chan *job) // for the deferred close
	if d := time.Since(roundStart); roundSent >= 1000 && !ab {
		s.achieved = float64(roundSent) / d.Seconds()
	}
	s.next.Store(0)
	if err := ctx.Err(); err != nil {
		return time.Now(), err
	}
	return time.Now(), nil
}

// sendBatch sends the SYNs of batch, deciding those the system refuses.
func (s *synScanner) sendBatch(ctx context.Context, b []outSeg) {
	for len(b) > 0 {
		n, err := s.io.send(b)
		s.sent.Add(uint64(n))
		b = b[n:]
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.sendFailed(ctx, b[0], err)
			b = b[1:]
		}
	}
}

// sendFailed decides the pair whose SYN the system refused to send.
func (s *synScanner) sendFailed(ctx context.Context, o outSeg, err error) {
	if !s.state.finish(o.idx, probeDone) {
		return
	}
	s.pending.Add(-1)
	r := Result{Addr: o.dst, Port: s.plist[o.idx%s.np], Proto: ports.ProtoTCP, Tries: int(s.round.Load()) + 1}
	var perr error
	switch reason := unreachReason(err); reason {
	case "":
		perr = &ProbeError{Op: "send SYN", Proto: ports.ProtoTCP, Addr: r.AddrPort(), Err: err}
	default:
		// The system cannot reach the host at all: its other ports
		// would fail the same way.
		r.State, r.Reason = StateFiltered, reason
		s.emit(ctx, synItem{r: r})
		s.finishHost(ctx, int(o.idx/s.np), &HostError{Addr: o.dst, Reason: reason, Err: err})
		return
	}
	s.emit(ctx, synItem{r: r, err: perr})
}

// waitRound waits for the replies to a round: Timeout after the last
// probe, longer while verified replies keep coming (at most 10 times
// longer), and not at all once every pair is decided.
func (s *synScanner) waitRound(ctx context.Context, lastSend time.Time) {
	wait := s.cfg.Timeout
	if wait == 0 {
		wait = s.adaptiveWait()
	}
	limit := lastSend.Add(max(10*wait, time.Second))
	var lastNeigh time.Time
	for {
		if s.pending.Load() <= 0 || ctx.Err() != nil {
			return
		}
		if time.Since(lastNeigh) >= neighPoll {
			lastNeigh = time.Now()
			s.endFailedNeighbours(ctx)
		}
		deadline := lastSend.Add(wait)
		if lr := s.start.Add(time.Duration(s.lastReply.Load())).Add(wait); lr.After(deadline) {
			deadline = lr
		}
		if deadline.After(limit) {
			deadline = limit
		}
		d := time.Until(deadline)
		if d <= 0 {
			return
		}
		t := time.NewTimer(min(d, 5*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

func (s *synScanner) adaptiveWait() time.Duration { return s.rtt.rto(minSYNWait) }

// resolveNeighbours asks ARP or NDP for the targets on local links
// before the first round, and ends those that do not answer: the kernel
// would queue every SYN to them for seconds while it resolves them
// itself (the queued SYNs filling the send buffer), and then drop them.
// nmap resolves its neighbours itself too, even with -Pn.
func (s *synScanner) resolveNeighbours(ctx context.Context) {
	if s.round.Load() > 0 || s.next.Load() > 0 {
		return // resumed: the first round was sent
	}
	if len(s.hosts) < 2 {
		// One host costs the kernel's resolution once, at worst: not
		// worth a socket and a round trip before the scan.
		return
	}
	var hosts []netip.Addr
	for hi, a := range s.hosts {
		if s.unreach[hi] == nil {
			hosts = append(hosts, a)
		}
	}
	cfg := &DiscoverConfig{linkOnly: true, OpenIn: s.cfg.OpenIn, MaxRetries: s.cfg.MaxRetries, Logger: s.log}
	for r, err := range Discover(ctx, hosts, cfg) {
		if err != nil {
			s.log.Debug("scan: syn: no neighbour resolution", "err", err)
			return
		}
		if !r.Up {
			reason := r.Reason
			if reason == ReasonNoResponse {
				reason = ReasonHostUnreach
			}
			s.finishHost(ctx, int(s.hostIdx[r.Addr]), &HostError{Addr: r.Addr, Reason: reason})
		}
	}
}

// neighPoll is how often a scan reads the neighbour tables while it
// waits for replies.
const neighPoll = 100 * time.Millisecond

// endFailedNeighbours ends the hosts that have not answered and whose
// ARP or NDP resolution failed, after the scan's own probes to them
// (sending to a failed neighbour makes the kernel resolve it again, so
// a failure seen after a round was sent is this scan's).
func (s *synScanner) endFailedNeighbours(ctx context.Context) {
	failedNeighbours(func(a netip.Addr) {
		hi, ok := s.hostIdx[a]
		if !ok || s.answered[hi].Load() != 0 || s.probed[hi] == 0 {
			return
		}
		s.finishHost(ctx, int(hi), &HostError{Addr: a, Reason: ReasonHostUnreach})
	})
}

// lingerForLateReplies keeps reading for one wait after the last reply
// once every probe is answered: a second, conflicting answer to a probe
// (a forger on the path racing the host, see ConflictError) comes after
// the first, and closing at the last first answer would miss it.
func (s *synScanner) lingerForLateReplies(ctx context.Context) {
	wait := s.cfg.Timeout
	if wait == 0 {
		wait = s.adaptiveWait()
	}
	for ctx.Err() == nil {
		d := time.Until(s.start.Add(time.Duration(s.lastReply.Load())).Add(wait))
		if d <= 0 {
			return
		}
		t := time.NewTimer(min(d, 5*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

func (s *synScanner) sample(rtt time.Duration) { s.rtt.sample(rtt) }

// handle checks a received packet and decides the pair it answers.
func (s *synScanner) handle(b []byte, v6, icmp bool, from netip.Addr, hop uint8) {
	var r reply
	if !parseReply(&r, b, v6, icmp) {
		return // not a reply: our own SYNs on loopback, other traffic
	}
	if v6 {
		r.TTL = hop
		if !icmp {
			r.Target = from
		} else {
			r.From = from
		}
	}
	st, reason, ok := s.verify(&r)
	if !ok {
		s.stray.Add(1)
		return
	}
	hi := s.hostIdx[r.Target]
	idx := uint64(hi)*s.np + uint64(s.pidx[r.TPort])
	pos, mine := s.order.position(idx)
	if !mine {
		s.stray.Add(1)
		return
	}
	if st == probeDone && hostLevelICMP(v6, r.ICMPCode) && s.answered[hi].Load() == 0 {
		// Host or network unreachable (from a router, or from our own
		// stack when ARP or NDP got no answer) before the host answered
		// anything: every pending probe of the host would meet the same
		// fate, so they end now, as one result for the host.
		s.replies.Add(1)
		s.lastReply.Store(int64(s.since()))
		s.finishHost(s.ctx, int(hi), &HostError{Addr: r.Target, Reason: reason,
			ICMP: ICMPInfo{From: r.From, V6: v6, Type: r.ICMPType, Code: r.ICMPCode}})
		return
	}
	if st != probeDone {
		s.answered[hi].Add(1)
	}
	if !s.state.finish(idx, st) {
		s.dups.Add(1)
		if prev := s.state.get(idx); st != probeDone && (prev == probeOpen || prev == probeClosed) && prev != st {
			s.conflict(idx, prev, reason, r.TTL)
		}
		return
	}
	now := s.since()
	s.replies.Add(1)
	s.pending.Add(-1)
	s.lastReply.Store(int64(now))
	if split := s.abSplit.Load(); split > 0 {
		if pos < split {
			s.abFast.Add(1)
		} else {
			s.abSlow.Add(1)
		}
	}
	rtt := max(now-time.Duration(s.sendTimes[pos/timeSlot].Load())*time.Microsecond, 0)
	if st != probeDone {
		s.sample(rtt)
	}
	res := Result{Addr: r.Target, Port: ports.Port(r.TPort), Proto: ports.ProtoTCP, Reason: reason,
		RTT: rtt, Tries: int(s.round.Load()) + 1, TTL: r.TTL}
	ctx := s.ctx
	switch st {
	case probeOpen:
		res.State = StateOpen
		s.opens[hi].Add(1)
		s.holdMu.Lock()
		if !s.streaming[hi] {
			s.held[hi] = append(s.held[hi], res)
			s.holdMu.Unlock()
			return
		}
		s.holdMu.Unlock()
	case probeClosed:
		res.State = StateClosed
		s.refused(ctx, hi)
	default:
		res.State = StateFiltered
		res.ICMP = ICMPInfo{From: r.From, V6: v6, Type: r.ICMPType, Code: r.ICMPCode}
		s.refused(ctx, hi)
	}
	s.emit(ctx, synItem{r: res})
}

// conflict reports a probe that a SYN-ACK and a RST both answered, with
// valid cookies: a forger on the path racing the host (or a host that
// changed its mind). The pair was delivered with the first answer; it
// is delivered again, once, with state unknown and both reasons, and a
// ConflictError. A held open port (see refused) is dropped from the hold.
func (s *synScanner) conflict(idx, prev uint64, reason string, ttl uint8) {
	s.holdMu.Lock()
	if s.conflicts == nil {
		s.conflicts = map[uint64]bool{}
	}
	if s.conflicts[idx] {
		s.holdMu.Unlock()
		return
	}
	s.conflicts[idx] = true
	hi := idx / s.np
	held := s.held[hi]
	for i, r := range held {
		if s.index(r) == idx {
			s.held[hi] = append(held[:i:i], held[i+1:]...)
			break
		}
	}
	s.holdMu.Unlock()
	first := ReasonSynAck
	if prev == probeClosed {
		first = ReasonReset
	}
	e := &ConflictError{Addr: s.hosts[hi], Port: s.plist[idx%s.np], First: first, Second: reason, SecondTTL: ttl}
	s.emit(s.ctx, synItem{r: Result{Addr: e.Addr, Port: e.Port, Proto: ports.ProtoTCP, State: StateUnknown,
		Reason: first + "+" + reason, Tries: int(s.round.Load()) + 1, TTL: ttl}, err: e, noPair: true})
}

// verify checks a reply against the cookie of the probe it claims to
// answer, and returns the state it gives.
func (s *synScanner) verify(r *reply) (uint64, string, bool) {
	if !slices.Contains(s.lports, r.LPort) {
		return 0, "", false
	}
	hi, ok := s.hostIdx[r.Target]
	if !ok || s.pidx[r.TPort] < 0 {
		return 0, "", false
	}
	src := s.srcs[hi]
	if r.Local.IsValid() && r.Local != src {
		return 0, "", false
	}
	ck := s.key.cookie(src, r.Target, r.LPort, r.TPort)
	switch r.Kind {
	case replySYNACK:
		if r.Ack == ck+1 {
			return probeOpen, ReasonSynAck, true
		}
	case replyRST:
		if r.Flags&tcpACK != 0 && r.Ack == ck+1 {
			return probeClosed, ReasonReset, true
		}
	case replyICMP:
		if r.Seq == ck {
			_, reason := icmpState(r.Target.Is6(), r.ICMPType, r.ICMPCode)
			return probeDone, reason, true
		}
	}
	return 0, "", false
}

// refused counts a RST or ICMP error from host hi; once it has refused
// 1/20 of its ports, it is no tarpit and its open ports flow.
func (s *synScanner) refused(ctx context.Context, hi int32) {
	n := s.refusals[hi].Add(1)
	if int64(n) < max(1, int64(s.perHost())/20) {
		return
	}
	s.holdMu.Lock()
	if s.streaming[hi] {
		s.holdMu.Unlock()
		return
	}
	s.streaming[hi] = true
	held := s.held[hi]
	s.held[hi] = nil
	s.holdMu.Unlock()
	for _, r := range held {
		s.emit(ctx, synItem{r: r})
	}
}

// perHost is the number of ports of each host the shard probes, about.
func (s *synScanner) perHost() uint64 {
	return max(1, s.np/uint64(s.cfg.Shards))
}

// emit sends it to the iterator, unless the scan has been stopped.
func (s *synScanner) emit(ctx context.Context, it synItem) {
	select {
	case s.out <- it:
	case <-ctx.Done():
	}
}

// finishHost decides every pending pair of host hi in the shard without
// probing it further, and yields one Result for the host with e.
func (s *synScanner) finishHost(ctx context.Context, hi int, e *HostError) {
	var marks []uint64
	for pi := range s.np {
		idx := uint64(hi)*s.np + pi
		if _, mine := s.order.position(idx); !mine || !s.state.finish(idx, probeDone) {
			continue
		}
		s.pending.Add(-1)
		marks = append(marks, idx)
	}
	if len(marks) == 0 {
		return // decided already, by the replies or another error
	}
	s.emit(ctx, synItem{r: Result{Addr: s.hosts[hi], Proto: ports.ProtoTCP, State: StateFiltered, Reason: e.Reason,
		ICMP: e.ICMP, Tries: int(s.round.Load()) + 1}, err: e, marks: marks, noPair: true})
}

// finish yields the silent pairs as filtered, and the held open ports
// or a TarpitError for each host that has some.
func (s *synScanner) finish(ctx context.Context) {
	tries := s.rounds + int(s.cfg.resumeRound())
	for j := range s.order.len {
		if ctx.Err() != nil {
			return
		}
		idx := s.order.at(j)
		if !s.state.finish(idx, probeDone) {
			continue
		}
		s.pending.Add(-1)
		s.emit(ctx, synItem{r: Result{Addr: s.hosts[idx/s.np], Port: s.plist[idx%s.np], Proto: ports.ProtoTCP,
			State: StateFiltered, Reason: ReasonNoResponse, Tries: tries}})
	}
	for hi, held := range s.held {
		if len(held) == 0 {
			continue
		}
		probed := int(s.probed[hi])
		if probed >= tarpitMinPorts && float64(len(held)) >= tarpitFraction*float64(probed) {
			marks := make([]uint64, len(held))
			for i, r := range held {
				marks[i] = s.index(r)
			}
			s.emit(ctx, synItem{r: Result{Addr: s.hosts[hi], Proto: ports.ProtoTCP},
				err: &TarpitError{Addr: s.hosts[hi], Open: len(held), Probed: probed}, marks: marks, noPair: true})
			continue
		}
		for _, r := range held {
			s.emit(ctx, synItem{r: r})
		}
	}
}

func (c *SYNConfig) resumeRound() int {
	if c.Resume != nil {
		return c.Resume.Round
	}
	return 0
}

func (s *synScanner) progress(delivered bitmap, finished bool) *SYNProgress {
	return &SYNProgress{Version: 1, Seed: s.cfg.Seed, Shard: s.cfg.Shard, Shards: s.cfg.Shards,
		Total: s.total, Fingerprint: s.fprint, Round: int(s.round.Load()), Next: s.next.Load(),
		Done: slices.Clone(delivered), Finished: finished}
}

func (s *synScanner) statsNow() SYNStats {
	return SYNStats{Sent: s.sent.Load(), Rounds: s.rounds, Replies: s.replies.Load(), Duplicates: s.dups.Load(),
		Stray: s.stray.Load(), Rate: s.rate, RateLimited: s.rateLimited}
}
