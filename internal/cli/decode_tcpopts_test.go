package cli

import (
	"bytes"
	"testing"

	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
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

// FuzzDecodeLine: any frame of the decoded link types, whole or cut,
// formats in every view without a panic, one line in the one-line view.
func FuzzDecodeLine(f *testing.F) {
	f.Add(uint8(1), []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 8, 0, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 2, 3, 4}, 0)
	f.Add(uint8(101), []byte{0x60, 0, 0, 0, 0, 8, 44, 64}, 10)
	f.Fuzz(func(t *testing.T, link uint8, data []byte, extra int) {
		var out bytes.Buffer
		d := newDecoder(&out, render.Table, false, true)
		fr := &frame{N: 1, Packet: pcapfile.Packet{LinkType: pcapfile.LinkType(link), Data: data, Length: len(data) + max(0, min(extra, 1<<16))}}
		if err := d.frame(fr); err != nil {
			t.Fatal(err)
		}
		d.verbose = true
		d.frame(fr)
		d.close()
		if first, _, _ := bytes.Cut(out.Bytes(), []byte("\n")); bytes.Contains(first, []byte("\n")) {
			t.Fatal("two lines")
		}
	})
}
