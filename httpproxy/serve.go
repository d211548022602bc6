package httpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/acl"
)

// Via is the pseudonym added to forwarded requests and responses.
const via = "1.1 ports"

func (s *Server) timeout() time.Duration {
	if s.HandshakeTimeout > 0 {
		return s.HandshakeTimeout
	}
	return 10 * time.Second
}

func (s *Server) maxHeader() int64 {
	if s.MaxHeaderBytes > 0 {
		return int64(s.MaxHeaderBytes)
	}
	return 32 << 10
}

func (s *Server) connectAllowed(p ports.Port) bool {
	if s.ConnectPorts.IsEmpty() {
		return p == 443
	}
	return s.ConnectPorts.Contains(ports.ProtoTCP, p)
}

func (s *Server) forwardAllowed(p ports.Port) bool {
	if s.ForwardPorts.IsEmpty() {
		return p == 80 || p > 1024
	}
	return s.ForwardPorts.Contains(ports.ProtoTCP, p)
}

func (s *Server) maxIdle() int {
	if s.MaxIdleUpstreams > 0 {
		return s.MaxIdleUpstreams
	}
	return DefaultMaxIdleUpstreams
}

// newTransport returns the transport of one client connection's
// forwarded requests. It keeps at most maxIdle idle upstream connections
// in all (the least recently used beyond are closed), not a pool per
// destination: a client fanning out to many hosts must not hold a socket
// for each.
func (s *Server) newTransport(act *activity) *http.Transport {
	tr := new(http.Transport)
	*tr = http.Transport{
		Proxy:               nil, // never the environment's
		DialContext:         s.dialUpstream(tr, act),
		DisableCompression:  true, // pass Accept-Encoding and bodies through as they are
		MaxIdleConns:        s.maxIdle(),
		MaxIdleConnsPerHost: min(2, s.maxIdle()),
		IdleConnTimeout:     90 * time.Second,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
	}
	s.Upstreams.register(tr)
	return tr
}

// Serve handles one client connection c. For CONNECT it replies 200 and
// returns the tunnel, c's deadline cleared; the caller relays (Pending
// first) and closes both. For absolute-URI requests it proxies them
// itself through Dial, keeping the client connection alive between
// requests, and returns (nil, nil) when the client is done. On error the
// client has been sent the error response when there is one; the caller
// closes c.
func (s *Server) Serve(ctx context.Context, c net.Conn) (*Tunnel, error) {
	act := newActivity(s.idle())
	// Stopped first, then the deadline: a body read or write that sets
	// its own deadline afterwards sees stopped and gives up.
	stop := context.AfterFunc(ctx, func() { act.stopped.Store(true); c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	lr := &limitReader{c: c}
	br := bufio.NewReaderSize(lr, 4096)
	log := acl.LoggerOrDiscard(s.Logger)
	// Upstream connections are kept alive for this client only, and
	// closed when it is done.
	var tr *http.Transport
	defer func() {
		if tr != nil {
			s.Upstreams.unregister(tr)
			tr.CloseIdleConnections()
		}
	}()
	for n := 0; ; n++ {
		t, more, err := s.one(ctx, c, lr, br, &tr, act, n > 0)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
			}
			log.Debug("http proxy request refused", "client", c.RemoteAddr().String(), "err", err)
			return nil, err
		}
		if t != nil {
			if !stop() {
				t.Upstream.Close()
				t.Release()
				return nil, fmt.Errorf("httpproxy: interrupted: %w", context.Cause(ctx))
			}
			if err := c.SetDeadline(time.Time{}); err != nil {
				t.Upstream.Close()
				t.Release()
				return nil, fmt.Errorf("httpproxy: clear deadline: %w", err)
			}
			return t, nil
		}
		if !more {
			return nil, nil
		}
	}
}

// one serves one request. It returns a tunnel for CONNECT, or whether
// the connection may serve another request.
// kept tells a kept-alive connection (not its first request), which may
// idle out quietly.
func (s *Server) one(ctx context.Context, c net.Conn, lr *limitReader, br *bufio.Reader, tr **http.Transport, act *activity, kept bool) (*Tunnel, bool, error) {
	max := s.maxHeader()
	lr.n, lr.err, lr.act = max, nil, nil
	if err := c.SetReadDeadline(time.Now().Add(s.timeout())); err != nil {
		return nil, false, fmt.Errorf("httpproxy: set deadline: %w", err)
	}
	req, err := http.ReadRequest(br)
	if err != nil {
		var ne net.Error
		if lr.err != nil && err != io.EOF {
			// net/http reports a read error in the middle of a line
			// as a malformed request; the connection's error says
			// what happened.
			err = lr.err
		}
		switch {
		case err == io.EOF:
			return nil, false, nil // the client is done
		case kept && lr.n == max && br.Buffered() == 0 && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil:
			return nil, false, nil // an idle kept-alive connection, not a slow request
		case lr.n <= 0:
			s.reply(c, http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("request header larger than %d bytes", max), nil)
			return nil, false, fmt.Errorf("%w (limit %d bytes)", ErrHeaderTooLarge, max)
		case errors.As(err, &ne) && ne.Timeout():
			s.reply(c, http.StatusRequestTimeout, "request header not received in time", nil)
			return nil, false, fmt.Errorf("httpproxy: read request header: %w", err)
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
			return nil, false, fmt.Errorf("httpproxy: read request header: %w", err)
		}
		s.reply(c, http.StatusBadRequest, "malformed request: "+err.Error(), nil)
		return nil, false, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	// The body, if any, is read under the idle timeout.
	lr.n, lr.act = math.MaxInt64, act
	act.touch()
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, false, fmt.Errorf("httpproxy: clear deadline: %w", err)
	}
	user, err := s.authenticate(req)
	if err != nil {
		s.reply(c, http.StatusProxyAuthRequired, "proxy authentication required",
			http.Header{"Proxy-Authenticate": {`Basic realm="ports", charset="UTF-8"`}})
		return nil, false, err
	}
	if req.Method == http.MethodConnect {
		t, err := s.connect(ctx, c, br, req)
		if t != nil {
			t.User = user
		}
		return t, false, err
	}
	if *tr == nil {
		*tr = s.newTransport(act)
	}
	more, err := s.forward(ctx, c, req, *tr, act)
	return nil, more, err
}

// limitReader limits the bytes read for a request header and keeps the
// connection's read error. With act set (past the header) it reads under
// the idle timeout.
type limitReader struct {
	c   net.Conn
	n   int64
	err error
	act *activity
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	var n int
	var err error
	if l.act != nil {
		n, err = l.act.read(l.c, p)
	} else {
		n, err = l.c.Read(p)
	}
	l.n -= int64(n)
	if err != nil && err != io.EOF && l.err == nil {
		l.err = err
	}
	return n, err
}

// authenticate checks Proxy-Authorization and returns the user.
func (s *Server) authenticate(req *http.Request) (string, error) {
	if s.Auth == nil {
		return "", nil
	}
	h := req.Header.Get("Proxy-Authorization")
	if h == "" {
		return "", fmt.Errorf("%w: no Proxy-Authorization", ErrAuthFailed)
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", fmt.Errorf("%w: scheme %q is not Basic", ErrAuthFailed, scheme)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", fmt.Errorf("%w: credentials are not base64", ErrAuthFailed)
	}
	u, p, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", fmt.Errorf("%w: credentials have no ':'", ErrAuthFailed)
	}
	if !s.Auth(u, p) {
		return "", fmt.Errorf("%w for user %q", ErrAuthFailed, u)
	}
	return u, nil
}

// parseTarget splits "host:port" of a CONNECT or URL authority.
func parseTarget(hostport string) (string, ports.Port, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, fmt.Errorf("%w: target %q is not host:port", ErrBadRequest, hostport)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%w: target %q has no host", ErrBadRequest, hostport)
	}
	p, err := ports.ParsePort(port)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("%w: target %q has a bad port", ErrBadRequest, hostport)
	}
	return host, p, nil
}

func (s *Server) connect(ctx context.Context, c net.Conn, br *bufio.Reader, req *http.Request) (*Tunnel, error) {
	host, port, err := parseTarget(req.RequestURI)
	if err != nil {
		s.reply(c, http.StatusBadRequest, err.Error(), nil)
		return nil, err
	}
	target := net.JoinHostPort(host, port.String())
	if !s.connectAllowed(port) {
		s.reply(c, http.StatusForbidden, "CONNECT to port "+port.String()+" not allowed", nil)
		return nil, fmt.Errorf("%w: CONNECT %s", ErrPortNotAllowed, target)
	}
	if !s.Upstreams.acquire(nil) {
		s.reply(c, http.StatusServiceUnavailable, "too many upstream connections", nil)
		return nil, fmt.Errorf("%w: CONNECT %s", ErrUpstreamsFull, target)
	}
	dctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	up, err := acl.DialOrDefault(s.Dial)(dctx, "tcp", target)
	if err != nil {
		s.Upstreams.release()
		s.dialFailed(c, err)
		return nil, fmt.Errorf("httpproxy: CONNECT %s: %w", target, err)
	}
	c.SetWriteDeadline(time.Now().Add(s.timeout()))
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		s.Upstreams.release()
		return nil, fmt.Errorf("httpproxy: write CONNECT reply: %w", err)
	}
	var pending []byte
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		pending = append([]byte(nil), b...)
	}
	return &Tunnel{Upstream: up, Pending: pending, Target: target, u: s.Upstreams}, nil
}

// dialFailed replies 403 for a denied destination, 503 when there are
// too many upstream connections, and 502 otherwise.
func (s *Server) dialFailed(c net.Conn, err error) {
	if errors.Is(err, ErrUpstreamsFull) {
		s.reply(c, http.StatusServiceUnavailable, "too many upstream connections", nil)
		return
	}
	if errors.Is(err, acl.ErrDenied) {
		s.reply(c, http.StatusForbidden, "destination not allowed", nil)
		return
	}
	s.reply(c, http.StatusBadGateway, "cannot reach the destination", nil)
}

// hopByHop are the hop-by-hop headers of RFC 9110 section 7.6.1 and the
// older ones proxies still see.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopByHop deletes the hop-by-hop headers of h, those that its
// Connection header lists first.
func removeHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
}

// forward proxies one absolute-URI request and reports whether the
// client connection may carry another.
func (s *Server) forward(ctx context.Context, c net.Conn, req *http.Request, tr *http.Transport, act *activity) (bool, error) {
	u := req.URL
	if !u.IsAbs() || u.Host == "" {
		s.reply(c, http.StatusBadRequest, "not a proxy request: the request target must be an absolute http:// URI", nil)
		return false, fmt.Errorf("%w: request target %q is not an absolute URI", ErrBadRequest, req.RequestURI)
	}
	if u.Scheme != "http" {
		s.reply(c, http.StatusBadRequest, "scheme "+u.Scheme+" not supported (use CONNECT for https)", nil)
		return false, fmt.Errorf("%w: scheme %q", ErrBadRequest, u.Scheme)
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), "80")
	}
	_, port, err := parseTarget(hostport)
	if err != nil {
		s.reply(c, http.StatusBadRequest, err.Error(), nil)
		return false, err
	}
	if !s.forwardAllowed(port) {
		s.reply(c, http.StatusForbidden, "requests to port "+port.String()+" not allowed", nil)
		return false, fmt.Errorf("%w: %s %s", ErrPortNotAllowed, req.Method, hostport)
	}
	keep := !req.Close && req.ProtoAtLeast(1, 1)
	out := req.Clone(ctx)
	out.RequestURI = ""
	out.Host = u.Host // RFC 9112 3.2.2: the target URI's authority, not the Host header
	out.URL.User = nil
	removeHopByHop(out.Header)
	out.Header.Add("Via", via)
	out.Close = false
	var body *trackedBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &trackedBody{ReadCloser: req.Body, done: make(chan struct{})}
		out.Body = body
	}
	if out.Header.Get("Expect") != "" {
		if !strings.EqualFold(out.Header.Get("Expect"), "100-continue") {
			s.reply(c, http.StatusExpectationFailed, "unsupported Expect", nil)
			return false, fmt.Errorf("%w: Expect %q", ErrBadRequest, out.Header.Get("Expect"))
		}
		// Let the client send its body now rather than make the
		// upstream ask for it.
		out.Header.Del("Expect")
		if _, err := io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return false, fmt.Errorf("httpproxy: write 100 Continue: %w", err)
		}
	}
	up0, down0 := act.up.Load(), act.down.Load()
	fw := Forward{Method: req.Method, Upstream: hostport}
	defer func() {
		if s.Forwarded != nil {
			fw.Up, fw.Down = act.up.Load()-up0, act.down.Load()-down0
			s.Forwarded(fw)
		}
	}()
	resp, err := tr.RoundTrip(out)
	if err != nil {
		switch {
		case body != nil && body.failed() != nil:
			// The client's body stopped (or broke) before the upstream
			// answered.
			err = body.failed()
			if isTimeout(err) {
				s.reply(c, http.StatusRequestTimeout, "request body not received in time", nil)
			}
		case isTimeout(err):
			s.reply(c, http.StatusGatewayTimeout, "the destination did not answer in time", nil)
		default:
			s.dialFailed(c, err)
		}
		fw.Err = err
		return false, fmt.Errorf("httpproxy: %s %s: %w", req.Method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	fw.Status = resp.StatusCode
	if !keep || resp.Close {
		keep = false
	}
	if err := writeResponse(idleWriter{c, act}, req, resp, keep); err != nil {
		fw.Err = err
		return false, fmt.Errorf("httpproxy: relay response of %s %s: %w", req.Method, u.Redacted(), err)
	}
	// The transport may still be reading the request body (an upstream
	// that answered early); the next request starts after it.
	if body != nil {
		select {
		case <-body.done:
		case <-ctx.Done():
			return false, nil
		}
	}
	return keep, nil
}

// trackedBody tells when the transport has closed a request body, which
// it does once it has read it (or drained it) or given up on it, and
// keeps the error that reading it ended with.
type trackedBody struct {
	io.ReadCloser
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *trackedBody) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { close(b.done) })
	return err
}

// writeResponse writes resp to the client as HTTP/1.1 with its own
// framing: chunked when the length is unknown and the connection stays
// open, else the upstream's Content-Length or the end of the connection.
func writeResponse(c io.Writer, req *http.Request, resp *http.Response, keep bool) error {
	h := resp.Header.Clone()
	removeHopByHop(h)
	h.Del("Content-Length")
	h.Add("Via", via)
	noBody := req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified || resp.StatusCode/100 == 1
	chunked := false
	if !noBody || req.Method == http.MethodHead {
		switch {
		case resp.ContentLength >= 0:
			h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		case noBody:
		case keep && req.ProtoAtLeast(1, 1):
			chunked = true
			h.Set("Transfer-Encoding", "chunked")
		default:
			keep = false
		}
	}
	if !keep {
		h.Set("Connection", "close")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", resp.StatusCode, statusText(resp))
	h.Write(&b)
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		return err
	}
	if noBody {
		return nil
	}
	if chunked {
		cw := httputil.NewChunkedWriter(c)
		if _, err := copyBody(cw, resp.Body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		_, err := io.WriteString(c, "\r\n")
		return err
	}
	if resp.ContentLength >= 0 {
		n, err := copyBody(c, resp.Body)
		if err == nil && n != resp.ContentLength {
			err = fmt.Errorf("upstream body of %d bytes, header said %d", n, resp.ContentLength)
		}
		return err
	}
	_, err := copyBody(c, resp.Body)
	return err
}

// bufPool holds the buffers of copyBody.
var bufPool = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// writerOnly hides an io.ReaderFrom (net.TCPConn's falls back to a fresh
// 32 KiB buffer for a response body) so that io.CopyBuffer uses the
// pooled buffer.
type writerOnly struct{ io.Writer }

// copyBody copies a response body with a pooled buffer.
func copyBody(w io.Writer, r io.Reader) (int64, error) {
	buf := bufPool.Get().(*[16 << 10]byte)
	defer bufPool.Put(buf)
	return io.CopyBuffer(writerOnly{w}, r, buf[:])
}

func statusText(resp *http.Response) string {
	if _, text, ok := strings.Cut(resp.Status, " "); ok && text != "" {
		return text
	}
	if t := http.StatusText(resp.StatusCode); t != "" {
		return t
	}
	return "Status"
}

// reply writes a short plain-text response that closes the connection.
func (s *Server) reply(c net.Conn, code int, msg string, extra http.Header) {
	c.SetWriteDeadline(time.Now().Add(s.timeout()))
	var b strings.Builder
	body := msg + "\n"
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", code, http.StatusText(code))
	extra.Write(&b)
	fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nVia: %s\r\n\r\n%s",
		len(body), via, body)
	io.WriteString(c, b.String())
}
