package mapper

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/httpproxy"
	"github.com/portkit/ports/proxyproto"
	"github.com/portkit/ports/socks"
)

// readProxyHeader reads the PROXY protocol header a trusted peer must
// send first. src and dst are zero for a LOCAL or UNKNOWN header (use the
// connection's own addresses); rest are client bytes read past it.
func readProxyHeader(c *net.TCPConn, timeout time.Duration) (src, dst netip.AddrPort, rest []byte, err error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	br := bufio.NewReaderSize(c, 512)
	h, err := proxyproto.Read(br)
	if err != nil {
		return src, dst, nil, err
	}
	rest = bufferedRest(br)
	if h.Local || !h.Src.IsValid() {
		return src, dst, rest, nil
	}
	return unmapAP(h.Src), unmapAP(h.Dst), rest, nil
}

// proxyHeader builds the PROXY protocol header (version 1 or 2) for a
// connection from client to local.
func proxyHeader(version int, client, local netip.AddrPort) ([]byte, error) {
	if client.Addr().Is4() != local.Addr().Is4() { // mixed families: say so in the v6 form
		client = netip.AddrPortFrom(netip.AddrFrom16(client.Addr().As16()), client.Port())
		local = netip.AddrPortFrom(netip.AddrFrom16(local.Addr().As16()), local.Port())
	}
	h := &proxyproto.Header{Version: version, Proto: ports.ProtoTCP, Src: client, Dst: local}
	if version == 1 {
		return h.AppendV1(nil)
	}
	return h.AppendV2(nil)
}

// usersAuth checks a user and password against users in constant time
// (per password).
func usersAuth(users map[string]string) func(user, pass string) bool {
	if len(users) == 0 {
		return nil
	}
	return func(user, pass string) bool {
		want, ok := users[user]
		if !ok {
			want = "\x00no such user\x00"
		}
		eq := subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1
		return ok && eq
	}
}

// proxyDial is the dialer of a proxy rule: the destination policy
// (acl.Policy with AllowDest) checked on the resolved IP, egress bind,
// dial timeout.
func (rt *running) proxyDial() func(ctx context.Context, network, address string) (net.Conn, error) {
	d := &acl.Dialer{Policy: &acl.Policy{Allow: rt.rule.AllowDest}}
	d.Dialer.Timeout = orDefault(rt.rule.DialTimeout, DefaultDialTimeout)
	d.Dialer.KeepAlive = rt.keepAlive()
	if rt.rule.Bind.IsValid() {
		d.Dialer.LocalAddr = &net.TCPAddr{IP: rt.rule.Bind.AsSlice()}
	}
	return d.DialContext
}

// proxyHandshake runs the HTTP or SOCKS handshake of a proxy rule. It
// returns the upstream connection to relay to (nil when the proxy served
// the client itself), the target, bytes to send upstream first, what to
// call once the upstream is closed, and either a refusal reason or an
// error.
func (rt *running) proxyHandshake(ctx context.Context, c *net.TCPConn, client netip.AddrPort, pending []byte, fws *forwards) (up *net.TCPConn, target string, rest []byte, release func(), reason string, err error) {
	release = func() {}
	r := &rt.rule
	var conn net.Conn = c
	var pc *prefixConn
	if len(pending) > 0 {
		pc = &prefixConn{TCPConn: c, pre: pending}
		conn = pc
	}
	hto := orDefault(r.HandshakeTimeout, DefaultHandshakeTimeout)
	log := rt.log.With("client", client.String())
	var upc net.Conn
	switch r.Type {
	case SOCKS5:
		s := &socks.Server{Auth: usersAuth(r.Users), Dial: rt.proxyDial(), SOCKS4: true, UDP: true,
			CheckUDP: func(ap netip.AddrPort) error {
				return (&acl.Policy{Allow: r.AllowDest}).Check(ap.Addr())
			},
			HandshakeTimeout: hto, Logger: log}
		t, herr := s.Handshake(ctx, conn)
		if t != nil {
			upc, target = t.Upstream, t.Target
		}
		err = herr
	case HTTP:
		s := &httpproxy.Server{Auth: usersAuth(r.Users), Dial: rt.proxyDial(), ConnectPorts: r.ConnectPorts,
			HandshakeTimeout: hto, IdleTimeout: r.IdleTimeout, Logger: log, Upstreams: rt.upstreams,
			Forwarded: func(f httpproxy.Forward) {
				fws.add(f)
				rt.transferred(f.Up, f.Down)
				args := []any{"method", f.Method, "upstream", f.Upstream, "status", f.Status, "up", f.Up, "down", f.Down}
				if f.Err != nil {
					args = append(args, "err", f.Err.Error())
				}
				log.Info("http request", args...)
			}}
		t, herr := s.Serve(ctx, conn)
		if t != nil {
			upc, target, rest, release = t.Upstream, t.Target, t.Pending, t.Release
		}
		err = herr
	default:
		return nil, "", nil, release, "", fmt.Errorf("rule type %s is not a proxy", r.Type)
	}
	if err != nil {
		return nil, target, nil, release, proxyRefusal(err), err
	}
	if upc == nil {
		return nil, target, nil, release, "", nil
	}
	up, ok := upc.(*net.TCPConn)
	if !ok {
		upc.Close()
		release()
		return nil, target, nil, func() {}, "", errors.New("proxy upstream is not a TCP connection")
	}
	if pc != nil && len(pc.pre) > 0 {
		rest = append(append([]byte(nil), pc.pre...), rest...)
	}
	return up, target, rest, release, "", nil
}

// proxyRefusal classifies a proxy handshake error as a refusal reason,
// or "" for a failure past the handshake (a dial that failed).
func proxyRefusal(err error) string {
	switch {
	case errors.Is(err, socks.ErrAuthFailed), errors.Is(err, httpproxy.ErrAuthFailed):
		return RefuseAuth
	case errors.Is(err, httpproxy.ErrUpstreamsFull):
		return RefuseMaxConns
	case errors.Is(err, acl.ErrDenied), errors.Is(err, httpproxy.ErrPortNotAllowed):
		return RefuseDestination
	case errors.Is(err, socks.ErrBadRequest), errors.Is(err, socks.ErrNoMethod), errors.Is(err, socks.ErrNotSupported),
		errors.Is(err, httpproxy.ErrBadRequest), errors.Is(err, httpproxy.ErrHeaderTooLarge),
		errors.Is(err, os.ErrDeadlineExceeded):
		return RefuseHandshake
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return ""
		}
		return RefuseHandshake
	}
	return ""
}

// prefixConn reads pre before the connection; the handshakes run on it
// when a PROXY protocol header read ahead.
type prefixConn struct {
	*net.TCPConn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.TCPConn.Read(b)
}

// forwards sums up the absolute-URI requests an HTTP proxy served on one
// client connection, for its "conn end" line.
type forwards struct {
	n        int
	up, down int64
	first    string
	others   map[string]bool // other upstreams, at most maxOthers
}

const maxOthers = 100

func (f *forwards) add(fw httpproxy.Forward) {
	f.n++
	f.up += fw.Up
	f.down += fw.Down
	switch {
	case f.first == "":
		f.first = fw.Upstream
	case fw.Upstream != f.first && len(f.others) < maxOthers:
		if f.others == nil {
			f.others = map[string]bool{}
		}
		f.others[fw.Upstream] = true
	}
}

// upstream names the upstream, or the first and how many others.
func (f *forwards) upstream() string {
	switch n := len(f.others); {
	case n == 0:
		return f.first
	case n >= maxOthers:
		return fmt.Sprintf("%s (+%d or more others)", f.first, n)
	default:
		return fmt.Sprintf("%s (+%d others)", f.first, n)
	}
}
