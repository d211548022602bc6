package socktable

import (
	"net/netip"
	"testing"

	"github.com/portkit/ports"
)

// FuzzFindAnswer feeds arbitrary netlink answers to the lookup decoder,
// seeded with a request (which has a find answer's layout up to the
// socket id) and an error message.
func FuzzFindAnswer(f *testing.F) {
	req := appendFindRequest(nil, 7, ports.ProtoTCP, netip.MustParseAddrPort("127.0.0.1:80"), netip.MustParseAddrPort("127.0.0.1:5000"))
	f.Add(req, uint32(7))
	f.Add([]byte{20, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff}, uint32(7))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		s, found, _, err := findAnswer(b, seq, ports.ProtoTCP)
		if found && err != nil {
			t.Fatalf("found and error %v", err)
		}
		if !found && s.Inode != 0 {
			t.Fatalf("no socket found but one returned: %+v", s)
		}
	})
}
