package cli

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/socktable"
)

// TestEphemeralReport counts made-up sockets: no kernel needed.
func TestEphemeralReport(t *testing.T) {
	host := hostports.Info{Ephemeral: ports.Range{First: 50000, Last: 50009}, Source: "test"} // 10 ports
	ap := netip.MustParseAddrPort
	tcp := func(state socktable.State, local, remote string) socktable.Socket {
		s := socktable.Socket{Proto: ports.ProtoTCP, State: state, Local: ap(local)}
		if remote != "" {
			s.Remote = ap(remote)
		}
		return s
	}
	est, tw := socktable.StateEstablished, socktable.StateTimeWait
	ss := []socktable.Socket{
		// 9 connections to 192.0.2.1:443 from 10.0.0.1 (3 in TIME-WAIT),
		// and one from 10.0.0.2.
		tcp(est, "10.0.0.1:50000", "192.0.2.1:443"),
		tcp(est, "10.0.0.1:50001", "192.0.2.1:443"),
		tcp(est, "10.0.0.1:50002", "192.0.2.1:443"),
		tcp(est, "10.0.0.1:50003", "192.0.2.1:443"),
		tcp(est, "10.0.0.1:50004", "192.0.2.1:443"),
		tcp(est, "10.0.0.1:50005", "192.0.2.1:443"),
		tcp(tw, "10.0.0.1:50006", "192.0.2.1:443"),
		tcp(tw, "10.0.0.1:50007", "192.0.2.1:443"),
		tcp(tw, "10.0.0.1:50008", "192.0.2.1:443"),
		tcp(est, "10.0.0.2:50000", "192.0.2.1:443"),
		// One to [2001:db8::1]:80, reusing a port for another destination.
		tcp(est, "[2001:db8::2]:50001", "[2001:db8::1]:80"),
		// A listener on an ephemeral port, and its accepted connections:
		// they share its port and use no ephemeral one.
		tcp(socktable.StateListen, "0.0.0.0:50009", ""),
		tcp(est, "127.0.0.1:50009", "127.0.0.1:50003"),
		tcp(est, "127.0.0.1:50009", "127.0.0.1:50004"),
		// UDP: a bound socket, a connected one.
		{Proto: ports.ProtoUDP, State: socktable.StateClose, Local: ap("0.0.0.0:50002")},
		{Proto: ports.ProtoUDP, State: socktable.StateEstablished, Local: ap("10.0.0.1:50004"), Remote: ap("192.0.2.53:53")},
		// Outside the range: not counted.
		tcp(est, "10.0.0.1:40000", "192.0.2.1:443"),
	}
	rep := ephemeralReport(host, ss, 2, 80)
	want := render.EphemeralV1{
		Range: "50000-50009", First: 50000, Last: 50009, Size: 10, Source: "test", WarnPercent: 80,
		TCP: render.EphemeralUseV1{Sockets: 12, Ports: 10, TimeWait: 3},
		UDP: render.EphemeralUseV1{Sockets: 2, Ports: 2},
		Destinations: []render.EphemeralDestV1{
			{Proto: "tcp", Remote: render.AddrPortV1{Addr: "192.0.2.1", Port: 443}, Service: "https", Sockets: 10, TimeWait: 3,
				LocalAddrs: 2, Busiest: "10.0.0.1", BusiestSockets: 9, Percent: 90},
			{Proto: "tcp", Remote: render.AddrPortV1{Addr: "2001:db8::1", Port: 80}, Service: "http", Sockets: 1,
				LocalAddrs: 1, Busiest: "2001:db8::2", BusiestSockets: 1, Percent: 10},
		},
		DestinationsTotal: 3,
	}
	if len(rep.Warnings) != 1 || !strings.HasPrefix(rep.Warnings[0], "192.0.2.1:443/tcp: 9 sockets from 10.0.0.1 use 90.0% of the ephemeral range (10 ports)") {
		t.Errorf("warnings %q, want one for 192.0.2.1:443", rep.Warnings)
	}
	rep.Warnings = nil
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if rep := ephemeralReport(host, ss, 0, 95); len(rep.Destinations) != 3 || rep.Warnings != nil {
		t.Errorf("-n 0 --warn 95: %d destinations, warnings %q; want 3 and none", len(rep.Destinations), rep.Warnings)
	}
	if rep := ephemeralReport(host, nil, 10, 80); rep.Destinations == nil || rep.DestinationsTotal != 0 {
		t.Errorf("no sockets: destinations %#v, want [] (not null in JSON)", rep.Destinations)
	}
}
