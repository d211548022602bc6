package nfteval

import (
	"encoding/binary"
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

func attr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestDecodeVerdict(t *testing.T) {
	code := func(k expr.VerdictKind) []byte {
		return attr(unix.NFTA_VERDICT_CODE, binary.BigEndian.AppendUint32(nil, uint32(int32(k))))
	}
	for _, tc := range []struct {
		in    []byte
		kind  expr.VerdictKind
		chain string
		ok    bool
	}{
		{code(expr.VerdictAccept), expr.VerdictAccept, "", true},
		{code(expr.VerdictDrop), expr.VerdictDrop, "", true},
		{append(code(expr.VerdictJump), attr(unix.NFTA_VERDICT_CHAIN, []byte("sub\x00"))...), expr.VerdictJump, "sub", true},
		{nil, 0, "", false},
		{[]byte{2, 0, 1, 0}, 0, "", false}, // a length under the header
		{attr(unix.NFTA_VERDICT_CODE, []byte{1}), 0, "", false},
	} {
		k, c, ok := decodeVerdict(tc.in)
		if ok != tc.ok || ok && (k != tc.kind || c != tc.chain) {
			t.Errorf("decodeVerdict(%x) = %v %q %v, want %v %q %v", tc.in, k, c, ok, tc.kind, tc.chain, tc.ok)
		}
	}
}

func FuzzDecodeVerdict(f *testing.F) {
	f.Add(attr(unix.NFTA_VERDICT_CODE, []byte{0, 0, 0, 1}))
	f.Add(append(attr(unix.NFTA_VERDICT_CODE, []byte{0xff, 0xff, 0xff, 0xfd}), attr(unix.NFTA_VERDICT_CHAIN, []byte("c\x00"))...))
	f.Add([]byte{5, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, _, ok := decodeVerdict(b)
		if !ok && k != 0 {
			t.Fatalf("not ok but kind %d", k)
		}
	})
}
