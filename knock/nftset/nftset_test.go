package nftset_test

import (
	"testing"

	"github.com/portkit/ports/knock/nftset"
)

func TestParseName(t *testing.T) {
	for in, want := range map[string]string{"inet/filter/knocked": "inet filter knocked", "filter/k": "inet filter k", "ip6/t/s": "ip6 t s"} {
		n, err := nftset.ParseName(in)
		if err != nil || n.String() != want {
			t.Errorf("ParseName(%q) = %v, %v", in, n, err)
		}
	}
	for _, bad := range []string{"", "a", "bridge/t/s", "inet//s", "a/b/c/d"} {
		if _, err := nftset.ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) accepted", bad)
		}
	}
}

func FuzzParseName(f *testing.F) {
	f.Add("inet/filter/knocked")
	f.Add("t/s")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := nftset.ParseName(s)
		if err != nil {
			return
		}
		back, err := nftset.ParseName(n.Family + "/" + n.Table + "/" + n.Set)
		if err != nil || back != n {
			t.Fatalf("%q -> %v -> %v, %v", s, n, back, err)
		}
	})
}
