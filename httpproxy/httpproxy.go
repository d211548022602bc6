// Package httpproxy is an HTTP forward proxy: CONNECT tunnels, and
// absolute-URI requests (GET http://host/path HTTP/1.1) forwarded with
// hop-by-hop headers removed and a Via header added. Requests are parsed
// with net/http's reader under a header size limit.
//
// Security defaults are closed: CONNECT goes only to port 443 and
// absolute-URI requests only to port 80 and the unprivileged ports
// 1025-65535 unless configured (squid's "Safe_ports" idea: no plain-text
// requests to SMTP, POP3 and other privileged services), and with a
// nil Dial destinations go through an acl.Dialer with the zero
// acl.Policy (global unicast only).
package httpproxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/portkit/ports"
)

// Server serves HTTP proxy clients. A Server must not be modified while
// in use; it holds no state between connections (but Upstreams), so one
// per connection is fine. Absolute-URI requests go through an
// http.Transport of each client connection's own (never the
// environment's proxy settings), which keeps a few upstream connections
// alive for that client (MaxIdleUpstreams) and closes them when Serve
// returns.
//
// Only request headers are under HandshakeTimeout: request and response
// bodies of forwarded requests, and the wait for a response, are under
// IdleTimeout, like a tunnel's bytes: they may take as long as they need
// while bytes keep moving either way.
type Server struct {
	// Auth checks Proxy-Authorization Basic credentials; failure or
	// absence gives 407 with Proxy-Authenticate. nil: no authentication.
	Auth func(user, pass string) bool
	// Dial connects to "host:port" (host unresolved, so the dialer
	// checks the resolved IP). nil: (&acl.Dialer{}).DialContext. An
	// error matching acl.ErrDenied gives 403 "destination not allowed",
	// any other 502.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// ConnectPorts are the TCP ports CONNECT may reach (403 otherwise).
	// Zero value: 443 only.
	ConnectPorts ports.Set
	// ForwardPorts are the TCP ports absolute-URI requests may reach
	// (403 otherwise). Zero value: 80 and 1025-65535.
	ForwardPorts ports.Set
	// MaxHeaderBytes limits a request's header (431 beyond). 0: 32 KiB.
	MaxHeaderBytes int
	// HandshakeTimeout bounds reading each request header, the first
	// and those of kept-alive connections (slowloris), and the CONNECT
	// dial and reply. It is also the keep-alive idle time: a client that
	// starts no new request within it is let go quietly. 0: 10s.
	HandshakeTimeout time.Duration
	// IdleTimeout ends a forwarded request, and the client connection,
	// when no byte moved on it or its upstream connection either way
	// for this long: a request body that stops (408 if no response has
	// started), an upstream that does not answer (504) or stops
	// half-way through its body, a client that stops reading. 0:
	// DefaultIdleTimeout (5m); negative: none.
	IdleTimeout time.Duration
	// MaxIdleUpstreams is how many idle upstream connections of
	// absolute-URI requests one client connection keeps (all
	// destinations together; the least recently used beyond are
	// closed). 0: DefaultMaxIdleUpstreams (4).
	MaxIdleUpstreams int
	// Upstreams, if not nil, counts and bounds the upstream
	// connections (kept-alive and CONNECT) of every client connection
	// served with it; share one among the Servers of a listener.
	Upstreams *Upstreams
	// Forwarded, if not nil, is called after each absolute-URI request
	// that was sent upstream (or tried to be), with what it did.
	Forwarded func(Forward)
	// Logger gets debug lines about refused requests. nil: discard.
	Logger *slog.Logger
}

// Forward is what one forwarded absolute-URI request did.
type Forward struct {
	Method   string
	Upstream string // the destination "host:port"
	Status   int    // the upstream's status code; 0 when it gave none
	// Up and Down are the bytes written to and read from the upstream
	// connection for this request, headers included, as a tunnel counts
	// every byte.
	Up, Down int64
	Err      error // why the request failed, or nil
}

// Tunnel is an established CONNECT.
type Tunnel struct {
	Upstream net.Conn // the dialled connection (a *net.TCPConn with the default Dial)
	// Pending holds client bytes already read past the CONNECT header
	// (a client that did not wait for the 200): write them upstream
	// first.
	Pending []byte
	Target  string // the requested "host:port"
	User    string // the authenticated user, or ""

	u    *Upstreams
	once sync.Once
}

// Release gives the tunnel's place in Server.Upstreams back; call it
// once Upstream is closed. It does nothing without Upstreams, and only
// the first call counts.
func (t *Tunnel) Release() {
	t.once.Do(t.u.release)
}

// Errors callers can test with errors.Is. Dial errors are wrapped as they
// are (errors.As(err, new(*acl.DeniedError)) works).
var (
	ErrAuthFailed     = errors.New("httpproxy: proxy authentication failed")
	ErrBadRequest     = errors.New("httpproxy: malformed request")
	ErrHeaderTooLarge = errors.New("httpproxy: request header too large")
	ErrPortNotAllowed = errors.New("httpproxy: port not allowed")
)
