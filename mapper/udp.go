package mapper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpTable is the session table of one UDP listening socket, keyed by
// the client's address and port.
type udpTable struct {
	mu       sync.Mutex
	sessions map[netip.AddrPort]*udpSession
	wg       sync.WaitGroup
	refused  refusalLog
}

// udpRefusalLogEvery is how often refused UDP datagrams are logged: the
// first at once, the others counted and summed up in one line per
// interval, so that a flood of datagrams does not flood the log.
const udpRefusalLogEvery = time.Second

// refusalLog logs refused datagrams at most once per interval with a
// count.
type refusalLog struct {
	mu      sync.Mutex
	timer   *time.Timer // running while refusals are being counted
	n       int         // datagrams refused since the last line
	reasons map[string]int
	last    netip.AddrPort
}

func (l *refusalLog) refuse(rt *running, from netip.AddrPort, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer == nil {
		rt.log.Warn("refused", "proto", "udp", "client", from.String(), "reason", reason, "count", 1,
			"note", "further udp refusals are summed up once a second")
		l.timer = time.AfterFunc(udpRefusalLogEvery, func() { l.flush(rt, true) })
		return
	}
	if l.reasons == nil {
		l.reasons = map[string]int{}
	}
	l.n++
	l.reasons[reason]++
	l.last = from
}

// flush logs the refusals counted since the last line; again re-arms the
// timer when there were some.
func (l *refusalLog) flush(rt *running, again bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		if l.timer != nil {
			l.timer.Stop()
		}
		l.timer = nil
		return
	}
	reasons := make([]string, 0, len(l.reasons))
	for r, n := range l.reasons {
		reasons = append(reasons, fmt.Sprintf("%s:%d", r, n))
	}
	slices.Sort(reasons)
	rt.log.Warn("refused", "proto", "udp", "count", l.n, "reasons", strings.Join(reasons, ","), "last_client", l.last.String(),
		"within", udpRefusalLogEvery)
	l.n, l.reasons = 0, nil
	if again {
		l.timer.Reset(udpRefusalLogEvery)
	} else {
		l.timer.Stop()
		l.timer = nil
	}
}

type udpSession struct {
	client   netip.AddrPort
	up       *net.UDPConn
	target   string
	start    time.Time
	last     atomic.Int64 // unix nanoseconds of the last datagram either way
	upB      atomic.Int64
	downB    atomic.Int64
	closeErr atomic.Value
}

const maxDatagram = 65535

// udpLoop reads client datagrams from pc and forwards each through its
// session's connected upstream socket, until pc closes. It reads up to
// Config.UDPBatch datagrams per system call (recvmmsg on Linux).
func (rt *running) udpLoop(ctx context.Context, pc *net.UDPConn) {
	t := &udpTable{sessions: map[netip.AddrPort]*udpSession{}}
	defer t.refused.flush(rt, false)
	defer func() {
		t.mu.Lock()
		for _, s := range t.sessions {
			s.up.Close()
		}
		t.mu.Unlock()
		t.wg.Wait()
	}()
	batch := rt.s.udpBatch
	var rb interface {
		ReadBatch([]ipv4.Message, int) (int, error)
	}
	if batch > 1 {
		if la, ok := pc.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
			rb = ipv4.NewPacketConn(pc)
		} else {
			rb = ipv6.NewPacketConn(pc)
		}
	}
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	for {
		var n int
		var err error
		if rb != nil {
			n, err = rb.ReadBatch(msgs, 0)
		} else {
			var from netip.AddrPort
			msgs[0].N, from, err = pc.ReadFromUDPAddrPort(msgs[0].Buffers[0])
			msgs[0].Addr = net.UDPAddrFromAddrPort(from)
			n = 1
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors reported on the socket and the like
		}
		for i := range n {
			ua, ok := msgs[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			rt.forward(ctx, t, pc, unmapAP(ua.AddrPort()), msgs[i].Buffers[0][:msgs[i].N])
		}
	}
}

// forward sends one client datagram upstream, starting its session if
// needed.
func (rt *running) forward(ctx context.Context, t *udpTable, pc *net.UDPConn, from netip.AddrPort, b []byte) {
	t.mu.Lock()
	s := t.sessions[from]
	t.mu.Unlock()
	if s == nil {
		if s = rt.newSession(ctx, t, pc, from); s == nil {
			return
		}
	}
	s.last.Store(time.Now().UnixNano())
	if _, err := s.up.Write(b); err == nil {
		s.upB.Add(int64(len(b)))
		rt.transferred(int64(len(b)), 0)
	}
}

// newSession admits a new client and starts its session, or refuses it.
func (rt *running) newSession(ctx context.Context, t *udpTable, pc *net.UDPConn, from netip.AddrPort) *udpSession {
	refuse := func(reason string) *udpSession {
		rt.refused.Add(1)
		rt.s.obs.Refused(rt.rule.Name, reason)
		t.refused.refuse(rt, from, reason)
		return nil
	}
	if reason := rt.check(from.Addr()); reason != "" {
		return refuse(reason)
	}
	capacity := rt.rule.UDPSessionCap
	if capacity == 0 {
		capacity = DefaultUDPSessionCap
	}
	t.mu.Lock()
	full := len(t.sessions) >= capacity
	t.mu.Unlock()
	if full {
		return refuse(RefuseSessionCap)
	}
	// max_conns counts the rule's sessions, on every listening socket.
	if reason := rt.admitRule(); reason != "" {
		return refuse(reason)
	}
	if reason := rt.admitSource(from.Addr()); reason != "" {
		rt.active.Add(-1)
		return refuse(reason)
	}
	d := &net.Dialer{Timeout: orDefault(rt.rule.DialTimeout, DefaultDialTimeout)}
	if rt.rule.Bind.IsValid() {
		d.LocalAddr = &net.UDPAddr{IP: rt.rule.Bind.AsSlice()}
	}
	network := "udp4"
	if from.Addr().Is6() {
		network = "udp" // a v6 client may map to either family
	}
	nc, di, err := rt.dests.dial(ctx, d.DialContext, network, from.Addr())
	if err != nil && network == "udp4" && !errors.Is(err, ErrDestsFull) {
		nc, di, err = rt.dests.dial(ctx, d.DialContext, "udp", from.Addr())
	}
	if err != nil {
		rt.releaseSource(from.Addr())
		rt.active.Add(-1)
		rt.s.obs.Failed(rt.rule.Name, "dial")
		rt.log.Warn("udp session not started", "client", from.String(), "err", err.Error())
		return nil
	}
	target := rt.dests.addr(di)
	s := &udpSession{client: from, up: nc.(*net.UDPConn), target: target, start: time.Now()}
	s.last.Store(s.start.UnixNano())
	t.mu.Lock()
	t.sessions[from] = s
	t.mu.Unlock()
	rt.s.obs.Accepted(rt.rule.Name)
	rt.upstreamDelta(1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		reason := rt.udpReplies(s, pc)
		t.mu.Lock()
		delete(t.sessions, from)
		t.mu.Unlock()
		s.up.Close()
		rt.dests.release(di)
		rt.upstreamDelta(-1)
		rt.releaseSource(from.Addr())
		rt.active.Add(-1)
		st := Stats{Up: s.upB.Load(), Down: s.downB.Load(), Duration: time.Since(s.start), Reason: reason}
		rt.s.obs.Closed(rt.rule.Name, st)
		rt.log.Info("conn end", "proto", "udp", "client", from.String(), "upstream", target, "up", st.Up, "down", st.Down,
			"duration", st.Duration, "reason", string(st.Reason))
	}()
	return s
}

// udpIdle is how long a UDP session lives without a datagram:
// udp_idle_timeout, else idle_timeout, else DefaultUDPIdleTimeout. A
// negative idle_timeout ("none") keeps the default: UDP has no end of
// session, so a session without an idle timeout would hold its place and
// socket for ever.
func (rt *running) udpIdle() time.Duration {
	switch r := &rt.rule; {
	case r.UDPIdleTimeout > 0:
		return r.UDPIdleTimeout
	case r.IdleTimeout > 0:
		return r.IdleTimeout
	}
	return DefaultUDPIdleTimeout
}

// udpReplies copies the upstream's datagrams back to the client until
// the session idles out or its socket is closed.
func (rt *running) udpReplies(s *udpSession, pc *net.UDPConn) Reason {
	idle := rt.udpIdle()
	buf := make([]byte, maxDatagram)
	for {
		s.up.SetReadDeadline(time.Unix(0, s.last.Load()).Add(idle))
		n, err := s.up.Read(buf)
		if err != nil {
			if isTimeout(err) {
				if time.Since(time.Unix(0, s.last.Load())) < idle {
					continue
				}
				return ReasonIdle
			}
			if errors.Is(err, net.ErrClosed) {
				return ReasonCanceled
			}
			continue // ECONNREFUSED from an ICMP port unreachable: keep the session
		}
		s.last.Store(time.Now().UnixNano())
		if _, err := pc.WriteToUDPAddrPort(buf[:n], s.client); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return ReasonCanceled
			}
			continue
		}
		s.downB.Add(int64(n))
		rt.transferred(0, int64(n))
	}
}
