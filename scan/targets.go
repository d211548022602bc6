package scan

import (
	"bufio"
	"context"
	"errors"
	"io"
	"iter"
	"math/bits"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portkit/ports"
)

// Target is one address to scan.
type Target struct {
	Addr netip.Addr // never the zero Addr; IPv4 addresses are never 4-in-6 mapped
	Name string     // the host name it was resolved from, or "" for an address, CIDR or range
}

// TargetResolver resolves host names; *net.Resolver implements it. Tests
// supply a fake so that nothing touches DNS.
type TargetResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// TargetOptions configures ParseTargets. A nil *TargetOptions, and every zero
// field, means the documented default.
type TargetOptions struct {
	// Resolver resolves host names; nil means net.DefaultResolver. Literal
	// addresses, CIDR blocks and octet ranges never reach it.
	Resolver TargetResolver

	// AllAddrs yields every address a host name resolves to (duplicates
	// dropped, in the resolver's order). Without it a host name yields one
	// address: the first IPv4 address the resolver returns, or, when there is
	// none (or Family is 6), the first IPv6 address. IPv4 is preferred, as
	// nmap scans IPv4 unless asked for IPv6, because it is the family that
	// most hosts serve on every port.
	AllAddrs bool

	// Family restricts targets to IPv4 (4) or IPv6 (6); 0 allows both. Host
	// names are looked up for that family only; a literal address, CIDR block
	// or range of the other family is an error.
	Family int

	// Exclude lists targets not to scan, in the grammar of ParseTargets.
	// Excluded host names are resolved to every address (regardless of
	// AllAddrs), and each candidate address is checked against the CIDR
	// blocks, octet ranges and addresses.
	Exclude []string

	// MaxHosts bounds the number of addresses the specs may describe
	// (before exclusions); 0 means TargetDefaultMaxHosts. Exceeding it is an
	// error, reported before any target is yielded where the count is
	// known in advance (everything but host names).
	//
	// It also bounds IPv6 CIDR blocks: with MaxHosts zero, an IPv6 prefix
	// must be /112 or longer (65,536 addresses at most, TargetMinIPv6Bits);
	// with MaxHosts set, any IPv6 prefix of at most MaxHosts addresses is
	// accepted.
	MaxHosts int
}

const (
	// TargetDefaultMaxHosts is the default TargetOptions.MaxHosts: a /8.
	TargetDefaultMaxHosts = 1 << 24
	// TargetMinIPv6Bits is the shortest IPv6 prefix accepted when
	// TargetOptions.MaxHosts is zero.
	TargetMinIPv6Bits = 112
)

// ErrNoTargets is yielded by ParseTargets when it is given no target specs:
// there is never a default target.
var ErrNoTargets = errors.New("no targets given")

// ErrTooManyTargets is wrapped by the error for targets that describe more
// than TargetOptions.MaxHosts addresses.
var ErrTooManyTargets = errors.New("too many targets (see TargetOptions.MaxHosts)")

// TargetError reports a target spec that cannot be parsed or resolved.
type TargetError struct {
	Spec    string // the spec as given
	Pos     int    // byte offset of the problem in Spec; -1 when it concerns the whole spec
	Msg     string // what is wrong
	Err     error  // the underlying error (such as the resolver's), or nil
	Exclude bool   // the spec came from TargetOptions.Exclude
}

func (e *TargetError) Error() string {
	var s string
	if e.Exclude {
		s = "exclude: "
	}
	if e.Pos >= 0 && e.Pos <= len(e.Spec) {
		s += e.Msg + " in " + strconv.Quote(e.Spec) + " at position " + strconv.Itoa(e.Pos+1)
	} else {
		s += e.Msg + " " + strconv.Quote(e.Spec)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns e.Err.
func (e *TargetError) Unwrap() error { return e.Err }

// ParseTargets yields the addresses that specs describe, in order. Each spec
// is one of:
//
//	192.0.2.1                an IPv4 address
//	2001:db8::1, [2001:db8::1], fe80::1%eth0
//	                         an IPv6 address, bracketed or not, with a zone or not
//	192.0.2.0/24             an IPv4 CIDR block: every address, network and
//	                         broadcast included, as nmap does (they may be hosts,
//	                         and /31 and /32 have neither)
//	2001:db8::/120           an IPv6 CIDR block, bounded by MaxHosts (see TargetOptions)
//	10.0.0.1-20, 10.0-1.1.1, 10.0.0.*, 10.0.0.1,3,5
//	                         nmap octet ranges: each octet is *, or a comma list of
//	                         numbers and ranges (a-b; "-b" starts at 0, "a-" ends
//	                         at 255); the addresses come in increasing order
//	scanme.example.org       a host name, resolved through opts.Resolver
//
// A spec of digits, dots, commas, hyphens and asterisks is always read as
// an IPv4 address or range, never looked up. Blocks and ranges are
// enumerated lazily, so a /8 costs no memory.
//
// All specs and exclusions are checked before anything is yielded: syntax
// errors are yielded as *TargetError values and then the sequence ends, so
// a typo never starts half a scan. So does exceeding MaxHosts. An exclusion
// that cannot be resolved also ends the sequence (scanning what was meant to be
// excluded would be worse than scanning nothing). A host name that cannot be
// resolved yields a *TargetError wrapping the resolver's error ("unknown
// host") and the sequence goes on. No specs at all yields ErrNoTargets.
// Cancelling ctx yields ctx.Err() and ends the sequence.
func ParseTargets(ctx context.Context, specs []string, opts *TargetOptions) iter.Seq2[Target, error] {
	var o TargetOptions
	if opts != nil {
		o = *opts
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	maxHosts := uint64(o.MaxHosts)
	if o.MaxHosts <= 0 {
		maxHosts = TargetDefaultMaxHosts
	}
	return func(yield func(Target, error) bool) {
		if len(specs) == 0 {
			yield(Target{}, ErrNoTargets)
			return
		}
		if o.Family != 0 && o.Family != 4 && o.Family != 6 {
			yield(Target{}, errors.New("target family must be 4, 6 or 0, not "+strconv.Itoa(o.Family)))
			return
		}
		parsed := make([]tgtSpec, 0, len(specs))
		var bad bool
		var total uint64
		for _, s := range specs {
			sp, err := tgtParse(s, &o, false)
			if err != nil {
				bad = true
				if !yield(Target{}, err) {
					return
				}
				continue
			}
			total = tgtSatAdd(total, sp.size())
			parsed = append(parsed, sp)
		}
		if bad {
			return
		}
		if total > maxHosts {
			yield(Target{}, &TargetError{Spec: strings.Join(specs, " "), Pos: -1, Err: ErrTooManyTargets,
				Msg: "more than " + strconv.FormatUint(maxHosts, 10) + " addresses in"})
			return
		}
		ex, err := tgtExcluder(ctx, &o)
		if err != nil {
			yield(Target{}, err)
			return
		}
		var n uint64
		emit := func(t Target) bool {
			if ex.excludes(t.Addr) {
				return true
			}
			n++
			if n&0xff == 0 {
				if err := ctx.Err(); err != nil {
					yield(Target{}, err)
					return false
				}
			}
			return yield(t, nil)
		}
		for i := range parsed {
			sp := &parsed[i]
			if sp.kind == tgtHost {
				if err := ctx.Err(); err != nil {
					yield(Target{}, err)
					return
				}
				addrs, err := tgtResolve(ctx, &o, sp, false)
				if err != nil {
					if !yield(Target{}, err) {
						return
					}
					continue
				}
				total = tgtSatAdd(total, uint64(len(addrs)))
				if total > maxHosts {
					yield(Target{}, &TargetError{Spec: sp.spec, Pos: -1, Err: ErrTooManyTargets,
						Msg: "more than " + strconv.FormatUint(maxHosts, 10) + " addresses with"})
					return
				}
				for _, a := range addrs {
					if !emit(Target{Addr: a, Name: sp.host}) {
						return
					}
				}
				continue
			}
			for a := range sp.addrs() {
				if !emit(Target{Addr: a}) {
					return
				}
			}
		}
	}
}

// ReadTargetFile reads target specs for -iL: separated by white space
// (spaces, tabs, newlines), with # starting a comment that runs to the end
// of the line. The specs are not checked; pass them to ParseTargets.
func ReadTargetFile(r io.Reader) ([]string, error) {
	var specs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		specs = append(specs, strings.Fields(line)...)
	}
	if err := sc.Err(); err != nil {
		return specs, err
	}
	return specs, nil
}

type tgtKind uint8

const (
	tgtAddr   tgtKind = iota // one literal address
	tgtPrefix                // a CIDR block
	tgtOctets                // an nmap octet range
	tgtHost                  // a host name
)

// tgtSpec is one parsed spec.
type tgtSpec struct {
	spec   string
	kind   tgtKind
	addr   netip.Addr   // tgtAddr
	prefix netip.Prefix // tgtPrefix, masked
	oct    [4][4]uint64 // tgtOctets: a 256-bit set per octet
	host   string       // tgtHost
}

// size returns the number of addresses sp describes; a host name counts 0
// here and its addresses once resolved.
func (sp *tgtSpec) size() uint64 {
	switch sp.kind {
	case tgtAddr:
		return 1
	case tgtPrefix:
		hb := sp.prefix.Addr().BitLen() - sp.prefix.Bits()
		if hb >= 64 {
			return 1 << 63
		}
		return 1 << hb
	case tgtOctets:
		n := uint64(1)
		for i := range sp.oct {
			c := 0
			for _, w := range sp.oct[i] {
				c += bits.OnesCount64(w)
			}
			n *= uint64(c)
		}
		return n
	}
	return 0
}

// addrs yields the addresses of a non-host spec in increasing order.
func (sp *tgtSpec) addrs() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		switch sp.kind {
		case tgtAddr:
			yield(sp.addr)
		case tgtPrefix:
			for a := sp.prefix.Addr(); a.IsValid() && sp.prefix.Contains(a); a = a.Next() {
				if !yield(a) {
					return
				}
			}
		case tgtOctets:
			for a := range 256 {
				if !tgtHas(&sp.oct[0], a) {
					continue
				}
				for b := range 256 {
					if !tgtHas(&sp.oct[1], b) {
						continue
					}
					for c := range 256 {
						if !tgtHas(&sp.oct[2], c) {
							continue
						}
						for d := range 256 {
							if tgtHas(&sp.oct[3], d) && !yield(netip.AddrFrom4([4]byte{byte(a), byte(b), byte(c), byte(d)})) {
								return
							}
						}
					}
				}
			}
		}
	}
}

// contains reports whether a non-host spec covers a.
func (sp *tgtSpec) contains(a netip.Addr) bool {
	switch sp.kind {
	case tgtAddr:
		return a == sp.addr || a.WithZone("") == sp.addr.WithZone("")
	case tgtPrefix:
		return sp.prefix.Contains(a.WithZone(""))
	case tgtOctets:
		if !a.Is4() {
			return false
		}
		b := a.As4()
		for i := range b {
			if !tgtHas(&sp.oct[i], int(b[i])) {
				return false
			}
		}
		return true
	}
	return false
}

func tgtHas(set *[4]uint64, v int) bool { return set[v>>6]&(1<<(v&63)) != 0 }

func tgtSetRange(set *[4]uint64, lo, hi int) {
	for v := lo; v <= hi; v++ {
		set[v>>6] |= 1 << (v & 63)
	}
}

func tgtSatAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

func tgtErr(spec string, pos int, msg string, exclude bool) *TargetError {
	return &TargetError{Spec: spec, Pos: pos, Msg: msg, Exclude: exclude}
}

// tgtParse parses one spec without resolving anything.
func tgtParse(s string, o *TargetOptions, exclude bool) (tgtSpec, error) {
	sp := tgtSpec{spec: s}
	if s == "" {
		return sp, tgtErr(s, -1, "empty target", exclude)
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 || end != len(s)-1 {
			return sp, tgtErr(s, len(s)-1, "unclosed or misplaced \"]\"", exclude)
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() {
			return sp, &TargetError{Spec: s, Pos: 1, Msg: "brackets must hold an IPv6 address", Err: err, Exclude: exclude}
		}
		sp.kind, sp.addr = tgtAddr, a
		return sp, tgtFamily(&sp, o, exclude, 1)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		sp.kind, sp.addr = tgtAddr, a.Unmap()
		return sp, tgtFamily(&sp, o, exclude, 0)
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		base, err := netip.ParseAddr(s[:i])
		if err != nil {
			return sp, tgtErr(s, 0, "CIDR base is not an IP address", exclude)
		}
		if base.Zone() != "" {
			return sp, tgtErr(s, strings.IndexByte(s, '%'), "CIDR base has a zone", exclude)
		}
		if base.Is4In6() {
			return sp, tgtErr(s, 0, "CIDR base is an IPv4-mapped IPv6 address (write the IPv4 block)", exclude)
		}
		n, err := strconv.Atoi(s[i+1:])
		if err != nil || n < 0 || n > base.BitLen() || s[i+1] == '+' || s[i+1] == '-' || (len(s) > i+2 && s[i+1] == '0') {
			return sp, tgtErr(s, i+1, "bad CIDR prefix length", exclude)
		}
		sp.kind = tgtPrefix
		sp.prefix = netip.PrefixFrom(base, n).Masked()
		if base.Is6() && !exclude {
			if o.MaxHosts <= 0 && n < TargetMinIPv6Bits {
				return sp, tgtErr(s, i+1, "IPv6 prefix shorter than /"+strconv.Itoa(TargetMinIPv6Bits)+" (set TargetOptions.MaxHosts to allow more addresses)", exclude)
			}
			if o.MaxHosts > 0 && sp.size() > uint64(o.MaxHosts) {
				return sp, tgtErr(s, i+1, "IPv6 prefix holds more than MaxHosts addresses", exclude)
			}
		}
		return sp, tgtFamily(&sp, o, exclude, 0)
	}
	if strings.Trim(s, "0123456789.,-*") == "" {
		return tgtParseOctets(s, o, exclude)
	}
	if pos := tgtBadHostChar(s); pos >= 0 {
		return sp, tgtErr(s, pos, "not an address, CIDR block, range or host name", exclude)
	}
	// Shaped like an address ("0x7f.0.0.1", "1.2.3.0x10"): a mistake,
	// never a name to look up.
	var pe *ports.ParseError
	if _, err := ports.ParseHost(s); errors.As(err, &pe) && errors.Is(err, ports.ErrBadAddress) {
		return sp, tgtErr(s, max(pe.Pos, 0), pe.Msg, exclude)
	}
	sp.kind, sp.host = tgtHost, s
	return sp, nil
}

// tgtBadHostChar returns the offset of the first byte that cannot be in a
// host name, or -1.
func tgtBadHostChar(s string) int {
	if len(s) > 253+1 {
		return 254
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			if i == 0 || s[i-1] == '.' {
				return i
			}
		default:
			return i
		}
	}
	if s[0] == '-' {
		return 0
	}
	return -1
}

func tgtFamily(sp *tgtSpec, o *TargetOptions, exclude bool, off int) error {
	if exclude || o.Family == 0 {
		return nil
	}
	a := sp.addr
	if sp.kind == tgtPrefix {
		a = sp.prefix.Addr()
	}
	if sp.kind == tgtOctets || a.Is4() {
		if o.Family == 6 {
			return tgtErr(sp.spec, off, "IPv4 target with family 6", exclude)
		}
	} else if o.Family == 4 {
		return tgtErr(sp.spec, off, "IPv6 target with family 4", exclude)
	}
	return nil
}

// tgtParseOctets parses nmap's IPv4 octet-range grammar.
func tgtParseOctets(s string, o *TargetOptions, exclude bool) (tgtSpec, error) {
	sp := tgtSpec{spec: s, kind: tgtOctets}
	pos := 0
	for oi := range 4 {
		end := strings.IndexByte(s[pos:], '.')
		if oi == 3 {
			if end >= 0 {
				return sp, tgtErr(s, pos+end, "more than four octets", exclude)
			}
			end = len(s)
		} else if end < 0 {
			return sp, tgtErr(s, len(s), "fewer than four octets", exclude)
		} else {
			end += pos
		}
		if err := tgtParseOctet(s, pos, end, &sp.oct[oi], exclude); err != nil {
			return sp, err
		}
		pos = end + 1
	}
	return sp, tgtFamily(&sp, o, exclude, 0)
}

// tgtParseOctet parses s[pos:end], one octet: "*" or a comma list of
// n, a-b, -b, a- and "-".
func tgtParseOctet(s string, pos, end int, set *[4]uint64, exclude bool) error {
	if pos == end {
		return tgtErr(s, pos, "empty octet", exclude)
	}
	if s[pos:end] == "*" {
		tgtSetRange(set, 0, 255)
		return nil
	}
	for pos <= end {
		ie := strings.IndexByte(s[pos:end], ',')
		if ie < 0 {
			ie = end
		} else {
			ie += pos
		}
		item := s[pos:ie]
		if item == "" {
			return tgtErr(s, pos, "empty item in octet list", exclude)
		}
		lo, hi := 0, 255
		dash := strings.IndexByte(item, '-')
		var err error
		switch {
		case dash < 0:
			lo, err = tgtOctetNum(s, pos, item, exclude)
			hi = lo
		default:
			if dash > 0 {
				if lo, err = tgtOctetNum(s, pos, item[:dash], exclude); err != nil {
					return err
				}
			}
			if dash < len(item)-1 {
				hi, err = tgtOctetNum(s, pos+dash+1, item[dash+1:], exclude)
			}
			if err == nil && lo > hi {
				err = tgtErr(s, pos, "octet range runs backwards", exclude)
			}
		}
		if err != nil {
			return err
		}
		tgtSetRange(set, lo, hi)
		pos = ie + 1
	}
	return nil
}

func tgtOctetNum(s string, pos int, item string, exclude bool) (int, error) {
	if item == "" || len(item) > 3 || strings.Trim(item, "0123456789") != "" {
		return 0, tgtErr(s, pos, "bad octet", exclude)
	}
	n, _ := strconv.Atoi(item)
	if n > 255 {
		return 0, tgtErr(s, pos, "octet out of range 0-255", exclude)
	}
	return n, nil
}

// tgtResolve looks up a host spec: all its addresses when all is set or
// o.AllAddrs, else the preferred one (see TargetOptions.AllAddrs).
func tgtResolve(ctx context.Context, o *TargetOptions, sp *tgtSpec, all bool) ([]netip.Addr, error) {
	network := "ip"
	if !all {
		switch o.Family {
		case 4:
			network = "ip4"
		case 6:
			network = "ip6"
		}
	}
	got, err := o.Resolver.LookupNetIP(ctx, network, sp.host)
	var addrs []netip.Addr
	for _, a := range got {
		a = a.Unmap()
		if !a.IsValid() || (!all && (o.Family == 4 && !a.Is4() || o.Family == 6 && !a.Is6())) {
			continue
		}
		dup := false
		for _, b := range addrs {
			dup = dup || a == b
		}
		if !dup {
			addrs = append(addrs, a)
		}
	}
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &TargetError{Spec: sp.spec, Pos: -1, Msg: "unknown host", Err: err}
	}
	if all || o.AllAddrs {
		return addrs, nil
	}
	for _, a := range addrs {
		if a.Is4() {
			return []netip.Addr{a}, nil
		}
	}
	return addrs[:1], nil
}

// tgtExclusions is the parsed and resolved TargetOptions.Exclude.
type tgtExclusions []tgtSpec

func tgtExcluder(ctx context.Context, o *TargetOptions) (tgtExclusions, error) {
	var ex tgtExclusions
	for _, s := range o.Exclude {
		sp, err := tgtParse(s, o, true)
		if err != nil {
			return nil, err
		}
		if sp.kind != tgtHost {
			ex = append(ex, sp)
			continue
		}
		addrs, err := tgtResolve(ctx, o, &sp, true)
		if err != nil {
			if te, ok := err.(*TargetError); ok {
				te.Exclude = true
			}
			return nil, err
		}
		for _, a := range addrs {
			ex = append(ex, tgtSpec{spec: s, kind: tgtAddr, addr: a})
		}
	}
	return ex, nil
}

func (ex tgtExclusions) excludes(a netip.Addr) bool {
	for i := range ex {
		if ex[i].contains(a) {
			return true
		}
	}
	return false
}
