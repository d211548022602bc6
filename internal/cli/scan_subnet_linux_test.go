package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
)

// subnetHosts is what one scan found: the hosts up and their open ports.
type subnetHosts map[netip.Addr][]uint16

// TestIntegrationScanSubnetAsNmap: a /24 and a /120 on the link, live
// hosts (addresses of B) with random open ports among absent ones, the
// network and broadcast addresses: -sS, -sT and -sn report exactly the
// live hosts and their open ports, as nmap does with the same options in
// the same namespace; -oJ has one host record per host and no closed
// port; -oX has runstats hosts up/down/total.
func TestIntegrationScanSubnetAsNmap(t *testing.T) {
	nmap := nmapTool(t)
	p := porttest.NewPair(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	want := subnetHosts{}
	for _, net := range []struct {
		prefix string
		a      string
		live   []string
	}{
		{"10.77.0.0/24", "10.77.0.1", []string{"10.77.0.2", "10.77.0.119", "10.77.0.200"}},
		{"fd77::/120", "fd77::1", []string{"fd77::5", "fd77::c8"}},
	} {
		var live []netip.Addr
		for _, l := range net.live {
			live = append(live, netip.MustParseAddr(l))
		}
		p.AddAddrs(t, netip.MustParsePrefix(net.prefix), netip.MustParseAddr(net.a), live...)
		for _, a := range live {
			for len(want[a]) < 3 {
				port := uint16(1 + rand.IntN(2000))
				if slices.Contains(want[a], port) {
					continue
				}
				l, err := p.B.Listen("tcp", netip.AddrPortFrom(a, port).String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				want[a] = append(want[a], port)
			}
			slices.Sort(want[a])
		}
	}
	inA := func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) }
	for _, tc := range []struct {
		v6   bool
		spec string
		self string
	}{{false, "10.77.0.0/24", "10.77.0.1"}, {true, "fd77::/120", "fd77::1"}} {
		for _, mode := range []string{"-sS", "-sT", "-sn"} {
			t.Run(tc.spec+mode, func(t *testing.T) {
				dir := t.TempDir()
				jf, xf := filepath.Join(dir, "o.json"), filepath.Join(dir, "o.xml")
				args := []string{"scan", mode, "-oJ", jf, "-oX", xf, "--exclude", tc.self, tc.spec}
				if mode != "-sn" {
					args = append(args[:2], append([]string{"-p", "1-2000"}, args[2:]...)...)
				}
				var stdout, stderr bytes.Buffer
				cmd := childCommand(t, inA, args...)
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("ports %v: %v: %s", args, err, stderr.String())
				}
				nargs := []string{"-n", mode, "--exclude", tc.self, "-oX", "-", tc.spec}
				if mode != "-sn" {
					nargs = append(nargs, "-p", "1-2000")
				}
				if tc.v6 {
					nargs = append([]string{"-6"}, nargs...)
				}
				ref, err := p.A.Command(ctx, nmap, nargs...).Output()
				if err != nil {
					t.Fatalf("nmap %v: %v", nargs, err)
				}
				theirs := nmapHosts(t, ref)
				ours := oJHosts(t, mustRead(t, jf))
				expect := subnetHosts{}
				for a, ps := range want {
					if a.Is6() == tc.v6 {
						expect[a] = ps
						if mode == "-sn" {
							expect[a] = nil
						}
					}
				}
				if !equalHosts(ours, expect) {
					t.Errorf("ours: %v, want %v\n%s", ours, expect, stdout.String())
				}
				if !equalHosts(theirs, expect) {
					t.Errorf("nmap %v: %v, want %v", nargs, theirs, expect)
				}
				var x struct {
					Hosts struct {
						Up    int `xml:"up,attr"`
						Down  int `xml:"down,attr"`
						Total int `xml:"total,attr"`
					} `xml:"runstats>hosts"`
				}
				if err := xml.Unmarshal(mustRead(t, xf), &x); err != nil {
					t.Fatal(err)
				}
				if x.Hosts.Up != len(expect) || x.Hosts.Total != 255 || x.Hosts.Down != 255-len(expect) {
					t.Errorf("-oX runstats %+v, want up %d of 255", x.Hosts, len(expect))
				}
				if !strings.Contains(stdout.String(), "hosts up of 255 scanned") {
					t.Errorf("no summary in:\n%s", stdout.String())
				}
			})
		}
	}
}

func equalHosts(a, b subnetHosts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// nmapHosts reads the hosts up, and their open ports, from nmap's XML.
func nmapHosts(t *testing.T, data []byte) subnetHosts {
	t.Helper()
	var x struct {
		Hosts []struct {
			Status struct {
				State string `xml:"state,attr"`
			} `xml:"status"`
			Addrs []struct {
				Addr string `xml:"addr,attr"`
				Type string `xml:"addrtype,attr"`
			} `xml:"address"`
			Ports []struct {
				ID    uint16 `xml:"portid,attr"`
				State struct {
					State string `xml:"state,attr"`
				} `xml:"state"`
			} `xml:"ports>port"`
		} `xml:"host"`
	}
	if err := xml.Unmarshal(data, &x); err != nil {
		t.Fatalf("nmap XML: %v", err)
	}
	got := subnetHosts{}
	for _, h := range x.Hosts {
		if h.Status.State != "up" {
			continue
		}
		var a netip.Addr
		for _, ad := range h.Addrs {
			if ad.Type != "mac" {
				a = netip.MustParseAddr(ad.Addr)
			}
		}
		var open []uint16
		for _, p := range h.Ports {
			if p.State.State == "open" {
				open = append(open, p.ID)
			}
		}
		slices.Sort(open)
		got[a] = open
	}
	return got
}

// oJHosts reads the hosts up and their open ports from -oJ, failing on
// a closed port line (-oJ writes what the listing shows) and on a host
// without its record.
func oJHosts(t *testing.T, data []byte) subnetHosts {
	t.Helper()
	got := subnetHosts{}
	records := map[netip.Addr]string{}
	var open []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var l struct {
			Record, Addr, State string
			Port                uint16
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("-oJ line %q: %v", sc.Text(), err)
		}
		a := netip.MustParseAddr(l.Addr)
		switch {
		case l.Record == "host":
			records[a] = l.State
		case l.State == "open":
			open = append(open, netip.AddrPortFrom(a, l.Port))
		default:
			t.Errorf("-oJ line without --all-states: %s", sc.Text())
		}
	}
	for a, st := range records {
		if st == "up" {
			got[a] = nil
		}
	}
	if len(records) != 255 {
		t.Errorf("%d host records in -oJ, want 255", len(records))
	}
	for _, ap := range open {
		if _, up := got[ap.Addr()]; !up {
			t.Errorf("open port %v of a host not up", ap)
		}
		got[ap.Addr()] = append(got[ap.Addr()], ap.Port())
	}
	for a := range got {
		slices.Sort(got[a])
	}
	return got
}
