package filter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Config holds the options of [ParseConfig]. A nil *Config, or the zero
// Config, is what [Parse] uses.
type Config struct {
	// Resolver looks up the host names in host, src, dst, ether host
	// and gateway primitives. With none, a host name is an error.
	Resolver Resolver
}

// A Resolver gives the addresses of the host names in a filter. As in
// tcpdump, names are looked up once, when the filter is parsed, and the
// [Expr] holds the addresses.
type Resolver interface {
	// LookupHost returns the IPv4 and IPv6 addresses of name, in the
	// order in which the filter tests them. An error, or no address,
	// makes the filter an error.
	LookupHost(name string) ([]netip.Addr, error)
	// LookupEther returns the Ethernet address of name, as
	// /etc/ethers gives it.
	LookupEther(name string) ([6]byte, error)
}

// A NetworkResolver is a Resolver that also knows network names
// ("net NAME"), as /etc/networks lists them.
type NetworkResolver interface {
	Resolver
	// LookupNetwork returns the network number of name, right-aligned
	// as /etc/networks writes it (192.168 is 0xc0a8); the filter aligns
	// it left, as tcpdump does ("net 192.168").
	LookupNetwork(name string) (uint32, error)
}

// ErrUnknownHost is wrapped by the error for a host name the Resolver
// does not know, and by a Resolver's own error for one.
var ErrUnknownHost = errors.New("unknown host")

// MaxHostsSize is the most that ReadHosts reads from each of its
// readers.
const MaxHostsSize = 8 << 20

// Hosts is a [Resolver] over tables in the formats of /etc/hosts (an
// address, then its names) and /etc/ethers (an Ethernet address, then
// a name). Names are compared without regard to case, as the C
// library does; a name listed with several addresses has them all, in
// the order of the file. A Hosts never changes once read, and may be
// used from several goroutines at once.
type Hosts struct {
	addrs    map[string][]netip.Addr
	ethers   map[string][6]byte
	networks map[string]uint32
}

// ReadHosts reads a hosts table from hosts, an ethers table from ethers
// and a networks table (a name, then a network number such as 192.168,
// then aliases) from networks; any may be nil. Lines may have comments
// after '#'; a line whose address does not parse, and an address with a
// zone, are skipped, as the C library skips them. Reading more than
// MaxHostsSize bytes from any is an error.
func ReadHosts(hosts, ethers, networks io.Reader) (*Hosts, error) {
	h := &Hosts{addrs: map[string][]netip.Addr{}, ethers: map[string][6]byte{}, networks: map[string]uint32{}}
	err := eachLine(hosts, "hosts", func(fields []string) {
		a, err := netip.ParseAddr(fields[0])
		if err != nil || a.Zone() != "" || len(fields) < 2 {
			return
		}
		for _, name := range fields[1:] {
			k := strings.ToLower(name)
			h.addrs[k] = append(h.addrs[k], a)
		}
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(ethers, "ethers", func(fields []string) {
		m, ok := parseMAC(fields[0])
		if !ok || len(fields) < 2 {
			return
		}
		if k := strings.ToLower(fields[1]); !hasKey(h.ethers, k) {
			h.ethers[k] = m // the first line for a name counts
		}
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(networks, "networks", func(fields []string) {
		if len(fields) < 2 {
			return
		}
		v, _, ok := parseDotted(fields[1])
		if !ok {
			return
		}
		for _, name := range append(fields[:1:1], fields[2:]...) {
			if k := strings.ToLower(name); !hasKey(h.networks, k) {
				h.networks[k] = v
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// LookupNetwork returns the network number of name in the networks
// table.
func (h *Hosts) LookupNetwork(name string) (uint32, error) {
	if v, ok := h.networks[strings.ToLower(name)]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("unknown network '%s'", name)
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

// eachLine calls fn with the fields of each line of r that has any,
// comments removed.
func eachLine(r io.Reader, what string, fn func(fields []string)) error {
	if r == nil {
		return nil
	}
	lr := &io.LimitedReader{R: r, N: MaxHostsSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if f := strings.Fields(line); len(f) > 0 {
			fn(f)
		}
	}
	if lr.N <= 0 {
		return fmt.Errorf("filter: %s table larger than the limit of %d bytes", what, MaxHostsSize)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("filter: reading the %s table: %w", what, err)
	}
	return nil
}

// LookupHost returns the addresses of name in the hosts table.
func (h *Hosts) LookupHost(name string) ([]netip.Addr, error) {
	if a := h.addrs[strings.ToLower(name)]; len(a) > 0 {
		return append([]netip.Addr(nil), a...), nil
	}
	return nil, fmt.Errorf("%w '%s'", ErrUnknownHost, name)
}

// LookupEther returns the Ethernet address of name in the ethers table.
func (h *Hosts) LookupEther(name string) ([6]byte, error) {
	if m, ok := h.ethers[strings.ToLower(name)]; ok {
		return m, nil
	}
	return [6]byte{}, fmt.Errorf("%w '%s' in the ethers table", ErrUnknownHost, name)
}

// isHostName reports whether w can be a host name: labels of letters,
// digits, '-' and '_' joined by dots, with a letter somewhere (so that
// a malformed address is not looked up).
func isHostName(w string) bool {
	if w == "" || len(w) > 253 || w[0] == '.' || w[0] == '-' {
		return false
	}
	letter := false
	for i, c := range []byte(w) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.' && i > 0 && w[i-1] != '.':
		default:
			return false
		}
	}
	return letter
}
