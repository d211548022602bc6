package socktable

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/portkit/ports"
)

// AddrFilter matches one end of a socket by address prefix, port range,
// or both: what ss's `src` and `dst` expressions take. The zero value
// matches any endpoint.
//
// An IPv4 prefix also matches IPv4-mapped addresses (::ffff:a.b.c.d) of
// IPv6 sockets, as the kernel's inet_diag filter does; an IPv6 prefix
// matches IPv6 sockets only.
type AddrFilter struct {
	Prefix netip.Prefix // the zero Prefix: any address
	Ports  ports.Range  // the zero Range (0-0): any port
}

// AddrFilterError is an address filter that does not parse.
type AddrFilterError struct {
	Input string
	Msg   string
}

func (e *AddrFilterError) Error() string {
	return fmt.Sprintf("address filter %q: %s", e.Input, e.Msg)
}

// ParseAddrFilter parses an address filter: an address or CIDR prefix
// with an optional port or port range, as
//
//	127.0.0.1   10.0.0.0/8   10.0.0.1:80   10.0.0.0/8:8000-8100
//	::1   fd00::/8   [::1]:80   [fd00::]/8:443   [fd00::/8]:443
//	:22   *:22   (any address)
//
// An address without a prefix length is a single host (/32 or /128); the
// host bits of a prefix are ignored (10.1.2.3/8 is 10.0.0.0/8). Names are
// not resolved and zones are not accepted.
func ParseAddrFilter(s string) (AddrFilter, error) {
	bad := func(format string, args ...any) (AddrFilter, error) {
		return AddrFilter{}, &AddrFilterError{Input: s, Msg: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("empty; want an address, a CIDR prefix or ADDR:PORT")
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("missing ']'")
		}
		host, port = s[1:end], s[end+1:]
		if strings.HasPrefix(port, "/") { // [fd00::]/8:443
			bits, rest, _ := strings.Cut(port[1:], ":")
			host += "/" + bits
			if rest != "" || strings.Contains(port, ":") {
				port = ":" + rest
			} else {
				port = ""
			}
		}
		if port != "" {
			if !strings.HasPrefix(port, ":") {
				return bad("unexpected %q after ']'", port)
			}
			port = port[1:]
			if port == "" {
				return bad("missing port after ':'")
			}
		}
	case strings.Count(s, ":") > 1: // a bare IPv6 address or prefix
	case strings.Contains(s, ":"):
		host, port, _ = strings.Cut(s, ":")
		if port == "" {
			return bad("missing port after ':'")
		}
	}
	var f AddrFilter
	if port != "" {
		r, err := ports.ParseRange(port)
		if err != nil {
			return bad("bad port %q: want a number 0-65535 or a range such as 8000-8100", port)
		}
		if r == (ports.Range{}) {
			return bad("port 0 cannot be filtered on")
		}
		f.Ports = r
	}
	if host == "" || host == "*" {
		if port == "" {
			return bad("no address and no port")
		}
		return f, nil
	}
	if strings.Contains(host, "%") {
		return bad("zones are not supported")
	}
	if strings.Contains(host, "/") {
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return bad("not a CIDR prefix (want 10.0.0.0/8 or fd00::/8)")
		}
		f.Prefix = p.Masked()
		return f, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return bad("not an IP address (names are not resolved)")
	}
	f.Prefix = netip.PrefixFrom(a, a.BitLen())
	return f, nil
}

// String returns the filter in ParseAddrFilter's syntax.
func (f AddrFilter) String() string {
	var b strings.Builder
	switch {
	case !f.Prefix.IsValid():
		b.WriteString("*")
	case f.Prefix.Addr().Is6() && f.Ports != (ports.Range{}):
		b.WriteString("[" + f.Prefix.Addr().String() + "]")
		if f.Prefix.Bits() != 128 {
			fmt.Fprintf(&b, "/%d", f.Prefix.Bits())
		}
	case f.Prefix.IsSingleIP():
		b.WriteString(f.Prefix.Addr().String())
	default:
		b.WriteString(f.Prefix.String())
	}
	if f.Ports != (ports.Range{}) {
		b.WriteString(":" + f.Ports.String())
	}
	return b.String()
}

// Match reports whether ap passes f.
func (f AddrFilter) Match(ap netip.AddrPort) bool {
	if f.Ports != (ports.Range{}) && !f.Ports.Contains(ports.Port(ap.Port())) {
		return false
	}
	if !f.Prefix.IsValid() {
		return true
	}
	a := ap.Addr()
	if f.Prefix.Addr().Is4() && a.Is4In6() {
		a = a.Unmap()
	}
	return f.Prefix.Contains(a)
}

// matchAny reports whether ap passes one of fs (any, if fs is empty).
func matchAny(fs []AddrFilter, ap netip.AddrPort) bool {
	if len(fs) == 0 {
		return true
	}
	for _, f := range fs {
		if f.Match(ap) {
			return true
		}
	}
	return false
}
