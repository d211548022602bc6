package ports

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Endpoint is a parsed "host:port", "[v6]:port", bare host, or URL.
type Endpoint struct {
	// Scheme is the URL scheme in lower case, or "" if the input was not
	// a URL.
	Scheme string
	// Host is the host name or address as written, without brackets; it
	// is "" for ":port".
	Host string
	// Addr is the address when Host is an IP literal (with its zone, if
	// any), and the zero Addr when Host is a name or empty.
	Addr netip.Addr
	// Port is the port the client will use.
	Port Port
	// PortFrom says where Port came from.
	PortFrom PortSource
}

// PortSource says where an Endpoint's port came from.
type PortSource uint8

const (
	PortExplicit PortSource = iota // written in the input
	PortScheme                     // the default port of the URL scheme
	PortDefault                    // EndpointOptions.DefaultPort, for a bare host
)

func (s PortSource) String() string {
	switch s {
	case PortExplicit:
		return "explicit"
	case PortScheme:
		return "scheme"
	case PortDefault:
		return "default"
	}
	return fmt.Sprintf("PortSource(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s PortSource) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// AddrPort returns the endpoint as a netip.AddrPort; it is invalid unless
// Host is an IP literal.
func (e Endpoint) AddrPort() netip.AddrPort { return netip.AddrPortFrom(e.Addr, uint16(e.Port)) }

// String returns "host:port", bracketing IPv6 literals.
func (e Endpoint) String() string {
	if strings.IndexByte(e.Host, ':') >= 0 {
		return "[" + e.Host + "]:" + e.Port.String()
	}
	return e.Host + ":" + e.Port.String()
}

// EndpointOptions controls ParseEndpoint. The zero value accepts only
// inputs that name a port.
type EndpointOptions struct {
	// DefaultPort is used for a bare host when HasDefault is set.
	DefaultPort Port
	HasDefault  bool
	// Services resolves service names written as the port ("host:http")
	// and URL schemes missing from SchemePort ("redis://h"). Nil accepts
	// only numbers and the schemes SchemePort knows.
	Services ServiceResolver
}

// ParseEndpoint parses s as one of
//
//	host:port  192.0.2.1:80  [2001:db8::1]:80  host:http
//	host  2001:db8::1        (a bare host: opts.DefaultPort)
//	:8080                    (no host)
//	scheme://host[:port]/... (a URL: the scheme's default port if none)
//
// opts may be nil.
func ParseEndpoint(s string, opts *EndpointOptions) (Endpoint, error) {
	if opts == nil {
		opts = &EndpointOptions{}
	}
	errf := func(pos int, format string, args ...any) error {
		return &ParseError{What: "endpoint", Input: s, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return Endpoint{}, errf(0, "empty")
	}
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		return parseURLEndpoint(s, opts)
	}
	var e Endpoint
	host, port, hasPort := "", "", false
	portPos := 0
	switch {
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Endpoint{}, errf(0, "missing ']'")
		}
		host = s[1:end]
		rest := s[end+1:]
		switch {
		case rest == "":
		case rest[0] == ':':
			port, hasPort, portPos = rest[1:], true, end+2
		default:
			return Endpoint{}, errf(end+1, "want ':' after ']'")
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || strings.ContainsAny(a.Zone(), "[]") {
			return Endpoint{}, errf(1, "brackets must hold an IPv6 address")
		}
		e.Addr = a
	case strings.Count(s, ":") > 1:
		// Several colons without brackets: a bare IPv6 address.
		a, err := netip.ParseAddr(s)
		if err != nil || strings.ContainsAny(a.Zone(), "[]") {
			return Endpoint{}, errf(0, "not an IPv6 address; write [address]:port")
		}
		host, e.Addr = s, a
	default:
		host = s
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port, hasPort, portPos = s[:i], s[i+1:], true, i+1
		}
		if a, err := netip.ParseAddr(host); err == nil {
			e.Addr = a
		} else if host != "" {
			// An address-shaped host that is not an address is a mistake,
			// not a name to look up.
			var pe *ParseError
			if _, err := ParseHost(host); errors.As(err, &pe) && errors.Is(err, ErrBadAddress) {
				return Endpoint{}, &ParseError{What: "endpoint", Input: s, Pos: max(pe.Pos, 0), Msg: pe.Msg, Err: ErrBadAddress}
			}
			if err := checkHostName(host); err != nil {
				return Endpoint{}, errf(0, "%v", err)
			}
		}
	}
	e.Host = host
	if !hasPort {
		if !opts.HasDefault {
			return Endpoint{}, errf(len(s), "missing port")
		}
		e.Port, e.PortFrom = opts.DefaultPort, PortDefault
		return e, nil
	}
	if port == "" {
		return Endpoint{}, errf(portPos, "missing port after ':'")
	}
	p, err := portOrService(port, opts.Services)
	if err != nil {
		return Endpoint{}, &ParseError{What: "endpoint", Input: s, Pos: portPos, Msg: err.Error(), Err: err}
	}
	e.Port, e.PortFrom = p, PortExplicit
	return e, nil
}

// portOrService parses a decimal port or resolves a service name's TCP
// port (falling back to its port for any protocol).
func portOrService(s string, r ServiceResolver) (Port, error) {
	if s[0] >= '0' && s[0] <= '9' {
		p, err := ParsePort(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a port number", s)
		}
		return p, nil
	}
	if p, ok := lookupPort(s, r); ok {
		return p, nil
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownService, s)
}

// lookupPort returns the lowest TCP port registered for the exact name,
// else its lowest port for any protocol.
func lookupPort(name string, r ServiceResolver) (Port, bool) {
	if r == nil || strings.ContainsAny(name, "*?") {
		return 0, false
	}
	var best Port
	found, foundTCP := false, false
	for proto, p := range r.ServicePorts(name) {
		isTCP := proto == ProtoTCP || proto == ProtoAny
		if !found || (isTCP && !foundTCP) || (isTCP == foundTCP && p < best) {
			best, found = p, true
			foundTCP = foundTCP || isTCP
		}
	}
	return best, found
}

// isScheme reports whether s is a URI scheme (RFC 3986 section 3.1):
// a letter, then letters, digits, '+', '-' or '.'.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// checkHostName accepts what could be a DNS name (letters, digits,
// hyphens, underscores and dots) or "".
func checkHostName(h string) error {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			continue
		}
		return fmt.Errorf("%q is not a host name or address", h)
	}
	return nil
}

func parseURLEndpoint(s string, opts *EndpointOptions) (Endpoint, error) {
	u, err := url.Parse(s)
	if err != nil {
		msg := err.Error()
		if ue, ok := err.(*url.Error); ok {
			msg = ue.Err.Error()
		}
		// net/url quotes net/netip's error for a bracketed host, with the
		// Go call in it: keep what it says, not the call.
		if i := strings.Index(msg, `ParseAddr("`); i >= 0 {
			if j := strings.Index(msg[i:], `"): `); j >= 0 {
				msg = msg[:i] + msg[i+j+len(`"): `):]
			}
		}
		return Endpoint{}, &ParseError{What: "URL", Input: s, Pos: -1, Msg: msg}
	}
	e := Endpoint{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname()}
	if e.Host == "" {
		return Endpoint{}, &ParseError{What: "URL", Input: s, Pos: len(u.Scheme) + 3, Msg: "missing host"}
	}
	if a, err := netip.ParseAddr(e.Host); err == nil {
		e.Addr = a
	} else if _, err := ParseHost(e.Host); errors.Is(err, ErrBadAddress) {
		return Endpoint{}, &ParseError{What: "URL", Input: s, Pos: len(u.Scheme) + 3, Msg: err.(*ParseError).Msg, Err: ErrBadAddress}
	} else if err := checkHostName(e.Host); err != nil {
		return Endpoint{}, &ParseError{What: "URL", Input: s, Pos: len(u.Scheme) + 3, Msg: err.Error()}
	}
	if p := u.Port(); p != "" {
		n, err := ParsePort(p)
		if err != nil {
			return Endpoint{}, &ParseError{What: "URL", Input: s, Pos: strings.LastIndex(s, ":"+p) + 1, Msg: fmt.Sprintf("%q is not a port number", p)}
		}
		e.Port, e.PortFrom = n, PortExplicit
		return e, nil
	}
	if p, ok := SchemePort(e.Scheme); ok {
		e.Port, e.PortFrom = p, PortScheme
		return e, nil
	}
	if p, ok := lookupPort(e.Scheme, opts.Services); ok {
		e.Port, e.PortFrom = p, PortScheme
		return e, nil
	}
	return Endpoint{}, &ParseError{What: "URL", Input: s, Pos: -1, Msg: fmt.Sprintf("scheme %q has no default port; give one, as in %s://%s:PORT", e.Scheme, e.Scheme, u.Host)}
}

// SchemePort returns the default port of a URL scheme: the port a client
// uses when the URL names none, as the scheme's specification defines it.
// The table covers common schemes; a service registry knows more.
func SchemePort(scheme string) (Port, bool) {
	p, ok := schemePorts[strings.ToLower(scheme)]
	return p, ok
}

// schemePorts are the default ports set by each scheme's specification
// (RFC 9110 for http/https, RFC 6455 for ws/wss, RFC 1738 for ftp and
// telnet...). The IANA port registry names services, not URI schemes, so
// schemes whose name differs from the service's are listed here.
var schemePorts = map[string]Port{
	"http": 80, "https": 443, "ws": 80, "wss": 443,
	"ftp": 21, "ftps": 990, "sftp": 22, "ssh": 22, "scp": 22, "telnet": 23,
	"smtp": 25, "smtps": 465, "submission": 587, "imap": 143, "imaps": 993, "pop": 110, "pop3": 110, "pop3s": 995,
	"dns": 53, "tftp": 69, "gopher": 70, "nntp": 119, "news": 119, "nntps": 563,
	"ldap": 389, "ldaps": 636, "rtsp": 554, "rtsps": 322, "ipp": 631, "ipps": 631,
	"sip": 5060, "sips": 5061, "xmpp": 5222, "irc": 6667, "ircs": 6697, "git": 9418, "rsync": 873,
	"smb": 445, "nfs": 2049, "rdp": 3389, "vnc": 5900, "socks": 1080, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080,
	"redis": 6379, "rediss": 6379, "postgres": 5432, "postgresql": 5432, "mysql": 3306, "mongodb": 27017,
	"amqp": 5672, "amqps": 5671, "mqtt": 1883, "mqtts": 8883, "coap": 5683, "coaps": 5684, "nats": 4222,
	"memcached": 11211, "kafka": 9092, "snmp": 161, "ntp": 123,
}
