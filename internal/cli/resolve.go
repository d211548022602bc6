package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/internal/cfgfile"
)

// The tables of Ethernet addresses and of networks by name that "ether
// host NAME" and "net NAME" read, as tcpdump's (the C library's
// ether_hostton and getnetbyname).
const (
	ethersPath   = "/etc/ethers"
	networksPath = "/etc/networks"
)

// lookupTimeout bounds one host name lookup of a filter.
const lookupTimeout = 10 * time.Second

// newFilterResolver returns what looks up the host names of a filter;
// tests replace it, so that they never use the machine's resolver.
var newFilterResolver = func() filter.Resolver { return &systemResolver{} }

// systemResolver looks host names up as tcpdump does: through the
// system's resolver (which reads /etc/hosts first), and Ethernet
// addresses in /etc/ethers and networks in /etc/networks, read on the
// first name that needs them.
type systemResolver struct {
	once   sync.Once
	tables *filter.Hosts
	err    error
}

func (r *systemResolver) LookupHost(name string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, fmt.Errorf("%w '%s'", filter.ErrUnknownHost, name)
		}
		return nil, fmt.Errorf("%w '%s': %v", filter.ErrUnknownHost, name, err)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

func (r *systemResolver) LookupEther(name string) ([6]byte, error) {
	if err := r.load(); err != nil {
		return [6]byte{}, err
	}
	return r.tables.LookupEther(name)
}

func (r *systemResolver) LookupNetwork(name string) (uint32, error) {
	if err := r.load(); err != nil {
		return 0, err
	}
	return r.tables.LookupNetwork(name)
}

// load reads /etc/ethers and /etc/networks, once; a missing file is an
// empty table.
func (r *systemResolver) load() error {
	r.once.Do(func() {
		var files [2]io.Reader
		for i, path := range []string{ethersPath, networksPath} {
			b, err := cfgfile.Read(path, filter.MaxHostsSize)
			switch {
			case errors.Is(err, os.ErrNotExist):
			case err != nil:
				r.err = err
				return
			default:
				files[i] = bytes.NewReader(b)
			}
		}
		r.tables, r.err = filter.ReadHosts(nil, files[0], files[1])
	})
	return r.err
}
