package porttest

import (
	"net/netip"
	"strconv"
	"testing"
)

// AddAddrs puts a on A's veth and each of b on B's, all with the prefix
// length of net, so that A reaches B's addresses directly on the link
// and every other address of net is absent (ARP or NDP gets no answer).
// IPv4 addresses get net's broadcast address; IPv6 ones skip duplicate
// address detection, so they are usable at once. The namespaces are the
// test's own, so any prefix will do; the addresses go with them.
func (p *Pair) AddAddrs(t testing.TB, net netip.Prefix, a netip.Addr, b ...netip.Addr) {
	t.Helper()
	add := func(h *Host, addr netip.Addr) {
		t.Helper()
		args := []string{"-n", h.Name, "addr", "add", addr.String() + "/" + strconv.Itoa(net.Bits()), "dev", h.Link}
		if addr.Is4() {
			args = append(args, "brd", "+")
		} else {
			args = append(args, "nodad")
		}
		mustIP(t, args...)
	}
	add(p.A, a)
	for _, addr := range b {
		add(p.B, addr)
	}
}
