package mapper

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// serveTCP runs one accepted connection of a TCP mapping or proxy rule,
// admitted by admitRule (the caller gives its place back).
func (rt *running) serveTCP(ctx context.Context, c *net.TCPConn) {
	start := time.Now()
	peer := unmapAP(c.RemoteAddr().(*net.TCPAddr).AddrPort())
	local := unmapAP(c.LocalAddr().(*net.TCPAddr).AddrPort())
	r := &rt.rule

	client := peer
	var pending []byte
	if trusted(r.AcceptProxyFrom, peer.Addr()) {
		src, dst, rest, err := readProxyHeader(c, orDefault(r.HandshakeTimeout, DefaultHandshakeTimeout))
		if err != nil {
			c.Close()
			rt.s.obs.Failed(r.Name, "proxy_header")
			rt.log.Warn("bad PROXY protocol header", "client", peer.String(), "err", err.Error())
			return
		}
		if src.IsValid() {
			client, local = src, dst
		}
		pending = rest
	}
	if reason := rt.check(client.Addr()); reason != "" {
		rt.refuse(client, reason, nil)
		c.Close()
		return
	}
	if reason := rt.admitSource(client.Addr()); reason != "" {
		rt.refuse(client, reason, nil)
		c.Close()
		return
	}
	defer rt.releaseSource(client.Addr())

	var up *net.TCPConn
	var tlsClient, tlsUp *tls.Conn
	var target string
	release, releaseDest := func() {}, func() {}
	switch r.Type {
	case TCP:
		var err error
		var di int
		var tc, uc *tls.Conn // the client's TLS when terminated, the destination's when originated
		ds, httpish := rt.dests, r.Check == CheckHTTP
		if rt.routes != nil {
			name, isTLS, read, err := peekName(c, pending, orDefault(r.HandshakeTimeout, DefaultHandshakeTimeout))
			pending = read
			if err == nil && !isTLS && rt.cert != nil {
				// A terminating rule routes by the name of the
				// handshake: a client that does not start one has none.
				err = fmt.Errorf("%w: the client did not start with a TLS ClientHello", ErrTLSHandshake)
			}
			if err != nil {
				rt.refuse(client, RefuseHandshake, err)
				c.Close()
				return
			}
			if ds = rt.routes.match(name, isTLS); ds == nil {
				rt.refuse(client, RefuseUnknownName, fmt.Errorf("%w %q", ErrUnknownName, name))
				rt.refuseUnknownName(c, isTLS)
				return
			}
			httpish = httpish || !isTLS
		}
		// dial connects to a destination, and with to_tls completes the
		// handshake with it, offering alpn.
		dial := func(alpn []string) error {
			var err error
			up, target, di, err = rt.dialMapping(ctx, ds, client, local)
			if err != nil || !r.ToTLS {
				return err
			}
			uc = tls.Client(up, rt.upstreamTLS(target, alpn))
			hctx, cancel := context.WithTimeout(ctx, orDefault(r.DialTimeout, DefaultDialTimeout))
			herr := uc.HandshakeContext(hctx)
			cancel()
			if herr != nil {
				up.Close()
				ds.release(di)
				up, uc = nil, nil
				return fmt.Errorf("%w with %s: %v", ErrTLSHandshake, target, herr)
			}
			return nil
		}
		if rt.cert != nil {
			// Terminate. With to_tls the destination is dialled during
			// the client's handshake, offered the client's ALPN
			// protocols, and its choice is the one the client gets.
			cfg := rt.serverTLS()
			dialed := false
			if r.ToTLS {
				cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
					dialed = true
					if err = dial(h.SupportedProtos); err != nil {
						return nil, err
					}
					c2 := rt.serverTLS()
					if p := uc.ConnectionState().NegotiatedProtocol; p != "" {
						c2.NextProtos = []string{p}
					}
					return c2, nil
				}
			}
			var under net.Conn = c
			if len(pending) > 0 {
				under = &prefixConn{TCPConn: c, pre: pending}
				pending = nil
			}
			tc = tls.Server(under, cfg)
			c.SetDeadline(time.Now().Add(orDefault(r.HandshakeTimeout, DefaultHandshakeTimeout)))
			herr := tc.Handshake()
			c.SetDeadline(time.Time{})
			switch {
			case herr != nil && dialed && err != nil: // the destination failed: below
			case herr != nil:
				rt.refuse(client, RefuseHandshake, fmt.Errorf("%w: %v", ErrTLSHandshake, herr))
				c.Close()
				if up != nil {
					up.Close()
					ds.release(di)
				}
				return
			case !dialed:
				err = dial(nil)
			}
			httpish = false // an answer would have to be in TLS: a reset says enough
		} else {
			err = dial(nil)
		}
		switch {
		case errors.Is(err, ErrAllDown):
			// Counted before the client gets its answer, so whoever
			// reads the count after the answer sees it.
			rt.refuse(client, RefuseAllDown, nil)
			rt.refuseAllDown(c, pending, httpish)
			return
		case errors.Is(err, ErrDestsFull):
			c.SetLinger(0)
			rt.refuse(client, RefuseDestsFull, nil)
			c.Close()
			return
		case err == nil:
			// Given back as the relay ends, before Closed is
			// observed: whoever counts closes sees the count too.
			releaseDest = func() { ds.release(di) }
			tlsClient, tlsUp = tc, uc
		}
		if err != nil {
			c.Close()
			// Logged before it is counted: whoever waits for the count sees the line.
			rt.log.Warn("conn end", "client", client.String(), "reason", "dial", "err", err.Error())
			rt.s.obs.Failed(r.Name, "dial")
			return
		}
	default:
		var (
			err    error
			reason string
		)
		var fws forwards
		up, target, pending, release, reason, err = rt.proxyHandshake(ctx, c, client, pending, &fws)
		if target == "" && fws.n > 0 {
			target = fws.upstream()
		}
		if reason != "" {
			rt.refuse(client, reason, err)
			c.Close()
			return
		}
		if err != nil {
			c.Close()
			rt.s.obs.Failed(r.Name, "proxy")
			rt.log.Warn("conn end", "client", client.String(), "upstream", target, "up", fws.up, "down", fws.down,
				"reason", "proxy", "err", err.Error())
			return
		}
		if up == nil { // the proxy served the client itself (HTTP requests, UDP ASSOCIATE)
			c.Close()
			rt.s.obs.Accepted(r.Name)
			st := Stats{Duration: time.Since(start), Reason: ReasonDone}
			rt.s.obs.Closed(r.Name, st)
			st.Up, st.Down = fws.up, fws.down
			rt.log.Info("conn end", "client", client.String(), "upstream", target, "up", st.Up, "down", st.Down,
				"requests", fws.n, "duration", st.Duration, "reason", string(st.Reason))
			return
		}
	}
	rt.s.obs.Accepted(r.Name)
	if rt.upstreams == nil { // an HTTP rule's Upstreams counts its own
		rt.upstreamDelta(1)
		release = func() { rt.upstreamDelta(-1) }
	}
	rcfg := &RelayConfig{
		IdleTimeout: r.IdleTimeout,
		FinTimeout:  r.FinTimeout,
		Pending:     pending,
		Progress:    rt.transferred,
	}
	var st Stats
	if tlsClient != nil || tlsUp != nil {
		var cc, uu streamConn = c, up
		if tlsClient != nil {
			cc = tlsClient
		}
		if tlsUp != nil {
			uu = tlsUp
		}
		st = relayStream(ctx, cc, uu, rcfg)
	} else {
		st = Relay(ctx, c, up, rcfg)
	}
	release()
	releaseDest()
	st.Duration = time.Since(start)
	rt.s.obs.Closed(r.Name, st)
	args := []any{"client", client.String(), "upstream", target, "up", st.Up, "down", st.Down,
		"duration", st.Duration, "reason", string(st.Reason)}
	if st.Err != nil {
		args = append(args, "err", st.Err.Error())
	}
	rt.log.Info("conn end", args...)
}

func (rt *running) admitRule() string {
	if rt.active.Add(1) > int64(rt.maxConns()) {
		rt.active.Add(-1)
		return RefuseMaxConns
	}
	return ""
}

func (rt *running) admitSource(src netip.Addr) string {
	m := rt.rule.MaxConnsPerSource
	if m <= 0 {
		return ""
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.perSrc[src] >= m {
		return RefuseMaxPerSource
	}
	rt.perSrc[src]++
	return ""
}

func (rt *running) releaseSource(src netip.Addr) {
	if rt.rule.MaxConnsPerSource <= 0 {
		return
	}
	rt.mu.Lock()
	if rt.perSrc[src]--; rt.perSrc[src] <= 0 {
		delete(rt.perSrc, src)
	}
	rt.mu.Unlock()
}

func trusted(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// dialMapping connects to the mapping's next destination and sends the
// PROXY protocol header if the rule wants one.
// The destination's connection count is the caller's to release when
// the error is nil.
func (rt *running) dialMapping(ctx context.Context, ds *dests, client, local netip.AddrPort) (*net.TCPConn, string, int, error) {
	dctx, cancel := context.WithTimeout(ctx, orDefault(rt.rule.DialTimeout, DefaultDialTimeout))
	defer cancel()
	nc, di, err := ds.dial(dctx, rt.dialTCP, "tcp", client.Addr())
	if err != nil {
		return nil, "", -1, err
	}
	target := ds.addr(di)
	up, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		ds.release(di)
		return nil, target, -1, errors.New("upstream is not a TCP connection")
	}
	if v := rt.rule.ProxyProtocol; v != 0 {
		hdr, err := proxyHeader(v, client, local)
		if err == nil {
			up.SetWriteDeadline(time.Now().Add(orDefault(rt.rule.HandshakeTimeout, DefaultHandshakeTimeout)))
			_, err = up.Write(hdr)
			up.SetWriteDeadline(time.Time{})
		}
		if err != nil {
			up.Close()
			ds.release(di)
			return nil, target, -1, err
		}
	}
	return up, target, di, nil
}

// bufferedRest returns the bytes br read past what was consumed.
func bufferedRest(br *bufio.Reader) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return append([]byte(nil), b...)
}

// dialTCP dials a mapping destination; an IP literal skips the resolver.
// Without an egress address it must not go through Dialer.DialTCP, which
// binds the zero local address (0.0.0.0:0) before connecting: a system
// call more, and a local port taken for the socket alone instead of one
// shared by connections to different destinations.
func (rt *running) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	d := rt.dialer()
	if ap, err := netip.ParseAddrPort(addr); err == nil && rt.rule.Bind.IsValid() {
		c, err := d.DialTCP(ctx, network, netip.AddrPortFrom(rt.rule.Bind, 0), ap)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return d.DialContext(ctx, network, addr)
}

// refuseAllDown turns a client away when every destination is down: a
// reset (SO_LINGER 0) so that it fails at once, or for an http check,
// whose destinations speak HTTP, a 503 response once the request head
// came (an HTTP client takes an answer before its request as a broken
// connection). The head is waited for at most a second and 64 KiB.
func (rt *running) refuseAllDown(c *net.TCPConn, pending []byte, httpish bool) {
	if !httpish {
		c.SetLinger(0)
		c.Close()
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), io.LimitReader(c, maxRefusedHead)), 4096)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	answerAndClose(c, response503)
}

// answerAndClose sends a refusal and closes c, reading (a little) what
// the client still sends, so that closing does not reset the answer
// away before the client read it.
func answerAndClose(c *net.TCPConn, answer string) {
	if _, err := io.WriteString(c, answer); err != nil {
		return
	}
	c.CloseWrite()
	io.Copy(io.Discard, io.LimitReader(c, maxRefusedHead))
}

// refuseUnknownName answers a name no route has: a TLS alert
// unrecognized_name, or 421 Misdirected Request for HTTP.
func (rt *running) refuseUnknownName(c *net.TCPConn, isTLS bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if isTLS {
		answerAndClose(c, string(alertUnrecognizedName))
		return
	}
	answerAndClose(c, response421)
}

// maxRefusedHead bounds what a refused HTTP client is read of.
const maxRefusedHead = 64 << 10

const response503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 39\r\nConnection: close\r\n\r\nevery destination of this rule is down\n"
