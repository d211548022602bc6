package knock_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/knock"
)

// noDNS is a resolver whose every query fails, counting the tries: a
// test that expects no lookup checks that the count stays 0.
func noDNS(n *int) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		*n++
		return nil, errors.New("test: no DNS here")
	}}
}

// TestResolveAddressShapedNoLookup: a host written like an address that
// is not one is refused before any DNS query (13.9: "ports knock
// 300.1.1.1 7000" said "lookup 300.1.1.1: no such host").
func TestResolveAddressShapedNoLookup(t *testing.T) {
	for _, host := range []string{"300.1.1.1", "1.2.3", "10.0.0.256", "::gg", "0x7f.0.0.1"} {
		queries := 0
		_, err := knock.Resolve(t.Context(), host, "ip", noDNS(&queries))
		if !errors.Is(err, ports.ErrBadAddress) {
			t.Errorf("Resolve(%q) = %v, want ErrBadAddress", host, err)
		}
		if queries != 0 {
			t.Errorf("Resolve(%q) asked DNS %d times", host, queries)
		}
	}
	// The seam works: a name is looked up.
	queries := 0
	if _, err := knock.Resolve(t.Context(), "knock.invalid", "ip", noDNS(&queries)); err == nil || queries == 0 {
		t.Errorf("Resolve(a name) = %v after %d queries: the test resolver is not used", err, queries)
	}
}
