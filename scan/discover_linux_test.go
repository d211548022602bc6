package scan

import (
	"context"
	"encoding/xml"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// discover runs Discover from A and returns each target's result,
// failing on errors and on a target with no result or two.
func discover(t *testing.T, p *porttest.Pair, targets []netip.Addr, cfg *DiscoverConfig) map[netip.Addr]HostResult {
	t.Helper()
	cfg.OpenIn = p.A.Do
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	got := map[netip.Addr]HostResult{}
	for r, err := range Discover(ctx, targets, cfg) {
		if err != nil {
			t.Fatalf("discover: %v", err)
		}
		if _, dup := got[r.Addr]; dup {
			t.Fatalf("two results for %v", r.Addr)
		}
		got[r.Addr] = r
	}
	for _, a := range targets {
		if _, ok := got[a]; !ok {
			t.Errorf("no result for %v", a)
		}
	}
	return got
}

// upSet is the sorted addresses of the hosts up.
func upSet(got map[netip.Addr]HostResult) []netip.Addr {
	var up []netip.Addr
	for a, r := range got {
		if r.Up {
			up = append(up, a)
		}
	}
	slices.SortFunc(up, netip.Addr.Compare)
	return up
}

// nmapUp runs nmap with args in h and returns the addresses of the hosts
// up in its XML.
func nmapUp(t *testing.T, h *porttest.Host, args ...string) []netip.Addr {
	t.Helper()
	nmap := porttest.LookTool(t, "nmap", "nmap")
	out, err := h.Command(t.Context(), nmap, append([]string{"-n", "-oX", "-"}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if ok := asExit(err, &ee); ok {
			t.Fatalf("nmap %v: %v: %s", args, err, ee.Stderr)
		}
		t.Fatalf("nmap %v: %v", args, err)
	}
	var x struct {
		Hosts []struct {
			Status struct {
				State string `xml:"state,attr"`
			} `xml:"status"`
			Addrs []struct {
				Addr string `xml:"addr,attr"`
				Type string `xml:"addrtype,attr"`
			} `xml:"address"`
		} `xml:"host"`
	}
	if err := xml.Unmarshal(out, &x); err != nil {
		t.Fatalf("nmap XML: %v", err)
	}
	var up []netip.Addr
	for _, h := range x.Hosts {
		if h.Status.State != "up" {
			continue
		}
		for _, a := range h.Addrs {
			if a.Type == "ipv4" || a.Type == "ipv6" {
				up = append(up, netip.MustParseAddr(a.Addr))
			}
		}
	}
	slices.SortFunc(up, netip.Addr.Compare)
	return up
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

// linkMAC is the MAC address of h's veth.
func linkMAC(t *testing.T, h *porttest.Host) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	if err := h.Do(func() error {
		ifc, err := net.InterfaceByName(h.Link)
		if err == nil {
			mac = ifc.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// TestIntegrationDiscoverLink: a /24 (and a /120 of IPv6) on the link,
// with live hosts among absent ones, the network and broadcast
// addresses: ARP and NDP find exactly the live hosts, with B's MAC, and
// nmap -sn finds the same hosts in the same namespace; the broadcast
// address is down, "broadcast", without a probe.
func TestIntegrationDiscoverLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss float64
	}{{"lossless", 0}, {"loss5", 0.05}} {
		t.Run(tc.name, func(t *testing.T) {
			p := synPair(t, &porttest.PairConfig{Loss: tc.loss})
			v4 := newSubnet(t, p, "10.77.0.0/24", []string{"10.77.0.2", "10.77.0.119", "10.77.0.200"}, 0, portRange(1, 1))
			v6 := newSubnet(t, p, "fd77::/120", []string{"fd77::5", "fd77::c8"}, 0, portRange(1, 1))
			mac := linkMAC(t, p.B)
			for _, sn := range []*subnet{v4, v6} {
				var st DiscoverStats
				got := discover(t, p, sn.targets, &DiscoverConfig{Stats: &st})
				if up := upSet(got); !slices.Equal(up, sn.live) {
					t.Errorf("%v: up %v, want %v", sn.net, up, sn.live)
				}
				for _, a := range sn.live {
					r := got[a]
					want := ReasonARPResponse
					if a.Is6() {
						want = ReasonNDResponse
					}
					if r.Reason != want || r.MAC.String() != mac.String() {
						t.Errorf("%v: %+v, want %s from %v", a, r, want, mac)
					}
				}
				if sn.net.Addr().Is4() {
					if r := got[netip.MustParseAddr("10.77.0.255")]; r.Up || r.Reason != ReasonBroadcast {
						t.Errorf("broadcast: %+v", r)
					}
				}
				t.Logf("%v: stats %+v", sn.net, st)
				if tc.loss > 0 {
					continue // nmap's own retries are not what is tested
				}
				args := []string{"-sn", sn.net.String()}
				if sn.net.Addr().Is6() {
					args = append([]string{"-6"}, args...)
				}
				ref := nmapUp(t, p.A, args...)
				ref = slices.DeleteFunc(ref, func(a netip.Addr) bool { return a == sn.net.Addr().Next() }) // A's own
				if !slices.Equal(ref, sn.live) {
					t.Errorf("%v: nmap -sn finds %v up, want %v", sn.net, ref, sn.live)
				}
			}
		})
	}
}
