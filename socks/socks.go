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
	"log/slog"
	"net"
	"net/netip"
	"time"
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
	// UDP allows UDP ASSOCIATE.
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
	return nil, errors.New("socks: not implemented yet")
}
