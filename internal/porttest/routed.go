package porttest

import (
	"net/netip"
	"strconv"
	"testing"
)

// Routed is three network namespaces in a line, A - R - T, joined by
// two veth pairs: R forwards between them, A reaches T's networks
// through R and T reaches A's through R, by routes to those networks
// alone. No namespace has a default route. Its fields must not be
// changed.
type Routed struct {
	A, R, T *Host
	Near    *Pair // A and R (Near.B is R)
	Far     *Pair // R and T: Far.A is R's end of the link (its Name is R's), Far.B is T

	rFar *Host // R's far link
}

// NewRouted makes a Routed; cfg is for the link between A and R (its
// loss, say). It skips the test as NewPair does.
func NewRouted(t testing.TB, cfg *PairConfig) *Routed {
	t.Helper()
	near := NewPair(t, cfg)
	far := NewPair(t, nil)
	r := near.B
	// Move far's A end into R; the namespace far.A is then empty.
	mustIP(t, "-n", far.A.Name, "link", "set", far.A.Link, "netns", r.Name)
	rFar := &Host{Name: r.Name, Link: far.A.Link, Addr4: far.A.Addr4, Addr6: far.A.Addr6}
	mustIP(t, "-n", r.Name, "addr", "add", netip.PrefixFrom(rFar.Addr4, far.Prefix4.Bits()).String(), "dev", rFar.Link)
	mustIP(t, "-n", r.Name, "addr", "add", netip.PrefixFrom(rFar.Addr6, far.Prefix6.Bits()).String(), "dev", rFar.Link, "nodad")
	mustIP(t, "-n", r.Name, "link", "set", rFar.Link, "up")
	waitReady(t, rFar)
	far.A = rFar
	if out, err := r.Command(t.Context(), "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1").CombinedOutput(); err != nil {
		t.Fatalf("porttest: sysctl in %s: %v: %s", r.Name, err, out)
	}
	rt := &Routed{A: near.A, R: r, T: far.B, Near: near, Far: far, rFar: rFar}
	rt.route(t, rt.A, far.Prefix4, near.B.Addr4)
	rt.route(t, rt.A, far.Prefix6, near.B.Addr6)
	rt.route(t, rt.T, near.Prefix4, rFar.Addr4)
	rt.route(t, rt.T, near.Prefix6, rFar.Addr6)
	return rt
}

func (rt *Routed) route(t testing.TB, h *Host, to netip.Prefix, via netip.Addr) {
	t.Helper()
	mustIP(t, "-n", h.Name, "route", "add", to.String(), "via", via.String())
}

// AddFar puts a network behind R: R's far link gets rAddr with net's
// prefix length and T's gets each of tAddrs, and A gets a route to net
// through R. The other addresses of net are absent: R's ARP or NDP for
// them gets no answer.
func (rt *Routed) AddFar(t testing.TB, net netip.Prefix, rAddr netip.Addr, tAddrs ...netip.Addr) {
	t.Helper()
	bits := strconv.Itoa(net.Bits())
	add := func(h *Host, link string, a netip.Addr) {
		t.Helper()
		args := []string{"-n", h.Name, "addr", "add", a.String() + "/" + bits, "dev", link}
		if a.Is6() {
			args = append(args, "nodad")
		}
		mustIP(t, args...)
	}
	add(rt.R, rt.rFar.Link, rAddr)
	for _, a := range tAddrs {
		add(rt.T, rt.T.Link, a)
	}
	via := rt.Near.B.Addr4
	if net.Addr().Is6() {
		via = rt.Near.B.Addr6
	}
	rt.route(t, rt.A, net, via)
}
