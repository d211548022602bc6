package scan

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

// The SYN scan's receive path: each reply checked against its cookie
// and turned into a result.

func (s *synScanner) sample(rtt time.Duration) { s.rtt.sample(rtt) }

// handle checks a received packet and decides the pair it answers.
func (s *synScanner) handle(b []byte, v6, icmp bool, from netip.Addr, hop uint8) {
	var r reply
	var h wire.Headers
	if !parseReply(&r, &h, b, v6, icmp) {
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
	s.ab.answered(pos)
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
		if s.tarpit.open(hi, res) {
			return
		}
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
	hi := idx / s.np
	if !s.tarpit.conflict(idx, hi, s.index) {
		return
	}
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

// refused counts a RST or ICMP error from host hi, and delivers its held
// open ports once it has refused enough to be no tarpit.
func (s *synScanner) refused(ctx context.Context, hi int32) {
	for _, r := range s.tarpit.refused(hi, s.perHost()) {
		s.emit(ctx, synItem{r: r})
	}
}

// perHost is the number of ports of each host the shard probes, about.
func (s *synScanner) perHost() uint64 {
	return max(1, s.np/uint64(s.cfg.Shards))
}
