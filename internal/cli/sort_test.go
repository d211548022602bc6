package cli

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/socktable"
)

// TestSortSocketsFullOrder checks that the integer keys sortSockets uses
// give exactly the order of the full comparison, over a mix of IPv4,
// IPv6 and IPv4-mapped sockets with many ties.
func TestSortSocketsFullOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	addrs := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("::1"), netip.MustParseAddr("::"), netip.MustParseAddr("::ffff:127.0.0.1"),
		netip.MustParseAddr("2001:db8::7f00:1"), netip.MustParseAddr("fe80::1%eth0"),
	}
	var ss []socktable.Socket
	for i := 0; i < 9000; i++ {
		ss = append(ss, socktable.Socket{
			Proto:  []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}[rng.IntN(2)],
			Local:  netip.AddrPortFrom(addrs[rng.IntN(len(addrs))], uint16(rng.IntN(4))),
			Remote: netip.AddrPortFrom(addrs[rng.IntN(len(addrs))], uint16(rng.IntN(3))),
			State:  socktable.State(rng.IntN(3)),
			Inode:  uint64(rng.IntN(5)),
		})
	}
	want := slices.Clone(ss)
	slices.SortStableFunc(want, func(a, b socktable.Socket) int {
		return cmp.Or(
			cmp.Compare(a.Proto, b.Proto),
			cmp.Compare(a.Local.Port(), b.Local.Port()),
			a.Local.Addr().Compare(b.Local.Addr()),
			a.Remote.Compare(b.Remote),
			cmp.Compare(a.State, b.State),
			cmp.Compare(a.Inode, b.Inode),
		)
	})
	got := sortSockets(ss)
	for i := range want {
		if !equalSocket(got[i], want[i]) {
			t.Fatalf("position %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func equalSocket(a, b socktable.Socket) bool {
	return a.Proto == b.Proto && a.Local == b.Local && a.Remote == b.Remote && a.State == b.State && a.Inode == b.Inode
}

// TestSortSocketsWideKeys is TestSortSocketsFullOrder over random
// IPv4 addresses and ports of the whole range, so that every byte of
// the radix sort's keys differs somewhere, with IPv6 sockets among them.
func TestSortSocketsWideKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 5))
	addr := func() netip.Addr {
		if rng.IntN(10) == 0 {
			var b [16]byte
			b[15] = byte(rng.IntN(3))
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.IntN(2)), byte(rng.Uint32())})
	}
	var ss []socktable.Socket
	for range 20000 {
		ss = append(ss, socktable.Socket{
			Proto:  []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}[rng.IntN(2)],
			Local:  netip.AddrPortFrom(addr(), uint16(rng.Uint32())),
			Remote: netip.AddrPortFrom(addr(), uint16(rng.Uint32())),
			State:  socktable.State(rng.IntN(12)),
			Inode:  uint64(rng.IntN(5)),
		})
	}
	want := slices.Clone(ss)
	slices.SortStableFunc(want, func(a, b socktable.Socket) int {
		return cmp.Or(
			cmp.Compare(a.Proto, b.Proto),
			cmp.Compare(a.Local.Port(), b.Local.Port()),
			a.Local.Addr().Compare(b.Local.Addr()),
			a.Remote.Compare(b.Remote),
			cmp.Compare(a.State, b.State),
			cmp.Compare(a.Inode, b.Inode),
		)
	})
	got := sortSockets(ss)
	for i := range want {
		if !equalSocket(got[i], want[i]) {
			t.Fatalf("position %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
