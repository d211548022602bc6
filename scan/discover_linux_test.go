package scan

import (
	"context"
	"encoding/xml"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/wire"
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

// TestIntegrationDiscoverOffLink: a /27 behind a router namespace (no
// default route anywhere), reached with 5% loss each way between the
// scanner and the router: the ICMP and TCP probes find the live hosts,
// among them one that drops ICMP but has port 443 open (up by its
// SYN-ACK); a host that drops every probe is down, and a SYN scan of it
// (-Pn) still finds its open port; absent hosts are down by the
// router's ICMP host unreachable. nmap -sn finds the same hosts up.
func TestIntegrationDiscoverOffLink(t *testing.T) {
	rt := porttest.NewRouted(t, &porttest.PairConfig{Loss: 0.05})
	if err := rt.A.Do(SYNAvailable); err != nil {
		t.Skipf("needs CAP_NET_RAW: %v", err)
	}
	far := netip.MustParsePrefix("10.88.2.0/27")
	all, noICMP, silent := netip.MustParseAddr("10.88.2.2"), netip.MustParseAddr("10.88.2.5"), netip.MustParseAddr("10.88.2.9")
	rt.AddFar(t, far, netip.MustParseAddr("10.88.2.1"), all, noICMP, silent)
	far6 := netip.MustParsePrefix("fd88:2::/123")
	all6 := netip.MustParseAddr("fd88:2::2")
	rt.AddFar(t, far6, netip.MustParseAddr("fd88:2::1"), all6)
	// The router answers for every absent host: lift its ICMP rate limits.
	// Its neighbour resolution gives up after one solicitation of 100ms,
	// not three of a second, so that its errors come while discovery
	// still listens.
	link := rt.Far.A.Link
	sysctl(t, rt.R, "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0",
		"net.ipv4.icmp_msgs_per_sec=1000000", "net.ipv4.icmp_msgs_burst=1000000",
		"net.ipv4.neigh."+link+".mcast_solicit=1", "net.ipv4.neigh."+link+".retrans_time_ms=100",
		"net.ipv6.neigh."+link+".mcast_solicit=1", "net.ipv6.neigh."+link+".retrans_time_ms=100")
	nft(t, rt.T, `table inet f {
	chain input {
		type filter hook input priority 0; policy accept;
		ip daddr 10.88.2.5 meta l4proto icmp drop
		ip daddr 10.88.2.5 tcp dport != 443 drop
		ip daddr 10.88.2.9 tcp dport != 22 drop
		ip daddr 10.88.2.9 meta l4proto != tcp drop
	}
}`)
	for _, ap := range []string{"10.88.2.5:443", "10.88.2.9:22"} {
		l, err := rt.T.Listen("tcp", ap)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	var targets []netip.Addr
	for a := far.Addr(); far.Contains(a); a = a.Next() {
		if a != netip.MustParseAddr("10.88.2.1") {
			targets = append(targets, a)
		}
	}
	for a := far6.Addr().Next().Next(); far6.Contains(a); a = a.Next() {
		targets = append(targets, a)
	}
	// The router's first neighbour solicitation on a link created a
	// moment ago waits for duplicate address detection (a second or
	// two); a connect from R to each live host gets that done first, as
	// on a network that has been up for more than a second.
	for _, ap := range []string{"10.88.2.2:7", "10.88.2.5:443", "10.88.2.9:22", "[fd88:2::2]:7"} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		if c, err := rt.R.Dial(ctx, "tcp", ap); err == nil {
			c.Close()
		}
		cancel()
	}
	p := &porttest.Pair{A: rt.A}
	for run := range 3 {
		var st DiscoverStats
		got := discover(t, p, targets, &DiscoverConfig{Stats: &st})
		want := []netip.Addr{all, noICMP, all6}
		slices.SortFunc(want, netip.Addr.Compare)
		if up := upSet(got); !slices.Equal(up, want) {
			t.Errorf("run %d: up %v, want %v", run, up, want)
		}
		if r := got[noICMP]; r.Reason != ReasonSynAck {
			t.Errorf("run %d: %v: %+v, want up by its SYN-ACK", run, noICMP, r)
		}
		unreach := 0
		for _, a := range targets {
			r := got[a]
			if r.Up || a == silent || a == far.Addr() || a == lastAddr(far) {
				continue
			}
			if r.Reason == ReasonHostUnreach || r.Reason == ReasonAddrUnreach {
				unreach++
				if r.ICMP.From != rt.Near.B.Addr4 && r.ICMP.From != rt.Near.B.Addr6 {
					t.Errorf("run %d: %v: %+v: not from the router", run, a, r)
				}
			} else {
				t.Errorf("run %d: absent %v: %+v, want host unreachable from the router", run, a, r)
			}
		}
		t.Logf("run %d: %d absent hosts unreachable; stats %+v", run, unreach, st)
	}
	ref := nmapUp(t, rt.A, "-sn", "--exclude", "10.88.2.1", far.String())
	if want := []netip.Addr{all, noICMP}; !slices.Equal(ref, want) {
		t.Errorf("nmap -sn: %v up, want %v", ref, want)
	}
	// -Pn: the silent host's open port is found by the port scan alone.
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	res := collect(t, SYNScan(ctx, []netip.Addr{silent}, &SYNConfig{Options: Options{Ports: portRange(1, 100), OpenIn: rt.A.Do}}))
	if r := res[netip.AddrPortFrom(silent, 22)]; r.State != StateOpen {
		t.Errorf("SYN scan of %v: port 22 %+v, want open", silent, r)
	}
}

// TestIntegrationDiscoverUnprivileged: without raw sockets, discovery
// connects to a few ports: the live hosts of a /24 refuse or accept
// them (up), the absent ones fail or time out (down); the same hosts up
// as ARP finds.
func TestIntegrationDiscoverUnprivileged(t *testing.T) {
	p := porttest.NewPair(t, nil)
	sn := newSubnet(t, p, "10.77.0.0/24", []string{"10.77.0.2", "10.77.0.119"}, 0, portRange(1, 1))
	l, err := p.B.Listen("tcp", "10.77.0.119:443")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := discover(t, p, sn.targets, &DiscoverConfig{Unprivileged: true, Dial: p.A.Dial})
	if up := upSet(got); !slices.Equal(up, sn.live) {
		t.Errorf("up %v, want %v", up, sn.live)
	}
	if r := got[netip.MustParseAddr("10.77.0.2")]; r.Reason != ReasonConnRefused {
		t.Errorf("10.77.0.2: %+v, want up by conn-refused", r)
	}
	if r := got[netip.MustParseAddr("10.77.0.119")]; r.Reason != ReasonSynAck && r.Reason != ReasonConnRefused {
		t.Errorf("10.77.0.119: %+v, want up by a connect", r)
	}
	if r := got[netip.MustParseAddr("10.77.0.255")]; r.Up {
		t.Errorf("broadcast: %+v", r)
	}
}

// TestDiscoveryProbes checks the echo, timestamp and ACK probes that
// discovery builds against wire's decoder: their fields, and checksums
// it verifies.
func TestDiscoveryProbes(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	var p wire.Packet
	for _, typ := range []wire.ICMPv4Type{wire.ICMPv4EchoRequest, wire.ICMPv4Timestamp} {
		m := icmpEcho([]byte("x"), typ, 0x1234, 0x5678)[1:]
		if err := (wire.Decoder{}).DecodeTransport(&p, wire.ProtoICMP, src, dst, m); err != nil {
			t.Fatal(err)
		}
		if c := p.ICMPv4; c.Type != typ || c.ID() != 0x1234 || c.Seq() != 0x5678 || c.Checksum.Status != wire.ChecksumGood {
			t.Errorf("type %d: decoded as %+v", typ, c)
		}
	}
	for _, pair := range [][2]netip.Addr{{src, dst}, {netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")}} {
		seg := appendACK(nil, pair[0], pair[1], 40000, discoverACKPort, 0xdeadbeef)
		if err := (wire.Decoder{}).DecodeTransport(&p, ports.ProtoTCP, pair[0], pair[1], seg); err != nil {
			t.Fatal(err)
		}
		tc := p.TCP
		if tc.SrcPort != 40000 || tc.DstPort != discoverACKPort || tc.Seq != 0xdeadbeef || tc.Ack != 0xdeadbeef ||
			tc.Flags != wire.TCPAck || len(seg) != 20 || tc.Checksum.Status != wire.ChecksumGood {
			t.Errorf("%v: decoded as %+v", pair[0], tc)
		}
	}
}
