package mapper

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Route sends the connections of a TCP mapping that name a host to
// destinations of their own: by the server name (SNI) of a TLS
// ClientHello, read without terminating TLS so that the destination
// completes the handshake with the client, or by the Host header of
// the first HTTP request on the connection (later requests on it go
// the same way). Exactly one of SNI and Host is set: a name, or "*."
// and a name, which matches every name under it (not the name itself).
// Names match without regard to case; an exact name wins over
// wildcards, and a longer wildcard over a shorter one.
type Route struct {
	SNI  string
	Host string
	To   []string // as Rule.To
}

// Bounds of what a rule with routes reads before it knows the route.
const (
	maxClientHello = 16<<10 + 5 // one TLS record; a ClientHello in more is refused
	maxRequestHead = 16 << 10   // an HTTP request line and headers
)

// ErrUnknownName is the refusal of a connection whose server name or
// Host no route matches, on a rule without DefaultTo.
var ErrUnknownName = errors.New("no route for the name")

// checkRouteName checks a route's sni or host value.
func checkRouteName(s string) error {
	name := strings.TrimPrefix(s, "*.")
	if name == "" || len(s) > 253 {
		return fmt.Errorf("%q is not a host name or *.NAME", s)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a host name or *.NAME", s)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not a host name or *.NAME", s)
			}
		}
	}
	return nil
}

// routeSet is the running form of a rule's routes.
type routeSet struct {
	sni, host []routeDests // in the order written
	def       *dests       // DefaultTo; nil: unknown names are refused
}

type routeDests struct {
	name  string // lower case, "*.x" kept
	dests *dests
}

// match finds the destinations for name (from SNI when tls, else from
// Host), or the default; nil when none.
func (rs *routeSet) match(name string, tls bool) *dests {
	routes := rs.host
	if tls {
		routes = rs.sni
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	var best *dests
	bestLen := -1
	for _, r := range routes {
		switch {
		case r.name == name:
			return r.dests
		case strings.HasPrefix(r.name, "*.") && strings.HasSuffix(name, r.name[1:]) && len(r.name) > bestLen:
			best, bestLen = r.dests, len(r.name)
		}
	}
	if best != nil {
		return best
	}
	return rs.def
}

// recorder keeps every byte read through it, to be sent on to the
// destination once the route is known.
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	rc.buf.Write(p[:n])
	return n, err
}

// helloConn is the read-only net.Conn crypto/tls parses a ClientHello
// from; writes go nowhere, since the handshake is aborted as soon as
// the hello is read.
type helloConn struct {
	net.Conn
	r io.Reader
}

func (h helloConn) Read(p []byte) (int, error)  { return h.r.Read(p) }
func (h helloConn) Write(p []byte) (int, error) { return len(p), nil }

var errHelloRead = errors.New("client hello read")

// peekName reads what the route needs from c (after pending) within
// timeout: the first byte says TLS (a handshake record, 0x16) or not;
// then the ClientHello's server name, or the first request's Host
// (port removed). It returns every byte read, to send on first.
func peekName(c *net.TCPConn, pending []byte, timeout time.Duration) (name string, isTLS bool, read []byte, err error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	rec := &recorder{r: io.MultiReader(bytes.NewReader(pending), c)}
	br := bufio.NewReaderSize(io.LimitReader(rec, max(maxClientHello, maxRequestHead)), 4096)
	first, err := br.Peek(1)
	if err != nil {
		return "", false, rec.buf.Bytes(), fmt.Errorf("reading the first byte: %w", err)
	}
	if first[0] == 0x16 {
		var sni string
		got := false
		srv := tls.Server(helloConn{Conn: c, r: io.LimitReader(br, maxClientHello)}, &tls.Config{
			GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				sni, got = h.ServerName, true
				return nil, errHelloRead
			},
		})
		herr := srv.Handshake()
		if !got {
			return "", true, rec.buf.Bytes(), fmt.Errorf("reading the TLS ClientHello: %w", herr)
		}
		return sni, true, rec.buf.Bytes(), nil
	}
	req, err := http.ReadRequest(bufio.NewReaderSize(io.LimitReader(br, maxRequestHead), 4096))
	if err != nil {
		return "", false, rec.buf.Bytes(), fmt.Errorf("reading the HTTP request: %w", err)
	}
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return host, false, rec.buf.Bytes(), nil
}

// alertUnrecognizedName is a TLS fatal alert unrecognized_name (112),
// the answer to a server name no route has: the client's TLS says so.
var alertUnrecognizedName = []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70}

const response421 = "HTTP/1.1 421 Misdirected Request\r\nContent-Type: text/plain\r\nContent-Length: 29\r\nConnection: close\r\n\r\nno route for this host name\r\n"
