package cli

import (
	"testing"

	"github.com/portkit/ports/wire"
)

// FuzzTCPOptions: any option bytes, any header length and any flags
// format without a panic, and the bracket opened is the line's.
func FuzzTCPOptions(f *testing.F) {
	f.Add([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 6}, 20, uint16(2))
	f.Add([]byte{30, 20, 0, 0x81, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8}, 20, uint16(16))
	f.Add([]byte{5, 18, 0, 0, 0, 1}, 16, uint16(16))
	f.Fuzz(func(t *testing.T, raw []byte, hlen int, flags uint16) {
		hlen = max(0, min(hlen, 40))
		st := seqView{rev: flags&1 != 0, thSeq: 7, thAck: 9}
		b, _ := appendTCPOptions(nil, raw, hlen, &st, wire.TCPFlags(flags))
		if len(b) < len(", options [") {
			t.Fatalf("%q", b)
		}
	})
}
