package scan

import (
	"context"
	"fmt"
	"iter"
	"net/netip"
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
