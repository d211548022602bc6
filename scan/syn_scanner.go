package scan

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portkit/ports"
)

// The SYN scanner: its state, and the rounds it runs.

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

	ab rateTest // of the current round

	answered []atomic.Int32 // TCP answers (SYN-ACK or RST) per host
	tarpit   tarpitGuard

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
		if err := s.resume(r); err != nil {
			return nil, err
		}
	}
	s.sendTimes = make([]atomic.Uint32, s.order.len/timeSlot+1)
	nh := len(s.hosts)
	s.answered = make([]atomic.Int32, nh)
	s.tarpit = newTarpitGuard(nh)
	s.out = make(chan synItem, 1024)
	return s, nil
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
			s.log.Debug("scan: syn: rate test", "round", round, "rate", s.rate,
				"fast", s.ab.fast.Load(), "fastSent", s.ab.fastN, "slow", s.ab.slow.Load(), "slowSent", s.ab.slowN)
			if s.ab.limited() && s.baseRate()/4 >= minSYNRate {
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
			s.ab.end()
		}
		s.log.Debug("scan: syn: round done", "round", round, "answers", prevAnswers, "pending", s.pending.Load(), "elapsed", s.since())
	}
	s.lingerForLateReplies(ctx)
	s.io.close()
	wg.Wait()
	s.finish(ctx)
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
	for hi := range s.hosts {
		held, probed, tarpit := s.tarpit.verdict(hi)
		if len(held) == 0 {
			continue
		}
		if tarpit {
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

func (s *synScanner) statsNow() SYNStats {
	return SYNStats{Sent: s.sent.Load(), Rounds: s.rounds, Replies: s.replies.Load(), Duplicates: s.dups.Load(),
		Stray: s.stray.Load(), Rate: s.rate, RateLimited: s.rateLimited}
}
