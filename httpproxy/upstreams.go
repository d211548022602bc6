package httpproxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portkit/ports/acl"
)

// DefaultMaxIdleUpstreams is how many idle upstream connections one
// client connection keeps for its next absolute-URI requests when
// Server.MaxIdleUpstreams is 0.
const DefaultMaxIdleUpstreams = 4

// ErrUpstreamsFull is returned (and 503 replied) when a request needs a
// new upstream connection but [Upstreams] is at its limit with none of
// its connections idle.
var ErrUpstreamsFull = errors.New("httpproxy: too many upstream connections")

// Upstreams bounds the upstream connections of every client connection
// of the Servers that share it: those kept alive for absolute-URI
// requests and those of CONNECT tunnels. When a new one is needed at the
// limit, the idle ones kept for clients are closed first; only when none
// is idle is the request refused with 503 ([ErrUpstreamsFull]).
//
// Without it each client connection still keeps at most
// Server.MaxIdleUpstreams idle upstream connections, and uses one more at
// a time (requests on a connection are served in order), but nothing
// bounds their sum.
type Upstreams struct {
	// Max is how many upstream connections may be open at once; 0 means
	// no limit (they are only counted).
	Max int
	// Changed, if not nil, is called with +1 or -1 as an upstream
	// connection opens or closes (for a metrics gauge). It must not
	// block.
	Changed func(delta int)

	mu      sync.Mutex
	n       int
	clients map[*http.Transport]struct{} // transports of the client connections being served
}

// Open returns how many upstream connections are open now.
func (u *Upstreams) Open() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

// acquireTries is how many times acquire frees idle connections before
// it gives up: with its waits, a refusal comes within about 3 ms.
const acquireTries = 3

// acquire takes a place for a new upstream connection. At the limit it
// closes the idle upstream connections of client transports (own first)
// until a place is free; it reports false when none could be freed.
func (u *Upstreams) acquire(own *http.Transport) bool {
	if u == nil {
		return true
	}
	for try := 0; ; try++ {
		u.mu.Lock()
		if u.Max <= 0 || u.n < u.Max {
			u.n++
			u.mu.Unlock()
			if u.Changed != nil {
				u.Changed(1)
			}
			return true
		}
		if try >= acquireTries {
			u.mu.Unlock()
			return false
		}
		trs := make([]*http.Transport, 0, len(u.clients)+1)
		if own != nil {
			trs = append(trs, own)
		}
		for tr := range u.clients {
			if tr != own {
				trs = append(trs, tr)
			}
		}
		u.mu.Unlock()
		if try > 0 {
			// A connection whose response was just read goes back to its
			// transport's idle pool a moment after the client has it:
			// give it that moment before closing idle ones again.
			time.Sleep(time.Duration(try) * time.Millisecond)
		}
		// Closing a transport's idle connections closes their sockets
		// at once (release runs in Close), so the count drops before
		// CloseIdleConnections returns. It must run without u.mu.
		for _, tr := range trs {
			tr.CloseIdleConnections()
			u.mu.Lock()
			free := u.n < u.Max
			u.mu.Unlock()
			if free {
				break
			}
		}
	}
}

func (u *Upstreams) release() {
	if u == nil {
		return
	}
	u.mu.Lock()
	u.n--
	u.mu.Unlock()
	if u.Changed != nil {
		u.Changed(-1)
	}
}

func (u *Upstreams) register(tr *http.Transport) {
	if u == nil {
		return
	}
	u.mu.Lock()
	if u.clients == nil {
		u.clients = map[*http.Transport]struct{}{}
	}
	u.clients[tr] = struct{}{}
	u.mu.Unlock()
}

func (u *Upstreams) unregister(tr *http.Transport) {
	if u == nil {
		return
	}
	u.mu.Lock()
	delete(u.clients, tr)
	u.mu.Unlock()
}

// upConn is an upstream connection of forwarded requests: its reads
// and writes are under the client's idle timeout, and its Close gives its
// place in Upstreams back.
type upConn struct {
	net.Conn
	once sync.Once
	u    *Upstreams
	act  *activity
}

func (c *upConn) Read(p []byte) (int, error) {
	n, err := c.act.read(c.Conn, p)
	c.act.down.Add(int64(n))
	return n, err
}

func (c *upConn) Write(p []byte) (int, error) {
	n, err := c.act.write(c.Conn, p)
	c.act.up.Add(int64(n))
	return n, err
}

func (c *upConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.u.release)
	return err
}

// dialUpstream returns the DialContext of a client connection's
// transport: each connection takes a place in s.Upstreams.
func (s *Server) dialUpstream(tr *http.Transport, act *activity) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !s.Upstreams.acquire(tr) {
			return nil, ErrUpstreamsFull
		}
		c, err := acl.DialOrDefault(s.Dial)(ctx, network, addr)
		if err != nil {
			s.Upstreams.release()
			return nil, err
		}
		return &upConn{Conn: c, u: s.Upstreams, act: act}, nil
	}
}
