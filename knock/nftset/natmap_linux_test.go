package nftset_test

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/nftset"
)

// TestIntegrationNATMap: an element added to a NAT map made with the real
// nft, and used by a dnat rule, sends A's TCP connections to B's port on
// to C behind B; nft lists it; before it, the port is closed.
func TestIntegrationNATMap(t *testing.T) {
	p := porttest.NewPair(t, nil)
	bh := p.AddBehind(t)
	nftCmd := func(args ...string) string {
		t.Helper()
		out, err := p.B.Command(context.Background(), "nft", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	nftCmd("add", "table", "ip", "spatest")
	nftCmd("add", "map", "ip", "spatest", "nat", "{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; }")
	nftCmd("add", "map", "ip", "spatest", "plain", "{ type ipv4_addr : ipv4_addr; flags timeout; }")
	nftCmd("add", "chain", "ip", "spatest", "pre", "{ type nat hook prerouting priority dstnat; }")
	nftCmd("add", "rule", "ip", "spatest", "pre", "dnat", "ip", "to", "ip", "saddr", ".", "meta", "l4proto", ".", "th", "dport", "map", "@nat")

	ln, err := bh.C.Listen("tcp4", netip.AddrPortFrom(bh.C.Addr4, 2222).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "C here\n")
			c.Close()
		}
	}()
	dial := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := p.A.Dial(ctx, "tcp4", netip.AddrPortFrom(p.B.Addr4, 22).String())
		if err != nil {
			return "", err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		return string(b), err
	}
	if s, err := dial(); err == nil {
		t.Fatalf("before the element, B:22 answered %q", s)
	}

	var m *nftset.NATMap
	err = p.B.Do(func() error {
		var err error
		m, err = nftset.OpenNATMap(nftset.Name{Family: "ip", Table: "spatest", Set: "nat"})
		return err
	})
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("needs CAP_NET_ADMIN: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Add(p.A.Addr4, 6, 22, netip.AddrPortFrom(bh.C.Addr4, 2222), time.Hour); err != nil {
		t.Fatal(err)
	}
	want := p.A.Addr4.String() + " . tcp . 22 timeout 1h"
	if out := nftCmd("list", "map", "ip", "spatest", "nat"); !strings.Contains(out, want) || !strings.Contains(out, bh.C.Addr4.String()+" . 2222") {
		t.Errorf("nft list map does not show %q to %s . 2222:\n%s", want, bh.C.Addr4, out)
	}
	if s, err := dial(); err != nil || s != "C here\n" {
		t.Errorf("after the element, A to B:22 got %q, %v; want C's answer", s, err)
	}
	if err := m.Add(p.A.Addr6, 6, 22, netip.AddrPortFrom(bh.C.Addr4, 2222), time.Hour); err == nil {
		t.Error("an IPv6 source was added")
	}
	err = p.B.Do(func() error {
		_, err := nftset.OpenNATMap(nftset.Name{Family: "ip", Table: "spatest", Set: "plain"})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "not a map of type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service") {
		t.Errorf("a map of other types: %v", err)
	}
}
