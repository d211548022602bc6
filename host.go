package ports

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadAddress is wrapped by the error of [ParseHost] for a host written
// like an IP address that is not one: "300.1.1.1", "1.2.3", "10.0.0.256",
// "::gg". Such a host is a mistake to report, never a name to look up:
// the system resolver would send it to DNS (or, worse, read "1.2.3" as
// 1.2.0.3, as inet_aton does).
var ErrBadAddress = errors.New("not a valid IP address")

// ParseHost classifies a host as a user wrote it (no port, no brackets):
//
//   - an IP address literal: the address (IPv4-mapped IPv6 unmapped,
//     a zone kept) and nil;
//   - a host name to look up: the zero Addr and nil;
//   - anything else: a *ParseError (What "host"). For a host shaped like
//     an address, it wraps ErrBadAddress.
//
// A host is shaped like an address when it holds a ':' (host names never
// do: an IPv6 address), or when its last dot-separated label is a number
// (decimal, or hex with 0x), which is how the WHATWG URL standard tells
// an IPv4 host from a domain name (no top-level domain is numeric). So
// "1.2.3", "300.1.1.1", "0x7f.1" and "127.1" are refused, while
// "3com.example" and "1password.com" are names.
func ParseHost(s string) (netip.Addr, error) {
	errf := func(pos int, msg string, err error) error {
		return &ParseError{What: "host", Input: s, Pos: pos, Msg: msg, Err: err}
	}
	if s == "" {
		return netip.Addr{}, errf(-1, "empty", nil)
	}
	if strings.IndexByte(s, ':') >= 0 {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return netip.Addr{}, errf(-1, "not an IPv6 address", ErrBadAddress)
		}
		return a.Unmap(), nil
	}
	if endsInNumber(s) {
		if pos, msg := checkDottedQuad(s); msg != "" {
			return netip.Addr{}, errf(pos, "not an IPv4 address: "+msg, ErrBadAddress)
		}
		return netip.MustParseAddr(s), nil
	}
	if err := checkHostName(s); err != nil {
		return netip.Addr{}, errf(-1, "not a host name or address", nil)
	}
	return netip.Addr{}, nil
}

// endsInNumber reports whether the last label of s (a trailing dot
// aside) is all digits, or 0x and hex digits: WHATWG's "ends in a number".
func endsInNumber(s string) bool {
	s = strings.TrimSuffix(s, ".")
	last := s[strings.LastIndexByte(s, '.')+1:]
	if last == "" {
		return false
	}
	if strings.Trim(last, "0123456789") == "" {
		return true
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		return strings.Trim(last[2:], "0123456789abcdefABCDEF") == ""
	}
	return false
}

// checkDottedQuad checks that s is four decimal octets 0-255 without
// leading zeros, and otherwise returns where and what is wrong in the
// user's words.
func checkDottedQuad(s string) (int, string) {
	labels := strings.Split(s, ".")
	pos := 0
	for i, l := range labels {
		switch {
		case i == 4:
			return pos - 1, "more than four numbers"
		case l == "":
			return pos, "empty number between dots"
		case strings.Trim(l, "0123456789") != "":
			return pos, strconv.Quote(l) + " is not a decimal number"
		case len(l) > 1 && l[0] == '0':
			return pos, strconv.Quote(l) + " has a leading zero"
		}
		if n, err := strconv.Atoi(l); err != nil || n > 255 {
			return pos, l + " is out of range 0-255"
		}
		pos += len(l) + 1
	}
	if len(labels) < 4 {
		return -1, "want four numbers separated by dots, such as 192.0.2.1"
	}
	return 0, ""
}
