package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/internal/cfgfile"
)

// ethersPath is the table of Ethernet addresses by name that "ether
// host NAME" reads, as tcpdump's (the C library's ether_hostton).
const ethersPath = "/etc/ethers"

// lookupTimeout bounds one host name lookup of a filter.
const lookupTimeout = 10 * time.Second

// newFilterResolver returns what looks up the host names of a filter;
// tests replace it, so that they never use the machine's resolver.
var newFilterResolver = func() filter.Resolver { return &systemResolver{} }

// systemResolver looks host names up as tcpdump does: through the
// system's resolver (which reads /etc/hosts first), and Ethernet
// addresses in /etc/ethers, read on the first "ether host NAME".
type systemResolver struct {
	once   sync.Once
	ethers *filter.Hosts
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
	r.once.Do(func() {
		b, err := cfgfile.Read(ethersPath, filter.MaxHostsSize)
		switch {
		case errors.Is(err, os.ErrNotExist):
			r.ethers, _ = filter.ReadHosts(nil, nil)
		case err != nil:
			r.err = err
		default:
			r.ethers, r.err = filter.ReadHosts(nil, bytes.NewReader(b))
		}
	})
	if r.err != nil {
		return [6]byte{}, r.err
	}
	return r.ethers.LookupEther(name)
}
