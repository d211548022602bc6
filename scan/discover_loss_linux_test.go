package scan

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// TestIntegrationDiscoverLinkLoss: 5% of the frames arriving at each
// veth are dropped at the device's ingress, ARP and neighbour discovery
// included (porttest's IP loss spares them, and then discovery on a link
// never loses a probe). Over three runs of discovery then a SYN scan
// (Run with DiscoverStage), every live host of a /24 and of a /120 is up
// and every open port open, and no absent host is up: silent hosts are
// asked again as silent ports are.
func TestIntegrationDiscoverLinkLoss(t *testing.T) {
	porttest.LookTool(t, "nft", "nftables")
	p := synPair(t, nil)
	set := portRange(1, 300)
	v4 := newSubnet(t, p, "10.77.0.0/24", []string{"10.77.0.2", "10.77.0.119", "10.77.0.200"}, 3, set)
	v6 := newSubnet(t, p, "fd77::/120", []string{"fd77::5", "fd77::c8"}, 3, set)
	var targets []Target
	live := map[netip.Addr]bool{}
	open := map[netip.AddrPort]bool{}
	for _, sn := range []*subnet{v4, v6} {
		for _, a := range sn.targets {
			targets = append(targets, Target{Addr: a})
		}
		for _, a := range sn.live {
			live[a] = true
		}
		for ap := range sn.open {
			open[ap] = true
		}
	}
	for _, h := range []*porttest.Host{p.A, p.B} {
		nft(t, h, fmt.Sprintf(`table netdev ports_test_loss {
	chain ingress {
		type filter hook ingress device %q priority 0; policy accept;
		meta protocol arp numgen random mod 1000 < 50 counter name arpdrops drop
		meta protocol != arp numgen random mod 1000 < 50 counter name otherdrops drop
	}
	counter arpdrops {}
	counter otherdrops {}
}`, h.Link))
	}
	// The loss was real: frames, ARP ones among them, were dropped.
	defer func() {
		for _, h := range []*porttest.Host{p.A, p.B} {
			for _, c := range []string{"arpdrops", "otherdrops"} {
				out, err := h.Command(t.Context(), "nft", "list", "counter", "netdev", "ports_test_loss", c).CombinedOutput()
				var n int
				if i := strings.Index(string(out), "packets "); err != nil || i < 0 {
					t.Errorf("nft list counter in %s: %v: %s", h.Name, err, out)
				} else if fmt.Sscan(string(out[i+len("packets "):]), &n); n == 0 && (c == "otherdrops" || h == p.B) {
					t.Errorf("%s: no %s frame dropped:\n%s", h.Name, c, out)
				}
			}
		}
	}()
	for run := range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
		plan := &Plan{Options: Options{Ports: set, OpenIn: p.A.Do}, TCP: EngineSYN,
			Discover: DiscoverStage(&DiscoverConfig{OpenIn: p.A.Do})}
		var up []netip.Addr
		found := 0
		for h, err := range Run(ctx, targets, plan) {
			if err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
			if h.State == HostUp {
				up = append(up, h.Addr)
				if !live[h.Addr] {
					t.Errorf("run %d: absent %v is up (%s)", run, h.Addr, h.Reason)
				}
			}
			for r := range h.Results() {
				if open[r.AddrPort()] && r.State != StateOpen {
					t.Logf("run %d: %v: %+v (host %s %s, unreachable %v)", run, r.AddrPort(), r, h.State, h.Reason, h.Unreachable)
				}
				if r.State != StateOpen {
					continue
				}
				if !open[r.AddrPort()] {
					t.Errorf("run %d: %v open, not a listener", run, r.AddrPort())
				}
				found++
			}
		}
		cancel()
		var want []netip.Addr
		for a := range live {
			want = append(want, a)
		}
		slices.SortFunc(want, netip.Addr.Compare)
		slices.SortFunc(up, netip.Addr.Compare)
		if !slices.Equal(up, want) {
			t.Errorf("run %d: up %v, want %v", run, up, want)
		}
		if found != len(open) {
			t.Logf("run %d: open: %v", run, open)
			t.Errorf("run %d: %d of the %d open ports found", run, found, len(open))
		}
	}
}
