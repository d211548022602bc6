package acl

import (
	"errors"
	"net/netip"
	"sync"
)

// ErrDenied is matched (errors.Is) by every *DeniedError.
var ErrDenied = errors.New("destination not allowed")

// DeniedError reports a destination that a Policy refuses.
type DeniedError struct {
	Addr   netip.Addr // the refused address
	Reason string     // why: "loopback", "private (RFC 1918)", "IPv4-mapped loopback", ...
}

func (e *DeniedError) Error() string {
	return "destination " + e.Addr.String() + " not allowed: " + e.Reason
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Policy is a destination policy. The zero value (and a nil *Policy)
// permits only global unicast addresses.
type Policy struct {
	// Allow lists prefixes permitted although they are not global
	// (127.0.0.0/8 to reach local services, 10.0.0.0/8, ...). A prefix
	// covers an address if it contains the address, its unmapped IPv4
	// form, or (for IPv6 forms that embed an IPv4 address: compatible,
	// NAT64 64:ff9b::/96, 6to4, Teredo) the embedded IPv4 address.
	Allow []netip.Prefix
}

type special struct {
	p      netip.Prefix
	reason string
}

func mp(s string) netip.Prefix { return netip.MustParsePrefix(s) }

type specialTables struct {
	v4, v6                []special
	nat64, sixTo4, teredo netip.Prefix
	global6               netip.Prefix
}

// tables holds the non-global ranges of the IANA special-purpose
// registries that a proxy must not reach by default, built at first use.
var tables = sync.OnceValue(func() *specialTables {
	s4 := []special{
		{mp("0.0.0.0/8"), "unspecified (\"this network\", 0.0.0.0/8)"},
		{mp("10.0.0.0/8"), "private (RFC 1918)"},
		{mp("100.64.0.0/10"), "shared address space (CGNAT, 100.64.0.0/10)"},
		{mp("127.0.0.0/8"), "loopback"},
		{mp("169.254.0.0/16"), "link-local"},
		{mp("172.16.0.0/12"), "private (RFC 1918)"},
		{mp("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"},
		{mp("192.0.2.0/24"), "documentation (TEST-NET-1)"},
		{mp("192.88.99.0/24"), "6to4 relay anycast (deprecated)"},
		{mp("192.168.0.0/16"), "private (RFC 1918)"},
		{mp("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"},
		{mp("198.51.100.0/24"), "documentation (TEST-NET-2)"},
		{mp("203.0.113.0/24"), "documentation (TEST-NET-3)"},
		{mp("224.0.0.0/4"), "multicast"},
		{mp("255.255.255.255/32"), "broadcast"},
		{mp("240.0.0.0/4"), "reserved (240.0.0.0/4)"},
	}
	s6 := []special{
		{mp("::/128"), "unspecified"},
		{mp("::1/128"), "loopback"},
		{mp("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"},
		{mp("100::/64"), "discard-only (100::/64)"},
		{mp("2001:2::/48"), "benchmarking (2001:2::/48)"},
		{mp("2001:10::/28"), "ORCHID (deprecated)"},
		{mp("2001:20::/28"), "ORCHIDv2"},
		{mp("2001:db8::/32"), "documentation (2001:db8::/32)"},
		{mp("3fff::/20"), "documentation (3fff::/20)"},
		{mp("5f00::/16"), "segment routing SIDs (5f00::/16)"},
		{mp("fc00::/7"), "unique local (ULA, fc00::/7)"},
		{mp("fe80::/10"), "link-local"},
		{mp("fec0::/10"), "site-local (deprecated)"},
		{mp("ff00::/8"), "multicast"},
	}
	return &specialTables{v4: s4, v6: s6, nat64: mp("64:ff9b::/96"), sixTo4: mp("2002::/16"),
		teredo: mp("2001::/32"), global6: mp("2000::/3")}
})

// embedded returns the IPv4 address that an IPv6 transition form carries
// and the form's name, or ok false.
func embedded(t *specialTables, a netip.Addr) (v4 netip.Addr, form string, ok bool) {
	b := a.As16()
	switch {
	case a.Is4In6():
		return a.Unmap(), "IPv4-mapped", true
	case [12]byte(b[:12]) == [12]byte{}:
		// ::a.b.c.d, IPv4-compatible (deprecated); :: and ::1 are
		// handled before this is called.
		return netip.AddrFrom4([4]byte(b[12:])), "IPv4-compatible", true
	case t.nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:])), "NAT64", true
	case t.sixTo4.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4", true
	case t.teredo.Contains(a):
		// Teredo: the client's IPv4 address is the last 32 bits,
		// inverted.
		c := [4]byte(b[12:])
		for i := range c {
			c[i] ^= 0xff
		}
		return netip.AddrFrom4(c), "Teredo", true
	}
	return netip.Addr{}, "", false
}

// Check returns nil if the policy permits a as a destination, or a
// *DeniedError saying why not. The zone is ignored. An invalid
// (zero) address is denied.
func (p *Policy) Check(a netip.Addr) error {
	if !a.IsValid() {
		return &DeniedError{Addr: a, Reason: "invalid address"}
	}
	a = a.WithZone("")
	var allow []netip.Prefix
	if p != nil {
		allow = p.Allow
	}
	if covers(allow, a) || covers(allow, a.Unmap()) {
		return nil
	}
	reason := classify(a, allow)
	if reason == "" {
		return nil
	}
	return &DeniedError{Addr: a, Reason: reason}
}

// classify returns why a is not a permitted destination, or "".
func classify(a netip.Addr, allow []netip.Prefix) string {
	t := tables()
	if a.Is4() {
		for _, s := range t.v4 {
			if s.p.Contains(a) {
				return s.reason
			}
		}
		return ""
	}
	for _, s := range t.v6 {
		if s.p.Contains(a) {
			return s.reason
		}
	}
	if v4, form, ok := embedded(t, a); ok {
		if covers(allow, v4) {
			return ""
		}
		if r := classify(v4, allow); r != "" {
			return form + " " + r
		}
		switch form {
		case "IPv4-compatible":
			return "IPv4-compatible (deprecated)"
		case "IPv4-mapped", "NAT64":
			return "" // reaches the global IPv4 address it carries
		}
	}
	if !t.global6.Contains(a) {
		return "not global unicast (outside 2000::/3)"
	}
	return ""
}
