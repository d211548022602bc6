package cli

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

// TestLsAddrFilters checks --local and --peer on a connection of this
// test's own: the kernel-side filters keep exactly its sockets.
func TestLsAddrFilters(t *testing.T) {
	requireSockets(t)
	l, lap := listenTCP4(t)
	accept := acceptAll(t, l)
	c := dialTCP(t, lap)
	accept()
	cap := c.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()
	l6, lap6 := listenTCP6(t, 0)
	accept6 := acceptAll(t, l6)
	c6 := dialTCP(t, lap6)
	accept6()
	cap6 := c6.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()

	listener := keyOf("tcp", "LISTEN", lap, netip.AddrPort{})
	client := keyOf("tcp", "ESTAB", cap, lap)
	server := keyOf("tcp", "ESTAB", lap, cap)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--local", lap.String()}, []string{listener}},
		{[]string{"-a", "--local", lap.String()}, []string{listener, server}},
		{[]string{"--peer", lap.String()}, []string{client}}, // --peer implies -a
		{[]string{"--peer", "127.0.0.2", "--peer", lap.String(), "--local", cap.String()}, []string{client}},
		{[]string{"-a", "--local", lap.String(), "--peer", "127.0.0.2/32"}, nil},
		{[]string{"--state", "listen", "--local", "127.0.0.0/8:" + portStr(lap.Port())}, []string{listener}},
		{[]string{"--peer", "[::1]:" + portStr(lap6.Port())}, []string{keyOf("tcp", "ESTAB", cap6, lap6)}},
		{[]string{"-a", "--local", "::1/128", "--peer", ":" + portStr(cap6.Port())}, []string{keyOf("tcp", "ESTAB", lap6, cap6)}},
	} {
		socks := notTimeWait(runJSON(t, append([]string{"ls", "--no-procs", "--format", "json"}, tt.args...)...))
		var got []string
		for _, s := range socks {
			got = append(got, sockKey(s))
		}
		slices.Sort(got)
		slices.Sort(tt.want)
		if !slices.Equal(got, tt.want) {
			t.Errorf("ls %v: got %q, want %q", tt.args, got, tt.want)
		}
	}
}

func portStr(p uint16) string { return strconv.Itoa(int(p)) }
