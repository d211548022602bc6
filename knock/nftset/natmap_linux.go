package nftset

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/google/nftables"
)

type linuxNAT struct {
	mu   sync.Mutex
	conn *nftables.Conn
	set  *nftables.Set
}

const (
	natKeyType  = "ipv4_addr . inet_proto . inet_service"
	natDataType = "ipv4_addr . inet_service"
)

func openNAT(n Name) (natImpl, error) {
	fam := map[string]nftables.TableFamily{"inet": nftables.TableFamilyINet, "ip": nftables.TableFamilyIPv4, "ip6": nftables.TableFamilyIPv6}[n.Family]
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, err
	}
	set, err := conn.GetSetByName(&nftables.Table{Name: n.Table, Family: fam}, n.Set)
	if err != nil {
		conn.CloseLasting()
		return nil, err
	}
	switch {
	case !set.IsMap || set.KeyType.Name != natKeyType || set.DataType.Name != natDataType:
		err = fmt.Errorf("not a map of type %s : %s (it is %s : %s)", natKeyType, natDataType, set.KeyType.Name, set.DataType.Name)
	case !set.HasTimeout:
		err = fmt.Errorf("the map has no timeout flag (add it: flags timeout)")
	}
	if err != nil {
		conn.CloseLasting()
		return nil, err
	}
	return &linuxNAT{conn: conn, set: set}, nil
}

func (m *linuxNAT) add(src netip.Addr, proto uint8, port uint16, to netip.AddrPort, timeout time.Duration) error {
	// Concatenations pad each part to 4 bytes; ports are big-endian.
	key := make([]byte, 12)
	a := src.As4()
	copy(key, a[:])
	key[4] = proto
	binary.BigEndian.PutUint16(key[8:], port)
	val := make([]byte, 8)
	b := to.Addr().As4()
	copy(val, b[:])
	binary.BigEndian.PutUint16(val[4:], to.Port())
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.conn.SetAddElements(m.set, []nftables.SetElement{{Key: key, Val: val, Timeout: timeout}}); err != nil {
		return err
	}
	return m.conn.Flush()
}

func (m *linuxNAT) close() error { return m.conn.CloseLasting() }
