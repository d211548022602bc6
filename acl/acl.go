// Package acl decides who may use a listener and where a proxy may
// connect to.
//
// A List is a source allow-list (Deny wins, then Allow; an empty Allow
// permits nothing). A Policy is a destination policy for proxies and
// mappings whose destinations users choose: it denies loopback, private,
// link-local, CGNAT, unique-local, multicast and other non-global
// addresses, including their IPv4-mapped, IPv4-compatible, NAT64, 6to4
// and Teredo forms, unless an Allow prefix covers them. A Dialer applies
// a Policy to the resolved IP at connect time, so a host name that
// resolves (or re-resolves, DNS rebinding) to a denied address is refused.
//
// The package uses only the standard library and does no I/O of its own
// except through Dialer.
package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// List is a source allow-list. The zero value (and a nil *List) permits
// nothing.
type List struct {
	Allow []netip.Prefix // addresses permitted, unless Deny covers them
	Deny  []netip.Prefix // addresses refused even if Allow covers them
}

// Permit reports whether a may use the listener: false if a Deny prefix
// covers it, else true if an Allow prefix covers it. IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers)
// are unmapped before matching, and the zone is ignored. An invalid
// address is never permitted.
func (l *List) Permit(a netip.Addr) bool {
	if l == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	if covers(l.Deny, a) {
		return false
	}
	return covers(l.Allow, a)
}

func covers(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ErrBadPrefix is wrapped by the errors of ParsePrefix and ParseList.
var ErrBadPrefix = errors.New("invalid CIDR prefix")

// ParsePrefix parses a CIDR prefix ("192.168.1.0/24", "fd00::/8") or a
// bare address, which means /32 for IPv4 and /128 for IPv6. An IPv4-mapped
// IPv6 address or prefix is unmapped. Host bits must be zero, so a typo
// such as 192.168.1.1/24 is reported instead of silently widened. Zones
// are refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return netip.Prefix{}, fmt.Errorf("%w %q: empty", ErrBadPrefix, s)
	}
	if !strings.Contains(t, "/") {
		a, err := netip.ParseAddr(t)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w %q: not an address or prefix", ErrBadPrefix, s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%w %q: zones are not allowed", ErrBadPrefix, s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(t)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w %q: %s", ErrBadPrefix, s, netipDetail(err))
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%w %q: host bits set (did you mean %s?)", ErrBadPrefix, s, p.Masked())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%w %q: IPv4-mapped prefix shorter than /96", ErrBadPrefix, s)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// netipDetail is what a net/netip parse error says without the Go calls
// it names: `netip.ParsePrefix("300.0.0.0/8"): ParseAddr("300.0.0.0"):
// IPv4 field has value >255` becomes "IPv4 field has value >255".
func netipDetail(err error) string {
	msg := err.Error()
	for strings.HasPrefix(msg, "netip.Parse") || strings.HasPrefix(msg, "Parse") {
		i := strings.Index(msg, "\"): ")
		if i < 0 {
			break
		}
		msg = msg[i+len("\"): "):]
	}
	return msg
}

// ParseList parses the allow and deny prefixes of a List (see
// ParsePrefix). The error names the first bad entry.
func ParseList(allow, deny []string) (*List, error) {
	l := &List{}
	for _, s := range allow {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("allow: %w", err)
		}
		l.Allow = append(l.Allow, p)
	}
	for _, s := range deny {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("deny: %w", err)
		}
		l.Deny = append(l.Deny, p)
	}
	return l, nil
}
