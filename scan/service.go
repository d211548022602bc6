package scan

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	sprobe "github.com/portkit/ports/scan/probe"
)

// DefaultIdentifyTimeout is Identify's timeout when it is given 0.
const DefaultIdentifyTimeout = 3 * time.Second

// Identify finds out what service listens on the TCP port addr, as nmap
// -sV does, with probes written by the project (package probe), each on
// a connection of its own:
//
//  1. a greeting the service sends first (SSH, SMTP, FTP, POP3, IMAP,
//     MySQL, VNC), awaited for half the timeout;
//  2. a TLS handshake (crypto/tls, no certificate check), giving the TLS
//     version, ALPN and the certificate's subject; then, inside it, a
//     greeting or an HTTP GET: "ssl/http", "ssl/imap"...;
//  3. PING, which Redis answers (+PONG, -NOAUTH) and HTTP servers refuse
//     with a 400;
//  4. GET / HTTP/1.0, for the status and the Server header;
//  5. the DNS query version.bind over TCP, which names DNS servers
//     (dnsmasq, BIND); on port 53 it comes before TLS.
//
// It stops at the first probe recognised. A port that answers none of
// them gives a zero Service (with the start of whatever it sent in Info)
// and a nil error; an error means the port could not be reached. Each
// step waits at most timeout (0 means DefaultIdentifyTimeout) and ctx
// cancels everything.
func Identify(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (sprobe.Service, error) {
	if timeout <= 0 {
		timeout = DefaultIdentifyTimeout
	}
	id := identifier{addr: addr, timeout: timeout}
	return id.run(ctx)
}

type identifier struct {
	addr    netip.AddrPort
	timeout time.Duration
	junk    []byte // the first unrecognised answer
}

func (id *identifier) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: id.timeout}
	c, err := d.DialContext(ctx, "tcp", id.addr.String())
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	return &ctxConn{Conn: c, stop: stop}, nil
}

// ctxConn is a connection whose deadline ctx's end sets in the past.
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	closeReset(c.Conn)
	return nil
}

// exchange writes req (if any) and reads what comes back within wait.
func exchange(c net.Conn, req string, wait time.Duration) []byte {
	c.SetDeadline(time.Now().Add(wait))
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			return nil
		}
	}
	buf := make([]byte, 4096)
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
		// A line-oriented greeting is complete at its first line end;
		// an HTTP head at its empty line.
		if req == "" && bytes.Contains(buf[:n], []byte("\n")) {
			break
		}
		if req != "" && bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
			break
		}
		if req == sprobe.TCPDNSVersionBind && sprobe.TCPDNSComplete(buf[:n]) {
			break
		}
		if req == sprobe.TCPPing && n > 0 && buf[0] != 'H' && bytes.Contains(buf[:n], []byte("\n")) {
			break
		}
	}
	return buf[:n]
}

func (id *identifier) run(ctx context.Context) (sprobe.Service, error) {
	// 1. A greeting.
	c, err := id.dial(ctx)
	if err != nil {
		return sprobe.Service{}, fmt.Errorf("scan: identify %v: %w", id.addr, err)
	}
	b := exchange(c, "", id.timeout/2)
	c.Close()
	if s, ok := id.recognise(b); ok {
		return s, nil
	}
	if err := ctx.Err(); err != nil {
		return sprobe.Service{}, err
	}

	// DNS first on its own port, where PING and GET would wait for the
	// rest of a message they seem to announce.
	if id.addr.Port() == 53 {
		if s, ok := id.tryDNS(ctx); ok {
			return s, nil
		}
	}

	// 2. TLS.
	if s, ok := id.tryTLS(ctx); ok {
		return s, nil
	}

	// 3. PING, 4. GET.
	for _, req := range []string{sprobe.TCPPing, sprobe.TCPHTTPGet} {
		if err := ctx.Err(); err != nil {
			return sprobe.Service{}, err
		}
		c, err := id.dial(ctx)
		if err != nil {
			return sprobe.Service{}, fmt.Errorf("scan: identify %v: %w", id.addr, err)
		}
		b := exchange(c, req, id.timeout)
		c.Close()
		s, ok := id.recognise(b)
		if ok && !(req == sprobe.TCPPing && s.Name == "http") {
			return s, nil
		}
	}
	if len(id.junk) > 0 {
		return sprobe.Service{Info: "unrecognised: " + quoteStart(id.junk)}, nil
	}
	// 5. A port silent to everything may be DNS over TCP elsewhere.
	if id.addr.Port() != 53 {
		if s, ok := id.tryDNS(ctx); ok {
			return s, nil
		}
	}
	return sprobe.Service{}, nil
}

// tryDNS sends the version.bind query over TCP.
func (id *identifier) tryDNS(ctx context.Context) (sprobe.Service, bool) {
	if ctx.Err() != nil {
		return sprobe.Service{}, false
	}
	c, err := id.dial(ctx)
	if err != nil {
		return sprobe.Service{}, false
	}
	b := exchange(c, sprobe.TCPDNSVersionBind, id.timeout)
	c.Close()
	return sprobe.ParseTCPDNS(b)
}

func (id *identifier) recognise(b []byte) (sprobe.Service, bool) {
	if len(b) == 0 {
		return sprobe.Service{}, false
	}
	if s, ok := sprobe.ParseTCP(b); ok {
		return s, true
	}
	if id.junk == nil {
		id.junk = b
	}
	return sprobe.Service{}, false
}

// tryTLS makes a TLS handshake, then looks for a greeting or an HTTP
// server inside it.
func (id *identifier) tryTLS(ctx context.Context) (sprobe.Service, bool) {
	raw, err := id.dial(ctx)
	if err != nil {
		return sprobe.Service{}, false
	}
	defer raw.Close()
	tc := tls.Client(raw, &tls.Config{
		InsecureSkipVerify: true, // we identify, we do not trust: nothing is sent but probes
		NextProtos:         []string{"h2", "http/1.1"},
	})
	hctx, cancel := context.WithTimeout(ctx, id.timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return sprobe.Service{}, false
	}
	st := tc.ConnectionState()
	info := []string{tls.VersionName(st.Version)}
	if st.NegotiatedProtocol != "" {
		info = append(info, "ALPN "+st.NegotiatedProtocol)
	}
	if len(st.PeerCertificates) > 0 {
		if subj := st.PeerCertificates[0].Subject.String(); subj != "" {
			info = append(info, subj)
		}
	}
	s := sprobe.Service{Name: "ssl", Tunnel: "ssl", Info: strings.Join(info, "; ")}
	var inner sprobe.Service
	ok := false
	if st.NegotiatedProtocol != "h2" {
		b := exchange(tc, "", id.timeout/2)
		if inner, ok = sprobe.ParseTCP(b); !ok && len(b) == 0 {
			inner, ok = sprobe.ParseHTTP(exchange(tc, sprobe.TCPHTTPGet, id.timeout))
		}
	} else {
		inner, ok = sprobe.Service{Name: "http", Info: "HTTP/2"}, true
	}
	if ok {
		s.Name, s.Product, s.Version = inner.Name, inner.Product, inner.Version
		if inner.Info != "" {
			s.Info = inner.Info + "; " + s.Info
		}
	}
	return s, true
}

// quoteStart quotes the first bytes of b for a hint.
func quoteStart(b []byte) string {
	b = b[:min(len(b), 32)]
	q := fmt.Sprintf("%q", b)
	if len(q) > 80 {
		q = q[:80] + "..."
	}
	return q
}

// IdentifyUDP sends every UDP probe of package probe to addr, for a port
// that an empty datagram left silent (open|filtered), as nmap -sV does,
// and waits up to timeout (0 means DefaultIdentifyTimeout) for replies.
// It reports whether anything answered (the port is then open) and what
// the first reply a probe recognises says of the service. An ICMP port
// unreachable gives an error wrapping syscall.ECONNREFUSED.
func IdentifyUDP(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (s sprobe.Service, answered bool, err error) {
	var d net.Dialer
	return identifyUDP(ctx, addr, timeout, d.DialContext)
}

func identifyUDP(ctx context.Context, addr netip.AddrPort, timeout time.Duration,
	dial func(ctx context.Context, network, address string) (net.Conn, error)) (s sprobe.Service, answered bool, err error) {
	if timeout <= 0 {
		timeout = DefaultIdentifyTimeout
	}
	c, err := dial(ctx, "udp", addr.String())
	if err != nil {
		return s, false, fmt.Errorf("scan: identify udp %v: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	probes := sprobe.UDPProbes()
	var refused error // a port unreachable, which a later write reported
	for _, p := range probes {
		if _, err := c.Write(p.Payload()); errors.Is(err, syscall.ECONNREFUSED) {
			refused = err
		} else if err != nil {
			return s, false, fmt.Errorf("scan: identify udp %v: %w", addr, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		switch {
		case err == nil:
			answered = true
			for _, p := range probes {
				if svc, ok := p.Match(buf[:n]); ok {
					return svc, true, nil
				}
			}
			continue // another reply may be recognised
		case errors.Is(err, syscall.ECONNREFUSED) && !answered:
			return s, false, fmt.Errorf("scan: identify udp %v: %w", addr, err)
		case errors.Is(err, syscall.ECONNREFUSED):
			continue
		}
		if ctx.Err() != nil {
			return s, answered, ctx.Err()
		}
		if !answered && refused != nil {
			return s, false, fmt.Errorf("scan: identify udp %v: %w", addr, refused)
		}
		return s, answered, nil // timed out
	}
}
