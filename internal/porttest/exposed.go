package porttest

import (
	"net/netip"
	"strings"
	"testing"
)

// Exposed is a host under test, X, with two links: one to Router, which
// X uses as its default route (IPv4 and IPv6), and one to Peer, which it
// has no route beyond. It is the machine of `ports audit`'s test: one
// external interface and one internal one. Router routes the networks
// of X's link to Peer through X, as an upstream router may; it has no
// default route and no link but the one to X, so nothing X sends
// anywhere can leave the test. Its fields must not be changed.
type Exposed struct {
	X      *Host // X.Link, X.Addr4 and X.Addr6 are its end of the link to Router
	XPeer  *Host // X's end of the link to Peer (XPeer.Name is X's)
	Router *Host
	Peer   *Host
}

// NewExposed makes an Exposed; it skips the test as NewPair does.
func NewExposed(t testing.TB) *Exposed {
	t.Helper()
	up := NewPair(t, nil)   // X - Router
	side := NewPair(t, nil) // its A end moves into X; B is Peer
	x := up.A
	mustIP(t, "-n", side.A.Name, "link", "set", side.A.Link, "netns", x.Name)
	xp := &Host{Name: x.Name, Link: side.A.Link, Addr4: side.A.Addr4, Addr6: side.A.Addr6}
	// Moving a link to another namespace drops its addresses.
	mustIP(t, "-n", x.Name, "addr", "add", netip.PrefixFrom(xp.Addr4, side.Prefix4.Bits()).String(), "dev", xp.Link)
	mustIP(t, "-n", x.Name, "addr", "add", netip.PrefixFrom(xp.Addr6, side.Prefix6.Bits()).String(), "dev", xp.Link, "nodad")
	mustIP(t, "-n", x.Name, "link", "set", xp.Link, "up")
	waitReady(t, xp)
	mustIP(t, "-n", x.Name, "-4", "route", "add", "default", "via", up.B.Addr4.String(), "dev", x.Link)
	mustIP(t, "-n", x.Name, "-6", "route", "add", "default", "via", up.B.Addr6.String(), "dev", x.Link)
	mustIP(t, "-n", up.B.Name, "route", "add", side.Prefix4.String(), "via", x.Addr4.String())
	mustIP(t, "-n", up.B.Name, "route", "add", side.Prefix6.String(), "via", x.Addr6.String())
	// The safety of the test rests on this: the router goes nowhere.
	for _, h := range []*Host{up.B, side.B} {
		for _, family := range []string{"-4", "-6"} {
			if out := mustIP(t, "-n", h.Name, family, "route", "show", "default"); strings.TrimSpace(out) != "" {
				t.Fatalf("porttest: namespace %s has a default route (ip %s): %s", h.Name, family, out)
			}
		}
	}
	return &Exposed{X: x, XPeer: xp, Router: up.B, Peer: side.B}
}
