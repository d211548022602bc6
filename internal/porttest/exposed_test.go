package porttest_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// TestIntegrationExposed checks NewExposed's routes: X's default routes
// go to Router, the router reaches both of X's links (the internal one
// through X), the peer only its own, and neither Router nor Peer has a
// default route, so an address outside the test is unreachable from
// each of them.
func TestIntegrationExposed(t *testing.T) {
	ex := porttest.NewExposed(t)
	ctx := context.Background()
	for _, fam := range []string{"-4", "-6"} {
		out, err := ex.X.Command(ctx, "ip", fam, "route", "show", "default").Output()
		if err != nil {
			t.Fatal(err)
		}
		via := ex.Router.Addr4.String()
		if fam == "-6" {
			via = ex.Router.Addr6.String()
		}
		if !strings.Contains(string(out), "via "+via) {
			t.Errorf("X's %s default route %q does not go to the router (%s)", fam, out, via)
		}
	}
	l, err := ex.X.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func(h *porttest.Host, a netip.Addr) error {
		c, err := h.Dial(ctx, "tcp", netip.AddrPortFrom(a, 7).String())
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, a := range []netip.Addr{ex.X.Addr4, ex.X.Addr6, ex.XPeer.Addr4, ex.XPeer.Addr6} {
		if err := dial(ex.Router, a); err != nil {
			t.Errorf("router to %s: %v", a, err)
		}
	}
	for _, a := range []netip.Addr{ex.XPeer.Addr4, ex.XPeer.Addr6} {
		if err := dial(ex.Peer, a); err != nil {
			t.Errorf("peer to %s: %v", a, err)
		}
	}
	// No route beyond: the kernel refuses at once, nothing is sent.
	for _, h := range []*porttest.Host{ex.Router, ex.Peer} {
		for _, a := range []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")} {
			if err := dial(h, a); !errors.Is(err, syscall.ENETUNREACH) {
				t.Errorf("%s to %s: %v, want network unreachable", h.Name, a, err)
			}
		}
	}
	if err := dial(ex.Peer, ex.X.Addr4); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("peer to X's external address: %v, want network unreachable (the peer has no route beyond its link)", err)
	}
}
