package knock_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock"
)

// TestAllowlist: an address is allowed from Add until its end,
// exclusive, in its plain and IPv4-mapped forms; others never are.
func TestAllowlist(t *testing.T) {
	clock := porttest.NewClock(time.Unix(1_800_000_000, 0))
	l := knock.NewAllowlist(clock.Now)
	a := netip.MustParseAddr("192.0.2.1")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	b := netip.MustParseAddr("2001:db8::1")
	if l.Allow(a) {
		t.Fatal("allowed before Add")
	}
	l.Add(mapped, clock.Now().Add(10*time.Second))
	l.Add(b, clock.Now().Add(5*time.Second))
	for _, addr := range []netip.Addr{a, mapped, b} {
		if !l.Allow(addr) {
			t.Errorf("%v not allowed within its window", addr)
		}
	}
	if l.Allow(netip.MustParseAddr("192.0.2.2")) {
		t.Error("an address never added is allowed")
	}
	clock.Advance(5 * time.Second)
	if l.Allow(b) {
		t.Error("allowed at the end of its window")
	}
	l.Prune(clock.Now())
	if !l.Allow(a) {
		t.Error("Prune dropped a window that has not ended")
	}
	l.Add(a, clock.Now().Add(time.Second)) // replaces the longer window
	clock.Advance(time.Second)
	if l.Allow(a) {
		t.Error("the earlier, longer window survived a new Add")
	}
}
