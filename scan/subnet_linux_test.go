package scan

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// subnet is a /24 on the link between A and B: A is .1, B answers for
// the live addresses, and every other address is absent.
type subnet struct {
	p       *porttest.Pair
	net     netip.Prefix
	live    []netip.Addr
	open    map[netip.AddrPort]bool
	targets []netip.Addr // every address of net, network and broadcast included
}

func newSubnet(t *testing.T, p *porttest.Pair, prefix string, live []string, nopen int, set ports.Set) *subnet {
	t.Helper()
	sn := &subnet{p: p, net: netip.MustParsePrefix(prefix), open: map[netip.AddrPort]bool{}}
	for _, l := range live {
		sn.live = append(sn.live, netip.MustParseAddr(l))
	}
	sn.p.AddAddrs(t, sn.net, sn.net.Addr().Next(), sn.live...)
	plist := []uint16{}
	for q := range set.Ports(ports.ProtoTCP) {
		plist = append(plist, uint16(q))
	}
	for _, a := range sn.live {
		for k := 0; k < nopen; {
			ap := netip.AddrPortFrom(a, plist[rand.IntN(len(plist))])
			if sn.open[ap] {
				continue
			}
			l, err := p.B.Listen("tcp", ap.String())
			if err != nil {
				t.Fatalf("listen in B: %v", err)
			}
			t.Cleanup(func() { l.Close() })
			sn.open[ap] = true
			k++
		}
	}
	for a := sn.net.Addr(); sn.net.Contains(a); a = a.Next() {
		if a != sn.net.Addr().Next() { // A's own
			sn.targets = append(sn.targets, a)
		}
	}
	return sn
}

// TestIntegrationSYNSubnetAbsentHosts: a SYN scan of a whole /24 (-Pn:
// no discovery), two live hosts, the broadcast address and 251 absent
// hosts: the broadcast address is skipped, each absent host ends with
// one result for the host (host-unreach: ARP got no answer), never a
// line per port, and the live hosts' ports are exactly found.
func TestIntegrationSYNSubnetAbsentHosts(t *testing.T) {
	p := synPair(t, nil)
	set := portRange(1, 200)
	sn := newSubnet(t, p, "10.77.0.0/24", []string{"10.77.0.2", "10.77.0.119"}, 5, set)
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	var st SYNStats
	got := map[netip.AddrPort]Result{}
	hostRes := map[netip.Addr]*HostError{}
	for r, err := range SYNScan(ctx, sn.targets, &SYNConfig{Options: Options{Ports: set, OpenIn: p.A.Do}, Stats: &st}) {
		var he *HostError
		switch {
		case errors.As(err, &he):
			if r.Addr != he.Addr || r.Port != 0 {
				t.Errorf("host result %+v for %v", r, he)
			}
			if hostRes[he.Addr] != nil {
				t.Errorf("two host results for %v", he.Addr)
			}
			hostRes[he.Addr] = he
			continue
		case err != nil:
			t.Fatalf("scan: %v (%+v)", err, r)
		}
		got[r.AddrPort()] = r
	}
	bcast := netip.MustParseAddr("10.77.0.255")
	if e := hostRes[bcast]; e == nil || e.Reason != ReasonBroadcast || e.Describe() != "skipped: broadcast address" {
		t.Errorf("broadcast: %v, want skipped: broadcast address", e)
	}
	live := map[netip.Addr]bool{}
	for _, a := range sn.live {
		live[a] = true
		if e := hostRes[a]; e != nil {
			t.Errorf("live host %v: %v", a, e)
		}
	}
	perPort := map[netip.Addr]int{}
	for ap, r := range got {
		if !live[ap.Addr()] {
			perPort[ap.Addr()]++
			continue
		}
		want := "closed/reset"
		if sn.open[ap] {
			want = "open/syn-ack"
		}
		if s := r.State.String() + "/" + r.Reason; s != want {
			t.Errorf("%v: %s, want %s", ap, s, want)
		}
	}
	for _, a := range sn.live {
		for q := range set.Ports(ports.ProtoTCP) {
			if _, ok := got[netip.AddrPortFrom(a, uint16(q))]; !ok {
				t.Errorf("no result for %v port %d", a, q)
			}
		}
	}
	absent := 0
	for _, a := range sn.targets {
		if live[a] || a == bcast {
			continue
		}
		e := hostRes[a]
		switch {
		case e == nil:
			t.Errorf("absent host %v: no host result (%d port results)", a, perPort[a])
		case e.Reason != ReasonHostUnreach:
			t.Errorf("absent host %v: %v, want host-unreach", a, e)
		default:
			absent++
		}
		if n := perPort[a]; n > 0 && e != nil {
			t.Errorf("absent host %v: %d port results besides %v", a, n, e)
		}
	}
	t.Logf("%d absent hosts ended by host-unreach; stats %+v", absent, st)
}
