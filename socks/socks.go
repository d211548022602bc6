// Package socks is a SOCKS server: SOCKS5 (RFC 1928) with no
// authentication or username/password (RFC 1929), CONNECT and UDP
// ASSOCIATE, and optionally SOCKS4 and SOCKS4a (CONNECT only).
//
// Server.Handshake serves the handshake of one client connection and, for
// CONNECT, returns the dialled upstream for the caller to relay (package
// mapper copies between the bare *net.TCPConn values to keep splice). For
// UDP ASSOCIATE it relays the datagrams itself until the control
// connection closes. It never buffers past the request, so no client byte
// is lost between the handshake and the relay.
//
// Security defaults are closed: with a nil Dial, destinations go through
// an acl.Dialer with the zero acl.Policy (global unicast only), and with
// a nil CheckUDP, UDP destinations are checked by the zero acl.Policy.
package socks

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/portkit/ports/acl"
)

// Server serves SOCKS clients. Its zero value accepts SOCKS5 CONNECT
// without authentication to global unicast destinations. A Server must
// not be modified while in use.
type Server struct {
	// Auth checks a username and password (RFC 1929). nil: no
	// authentication (method 0 only); non-nil: method 2 only. It should
	// compare in constant time, as StaticAuth does.
	Auth func(user, pass string) bool
	// Dial connects to the target ("host:port"; a SOCKS5 domain name is
	// passed as the host, unresolved, so the dialer resolves it and
	// checks the resolved IP). nil: (&acl.Dialer{}).DialContext. An
	// error matching acl.ErrDenied gives reply 0x02 (not allowed by
	// ruleset), ECONNREFUSED 0x05, ENETUNREACH 0x03, EHOSTUNREACH or a
	// DNS failure 0x04, a timeout 0x06, anything else 0x01 (SOCKS4:
	// 0x5B for all of them).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// SOCKS4 also accepts SOCKS4 and SOCKS4a CONNECT requests. SOCKS4
	// carries no password, so when Auth is set SOCKS4 requests are
	// always refused (reply 0x5B): enabling SOCKS4 never opens a way
	// around authentication.
	SOCKS4 bool
	// UDP allows UDP ASSOCIATE. The relay socket is bound on the control
	// connection's local IP; it takes datagrams only from the control
	// connection's remote IP, and only from the port the request
	// declared or, if it declared 0, from the port of the first
	// datagram. Fragments (FRAG != 0) are dropped, destinations go
	// through CheckUDP (domain names resolved first, by
	// net.DefaultResolver), and replies are passed back only from
	// destinations the client has sent to. The association ends when the
	// control connection closes or reads fail, when ctx ends, or after
	// UDPIdleTimeout without a datagram.
	UDP bool
	// ListenPacket opens the sockets of a UDP association: the relay
	// socket the client sends to (network "udp", address the control
	// connection's local IP with port 0) and the outbound socket (network
	// "udp", address ":0"). nil: net.ListenConfig.
	ListenPacket func(ctx context.Context, network, address string) (net.PacketConn, error)
	// CheckUDP vets each UDP ASSOCIATE destination after name resolution;
	// a non-nil error drops the datagram. nil: the zero acl.Policy.
	CheckUDP func(netip.AddrPort) error
	// HandshakeTimeout bounds the whole handshake, dial and reply
	// included (slowloris). 0: 10s.
	HandshakeTimeout time.Duration
	// UDPIdleTimeout ends a UDP association with no datagram either way
	// for this long. 0: 5 minutes.
	UDPIdleTimeout time.Duration
	// Logger gets debug lines about refused requests and dropped
	// datagrams. nil: discard.
	Logger *slog.Logger
}

// Tunnel is an established CONNECT.
type Tunnel struct {
	Upstream net.Conn // the dialled connection (a *net.TCPConn with the default Dial)
	Target   string   // the requested "host:port"
	User     string   // the authenticated user (SOCKS5), the SOCKS4 userid, or ""
	Version  int      // 4 or 5
}

// Errors callers can test with errors.Is. Dial errors are wrapped as
// they are (errors.As(err, new(*acl.DeniedError)) works).
var (
	ErrAuthFailed   = errors.New("socks: authentication failed")
	ErrNoMethod     = errors.New("socks: no acceptable authentication method")
	ErrBadRequest   = errors.New("socks: malformed request")
	ErrNotSupported = errors.New("socks: command or version not supported")
)

// StaticAuth returns an Auth func accepting only user and pass, compared
// in constant time.
func StaticAuth(user, pass string) func(u, p string) bool {
	return func(u, p string) bool {
		a := subtle.ConstantTimeCompare([]byte(u), []byte(user))
		b := subtle.ConstantTimeCompare([]byte(p), []byte(pass))
		return a&b == 1
	}
}

// Handshake serves one client connection c: version and method
// negotiation, authentication, request, dial and reply, all within
// HandshakeTimeout (and ctx). For CONNECT it returns the tunnel with c's
// deadline cleared; the caller relays and closes both connections. For
// UDP ASSOCIATE it relays datagrams until the control connection c
// closes, ctx ends or the association idles out, then returns (nil, nil).
// On error the client has been sent the refusal reply when the protocol
// has one; the caller closes c.
func (s *Server) Handshake(ctx context.Context, c net.Conn) (*Tunnel, error) {
	timeout := s.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	if err := c.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("socks: set deadline: %w", err)
	}
	// Cancelling ctx interrupts any blocked read or write on c.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	h := &handshake{s: s, c: c, ctx: hctx, parent: ctx, log: acl.LoggerOrDiscard(s.Logger)}
	t, err := h.run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		h.log.Debug("socks handshake refused", "client", c.RemoteAddr().String(), "err", err)
		return nil, err
	}
	if t == nil { // UDP ASSOCIATE, over
		return nil, nil
	}
	if !stop() {
		t.Upstream.Close()
		return nil, fmt.Errorf("socks: handshake interrupted: %w", context.Cause(ctx))
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Upstream.Close()
		return nil, fmt.Errorf("socks: clear deadline: %w", err)
	}
	return t, nil
}

// handshake is the state of one Handshake call.
type handshake struct {
	s      *Server
	c      net.Conn
	ctx    context.Context // bounded by HandshakeTimeout
	parent context.Context // the caller's, for a UDP association
	log    *slog.Logger
}

func (h *handshake) run() (*Tunnel, error) {
	var v [1]byte
	if _, err := io.ReadFull(h.c, v[:]); err != nil {
		return nil, fmt.Errorf("socks: read version: %w", err)
	}
	switch v[0] {
	case 5:
		return h.socks5()
	case 4:
		if !h.s.SOCKS4 {
			h.c.Write(reply4(rep4Rejected, netip.AddrPort{}))
			return nil, fmt.Errorf("%w: SOCKS4 is not enabled", ErrNotSupported)
		}
		return h.socks4()
	}
	return nil, fmt.Errorf("%w: version byte 0x%02x is not SOCKS4 or SOCKS5", ErrBadRequest, v[0])
}

func (h *handshake) socks5() (*Tunnel, error) {
	methods, err := readMethods(h.c)
	if err != nil {
		return nil, err
	}
	want := byte(methodNone)
	if h.s.Auth != nil {
		want = methodPassword
	}
	if !slices.Contains(methods, want) {
		h.c.Write([]byte{5, methodNoAcceptable})
		return nil, fmt.Errorf("%w: client offered %v, server needs %d", ErrNoMethod, methods, want)
	}
	if _, err := h.c.Write([]byte{5, want}); err != nil {
		return nil, fmt.Errorf("socks: write method: %w", err)
	}
	user := ""
	if want == methodPassword {
		u, p, err := readPassword(h.c)
		if err != nil {
			return nil, err
		}
		if !h.s.Auth(u, p) {
			h.c.Write([]byte{1, 1})
			return nil, fmt.Errorf("%w for user %q", ErrAuthFailed, u)
		}
		if _, err := h.c.Write([]byte{1, 0}); err != nil {
			return nil, fmt.Errorf("socks: write auth status: %w", err)
		}
		user = u
	}
	req, err := readRequest5(h.c)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			h.c.Write(reply5(re.rep, netip.AddrPort{}))
		}
		return nil, err
	}
	switch req.cmd {
	case cmdConnect:
		up, err := acl.DialOrDefault(h.s.Dial)(h.ctx, "tcp", req.target())
		if err != nil {
			h.c.SetWriteDeadline(time.Now().Add(time.Second))
			h.c.Write(reply5(rep5For(err), netip.AddrPort{}))
			return nil, fmt.Errorf("socks: connect %s: %w", req.target(), err)
		}
		if _, err := h.c.Write(reply5(rep5Succeeded, addrPortOf(up.LocalAddr()))); err != nil {
			up.Close()
			return nil, fmt.Errorf("socks: write reply: %w", err)
		}
		return &Tunnel{Upstream: up, Target: req.target(), User: user, Version: 5}, nil
	case cmdUDPAssociate:
		if !h.s.UDP {
			h.c.Write(reply5(rep5CommandNotSupported, netip.AddrPort{}))
			return nil, fmt.Errorf("%w: UDP ASSOCIATE is not enabled", ErrNotSupported)
		}
		return nil, h.associate(req, user)
	default:
		h.c.Write(reply5(rep5CommandNotSupported, netip.AddrPort{}))
		return nil, fmt.Errorf("%w: command %d (%s)", ErrNotSupported, req.cmd, cmdName(req.cmd))
	}
}

func (h *handshake) socks4() (*Tunnel, error) {
	req, err := readRequest4(h.c)
	if err != nil {
		h.c.Write(reply4(rep4Rejected, netip.AddrPort{}))
		return nil, err
	}
	if h.s.Auth != nil {
		h.c.Write(reply4(rep4Rejected, netip.AddrPort{}))
		return nil, fmt.Errorf("%w: SOCKS4 cannot authenticate (userid %q)", ErrAuthFailed, req.user)
	}
	if req.cmd != cmdConnect {
		h.c.Write(reply4(rep4Rejected, netip.AddrPort{}))
		return nil, fmt.Errorf("%w: SOCKS4 command %d (%s)", ErrNotSupported, req.cmd, cmdName(req.cmd))
	}
	up, err := acl.DialOrDefault(h.s.Dial)(h.ctx, "tcp", req.target())
	if err != nil {
		h.c.SetWriteDeadline(time.Now().Add(time.Second))
		h.c.Write(reply4(rep4Rejected, netip.AddrPort{}))
		return nil, fmt.Errorf("socks: connect %s: %w", req.target(), err)
	}
	if _, err := h.c.Write(reply4(rep4Granted, addrPortOf(up.LocalAddr()))); err != nil {
		up.Close()
		return nil, fmt.Errorf("socks: write reply: %w", err)
	}
	return &Tunnel{Upstream: up, Target: req.target(), User: req.user, Version: 4}, nil
}

// addrPortOf returns the unmapped address of a *net.TCPAddr or
// *net.UDPAddr, or the zero AddrPort.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}

// rep5For maps a dial error to a SOCKS5 reply code.
func rep5For(err error) byte {
	var ne net.Error
	var dns *net.DNSError
	switch {
	case errors.Is(err, acl.ErrDenied):
		return rep5NotAllowed
	case errors.Is(err, syscall.ECONNREFUSED):
		return rep5ConnectionRefused
	case errors.Is(err, syscall.ENETUNREACH):
		return rep5NetworkUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.As(err, &dns):
		return rep5HostUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return rep5TTLExpired
	}
	return rep5GeneralFailure
}
