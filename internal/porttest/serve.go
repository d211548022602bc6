package porttest

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// hangGuard bounds the waits of this package that only a bug would make
// long. It is not a timing assertion.
const hangGuard = 20 * time.Second

// Go runs fn on a goroutine of its own with a context that is cancelled
// when the test ends; then it waits for fn and fails the test unless fn
// returned context.Canceled, as a server's Run should. It returns the
// context, for the test's own calls that should end with it.
func Go(t testing.TB, fn func(ctx context.Context) error) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("porttest: Go: returned %v, want context.Canceled", err)
		}
	})
	return ctx
}

// ServeTCP accepts connections on an ephemeral port of 127.0.0.1 until
// the test ends, handling each as [Serve] does, and returns the
// listener's address.
func ServeTCP(t testing.TB, handle func(c net.Conn)) netip.AddrPort {
	t.Helper()
	l, addr := ListenTCP(t)
	Serve(l, handle)
	return addr
}

// Serve accepts connections on l until it is closed, and calls handle
// with each on a goroutine of its own, closing the connection when
// handle returns. It returns at once. Handlers still running when l is
// closed are not waited for.
func Serve(l net.Listener, handle func(c net.Conn)) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// ProxyServer serves a proxy under test on a listener: for each
// connection it runs the proxy's handshake, reports its result and
// relays the tunnel it returned.
type ProxyServer struct {
	Addr    netip.AddrPort // the listener's address
	results chan error
}

// ServeProxy accepts connections on l until the test ends, when it
// closes l, cancels the handshakes' context and waits for every
// connection to be done. For each connection c it calls handshake, which
// returns the upstream connection of the tunnel to relay with c (nil for
// none) and the error that [ProxyServer.Result] reports. c and upstream
// are closed after the relay.
func ServeProxy(t testing.TB, l net.Listener, handshake func(ctx context.Context, c net.Conn) (upstream net.Conn, err error)) *ProxyServer {
	t.Helper()
	ap, err := netip.ParseAddrPort(l.Addr().String())
	if err != nil {
		t.Fatalf("porttest: listener address %q: %v", l.Addr(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps := &ProxyServer{Addr: unmap(ap), results: make(chan error, 100)}
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := handshake(ctx, c)
				select {
				case ps.results <- err:
				default:
				}
				if up != nil {
					defer up.Close()
					Relay(c, up)
				}
			}()
		}
	}()
	return ps
}

// Result waits for the result of the next handshake, and fails the test
// if none comes within 20 s.
func (ps *ProxyServer) Result(t testing.TB) error {
	t.Helper()
	select {
	case err := <-ps.results:
		return err
	case <-time.After(hangGuard):
		t.Fatal("porttest: no handshake result")
		return nil
	}
}

// Dial connects to the proxy; the connection is closed when the test
// ends.
func (ps *ProxyServer) Dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ps.Addr.String())
	if err != nil {
		t.Fatalf("porttest: dial the proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Queued returns how many handshake results are waiting for Result:
// how many connections were handled beyond those a test has looked at.
func (ps *ProxyServer) Queued() int { return len(ps.results) }

// Trickle writes b to c one byte at a time, gap apart, until all is
// written or a write fails: a slowloris client. Run it on a goroutine of
// its own.
func Trickle(c net.Conn, b []byte, gap time.Duration) {
	for i := range b {
		if _, err := c.Write(b[i : i+1]); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// PipeDialer is a proxy's Dial hook that, whatever it is asked, returns
// one end of a [net.Pipe] and records the request: for tests of what a
// proxy dials, with no network.
type PipeDialer struct {
	Near net.Conn // what Dial returns
	Far  net.Conn // the other end, for the test; closed when the test ends

	mu     sync.Mutex
	dialed string
}

// NewPipeDialer returns a PipeDialer with a new pipe.
func NewPipeDialer(t testing.TB) *PipeDialer {
	near, far := net.Pipe()
	t.Cleanup(func() { far.Close() })
	return &PipeDialer{Near: near, Far: far}
}

// Dial records network and address and returns d.Near.
func (d *PipeDialer) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dialed = network + " " + address
	return d.Near, nil
}

// Dialed returns "network address" of the last Dial, or "" if none.
func (d *PipeDialer) Dialed() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dialed
}

// PipeHandshake runs handshake on the server end of a new [net.Pipe], on
// a goroutine of its own, and returns the client end (with a 20 s
// deadline against hangs, closed when the test ends) and a function that
// waits for handshake's results.
func PipeHandshake[T any](t testing.TB, handshake func(ctx context.Context, c net.Conn) (T, error)) (client net.Conn, wait func() (T, error)) {
	server, client := net.Pipe()
	t.Cleanup(func() { client.Close() })
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := handshake(context.Background(), server)
		done <- result{v, err}
	}()
	client.SetDeadline(time.Now().Add(hangGuard))
	return client, func() (T, error) {
		r := <-done
		return r.v, r.err
	}
}
