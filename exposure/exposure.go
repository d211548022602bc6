// Package exposure tells which of this machine's listening ports the
// outside can reach: for each listening TCP and bound UDP socket, where
// it listens (loopback, one interface, every interface), which of those
// interfaces face a default route (external) or not (internal), what
// the nftables ruleset does with a new connection arriving on each, who
// holds the socket, and whether the port is one IANA reports
// unauthorized use of or one trojans are known to listen on.
//
// A connection may arrive on any interface for any of the machine's
// addresses (Linux's weak host model): an internal address is exposed
// when the firewall lets a connection for it in through an external
// interface.
//
// It is the library behind `ports audit`: it takes the sockets (package
// socktable), the network (ReadNetwork) and a firewall (package
// nfteval) and joins them; it does no I/O of its own but ReadNetwork's.
package exposure

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/portkit/ports"
	"github.com/portkit/ports/nfteval"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/socktable"
)

// ErrNotImplemented is returned by ReadNetwork where it cannot read the
// routes. It wraps errors.ErrUnsupported.
var ErrNotImplemented = fmt.Errorf("exposure: reading routes is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Interface is one network interface.
type Interface struct {
	Name     string
	Index    int
	Loopback bool
	Up       bool // administratively up: only then can a connection arrive on it
	// External is set when a default route goes out through it: it
	// faces networks beyond its own. Otherwise it is internal.
	External bool
	Addrs    []netip.Prefix // its addresses with their networks' lengths
}

// Network is this machine's interfaces, as ReadNetwork finds them.
type Network struct {
	Interfaces []Interface
}

// owner returns the interface holding a, or nil.
func (n *Network) owner(a netip.Addr) *Interface {
	for i := range n.Interfaces {
		for _, p := range n.Interfaces[i].Addrs {
			if p.Addr() == a {
				return &n.Interfaces[i]
			}
		}
	}
	return nil
}

// Scope is where a socket listens.
type Scope uint8

const (
	ScopeLoopback  Scope = iota + 1 // a loopback address: this machine only
	ScopeInterface                  // one interface's address
	ScopeWildcard                   // 0.0.0.0 or ::, every interface
	ScopeUnknown                    // an address no interface holds (IP_FREEBIND)
)

func (s Scope) String() string {
	switch s {
	case ScopeLoopback:
		return "loopback"
	case ScopeInterface:
		return "interface"
	case ScopeWildcard:
		return "wildcard"
	case ScopeUnknown:
		return "no interface"
	}
	return "?"
}

// MarshalText implements encoding.TextMarshaler.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Firewall is what the ruleset does with a new connection;
// *nfteval.Ruleset is one.
type Firewall interface {
	Eval(c nfteval.Conn) nfteval.Result
}

// Reach is one way in to a socket: a new connection arriving on an
// interface for one of the addresses the socket listens on, which may
// be another interface's.
type Reach struct {
	Interface string // the interface it arrives on
	External  bool
	Addr      netip.Addr // the address the client connects to
	From      netip.Addr // the client the verdict is for; invalid: any client
	Verdict   nfteval.Result
}

// Flag marks a port worth a look.
type Flag struct {
	Kind   FlagKind
	Note   string // IANA's note, or the trojan's name
	Source string // where the dataset took it from
}

// FlagKind says which dataset flagged a port.
type FlagKind uint8

const (
	FlagUnauthorized FlagKind = iota + 1 // IANA's "Unauthorized Use Reported" column
	FlagTrojan                           // the trojan ports dataset (trojans.csv)
)

func (k FlagKind) String() string {
	switch k {
	case FlagUnauthorized:
		return "iana-unauthorized-use"
	case FlagTrojan:
		return "trojan"
	}
	return "?"
}

// MarshalText implements encoding.TextMarshaler.
func (k FlagKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Entry is the exposure of one socket.
type Entry struct {
	Socket socktable.Socket
	Scope  Scope
	// Interfaces hold the addresses it listens on: the one interface
	// of ScopeInterface, every non-loopback one of ScopeWildcard.
	Interfaces []string
	// Reaches are the ways in from outside this machine: for each
	// non-loopback interface a connection may arrive on, each address
	// the socket listens on (an interface's own link-local addresses
	// only on it).
	Reaches []Reach
	// Exposed is set when a connection through an external interface
	// is accepted; MaybeExposed when one is not evaluated.
	Exposed, MaybeExposed bool
	Root                  bool // held by root (the socket's or a holder's uid 0)
	Flags                 []Flag
}

// Config is what Audit joins the sockets with.
type Config struct {
	Network  *Network // required
	Firewall Firewall // required; a ruleset without base chains accepts all
	// From are clients to evaluate the firewall for. A reach through
	// an interface uses the first From of its family that one of the
	// interface's networks holds, or, for an external interface, the
	// first that no interface's network holds (it comes through the
	// default route). With none, rules on the client's address are not
	// evaluated.
	From     []netip.Addr
	Registry *registry.Registry // nil: registry.Default()
	Trojans  *Trojans           // nil: DefaultTrojans()
}

// Audit returns the exposure of each listening socket in sockets
// (socktable.Socket.IsListener), in the order given.
func Audit(sockets []socktable.Socket, cfg *Config) []Entry {
	reg := cfg.Registry
	if reg == nil {
		reg = registry.Default()
	}
	troj := cfg.Trojans
	if troj == nil {
		troj = DefaultTrojans()
	}
	var out []Entry
	for _, s := range sockets {
		if !s.IsListener() {
			continue
		}
		e := Entry{Socket: s, Root: s.UID == 0}
		for _, p := range s.Procs {
			if p.UID == 0 {
				e.Root = true
			}
		}
		a := s.Local.Addr()
		var targets []netip.Addr
		switch {
		case a.Unmap().IsLoopback():
			e.Scope = ScopeLoopback
		case a.IsUnspecified():
			e.Scope = ScopeWildcard
			for _, ifc := range cfg.Network.Interfaces {
				if ifc.Loopback {
					continue
				}
				e.Interfaces = append(e.Interfaces, ifc.Name)
				for _, p := range ifc.Addrs {
					// An AF_INET6 wildcard takes IPv4 too unless it is
					// v6only, which the socket listing does not tell.
					if p.Addr().Is4() && a.Is4() || a.Is6() {
						targets = append(targets, p.Addr())
					}
				}
			}
		default:
			if ifc := cfg.Network.owner(a.Unmap()); ifc != nil && !ifc.Loopback {
				e.Scope = ScopeInterface
				e.Interfaces = []string{ifc.Name}
				targets = []netip.Addr{a.Unmap()}
			} else if ifc != nil {
				e.Scope = ScopeLoopback
			} else {
				e.Scope = ScopeUnknown
			}
		}
		// Linux takes a packet for any of its addresses on any
		// interface (the weak host model): a router beyond an external
		// interface that routes an internal network through this
		// machine reaches an internal address too. Only link-local
		// addresses stay on their own link.
		for _, arr := range cfg.Network.Interfaces {
			if arr.Loopback || !arr.Up {
				continue
			}
			for _, t := range targets {
				if (t.IsLinkLocalUnicast() || t.IsLoopback()) && cfg.Network.owner(t).Name != arr.Name {
					continue
				}
				e.Reaches = append(e.Reaches, reach(cfg, &arr, t, s))
			}
		}
		for _, r := range e.Reaches {
			if !r.External {
				continue
			}
			switch r.Verdict.Verdict {
			case nfteval.Accepted:
				e.Exposed = true
			case nfteval.NotEvaluated:
				e.MaybeExposed = true
			}
		}
		e.Flags = flags(reg, troj, s.Proto, ports.Port(s.Local.Port()))
		out = append(out, e)
	}
	return out
}

func reach(cfg *Config, ifc *Interface, dst netip.Addr, s socktable.Socket) Reach {
	from := clientFor(cfg, ifc, dst)
	c := nfteval.Conn{IIf: ifc.Name, IIfIdx: ifc.Index, Src: from, Dst: dst, Proto: s.Proto, DstPort: s.Local.Port()}
	return Reach{Interface: ifc.Name, External: ifc.External, Addr: dst, From: from, Verdict: cfg.Firewall.Eval(c)}
}

// clientFor picks the From address that would arrive on ifc for dst.
func clientFor(cfg *Config, ifc *Interface, dst netip.Addr) netip.Addr {
	var beyond netip.Addr
	for _, f := range cfg.From {
		f = f.Unmap()
		if f.Is4() != dst.Is4() {
			continue
		}
		for _, p := range ifc.Addrs {
			if p.Masked().Contains(f) {
				return f
			}
		}
		if ifc.External && !beyond.IsValid() && !onAnyNetwork(cfg.Network, f) {
			beyond = f
		}
	}
	return beyond
}

func onAnyNetwork(n *Network, a netip.Addr) bool {
	for _, ifc := range n.Interfaces {
		for _, p := range ifc.Addrs {
			if p.Masked().Contains(a) {
				return true
			}
		}
	}
	return false
}

// portsInNote finds the port numbers and ranges IANA's notes name
// ("Known Unauthorized Use on ports 5151 and 5152", "ports 2194-2196").
// Compiled on first use: nothing happens at import.
var portsInNote = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\d+(?:-\d+)?`) })

func flags(reg *registry.Registry, troj *Trojans, proto ports.Proto, p ports.Port) []Flag {
	var fl []Flag
	for rec := range reg.Port(proto, p) {
		if rec.Unauthorized == "" || !noteNames(rec.Unauthorized, p) {
			continue
		}
		if slices.ContainsFunc(fl, func(f Flag) bool { return f.Note == rec.Unauthorized }) {
			continue
		}
		fl = append(fl, Flag{Kind: FlagUnauthorized, Note: rec.Unauthorized, Source: "IANA Service Name and Transport Protocol Port Number Registry"})
	}
	for _, t := range troj.Lookup(proto, p) {
		fl = append(fl, Flag{Kind: FlagTrojan, Note: t.Program, Source: t.Source})
	}
	return fl
}

// noteNames reports whether an unauthorized-use note applies to port p:
// a note on a range that names ports applies to those alone; one that
// names none applies to every port of its record.
func noteNames(note string, p ports.Port) bool {
	ms := portsInNote().FindAllString(note, -1)
	var nums []string
	for _, m := range ms {
		// RFC numbers in the notes are not ports.
		if strings.Contains(note, "RFC"+m) {
			continue
		}
		nums = append(nums, m)
	}
	if len(nums) == 0 {
		return true
	}
	for _, m := range nums {
		lo, hi, isRange := cutRange(m)
		if !isRange {
			hi = lo
		}
		if lo <= int(p) && int(p) <= hi {
			return true
		}
	}
	return false
}

func cutRange(s string) (lo, hi int, isRange bool) {
	a, b, ok := strings.Cut(s, "-")
	lo, _ = strconv.Atoi(a)
	if ok {
		hi, _ = strconv.Atoi(b)
	}
	return lo, hi, ok
}

// Summary counts entries.
type Summary struct {
	Listening    int // entries
	Exposed      int // accepted through an external interface
	MaybeExposed int // not exposed, but a verdict through an external interface was not evaluated
	Flagged      int // flagged and exposed
}

// Summarize counts es.
func Summarize(es []Entry) Summary {
	var s Summary
	for _, e := range es {
		s.Listening++
		switch {
		case e.Exposed:
			s.Exposed++
			if len(e.Flags) > 0 {
				s.Flagged++
			}
		case e.MaybeExposed:
			s.MaybeExposed++
		}
	}
	return s
}
