// Package config reads the TOML rule file of `ports serve` into
// mapper.Rule values, reporting every problem with its file and line.
//
// A file is a list of [[rule]] tables:
//
//	[[rule]]
//	name   = "web"
//	type   = "tcp"                 # tcp, udp, http or socks5
//	listen = "eth0:8080"           # HOST:PORT, :PORT or IFACE:PORT
//	to     = ["10.0.0.5:80", "10.0.0.6:80"]
//	allow  = ["192.168.1.0/24"]
//
// Keys: name, type, listen, to, bind, allow, deny, allow_dest, auth (list
// of "user:pass"), users_file (lines of user:pass, # comments, relative to
// the config file), max_conns, max_conns_per_source, handshake_timeout,
// dial_timeout, idle_timeout, fin_timeout (Go durations such as "30s"),
// proxy_protocol ("v1" or "v2"), accept_proxy_from, connect_ports (a port
// set such as "443,8443"), udp_session_cap, udp_idle_timeout; balance
// ("roundrobin", "leastconn", "source" or "first"; each destination of
// to may be followed by " weight=N" and " max_conns=N", as in
// "10.0.0.5:80 weight=3 max_conns=100"); routes by name on one port
// as [[rule.route]] tables with sni = "a.test" (the TLS ClientHello's
// server name, read without terminating TLS) or host = "a.test" (the
// HTTP Host), exact or "*.a.test", and their own to, with default_to
// on the rule for the names no route has (else they are refused); TLS
// termination with tls_cert and tls_key (PEM files, re-read on every
// reload; with sni routes, the terminated handshake's name routes) and
// alpn (["h2", "http/1.1"]: the protocols a terminate-only rule answers
// its clients' ALPN offers from, in that order) and origination with to_tls = true, to_server_name, to_ca and
// to_insecure_skip_verify (paths relative to the config file); health
// checks of a tcp mapping: check ("tcp", "http" or "tls"),
// check_interval, check_timeout, rise, fall, check_path, check_status
// (a range such as "200-399"); knock (a
// knock sequence such as "7000,8000:udp,9000"), knock_window,
// knock_timeout, or a table spa = {key_base64, hmac_key_base64, listen,
// source, access_timeout, max_timeout, max_age, digest_file,
// hmac_digest_type, encryption_mode, and the gpg_* keys of GnuPG
// packets} (see SPAConfig): a rule with either
// lets in only the sources that knocked, or sent a valid SPA packet for
// its port, recently; it needs no firewall rights. Any other key is an
// error. Every problem of every rule is reported, and a rule listening
// where an earlier one does (same protocol and port, the same address or
// the unspecified one) is a problem of its listen.
//
// Line numbers: TOML syntax and type errors carry the decoder's
// position. The decoder does not expose the positions of keys, so for
// unknown keys and invalid values the line is found by a small scan of
// the file: it counts [[rule]] headers and records the line of each
// "key =" in each rule (lines inside multi-line strings are skipped). A
// problem with one element of a list is reported at its key's line.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/portkit/ports"
	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/mapper"
)

// RuleConfig is one [[rule]] table as written.
type RuleConfig struct {
	Name              string   `toml:"name"`
	Type              string   `toml:"type"`
	Listen            string   `toml:"listen"`
	To                []string `toml:"to"`
	Bind              string   `toml:"bind"`
	Allow             []string `toml:"allow"`
	Deny              []string `toml:"deny"`
	AllowDest         []string `toml:"allow_dest"`
	Auth              []string `toml:"auth"`
	UsersFile         string   `toml:"users_file"`
	MaxConns          int      `toml:"max_conns"`
	MaxConnsPerSource int      `toml:"max_conns_per_source"`
	HandshakeTimeout  string   `toml:"handshake_timeout"`
	DialTimeout       string   `toml:"dial_timeout"`
	IdleTimeout       string   `toml:"idle_timeout"`
	FinTimeout        string   `toml:"fin_timeout"`
	ProxyProtocol     string   `toml:"proxy_protocol"`
	AcceptProxyFrom   []string `toml:"accept_proxy_from"`
	ConnectPorts      string   `toml:"connect_ports"`
	UDPSessionCap     int      `toml:"udp_session_cap"`
	UDPIdleTimeout    string   `toml:"udp_idle_timeout"`

	Balance string `toml:"balance"` // roundrobin, leastconn, source or first

	// TLS termination (tls_cert, tls_key: PEM files, relative to the
	// config file) and origination (to_tls and the rest).
	TLSCert              string   `toml:"tls_cert"`
	TLSKey               string   `toml:"tls_key"`
	ALPN                 []string `toml:"alpn"`
	ToTLS                bool     `toml:"to_tls"`
	ToServerName         string   `toml:"to_server_name"`
	ToCA                 string   `toml:"to_ca"`
	ToInsecureSkipVerify bool     `toml:"to_insecure_skip_verify"`

	// Routing by name (mapper.Route): [[rule.route]] tables, and where
	// the names no route has go.
	Route     []RouteConfig `toml:"route"`
	DefaultTo []string      `toml:"default_to"`

	// Health checks of a tcp mapping's destinations (mapper.Rule.Check).
	Check         string `toml:"check"` // tcp, http or tls
	CheckInterval string `toml:"check_interval"`
	CheckTimeout  string `toml:"check_timeout"`
	Rise          int    `toml:"rise"`
	Fall          int    `toml:"fall"`
	CheckPath     string `toml:"check_path"`
	CheckStatus   string `toml:"check_status"` // "200-399"

	// Port knocking (package knock): the rule lets in only the sources
	// that knocked Knock ("7000,8000:udp,9000") within KnockTimeout
	// (default 25s), for KnockWindow after (default 30s). Or SPA.
	Knock        string     `toml:"knock"`
	KnockWindow  string     `toml:"knock_window"`
	KnockTimeout string     `toml:"knock_timeout"`
	SPA          *SPAConfig `toml:"spa"`
}

// RouteConfig is one [[rule.route]] table: sni or host, and to.
type RouteConfig struct {
	SNI  string   `toml:"sni"`
	Host string   `toml:"host"`
	To   []string `toml:"to"`
}

type file struct {
	Rule []RuleConfig `toml:"rule"`
}

// Problem is one thing wrong in a config file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Rule string // the rule's name, or ""
	Key  string // the key, or ""
	Msg  string
	Err  error // the cause when there is one to test (a *cfgfile.Error), else nil
}

func (p Problem) String() string {
	return (&Error{Problems: []Problem{p}}).FileProblems()[0].String()
}

// ErrTooDeep is the cause of the problem of a file nested deeper than
// MaxDepth.
var ErrTooDeep = errors.New("nested too deep")

// Error is every problem of a file; errors.As finds it.
type Error struct {
	Problems []Problem
}

// Error gives the first problem and how many more there are, on one line.
func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return "no problems"
	}
	s := e.Problems[0].String()
	if n := len(e.Problems) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more problem", n)
		if n > 1 {
			s += "s"
		}
		s += ")"
	}
	return s
}

// FileProblems returns the problems in the shape of every configuration
// parser of this module: the rule and key, when known, lead the message.
func (e *Error) FileProblems() []cfgfile.Problem {
	out := make([]cfgfile.Problem, len(e.Problems))
	for i, p := range e.Problems {
		msg := p.Msg
		if p.Key != "" {
			msg = p.Key + ": " + msg
		}
		if p.Rule != "" {
			msg = fmt.Sprintf("rule %q: ", p.Rule) + msg
		}
		out[i] = cfgfile.Problem{File: p.File, Line: p.Line, Msg: msg}
	}
	return out
}

// Unwrap gives the causes of the problems that have one, so that
// errors.Is(err, cfgfile.ErrNotRegular) and the like work.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// Limits of the files Load reads.
const (
	MaxFileSize      = cfgfile.DefaultLimit // a rule file
	MaxUsersFileSize = cfgfile.DefaultLimit // a users_file
)

// Load reads and parses a config file. The file must be a regular file
// of at most MaxFileSize bytes; any other is a one-problem *Error.
func Load(path string) ([]mapper.Rule, error) {
	data, err := cfgfile.Read(path, MaxFileSize)
	if err != nil {
		return nil, &Error{Problems: []Problem{fileProblem(path, err)}}
	}
	return Parse(path, data)
}

// fileProblem is the problem of a file that could not be read: the
// message without the path, which Problem.String puts first.
func fileProblem(path string, err error) Problem {
	return Problem{File: path, Msg: strings.TrimPrefix(err.Error(), path+": "), Err: err}
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// Parse parses config data; name is the file name used in problems and
// to resolve users_file. The error, if any, is an *Error listing every
// problem found (a syntax error stops the parse at the first one).
func Parse(name string, data []byte) ([]mapper.Rule, error) {
	if d := scanDepth(data, MaxDepth); d.overLine > 0 {
		return nil, &Error{Problems: []Problem{{File: name, Line: d.overLine,
			Msg: fmt.Sprintf("nested %d deep, the limit is %d", d.max, MaxDepth), Err: ErrTooDeep}}}
	}
	var f file
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&f)
	if err != nil {
		p := Problem{File: name, Msg: err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line, p.Msg = pe.Position.Line, pe.Message
		} else if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
		}
		p.Msg = strings.TrimPrefix(p.Msg, "toml: ")
		return nil, &Error{Problems: []Problem{p}}
	}
	idx := scanLines(data)
	var probs []Problem
	var unknown []toml.Key
	for _, k := range md.Undecoded() {
		// An unknown key is one problem, not one more for each key in
		// its value: skip the keys under one already reported.
		under := false
		for _, u := range unknown {
			if len(k) > len(u) && slices.Equal(k[:len(u)], u) {
				under = true
				break
			}
		}
		if under {
			continue
		}
		unknown = append(unknown, k)
		key := k[len(k)-1]
		if len(k) == 2 && k[0] == "rule" {
			found := false
			for i, r := range idx.rules {
				if line, ok := r[key]; ok {
					probs = append(probs, Problem{File: name, Line: line, Rule: ruleName(f.Rule, i), Key: key, Msg: "unknown key"})
					found = true
				}
			}
			if found {
				continue
			}
		}
		probs = append(probs, Problem{File: name, Line: idx.anyKey(key), Key: k.String(), Msg: "unknown key"})
	}
	if len(f.Rule) == 0 && len(probs) == 0 {
		probs = append(probs, Problem{File: name, Msg: "no [[rule]] tables"})
	}
	var rules []mapper.Rule
	var listens []ruleListen
	seen := map[string]int{}
	for i, rc := range f.Rule {
		lines := map[string]int{}
		if i < len(idx.rules) {
			lines = idx.rules[i]
		}
		at := func(key string) int {
			if l, ok := lines[key]; ok {
				return l
			}
			if l, ok := lines["route"]; ok && strings.HasPrefix(key, "route.") {
				return l
			}
			if i < len(idx.headers) {
				return idx.headers[i]
			}
			return 0
		}
		label := rc.Name
		if label == "" {
			label = fmt.Sprintf("#%d", i+1)
		}
		reported := map[string]bool{} // keys with a problem in this rule
		add := func(key string, err error) {
			p := Problem{File: name, Line: at(key), Rule: label, Key: key, Msg: strings.TrimPrefix(err.Error(), key+": ")}
			if fe, ok := errors.AsType[*cfgfile.Error](err); ok {
				p.Err = fe
			}
			probs = append(probs, p)
			reported[key] = true
		}
		r, ok := convert(name, rc, add)
		if rc.Name != "" {
			if first, dup := seen[rc.Name]; dup {
				add("name", fmt.Errorf("the name is taken by the rule at line %d", first))
				ok = false
			} else {
				seen[rc.Name] = at("name")
			}
		}
		// Every problem of the rule, not only the first: the rule's own
		// checks, except on keys already reported (a missing type is not
		// also an unknown one), and the open-relay check only if the
		// allow-list and the users were read.
		for _, err := range r.Problems() {
			key := ""
			var re *mapper.RuleError
			var oe *mapper.OpenRelayError
			switch {
			case errors.As(err, &re):
				key, err = re.Field, re.Err
			case errors.As(err, &oe):
				if reported["allow"] || reported["deny"] || reported["auth"] || reported["users_file"] {
					continue
				}
				key = "listen"
				err = fmt.Errorf("%s is not loopback but the rule names no allow%s: %w", oe.Listen,
					map[bool]string{true: " and no auth", false: ""}[oe.Proxy], mapper.ErrOpenRelay)
			}
			ok = false
			if reported[key] {
				continue
			}
			add(key, err)
		}
		if ok {
			// The TLS files, as the start would load them.
			if err := r.CheckTLSFiles(); err != nil {
				if re, isRE := errors.AsType[*mapper.RuleError](err); isRE {
					add(re.Field, re.Err)
				} else {
					add("tls_cert", err)
				}
				ok = false
			}
		}
		if ok {
			rules = append(rules, r)
			listens = append(listens, ruleListen{rule: label, line: at("listen"), typ: r.Type, listen: r.Listen})
		}
	}
	probs = append(probs, overlaps(name, listens)...)
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	return rules, nil
}

// ruleListen is where a rule listens, for overlaps.
type ruleListen struct {
	rule   string
	line   int
	typ    mapper.Type
	listen string
}

// overlaps reports each rule that listens where an earlier rule does
// (the same protocol and port, and the same address or either one the
// unspecified address of the family, which takes the port on every
// address): the second could not bind, and --check should say so
// rather than the start.
func overlaps(name string, ls []ruleListen) []Problem {
	var probs []Problem
	addrs := make([][]netip.AddrPort, len(ls))
	for i, l := range ls {
		addrs[i], _ = mapper.ListenAddrs(l.listen) // checked by the rule already
	}
	proto := func(t mapper.Type) string {
		if t == mapper.UDP {
			return "udp"
		}
		return "tcp"
	}
next:
	for j := range ls {
		for i := range j {
			if proto(ls[i].typ) != proto(ls[j].typ) {
				continue
			}
			for _, b := range addrs[j] {
				for _, a := range addrs[i] {
					if a.Port() == 0 || a.Port() != b.Port() || a.Addr().Is4() != b.Addr().Is4() {
						continue
					}
					if a.Addr() == b.Addr() || a.Addr().IsUnspecified() || b.Addr().IsUnspecified() {
						probs = append(probs, Problem{File: name, Line: ls[j].line, Rule: ls[j].rule, Key: "listen",
							Msg: fmt.Sprintf("%s %s overlaps %s %s of rule %q (line %d): both cannot listen there",
								proto(ls[j].typ), b, proto(ls[i].typ), a, ls[i].rule, ls[i].line)})
						continue next
					}
				}
			}
		}
	}
	return probs
}

func ruleName(rs []RuleConfig, i int) string {
	if i < len(rs) && rs[i].Name != "" {
		return rs[i].Name
	}
	return fmt.Sprintf("#%d", i+1)
}

// convert turns a RuleConfig into a Rule, reporting each bad value.
func convert(name string, rc RuleConfig, add func(key string, err error)) (mapper.Rule, bool) {
	ok := true
	bad := func(key string, err error) { add(key, err); ok = false }
	r := mapper.Rule{Name: rc.Name, Listen: rc.Listen, To: rc.To,
		MaxConns: rc.MaxConns, MaxConnsPerSource: rc.MaxConnsPerSource, UDPSessionCap: rc.UDPSessionCap}
	if rc.Name == "" {
		bad("name", errors.New("missing"))
	}
	if rc.Type == "" {
		bad("type", errors.New("missing (tcp, udp, http or socks5)"))
	} else if t, err := mapper.ParseType(rc.Type); err != nil {
		bad("type", err)
	} else {
		r.Type = t
	}
	if rc.Listen == "" {
		bad("listen", errors.New("missing"))
	}
	if rc.Bind != "" {
		a, err := netip.ParseAddr(rc.Bind)
		if err != nil {
			bad("bind", fmt.Errorf("%q is not an IP address", rc.Bind))
		}
		r.Bind = a
	}
	if len(rc.Allow) > 0 || len(rc.Deny) > 0 {
		l, err := acl.ParseList(rc.Allow, rc.Deny)
		if err != nil {
			key := "allow"
			for _, d := range rc.Deny {
				if _, e := acl.ParsePrefix(d); e != nil {
					key = "deny"
				}
			}
			bad(key, err)
		} else if len(rc.Allow) > 0 {
			r.Allow = l
		} else {
			bad("deny", errors.New("deny without allow: an empty allow-list lets nobody in"))
		}
	}
	prefixes := func(key string, ss []string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			p, err := acl.ParsePrefix(s)
			if err != nil {
				bad(key, err)
				continue
			}
			out = append(out, p)
		}
		return out
	}
	r.AllowDest = prefixes("allow_dest", rc.AllowDest)
	r.AcceptProxyFrom = prefixes("accept_proxy_from", rc.AcceptProxyFrom)
	users := map[string]string{}
	for _, a := range rc.Auth {
		u, p, found := strings.Cut(a, ":")
		if !found || u == "" {
			bad("auth", fmt.Errorf("%q is not user:pass", redact(a)))
			continue
		}
		users[u] = p
	}
	if rc.UsersFile != "" {
		path := rc.UsersFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(name), path)
		}
		if err := readUsers(path, users); err != nil {
			bad("users_file", err)
		}
	}
	if len(users) > 0 {
		r.Users = users
	}
	dur := func(key, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			bad(key, fmt.Errorf("%q is not a positive duration such as \"30s\"", s))
		}
		return d
	}
	r.HandshakeTimeout = dur("handshake_timeout", rc.HandshakeTimeout)
	r.DialTimeout = dur("dial_timeout", rc.DialTimeout)
	r.IdleTimeout = dur("idle_timeout", rc.IdleTimeout)
	r.FinTimeout = dur("fin_timeout", rc.FinTimeout)
	r.UDPIdleTimeout = dur("udp_idle_timeout", rc.UDPIdleTimeout)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(name), p)
	}
	r.TLSCert, r.TLSKey, r.ToCA = rel(rc.TLSCert), rel(rc.TLSKey), rel(rc.ToCA)
	r.ToTLS, r.ToServerName, r.ToInsecureSkipVerify = rc.ToTLS, rc.ToServerName, rc.ToInsecureSkipVerify
	r.ALPN = rc.ALPN
	for _, ro := range rc.Route {
		r.Routes = append(r.Routes, mapper.Route{SNI: ro.SNI, Host: ro.Host, To: ro.To})
	}
	r.DefaultTo = rc.DefaultTo
	if b, err := mapper.ParseBalance(rc.Balance); err != nil {
		bad("balance", err)
	} else {
		r.Balance = b
	}
	if c, err := mapper.ParseCheck(rc.Check); err != nil {
		bad("check", err)
	} else {
		r.Check = c
	}
	r.CheckInterval = dur("check_interval", rc.CheckInterval)
	r.CheckTimeout = dur("check_timeout", rc.CheckTimeout)
	r.Rise, r.Fall, r.CheckPath = rc.Rise, rc.Fall, rc.CheckPath
	if rc.CheckStatus != "" {
		sr, err := mapper.ParseStatusRange(rc.CheckStatus)
		if err != nil {
			bad("check_status", err)
		}
		r.CheckStatus = sr
	}
	if g := gate(rc, r.Type, dur, bad); g != nil {
		r.Gate = g
	}
	switch rc.ProxyProtocol {
	case "":
	case "v1", "1":
		r.ProxyProtocol = 1
	case "v2", "2":
		r.ProxyProtocol = 2
	default:
		bad("proxy_protocol", fmt.Errorf("%q is not v1 or v2", rc.ProxyProtocol))
	}
	if rc.ConnectPorts != "" {
		set, err := ports.ParseSet(rc.ConnectPorts, nil)
		if err != nil {
			bad("connect_ports", err)
		}
		r.ConnectPorts = set
		if r.Type != mapper.HTTP && r.Type != 0 {
			bad("connect_ports", errors.New("only http rules take connect_ports"))
		}
	}
	return r, ok
}

// redact hides a password in an error message.
func redact(s string) string {
	if u, _, ok := strings.Cut(s, ":"); ok {
		return u + ":***"
	}
	if len(s) > 3 {
		return s[:3] + "..."
	}
	return s
}

// readUsers reads user:pass lines (# comments, blank lines ignored).
func readUsers(path string, into map[string]string) error {
	data, err := cfgfile.Read(path, MaxUsersFileSize)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		u, p, ok := strings.Cut(line, ":")
		if !ok || u == "" {
			return fmt.Errorf("%s:%d: not user:pass", path, n)
		}
		into[u] = p
	}
	return sc.Err()
}

// lineIndex is where [[rule]] headers and their keys are.
type lineIndex struct {
	headers []int            // line of each [[rule]]
	rules   []map[string]int // key → line, per rule
	all     map[string]int   // first line of each key anywhere
}

var (
	ruleHeaderRE  = regexp.MustCompile(`^\s*\[\[\s*rule\s*\]\]`)
	routeHeaderRE = regexp.MustCompile(`^\s*\[\[\s*rule\s*\.\s*route\s*\]\]`)
	tableRE       = regexp.MustCompile(`^\s*\[`)
	keyRE         = regexp.MustCompile(`^\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*=`)
)

func scanLines(data []byte) *lineIndex {
	idx := &lineIndex{all: map[string]int{}}
	inRule := false
	prefix := ""     // "route." inside a [[rule.route]] table
	var multi string // the closing quotes of a multi-line string we are in
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		if multi != "" {
			if strings.Count(line, multi)%2 == 1 {
				multi = ""
			}
			continue
		}
		switch {
		case ruleHeaderRE.MatchString(line):
			idx.headers = append(idx.headers, lineNo)
			idx.rules = append(idx.rules, map[string]int{})
			inRule, prefix = true, ""
			continue
		case routeHeaderRE.MatchString(line) && len(idx.rules) > 0:
			// The rule's "route" is the line of its first route: the
			// problems of a route (which name their value) point there.
			r := idx.rules[len(idx.rules)-1]
			if _, ok := r["route"]; !ok {
				r["route"] = lineNo
			}
			inRule, prefix = true, "route."
			continue
		case tableRE.MatchString(line) && !keyRE.MatchString(line):
			inRule = false
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			key := strings.Trim(m[1], `"'`)
			if _, ok := idx.all[key]; !ok {
				idx.all[key] = lineNo
			}
			if inRule && prefix == "" {
				r := idx.rules[len(idx.rules)-1]
				if _, ok := r[key]; !ok {
					r[key] = lineNo
				}
			}
		}
		for _, q := range []string{`"""`, `'''`} {
			if strings.Count(line, q)%2 == 1 {
				multi = q
			}
		}
	}
	return idx
}

func (idx *lineIndex) anyKey(key string) int { return idx.all[key] }
