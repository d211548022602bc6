package main

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Sides of a connection.
const (
	cli = 0
	srv = 1
)

// TCP flags.
const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fPSH = 0x08
	fACK = 0x10
)

// TCP options a segment carries.
const (
	optNone = iota // none (a RST)
	optTS          // NOP, NOP, timestamps
	optSYN         // MSS, SACK permitted, timestamps, NOP, window scale
)

// Message kinds: how the first segment of a message begins.
const (
	msgNone = iota
	msgTLSClientHello
	msgTLSServerHello
	msgTLSData
	msgHTTPRequest
	msgHTTPResponse
	msgSSHBannerClient
	msgSSHBannerServer
	msgSSHKexInit
	msgSSHKexECDH
	msgSSHNewKeys
	msgSSHData
	msgPGStartup
	msgPGReady
	msgPGQuery
	msgPGRows
	msgMySQLGreeting
	msgMySQLPacket
	msgMySQLQuery
	msgRedisCommand
	msgRedisReply
)

const (
	mss     = 1448 // payload per segment: MSS 1460 less the timestamps option
	maxCwnd = 256  // segments
	delack  = 40_000
)

// seg is one packet of a connection.
type seg struct {
	t            int64 // µs after captureStart, at the tap
	seq, ack     uint32
	tsval, tsecr uint32
	n            int32 // payload bytes
	msgLen       int32 // with kind: the whole message's length
	win          uint16
	flags        uint8
	side         uint8 // sender: cli or srv
	kind         uint8 // msg*: set on the first segment of a message
	opts         uint8
}

type pendingAck struct {
	set bool
	due int64 // when the delayed ACK timer fires (tap time)
	ack uint32
}

// sim simulates one connection. All times are in µs at the tap, which
// sits near the clients: a packet from side x seen at the tap at t was
// sent at t-h[x], and arrives at the other side y at t+h[y].
type sim struct {
	r    *rand.Rand
	pcg  rand.PCG
	pkts []seg
	full bool  // the budget for data is used up
	lim  int   // packets before the close
	tmax int64 // latest packet time

	p        *plan
	app      app
	h        [2]int64 // one-way delay between the tap and each side
	gap      int64    // between back-to-back segments
	loss     float64  // probability that a segment is lost past the tap
	procLo   float64  // server processing time range, µs
	procHi   float64
	isn      [2]uint32
	seq      [2]uint32 // next sequence number each side sends
	rcv      [2]uint32 // next sequence number each side expects
	tsBase   [2]uint32
	winBase  [2]uint16
	cwnd     [2]int
	ipid     [2]uint16
	pending  [2]pendingAck
	lastData int64 // tap time of the last data segment
	lastFrom int   // its sender
}

func (s *sim) f64() float64 { return s.r.Float64() }

// logU returns a number between lo and hi, uniform in its logarithm.
func (s *sim) logU(lo, hi float64) float64 { return lo * math.Exp(s.f64()*math.Log(hi/lo)) }

// logN returns a log-normal size with the given median, within [lo, hi].
func (s *sim) logN(median, sigma float64, lo, hi int) int {
	v := median * math.Exp(sigma*s.r.NormFloat64())
	return int(math.Max(float64(lo), math.Min(float64(hi), v)))
}

func (s *sim) small() int64 { return int64(s.logU(8, 150)) }             // the local stack answering
func (s *sim) proc() int64  { return int64(s.logU(s.procLo, s.procHi)) } // a server working
func (s *sim) think(lo, hi float64) int64 {
	return int64(s.logU(lo, hi) * float64(s.p.scale))
}

// room says how many more data-phase packets fit.
func (s *sim) room() int { return s.lim - len(s.pkts) }

// emit fills in the timestamps and window and appends p, unless the
// data-phase budget is used up (force: the close, which has its own).
func (s *sim) emit(p seg, force bool) bool {
	if !force && len(s.pkts) >= s.lim {
		s.full = true
		return false
	}
	x := int(p.side)
	y := 1 - x
	sent := p.t - s.h[x]
	p.tsval = s.tsBase[x] + uint32(sent/1000)
	if p.flags&fSYN == 0 || p.flags&fACK != 0 {
		// The peer's clock when it sent the latest packet x has received.
		p.tsecr = s.tsBase[y] + uint32((p.t-2*s.h[x]-s.h[y])/1000)
	}
	if p.flags&fSYN == 0 && p.flags&fRST == 0 {
		got := int(s.rcv[x]-s.isn[y]) >> 15
		p.win = s.winBase[x] + uint16(min(got, 2500))
	}
	if p.opts == optNone {
		p.tsval, p.tsecr = 0, 0
	}
	s.pkts = append(s.pkts, p)
	s.tmax = max(s.tmax, p.t)
	if len(s.pkts) >= s.lim && !force {
		s.full = true
	}
	return true
}

func (s *sim) pureAck(x int, t int64, ack uint32) {
	s.emit(seg{t: t, side: uint8(x), seq: s.seq[x], ack: ack, flags: fACK, opts: optTS}, false)
}

// settle sends the delayed ACKs that are due before side z sends at t,
// and drops z's own, which its packet carries.
func (s *sim) settle(z int, t int64) {
	for w := range 2 {
		pa := &s.pending[w]
		if !pa.set {
			continue
		}
		switch {
		case w == z && t <= pa.due:
			pa.set = false
		case t > pa.due:
			s.pureAck(w, pa.due, pa.ack)
			pa.set = false
		}
	}
}

// run simulates connection i of w, with times offset by start, into
// s.pkts (reset first), sorted by time.
func (s *sim) run(w *world, i int, start int64) {
	p := &w.plans[i]
	s.pcg.Seed(w.cfg.seed, uint64(i)+1)
	if s.r == nil {
		s.r = rand.New(&s.pcg)
	}
	*s = sim{r: s.r, pcg: s.pcg, pkts: s.pkts[:0], p: p}
	srvHost := &w.servers[p.server]
	svc := &services[srvHost.svc]
	s.app = svc.app
	if svc.near {
		s.h = [2]int64{int64(s.logU(5, 40)), int64(s.logU(40, 600))}
		s.procLo, s.procHi = 20, 3000
	} else {
		s.h = [2]int64{int64(s.logU(5, 200)), int64(s.logU(300, 40000))}
		s.procLo, s.procHi = 100, 40000
	}
	s.gap = int64(s.logU(1, 120))
	if s.f64() < 0.3 {
		s.loss = s.logU(0.001, 0.03)
	}
	s.isn = [2]uint32{s.r.Uint32(), s.r.Uint32()}
	s.tsBase = [2]uint32{s.r.Uint32(), s.r.Uint32()}
	s.winBase = [2]uint16{uint16(500 + s.r.IntN(12)), uint16(500 + s.r.IntN(12))}
	s.cwnd = [2]int{10, 10}
	s.ipid = [2]uint16{uint16(s.r.Uint32()), uint16(s.r.Uint32())}
	s.seq = [2]uint32{s.isn[cli], s.isn[srv]}

	// The close: by whom, and how many packets.
	closer := cli
	if s.f64() < 0.25 {
		closer = srv
	}
	closeN, rst := 3, false
	switch u := s.f64(); {
	case u < 0.12:
		closeN, rst = 1, true
	case u < 0.4:
		closeN = 4
	}
	s.lim = int(p.budget) - closeN

	t := start
	switch p.kind {
	case kindRefused:
		s.lim = 2
		s.emit(seg{t: t, side: cli, seq: s.isn[cli], flags: fSYN, opts: optSYN, win: 64240}, true)
		s.emit(seg{t: t + 2*s.h[srv] + s.small(), side: srv, ack: s.isn[cli] + 1, flags: fRST | fACK}, true)
		s.finish()
		return
	case kindUnanswered:
		s.lim = 3
		for _, d := range []int64{0, 1_000_000 + s.small(), 3_000_000 + s.small()} {
			s.emit(seg{t: t + d, side: cli, seq: s.isn[cli], flags: fSYN, opts: optSYN, win: 64240}, true)
		}
		s.finish()
		return
	}

	// Handshake.
	s.emit(seg{t: t, side: cli, seq: s.isn[cli], flags: fSYN, opts: optSYN, win: 64240}, false)
	s.seq[cli]++
	s.rcv[srv] = s.seq[cli]
	t += 2*s.h[srv] + s.small()
	s.emit(seg{t: t, side: srv, seq: s.isn[srv], ack: s.rcv[srv], flags: fSYN | fACK, opts: optSYN, win: 65160}, false)
	s.seq[srv]++
	s.rcv[cli] = s.seq[srv]
	t += 2*s.h[cli] + s.small()
	s.pureAck(cli, t, s.rcv[cli])
	s.lastData, s.lastFrom = t, cli

	s.talk()
	s.close(closer, closeN, rst)
	s.finish()
}

func (s *sim) finish() {
	slices.SortStableFunc(s.pkts, func(a, b seg) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	})
}

// msg sends a message of n bytes from z, delay µs after z could: after
// the last data z sent, or after the last data the other side sent
// reached it.
func (s *sim) msg(z, n, kind int, delay int64) {
	if s.full {
		return
	}
	start := s.lastData + delay
	if z != s.lastFrom {
		start += 2 * s.h[z]
	}
	s.settle(z, start)
	s.transfer(z, n, kind, start)
}

// transfer sends n bytes from x in bursts of up to cwnd segments, one
// round trip apart, which the other side acknowledges every second
// segment (immediately when out of order), and retransmits a lost one.
func (s *sim) transfer(x, n, kind int, t int64) {
	y := 1 - x
	off := 0
	first := true
	last := t
	unacked := 0 // segments y has received but not acknowledged
	for off < n && !s.full {
		segs := (n - off + mss - 1) / mss
		burst := min(s.cwnd[x], segs)
		lost := -1
		if s.loss > 0 && s.room() > 2*burst+8 && s.f64() < s.loss*float64(burst) {
			lost = s.r.IntN(burst)
		}
		var lostSeg seg
		lastAck := int64(-1)
		dup, thirdDup := 0, int64(0)
		for i := range burst {
			l := min(mss, n-off)
			p := seg{t: t, side: uint8(x), seq: s.seq[x], ack: s.rcv[x], n: int32(l), flags: fACK, opts: optTS}
			if off+l == n {
				p.flags |= fPSH
			}
			if first {
				p.kind, p.msgLen = uint8(kind), int32(n)
				first = false
			}
			if !s.emit(p, false) {
				return
			}
			s.seq[x] += uint32(l)
			off += l
			last = t
			switch {
			case i == lost:
				lostSeg = p
			case lost >= 0 && i > lost:
				at := t + 2*s.h[y] + s.small()
				s.pureAck(y, at, s.rcv[y])
				dup++
				if dup == 3 {
					thirdDup = at
				}
				lastAck, unacked = at, 0
			default:
				s.rcv[y] = s.seq[x]
				unacked++
				if unacked == 2 || (i == burst-1 && off < n) {
					at := t + 2*s.h[y] + s.small()
					s.pureAck(y, at, s.rcv[y])
					lastAck, unacked = at, 0
				}
			}
			t += s.gap + s.r.Int64N(s.gap/2+1)
		}
		if lost >= 0 {
			var rt int64
			if dup >= 3 {
				rt = thirdDup + 2*s.h[x] + s.small()
			} else {
				rt = lostSeg.t + 200_000 + 2*(s.h[x]+s.h[y])
			}
			rt = max(rt, last+1)
			re := lostSeg
			re.t, re.ack = rt, s.rcv[x]
			if s.emit(re, false) {
				last = rt
				s.rcv[y] = s.seq[x]
				at := rt + 2*s.h[y] + s.small()
				s.pureAck(y, at, s.rcv[y])
				lastAck, unacked = at, 0
			}
			s.cwnd[x] = max(2, s.cwnd[x]/2)
		} else {
			s.cwnd[x] = min(2*s.cwnd[x], maxCwnd)
		}
		if off < n {
			t = max(t, lastAck+2*s.h[x]+s.small())
		}
	}
	if unacked > 0 {
		s.pending[y] = pendingAck{set: true, due: last + 2*s.h[y] + delack + s.r.Int64N(2000), ack: s.rcv[y]}
	}
	s.lastData, s.lastFrom = last, x
}

// close ends the connection: a FIN from the closer, answered by a FIN
// (with or without an ACK before it) and acknowledged; or a RST.
func (s *sim) close(x, n int, rst bool) {
	y := 1 - x
	t := s.lastData + s.small()
	if x != s.lastFrom {
		t += 2*s.h[x] + s.think(50, 20_000)
	}
	t = max(t, s.tmax+1)
	s.settle(x, t) // the data phase is full: only drops the ACKs the FIN carries
	if rst {
		s.emit(seg{t: t, side: uint8(x), seq: s.seq[x], ack: s.rcv[x], flags: fRST | fACK, opts: optTS}, true)
		return
	}
	s.emit(seg{t: t, side: uint8(x), seq: s.seq[x], ack: s.rcv[x], flags: fFIN | fACK, opts: optTS}, true)
	s.seq[x]++
	s.rcv[y] = s.seq[x]
	t += 2*s.h[y] + s.small()
	if n == 4 {
		s.emit(seg{t: t, side: uint8(y), seq: s.seq[y], ack: s.rcv[y], flags: fACK, opts: optTS}, true)
		t += int64(s.logU(50, 50_000))
	}
	s.emit(seg{t: t, side: uint8(y), seq: s.seq[y], ack: s.rcv[y], flags: fFIN | fACK, opts: optTS}, true)
	s.seq[y]++
	s.rcv[x] = s.seq[y]
	t += 2*s.h[x] + s.small()
	s.emit(seg{t: t, side: uint8(x), seq: s.seq[x], ack: s.rcv[x], flags: fACK, opts: optTS}, true)
}

// talk is the application: opening messages, then rounds of request and
// response until the budget is used up.
func (s *sim) talk() {
	switch s.app {
	case appTLS:
		hello := 517 + s.r.IntN(80)
		if s.f64() < 0.5 {
			hello = 1700 + s.r.IntN(200) // with a post-quantum key share: two segments
		}
		s.msg(cli, hello, msgTLSClientHello, s.small())
		s.msg(srv, 2500+s.r.IntN(3500), msgTLSServerHello, s.proc())
		s.msg(cli, 64+s.r.IntN(60), msgTLSData, s.small())
		for d := s.small(); !s.full; d = s.think(2_000, 3_000_000) {
			s.msg(cli, s.logN(500, 0.6, 60, 16_000), msgTLSData, d)
			s.msg(srv, s.logN(3_000, 1.8, 40, 4_000_000), msgTLSData, s.proc())
		}
	case appHTTP:
		for d := s.small(); !s.full; d = s.think(2_000, 3_000_000) {
			s.msg(cli, s.logN(400, 0.5, 80, 8_000), msgHTTPRequest, d)
			s.msg(srv, s.logN(2_500, 1.8, 120, 4_000_000), msgHTTPResponse, s.proc())
		}
	case appSSH:
		s.msg(srv, len(sshServerBanner), msgSSHBannerServer, s.small())
		s.msg(cli, len(sshClientBanner), msgSSHBannerClient, s.small())
		s.msg(cli, 1496+8*s.r.IntN(12), msgSSHKexInit, s.small())
		s.msg(srv, 1080+8*s.r.IntN(5), msgSSHKexInit, s.proc())
		s.msg(cli, 1232+8*s.r.IntN(5), msgSSHKexECDH, s.small())
		s.msg(srv, 1576+8*s.r.IntN(5), msgSSHKexECDH, s.proc())
		s.msg(srv, 16, msgSSHNewKeys, s.small())
		s.msg(cli, 16, msgSSHNewKeys, s.small())
		s.msg(cli, 44, msgSSHData, s.small())
		s.msg(srv, 44, msgSSHData, s.proc())
		s.msg(cli, 624, msgSSHData, s.small())
		s.msg(srv, 500, msgSSHData, s.proc())
		bulk := s.f64() < 0.15 // scp or rsync rather than a shell
		for !s.full {
			if bulk {
				s.msg(cli, 100+s.r.IntN(200), msgSSHData, s.think(1_000, 100_000))
				s.msg(srv, s.logN(200_000, 1.5, 1_000, 8_000_000), msgSSHData, s.proc())
				continue
			}
			s.msg(cli, 36, msgSSHData, s.think(60_000, 1_500_000))
			out := 36
			if s.f64() < 0.15 {
				out = s.logN(1_500, 1.3, 60, 60_000)
			}
			s.msg(srv, out, msgSSHData, s.small())
		}
	case appPostgres:
		s.msg(cli, len(pgStartup), msgPGStartup, s.small())
		s.msg(srv, len(pgReady), msgPGReady, s.proc())
		for d := s.small(); !s.full; d = s.think(100, 400_000) {
			s.msg(cli, s.logN(180, 0.8, 30, 6_000), msgPGQuery, d)
			s.msg(srv, s.logN(700, 1.6, 30, 2_000_000), msgPGRows, s.proc())
		}
	case appMySQL:
		s.msg(srv, 74+s.r.IntN(10), msgMySQLGreeting, s.proc())
		s.msg(cli, 180+s.r.IntN(60), msgMySQLPacket, s.small())
		s.msg(srv, 11, msgMySQLPacket, s.proc())
		for d := s.small(); !s.full; d = s.think(100, 400_000) {
			s.msg(cli, s.logN(150, 0.8, 30, 6_000), msgMySQLQuery, d)
			s.msg(srv, s.logN(600, 1.6, 11, 2_000_000), msgMySQLPacket, s.proc())
		}
	case appRedis:
		for d := s.small(); !s.full; d = s.think(50, 100_000) {
			s.msg(cli, s.logN(60, 0.5, 20, 2_000), msgRedisCommand, d)
			s.msg(srv, s.logN(120, 1.5, 4, 500_000), msgRedisReply, s.proc())
		}
	}
}
