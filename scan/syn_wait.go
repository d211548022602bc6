package scan

import (
	"context"
	"net/netip"
	"time"
)

// Between and after the SYN scan's rounds: waiting for replies, and
// the neighbours (ARP, NDP) that will never answer.

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
		if !ok || s.answered[hi].Load() != 0 || s.tarpit.probed[hi] == 0 {
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
