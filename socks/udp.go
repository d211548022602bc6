package socks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/acl"
)

// maxPeers bounds the destinations a UDP association remembers (replies
// are accepted only from them) and its name cache.
const maxPeers = 4096

func (s *Server) listenPacket(ctx context.Context, address string) (net.PacketConn, error) {
	if s.ListenPacket != nil {
		return s.ListenPacket(ctx, "udp", address)
	}
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, "udp", address)
}

func (s *Server) checkUDP(ap netip.AddrPort) error {
	if s.CheckUDP != nil {
		return s.CheckUDP(ap)
	}
	return (*acl.Policy)(nil).Check(ap.Addr())
}

// association is one UDP ASSOCIATE: datagrams from the client on relay
// go out on out, replies from the destinations come back on relay.
type association struct {
	s          *Server
	log        *slog.Logger
	relay, out net.PacketConn
	clientIP   netip.Addr
	clientPort atomic.Uint32 // 0 until declared or locked by the first datagram
	idle       time.Duration
	last       atomic.Int64 // unix nanoseconds of the last datagram either way

	mu    sync.Mutex
	peers map[netip.AddrPort]struct{} // destinations the client sent to
	names map[string]netip.Addr       // resolved domain names
}

// associate serves a UDP ASSOCIATE request until the control connection
// closes, the caller's ctx ends or the association idles out.
func (h *handshake) associate(req *request, user string) error {
	s := h.s
	client := addrPortOf(h.c.RemoteAddr())
	local := addrPortOf(h.c.LocalAddr())
	if !client.IsValid() || !local.IsValid() {
		h.c.Write(reply5(rep5GeneralFailure, netip.AddrPort{}))
		return fmt.Errorf("socks: UDP ASSOCIATE needs an IP control connection, not %s", h.c.RemoteAddr())
	}
	relay, err := s.listenPacket(h.ctx, net.JoinHostPort(local.Addr().String(), "0"))
	if err != nil {
		h.c.Write(reply5(rep5GeneralFailure, netip.AddrPort{}))
		return fmt.Errorf("socks: UDP relay socket: %w", err)
	}
	defer relay.Close()
	out, err := s.listenPacket(h.ctx, ":0")
	if err != nil {
		h.c.Write(reply5(rep5GeneralFailure, netip.AddrPort{}))
		return fmt.Errorf("socks: UDP outbound socket: %w", err)
	}
	defer out.Close()
	if _, err := h.c.Write(reply5(rep5Succeeded, addrPortOf(relay.LocalAddr()))); err != nil {
		return fmt.Errorf("socks: write reply: %w", err)
	}
	if err := h.c.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("socks: clear deadline: %w", err)
	}
	a := &association{s: s, log: h.log, relay: relay, out: out, clientIP: client.Addr(),
		peers: map[netip.AddrPort]struct{}{}, names: map[string]netip.Addr{}}
	a.clientPort.Store(uint32(req.port))
	a.idle = s.UDPIdleTimeout
	if a.idle <= 0 {
		a.idle = 5 * time.Minute
	}
	a.touch()
	h.log.Debug("socks udp association", "client", client.String(), "relay", relay.LocalAddr().String(), "user", user)

	ctx, cancel := context.WithCancel(h.parent)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // the association lives as long as its control connection
		defer wg.Done()
		defer cancel()
		var b [512]byte
		for {
			if _, err := h.c.Read(b[:]); err != nil {
				return
			}
		}
	}()
	go func() { defer wg.Done(); defer cancel(); a.fromClient(ctx) }()
	go func() { defer wg.Done(); defer cancel(); a.fromPeers(ctx) }()
	<-ctx.Done()
	// Closing (not a deadline, which the loops re-arm for the idle
	// timeout) stops the packet loops for good.
	h.c.SetReadDeadline(time.Unix(1, 0))
	relay.Close()
	out.Close()
	wg.Wait()
	return nil
}

func (a *association) touch() { a.last.Store(time.Now().UnixNano()) }

// idleOver reports, after a read error, whether the association is over:
// ended, failed, or idle for UDPIdleTimeout.
func (a *association) idleOver(ctx context.Context, err error) bool {
	var ne net.Error
	if ctx.Err() != nil || !errors.As(err, &ne) || !ne.Timeout() {
		return true
	}
	return time.Since(time.Unix(0, a.last.Load())) >= a.idle
}

func (a *association) fromClient(ctx context.Context) {
	buf := make([]byte, 65535)
	for {
		a.relay.SetReadDeadline(time.Now().Add(a.idle))
		n, from, err := a.relay.ReadFrom(buf)
		if err != nil {
			if a.idleOver(ctx, err) {
				return
			}
			continue
		}
		src := addrPortOf(from)
		if src.Addr() != a.clientIP {
			a.log.Debug("socks udp: dropped datagram from another address", "from", src.String(), "client", a.clientIP.String())
			continue
		}
		if p := a.clientPort.Load(); p == 0 {
			a.clientPort.Store(uint32(src.Port()))
		} else if uint16(p) != src.Port() {
			a.log.Debug("socks udp: dropped datagram from another port", "from", src.String(), "port", p)
			continue
		}
		h, err := parseUDP(buf[:n])
		if err != nil {
			a.log.Debug("socks udp: dropped datagram", "from", src.String(), "err", err)
			continue
		}
		if h.frag != 0 {
			a.log.Debug("socks udp: dropped fragment", "from", src.String(), "frag", h.frag)
			continue
		}
		dst, err := a.resolve(ctx, &h.req)
		if err != nil {
			a.log.Debug("socks udp: dropped datagram", "to", h.req.target(), "err", err)
			continue
		}
		if err := a.s.checkUDP(dst); err != nil {
			a.log.Debug("socks udp: dropped datagram", "to", dst.String(), "err", err)
			continue
		}
		a.mu.Lock()
		if _, ok := a.peers[dst]; !ok && len(a.peers) < maxPeers {
			a.peers[dst] = struct{}{}
		}
		a.mu.Unlock()
		a.touch()
		if _, err := a.out.WriteTo(h.data, net.UDPAddrFromAddrPort(dst)); err != nil {
			a.log.Debug("socks udp: send", "to", dst.String(), "err", err)
		}
	}
}

// resolve returns the destination of a UDP request, resolving a domain
// name (cached for the association).
func (a *association) resolve(ctx context.Context, r *request) (netip.AddrPort, error) {
	if r.addr.IsValid() {
		return netip.AddrPortFrom(r.addr, r.port), nil
	}
	a.mu.Lock()
	ip, ok := a.names[r.host]
	a.mu.Unlock()
	if !ok {
		// "300.1.1.1" is a mistake, not a name: never ask DNS about it.
		if _, err := ports.ParseHost(r.host); errors.Is(err, ports.ErrBadAddress) {
			return netip.AddrPort{}, fmt.Errorf("socks: %w", err)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", r.host)
		cancel()
		if err != nil {
			return netip.AddrPort{}, err
		}
		if len(ips) == 0 {
			return netip.AddrPort{}, fmt.Errorf("socks: %s has no address", r.host)
		}
		ip = ips[0].Unmap()
		a.mu.Lock()
		if len(a.names) < maxPeers {
			a.names[r.host] = ip
		}
		a.mu.Unlock()
	}
	return netip.AddrPortFrom(ip, r.port), nil
}

func (a *association) fromPeers(ctx context.Context) {
	buf := make([]byte, 65535)
	const room = 3 + 1 + 16 + 2 // largest header
	for {
		a.out.SetReadDeadline(time.Now().Add(a.idle))
		n, from, err := a.out.ReadFrom(buf[room:])
		if err != nil {
			if a.idleOver(ctx, err) {
				return
			}
			continue
		}
		src := addrPortOf(from)
		a.mu.Lock()
		_, ok := a.peers[src]
		a.mu.Unlock()
		if !ok {
			a.log.Debug("socks udp: dropped reply from an address the client did not send to", "from", src.String())
			continue
		}
		p := a.clientPort.Load()
		if p == 0 {
			continue
		}
		hdr := appendAddr([]byte{0, 0, 0}, src)
		start := room - len(hdr)
		copy(buf[start:], hdr)
		a.touch()
		to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(a.clientIP, uint16(p)))
		if _, err := a.relay.WriteTo(buf[start:room+n], to); err != nil {
			a.log.Debug("socks udp: send to client", "err", err)
		}
	}
}
