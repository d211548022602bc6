// Package nftset adds addresses, with a timeout, to an existing nftables
// set, through netlink (github.com/google/nftables, pure Go): the way a
// knock or SPA gate opens the firewall for services that ports does not
// proxy. It needs Linux and CAP_NET_ADMIN; elsewhere Open returns
// ErrNotImplemented.
//
// The set is the administrator's, made beforehand with the timeout flag
// and used by a rule, for example:
//
//	nft add table inet filter
//	nft add set inet filter knocked '{ type ipv4_addr; flags timeout; }'
//	nft add rule inet filter input ip saddr @knocked tcp dport 22 accept
//
// This package never creates or deletes tables, sets or rules: it only
// adds elements, which the kernel removes when their timeout ends.
package nftset

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"
)

// ErrNotImplemented is returned by Open outside Linux. It wraps
// errors.ErrUnsupported.
var ErrNotImplemented = fmt.Errorf("nftset: nftables sets need linux, not %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Name names a set: its table's family ("inet", "ip" or "ip6"), table
// and set.
type Name struct {
	Family, Table, Set string
}

func (n Name) String() string { return n.Family + " " + n.Table + " " + n.Set }

// ParseName parses "FAMILY/TABLE/SET" ("inet/filter/knocked"), or
// "TABLE/SET" in the inet family.
func ParseName(s string) (Name, error) {
	parts := strings.Split(s, "/")
	switch len(parts) {
	case 2:
		parts = append([]string{"inet"}, parts...)
	case 3:
	default:
		return Name{}, fmt.Errorf("nftables set %q is not FAMILY/TABLE/SET", s)
	}
	n := Name{Family: parts[0], Table: parts[1], Set: parts[2]}
	switch n.Family {
	case "inet", "ip", "ip6":
	default:
		return Name{}, fmt.Errorf("nftables set %q: family %q is not inet, ip or ip6", s, n.Family)
	}
	if n.Table == "" || n.Set == "" {
		return Name{}, fmt.Errorf("nftables set %q: empty table or set name", s)
	}
	return n, nil
}

// Set is an open set. Its methods may be called from any goroutine.
type Set struct {
	name Name
	impl osImpl
}

type osImpl interface {
	add(addr netip.Addr, timeout time.Duration) error
	close() error
}

// Open opens the set n in the network namespace of the calling thread,
// checking that it exists, holds addresses and has the timeout flag.
func Open(n Name) (*Set, error) {
	impl, err := open(n)
	if err != nil {
		return nil, fmt.Errorf("nftset: %s: %w", n, err)
	}
	return &Set{name: n, impl: impl}, nil
}

// Add adds addr to the set for timeout (at least a millisecond; the
// kernel removes it then). Adding an address already there fails with
// an error from the kernel (EEXIST) unless its timeout ended.
func (s *Set) Add(addr netip.Addr, timeout time.Duration) error {
	if timeout < time.Millisecond {
		return fmt.Errorf("nftset: %s: timeout %v is under a millisecond", s.name, timeout)
	}
	if err := s.impl.add(addr.Unmap(), timeout); err != nil {
		return fmt.Errorf("nftset: %s: add %s: %w", s.name, addr, err)
	}
	return nil
}

// Close closes the netlink socket.
func (s *Set) Close() error { return s.impl.close() }
