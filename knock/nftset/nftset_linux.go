package nftset

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/google/nftables"
)

type linuxSet struct {
	mu   sync.Mutex
	conn *nftables.Conn
	set  *nftables.Set
	v6   bool
}

func open(n Name) (osImpl, error) {
	fam := map[string]nftables.TableFamily{"inet": nftables.TableFamilyINet, "ip": nftables.TableFamilyIPv4, "ip6": nftables.TableFamilyIPv6}[n.Family]
	// AsLasting opens the netlink socket now, in this thread's namespace.
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, err
	}
	set, err := conn.GetSetByName(&nftables.Table{Name: n.Table, Family: fam}, n.Set)
	if err != nil {
		conn.CloseLasting()
		return nil, err
	}
	s := &linuxSet{conn: conn, set: set}
	switch set.KeyType.Name {
	case nftables.TypeIPAddr.Name:
	case nftables.TypeIP6Addr.Name:
		s.v6 = true
	default:
		conn.CloseLasting()
		return nil, fmt.Errorf("the set holds %s, not ipv4_addr or ipv6_addr", set.KeyType.Name)
	}
	if !set.HasTimeout {
		conn.CloseLasting()
		return nil, fmt.Errorf("the set has no timeout flag (add it: flags timeout)")
	}
	return s, nil
}

func (s *linuxSet) add(addr netip.Addr, timeout time.Duration) error {
	var key []byte
	switch {
	case addr.Is4() && !s.v6:
		b := addr.As4()
		key = b[:]
	case addr.Is6() && s.v6:
		b := addr.As16()
		key = b[:]
	default:
		return fmt.Errorf("the set holds %s, not this address family", s.set.KeyType.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.conn.SetAddElements(s.set, []nftables.SetElement{{Key: key, Timeout: timeout}}); err != nil {
		return err
	}
	return s.conn.Flush()
}

func (s *linuxSet) close() error { return s.conn.CloseLasting() }
