package render

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"text/tabwriter"
)

// TestAlignerMatchesTabwriter compares Aligner with text/tabwriter on
// tables where the two agree: every line has the same number of cells.
func TestAlignerMatchesTabwriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200; n++ {
		cols := 1 + rng.IntN(6)
		var in strings.Builder
		for r := rng.IntN(20); r >= 0; r-- {
			for c := 0; c < cols; c++ {
				if c > 0 {
					in.WriteByte('\t')
				}
				in.WriteString(strings.Repeat("x", rng.IntN(12)))
			}
			in.WriteByte('\n')
		}
		var want, got bytes.Buffer
		tw := tabwriter.NewWriter(&want, 0, 0, 2, ' ', 0)
		tw.Write([]byte(in.String()))
		tw.Flush()
		a := NewAligner(&got)
		// Write in odd pieces: lines may be split across writes.
		s := in.String()
		for len(s) > 0 {
			k := min(len(s), 1+rng.IntN(7))
			a.Write([]byte(s[:k]))
			s = s[k:]
		}
		if err := a.Flush(); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("input %q:\ngot\n%s\nwant\n%s", in.String(), got.String(), want.String())
		}
	}
}

func TestAlignerPlainLines(t *testing.T) {
	var got bytes.Buffer
	a := NewAligner(&got)
	a.Write([]byte("A\tBB\tC\nplain line\nAAA\tB\tC\nno newline at end"))
	a.Flush()
	want := "A    BB  C\nplain line\nAAA  B   C\nno newline at end\n"
	if got.String() != want {
		t.Errorf("got %q, want %q", got.String(), want)
	}
}
