package mapper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports"
)

// Type is what a rule does with its connections.
type Type uint8

// Rule types.
const (
	TCP    Type = iota + 1 // TCP port mapping to To
	UDP                    // UDP port mapping to To
	HTTP                   // HTTP forward proxy (CONNECT and absolute URIs)
	SOCKS5                 // SOCKS5 proxy (with SOCKS4/4a)
)

func (t Type) String() string {
	switch t {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case HTTP:
		return "http"
	case SOCKS5:
		return "socks5"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType parses "tcp", "udp", "http" or "socks5".
func ParseType(s string) (Type, error) {
	for _, t := range []Type{TCP, UDP, HTTP, SOCKS5} {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown rule type %q (want tcp, udp, http or socks5)", s)
}

// SourceFilter decides which client addresses may use a rule;
// *acl.List is one.
type SourceFilter interface {
	Permit(netip.Addr) bool
}

// Gate is a per-rule hook consulted for every new client (after the
// source filter): when Allow returns false, the connection is closed
// without a word. Port knocking plugs in here (packages knock and
// knock/spa).
//
// A Gate that also has a method Run(context.Context) error is run by the
// Server for as long as its rule runs (a knock gate listens for knocks
// there); an error from Run is logged, and the gate then lets in only
// whom it already let in. A Gate with a method GateKey() string is
// compared by that key when a reload decides whether a rule changed, so
// that an unchanged rule keeps its running gate and what it learnt;
// other gates compare by identity.
type Gate interface {
	Allow(netip.Addr) bool
}

// gateRunner and gateKeyer are the optional methods of a Gate.
type (
	gateRunner interface{ Run(context.Context) error }
	gateKeyer  interface{ GateKey() string }
)

// Rule is one mapping or proxy. Zero fields take the documented
// defaults. The same model serves the command line and the config file.
type Rule struct {
	Name string // unique among the rules of a Server; required
	Type Type   // required

	// Listen is HOST:PORT where HOST is an IP address, empty (every
	// address, IPv4 and IPv6), or a network interface name, which means
	// every IPv4 and IPv6 address the interface has when the rule starts
	// (IPv6 link-local addresses excepted).
	Listen string
	// To are the destinations of TCP and UDP mappings: HOST:PORT (host
	// names resolved at each dial), optionally followed by " weight=N"
	// and " max_conns=N" (see [Dest]). Without a Check, a destination
	// whose dial fails is skipped for DownTime, and re-checked.
	To []string
	// Balance spreads clients over To (and over each route's); the zero
	// value is RoundRobin.
	Balance Balance
	// Routes, if any, choose a TCP mapping's destinations by the name
	// its clients ask for (see [Route]); To is then empty, and DefaultTo
	// serves the names no route has (without it they are refused).
	Routes    []Route
	DefaultTo []string
	// Bind, if valid, is the local address of upstream connections.
	Bind netip.Addr

	// TLSCert and TLSKey are PEM files of a certificate (chain) and its
	// key: a TCP mapping with them terminates TLS (1.2 and 1.3) from its
	// clients and relays the plaintext. A reload (Server.Apply) re-reads
	// them for a rule it keeps: new handshakes get the new certificate,
	// open connections go on.
	TLSCert, TLSKey string
	// ALPN are the application protocols (such as "h2" and "http/1.1")
	// a terminating rule without ToTLS answers a client's ALPN offer
	// from: the first of them, in this order, that the client offers;
	// a client that offers only others is refused with the TLS alert
	// no_application_protocol, and one that offers none gets none.
	// Empty: no ALPN. With ToTLS the destination chooses instead.
	ALPN []string
	// ToTLS makes a TCP mapping speak TLS to its destinations, verifying
	// them against ToCA (a PEM file; empty: the system's roots) for
	// ToServerName (empty: the destination's host), unless
	// ToInsecureSkipVerify. With termination too, the client's ALPN
	// protocols are offered to the destination, and its choice is the
	// client's.
	ToTLS                bool
	ToServerName         string
	ToCA                 string
	ToInsecureSkipVerify bool

	// Check is the active health check of a TCP mapping's destinations
	// (CheckNone: none, and the DownTime skip above). With a check, a
	// destination leaves the rotation after Fall failures in a row
	// (checks or clients' dials) and comes back after Rise passed
	// checks, as haproxy's check inter/rise/fall; when all are down,
	// clients are refused at once. See dests for the exact counter.
	Check         Check
	CheckInterval time.Duration // between checks of one destination; 0 means DefaultCheckInterval (2s)
	CheckTimeout  time.Duration // of one check (connect, handshake, response); 0 means CheckInterval
	Rise          int           // passed checks to come back; 0 means DefaultRise (2)
	Fall          int           // failures in a row to go down; 0 means DefaultFall (3)
	CheckPath     string        // the path of an http check; "" means "/"
	CheckStatus   StatusRange   // the statuses an http check accepts; zero means 200-399

	// Allow filters clients by source address. nil lets everyone in,
	// which only a rule listening on loopback, or a proxy with Users,
	// may do: see [OpenRelayError].
	Allow SourceFilter
	// Gate, if not nil, is consulted after Allow.
	Gate Gate

	// Users are the proxy users (name → password); empty means no
	// authentication.
	Users map[string]string
	// AllowDest are destination prefixes a proxy may reach although
	// they are loopback, private, link-local and so on (acl.Policy).
	AllowDest []netip.Prefix
	// ConnectPorts are the ports an HTTP proxy's CONNECT may reach; the
	// zero Set means only 443.
	ConnectPorts ports.Set

	MaxConns          int           // connections (UDP sessions; an HTTP proxy's upstream connections count apart) at once; 0 means 10,000, or fewer when the process's descriptor limit (RLIMIT_NOFILE) fits fewer: see FDBudget
	MaxConnsPerSource int           // connections at once per client address; 0 means no limit
	HandshakeTimeout  time.Duration // each handshake phase (PROXY header, proxy request); 0 means 10s
	DialTimeout       time.Duration // upstream dial; 0 means 10s
	IdleTimeout       time.Duration // 0 means DefaultIdleTimeout (5m); negative means none, and TCP keepalive (15 s) then finds dead peers instead
	FinTimeout        time.Duration // 0 means DefaultFinTimeout (30s); negative means none
	DownTime          time.Duration // a destination whose dial failed is skipped this long; 0 means 10s

	// ProxyProtocol is the PROXY protocol version (1 or 2) sent to
	// upstreams first; 0 sends none.
	ProxyProtocol int
	// AcceptProxyFrom are the peers trusted to send a PROXY protocol
	// header (v1 or v2): from them one is required and its source
	// address is the client's. Others never have one read.
	AcceptProxyFrom []netip.Prefix

	UDPSessionCap  int           // UDP sessions at once; 0 means 1024
	UDPIdleTimeout time.Duration // a UDP session ends after this long without a datagram; 0 means 60s
}

// Defaults.
const (
	DefaultMaxConns         = 10000
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultDownTime         = 10 * time.Second
	DefaultUDPSessionCap    = 1024
	DefaultUDPIdleTimeout   = 60 * time.Second
)

// ErrOpenRelay is wrapped by [OpenRelayError].
var ErrOpenRelay = errors.New("refusing to be an open relay")

// OpenRelayError is the refusal to start a rule that listens on an
// address other than loopback without an allow-list or authentication.
type OpenRelayError struct {
	Rule   string
	Listen string // the first non-loopback address
	Proxy  bool   // the rule could have had auth
}

func (e *OpenRelayError) Error() string {
	what := "allow-list"
	if e.Proxy {
		what = "allow-list and no auth"
	}
	return fmt.Sprintf("rule %q listens on %s but names no %s: %v", e.Rule, e.Listen, what, ErrOpenRelay)
}

func (e *OpenRelayError) Unwrap() error { return ErrOpenRelay }

// RuleError is a rule that is not valid: Field names the wrong field
// (as the config file spells it).
type RuleError struct {
	Rule  string
	Field string
	Err   error
}

func (e *RuleError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("rule %q: %v", e.Rule, e.Err)
	}
	return fmt.Sprintf("rule %q: %s: %v", e.Rule, e.Field, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// Validate checks r without touching the network beyond looking up
// interface names, including the open-relay rule.
func (r *Rule) Validate() error {
	if probs := r.Problems(); len(probs) > 0 {
		return probs[0]
	}
	return nil
}

// Problems is every problem Validate would find, in the order it checks
// them (each a *RuleError or an *OpenRelayError), so that a check of a
// file can report them all: a bad listen does not hide a bad to.
func (r *Rule) Problems() []error {
	var probs []error
	rerr := func(field string, err error) { probs = append(probs, &RuleError{Rule: r.Name, Field: field, Err: err}) }
	if r.Name == "" {
		rerr("name", errors.New("a rule needs a name"))
	}
	typeOK := true
	if _, err := ParseType(r.Type.String()); err != nil {
		rerr("type", err)
		typeOK = false
	}
	addrs, err := ListenAddrs(r.Listen)
	if err != nil {
		rerr("listen", err)
	}
	switch {
	case !typeOK:
	case r.Type == TCP || r.Type == UDP:
		switch {
		case len(r.Routes) > 0 && len(r.To) > 0:
			rerr("to", errors.New("a rule with routes names its destinations in each route and in default_to"))
		case len(r.Routes) > 0 && r.Type == UDP:
			rerr("route", errors.New("udp mappings have no names to route by"))
		case len(r.Routes) == 0 && len(r.DefaultTo) > 0:
			rerr("default_to", errors.New("needs routes"))
		case len(r.Routes) == 0 && len(r.To) == 0:
			rerr("to", errors.New("a mapping needs at least one destination"))
		}
		checkTo := func(field string, to []string) {
			seenTo := map[string]bool{}
			for _, d := range to {
				ds, err := ParseDest(d)
				if err != nil {
					rerr(field, err)
					continue
				}
				if seenTo[ds.Addr] {
					rerr(field, fmt.Errorf("destination %s is listed twice", ds.Addr))
				}
				seenTo[ds.Addr] = true
			}
		}
		checkTo("to", r.To)
		checkTo("default_to", r.DefaultTo)
		names := map[string]bool{}
		for _, rt := range r.Routes {
			kind, name := "sni", rt.SNI
			if rt.Host != "" {
				kind, name = "host", rt.Host
			}
			switch {
			case rt.SNI != "" && rt.Host != "":
				rerr("route", fmt.Errorf("a route has sni %q and host %q: give one", rt.SNI, rt.Host))
				continue
			case name == "":
				rerr("route", errors.New("a route needs sni or host"))
				continue
			}
			if err := checkRouteName(name); err != nil {
				rerr("route."+kind, err)
			}
			if key := kind + " " + strings.ToLower(name); names[key] {
				rerr("route."+kind, fmt.Errorf("%q has two routes", name))
			} else {
				names[key] = true
			}
			if len(rt.To) == 0 {
				rerr("route.to", fmt.Errorf("the route for %s %q has no destinations", kind, name))
			}
			checkTo("route.to", rt.To)
		}
		if _, err := ParseBalance(r.Balance.String()); err != nil {
			rerr("balance", err)
		}
		if len(r.Users) > 0 {
			rerr("auth", errors.New("only http and socks5 rules take auth"))
		}
		if r.Check != CheckNone && r.Type == UDP {
			rerr("check", errors.New("udp mappings have no health check"))
		}
	default:
		if len(r.To) > 0 {
			rerr("to", fmt.Errorf("a %s proxy takes its destinations from its clients, not from to", r.Type))
		}
		if len(r.Routes) > 0 || len(r.DefaultTo) > 0 {
			rerr("route", fmt.Errorf("a %s proxy takes its destinations from its clients, not from routes", r.Type))
		}
		if r.Balance != RoundRobin {
			rerr("balance", fmt.Errorf("a %s proxy has no destinations to balance", r.Type))
		}
	}
	switch {
	case (r.TLSCert == "") != (r.TLSKey == ""):
		rerr("tls_cert", errors.New("tls_cert and tls_key go together"))
	case r.TLSCert != "" && typeOK && r.Type != TCP:
		rerr("tls_cert", errors.New("only tcp mappings terminate TLS"))
	case r.TLSCert != "" && slices.ContainsFunc(r.Routes, func(ro Route) bool { return ro.Host != "" }):
		rerr("route.host", errors.New("a terminating rule routes by the server name of the handshake it terminates: give sni routes"))
	}
	switch {
	case len(r.ALPN) == 0:
	case r.TLSCert == "":
		rerr("alpn", errors.New("alpn answers the clients of a terminating rule: it needs tls_cert"))
	case r.ToTLS:
		rerr("alpn", errors.New("with to_tls the destination chooses the protocol from the client's offer: alpn is not used"))
	default:
		seen := map[string]bool{}
		for _, p := range r.ALPN {
			switch {
			case len(p) == 0 || len(p) > 255:
				rerr("alpn", fmt.Errorf("protocol %q is not 1 to 255 bytes", p))
			case seen[p]:
				rerr("alpn", fmt.Errorf("protocol %q is listed twice", p))
			}
			seen[p] = true
		}
	}
	switch {
	case r.ToTLS && typeOK && r.Type != TCP:
		rerr("to_tls", errors.New("only tcp mappings originate TLS"))
	case !r.ToTLS && (r.ToServerName != "" || r.ToCA != "" || r.ToInsecureSkipVerify):
		rerr("to_tls", errors.New("to_server_name, to_ca and to_insecure_skip_verify need to_tls = true"))
	case r.ToCA != "" && r.ToInsecureSkipVerify:
		rerr("to_ca", errors.New("to_ca is not used with to_insecure_skip_verify"))
	}
	if _, err := ParseCheck(r.Check.String()); err != nil {
		rerr("check", err)
	} else if r.Check != CheckNone && typeOK && r.Type != TCP && r.Type != UDP {
		rerr("check", fmt.Errorf("a %s proxy has no fixed destinations to check", r.Type))
	}
	if r.Check == CheckNone {
		for _, f := range []struct {
			name string
			set  bool
		}{{"check_interval", r.CheckInterval != 0}, {"check_timeout", r.CheckTimeout != 0}, {"rise", r.Rise != 0},
			{"fall", r.Fall != 0}, {"check_path", r.CheckPath != ""}, {"check_status", r.CheckStatus != StatusRange{}}} {
			if f.set {
				rerr(f.name, errors.New("needs check"))
			}
		}
	} else if r.Check != CheckHTTP && (r.CheckPath != "" || r.CheckStatus != StatusRange{}) {
		rerr("check_path", errors.New("check_path and check_status are for check = \"http\""))
	}
	if r.CheckPath != "" && (r.CheckPath[0] != '/' || strings.ContainsAny(r.CheckPath, " \r\n\t")) {
		rerr("check_path", fmt.Errorf("%q is not a path starting with / (without spaces)", r.CheckPath))
	}
	if c := r.CheckStatus; c != (StatusRange{}) && (c.Lo < 100 || c.Hi > 599 || c.Lo > c.Hi) {
		rerr("check_status", fmt.Errorf("%d-%d is not a status range within 100-599", c.Lo, c.Hi))
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"check_interval", r.CheckInterval}, {"check_timeout", r.CheckTimeout}} {
		if f.d < 0 {
			rerr(f.name, fmt.Errorf("%v is negative", f.d))
		} else if f.d > 0 && f.d < minCheckInterval {
			rerr(f.name, fmt.Errorf("%v is under the minimum of %v", f.d, minCheckInterval))
		}
	}
	if r.ProxyProtocol < 0 || r.ProxyProtocol > 2 {
		rerr("proxy_protocol", fmt.Errorf("version %d is not 1 or 2", r.ProxyProtocol))
	} else if r.ProxyProtocol != 0 && typeOK && r.Type != TCP {
		rerr("proxy_protocol", errors.New("only tcp mappings send a PROXY protocol header"))
	}
	if len(r.AcceptProxyFrom) > 0 && r.Type == UDP {
		rerr("accept_proxy_from", errors.New("udp mappings do not read PROXY protocol headers"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_conns", r.MaxConns}, {"max_conns_per_source", r.MaxConnsPerSource}, {"udp_session_cap", r.UDPSessionCap},
		{"rise", r.Rise}, {"fall", r.Fall}} {
		if f.v < 0 {
			rerr(f.name, fmt.Errorf("%d is negative", f.v))
		}
	}
	if r.Allow == nil && len(r.Users) == 0 {
		for _, a := range addrs {
			if !a.Addr().IsLoopback() {
				probs = append(probs, &OpenRelayError{Rule: r.Name, Listen: a.String(), Proxy: r.Type == HTTP || r.Type == SOCKS5})
				break
			}
		}
	}
	return probs
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("destination %q is not HOST:PORT", s)
	}
	if host == "" {
		return fmt.Errorf("destination %q has no host", s)
	}
	if _, err := ports.ParseHost(host); err != nil {
		var pe *ports.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("destination %q: %s", s, pe.Msg)
		}
		return fmt.Errorf("destination %q: %v", s, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("destination %q: port %q is not 1-65535", s, port)
	}
	return nil
}

// ListenAddrs resolves a Listen value to the addresses to listen on. An
// empty host gives the unspecified addresses 0.0.0.0 and ::; an
// interface name gives the interface's addresses (IPv4 and global or ULA
// IPv6; link-local IPv6 needs a zone and is left out); "localhost" means
// 127.0.0.1. Port 0 picks a free port.
func ListenAddrs(s string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not HOST:PORT, IFACE:PORT or :PORT", s)
	}
	p, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%q: port %q is not 0-65535", s, portStr)
	}
	port := uint16(p)
	switch host {
	case "":
		return []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), port), netip.AddrPortFrom(netip.IPv6Unspecified(), port)}, nil
	case "localhost":
		return []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return nil, fmt.Errorf("%q: zoned addresses are not supported", s)
		}
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), port)}, nil
	}
	if strings.ContainsAny(host, ".:") {
		return nil, fmt.Errorf("%q: %q is not an IP address or an interface name", s, host)
	}
	ifi, err := net.InterfaceByName(host)
	if err != nil {
		return nil, fmt.Errorf("%q: %q is not an IP address or an interface name here", s, host)
	}
	ias, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("%q: addresses of interface %s: %v", s, host, err)
	}
	var out []netip.AddrPort
	for _, ia := range ias {
		ipn, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.Is6() && a.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q: interface %s has no usable address", s, host)
	}
	return out, nil
}

// same reports whether two rules are configured alike, so a reload can
// keep a running rule. Gates compare by GateKey, else by identity.
func (r *Rule) same(o *Rule) bool {
	a, b := *r, *o
	ka, okA := a.Gate.(gateKeyer)
	kb, okB := b.Gate.(gateKeyer)
	switch {
	case okA && okB:
		if ka.GateKey() != kb.GateKey() {
			return false
		}
	case okA || okB || a.Gate != b.Gate:
		return false
	}
	a.Gate, b.Gate = nil, nil
	return reflect.DeepEqual(a, b)
}
