package mapper

import (
	"context"
	"errors"
	"net"
	"net/netip"
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
	lastLog  time.Time // of a refusal, to keep floods out of the log
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
		rt.s.obs.Transferred(rt.rule.Name, int64(len(b)), 0)
	}
}

// newSession admits a new client and starts its session, or refuses it.
func (rt *running) newSession(ctx context.Context, t *udpTable, pc *net.UDPConn, from netip.AddrPort) *udpSession {
	refuse := func(reason string) *udpSession {
		defer rt.s.obs.Refused(rt.rule.Name, reason)
		t.mu.Lock()
		logIt := time.Since(t.lastLog) > time.Second
		if logIt {
			t.lastLog = time.Now()
		}
		t.mu.Unlock()
		if logIt {
			rt.log.Warn("refused", "client", from.String(), "reason", reason, "note", "udp refusals are logged at most once a second")
		}
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
	if reason := rt.admitSource(from.Addr()); reason != "" {
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
	nc, target, err := rt.dests.dial(ctx, d.DialContext, network)
	if err != nil && network == "udp4" {
		nc, target, err = rt.dests.dial(ctx, d.DialContext, "udp")
	}
	if err != nil {
		rt.releaseSource(from.Addr())
		rt.s.obs.Failed(rt.rule.Name, "dial")
		rt.log.Warn("udp session not started", "client", from.String(), "err", err.Error())
		return nil
	}
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
		rt.upstreamDelta(-1)
		rt.releaseSource(from.Addr())
		st := Stats{Up: s.upB.Load(), Down: s.downB.Load(), Duration: time.Since(s.start), Reason: reason}
		rt.s.obs.Closed(rt.rule.Name, st)
		rt.log.Info("conn end", "proto", "udp", "client", from.String(), "upstream", target, "up", st.Up, "down", st.Down,
			"duration", st.Duration, "reason", string(st.Reason))
	}()
	return s
}

// udpReplies copies the upstream's datagrams back to the client until
// the session idles out or its socket is closed.
func (rt *running) udpReplies(s *udpSession, pc *net.UDPConn) Reason {
	idle := orDefault(rt.rule.UDPIdleTimeout, DefaultUDPIdleTimeout)
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
		rt.s.obs.Transferred(rt.rule.Name, 0, int64(n))
	}
}
