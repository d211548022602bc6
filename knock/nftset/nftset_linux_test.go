package nftset_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/nftset"
)

// TestIntegrationAdd adds an address with a timeout to a set made with
// the real nft inside a test namespace, and reads it back with nft.
func TestIntegrationAdd(t *testing.T) {
	p := porttest.NewPair(t, nil)
	nftCmd := func(args ...string) string {
		t.Helper()
		out, err := p.B.Command(context.Background(), "nft", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	nftCmd("add", "table", "inet", "knocktest")
	nftCmd("add", "set", "inet", "knocktest", "knocked", "{ type ipv4_addr; flags timeout; }")
	nftCmd("add", "set", "inet", "knocktest", "plain", "{ type ipv4_addr; }")

	var s *nftset.Set
	err := p.B.Do(func() error {
		var err error
		s, err = nftset.Open(nftset.Name{Family: "inet", Table: "knocktest", Set: "knocked"})
		return err
	})
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("needs CAP_NET_ADMIN: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add(p.A.Addr4, time.Hour); err != nil {
		t.Fatal(err)
	}
	out := nftCmd("list", "set", "inet", "knocktest", "knocked")
	if !strings.Contains(out, p.A.Addr4.String()+" timeout 1h") {
		t.Errorf("nft list set does not show %s with a 1h timeout:\n%s", p.A.Addr4, out)
	}
	if err := s.Add(p.A.Addr6, time.Hour); err == nil {
		t.Error("an IPv6 address was added to an ipv4_addr set")
	}

	err = p.B.Do(func() error {
		_, err := nftset.Open(nftset.Name{Family: "inet", Table: "knocktest", Set: "plain"})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "no timeout flag") {
		t.Errorf("a set without the timeout flag: %v", err)
	}
	err = p.B.Do(func() error {
		_, err := nftset.Open(nftset.Name{Family: "inet", Table: "knocktest", Set: "missing"})
		return err
	})
	if err == nil {
		t.Error("opened a set that does not exist")
	}
}
