package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanDepth(t *testing.T) {
	tests := []struct {
		name string
		text string
		want int
	}{
		{"flat", "a = 1\nb = \"x\"\n", 1},
		{"rule file", "[[rule]]\nname = \"a\"\nspa = {key_base64 = \"k\", listen = \"[::]:62201\"}\nto = [\"a:1\", \"b:2\"]\n", 4},
		{"table header", "[a.b.c]\nx = 1\n", 4},
		{"quoted dots in a header", "[\"a.b.c\"]\nx = 1\n", 2},
		{"dotted key", "a.b.c = 1\n", 3},
		{"quoted dotted key", "\"a.b.c\" = 1\n'x.y' = 2\n", 1},
		{"inline tables", "x = {a = {b = 1}}\n", 3},
		{"arrays", "x = [[[1]], [2]]\n", 3},
		{"array of inline tables", "x = [{a = 1}, {b = [1, {c = 2}]}]\n", 5},
		{"brackets in a basic string", `x = "[[[{{{"` + "\n", 1},
		{"escaped quote in a string", `x = "a\"[[[[" ` + "\ny = 1\n", 1},
		{"brackets in a literal string", "x = '[[[\\'\ny = 2\n", 1},
		{"brackets in a comment", "x = 1 # [[[[{{{{\n# {{{{\n", 1},
		{"multi-line basic string", "x = \"\"\"\n[[[[\n\\\"\"\"[[[[\n\"\"\"\n", 1},
		{"multi-line string with quotes inside the delimiter", "x = \"\"\"a\"\"\"\"\"\ny = [1]\n", 1},
		{"multi-line literal string", "x = '''\n{{{{ \\'''\ny = [[1]]\n", 2},
		{"empty strings", "x = \"\"\ny = ''\nz = [[1]]\n", 2},
		{"hash in a string", "x = \"#\" \ny = [[1]]\n", 2},
		{"multi-line array with comments", "x = [\n  1, # ]]]\n  [2],\n]\ny = 1\n", 2},
		{"empty inline table", "x = {}\ny = {a = {}}\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scanDepth([]byte(tt.text), MaxDepth)
			if got.max != tt.want || got.overLine != 0 {
				t.Errorf("scanDepth = %+v, want depth %d", got, tt.want)
			}
			var m map[string]any
			if _, err := toml.Decode(tt.text, &m); err != nil {
				t.Fatalf("not TOML: %v", err)
			}
			if d := decodedDepth(m); d > got.max {
				t.Errorf("decoded depth %d > scanned %d", d, got.max)
			}
		})
	}
}

func TestScanDepthOverLine(t *testing.T) {
	text := "[[rule]]\nname = \"a\"\n\nx = " + strings.Repeat("{a = ", 40) + "1" + strings.Repeat("}", 40) + "\ny = 1\n"
	got := scanDepth([]byte(text), 10)
	if got.overLine != 4 || got.max != 43 {
		t.Errorf("scanDepth = %+v, want over the limit at line 4, depth 43", got)
	}
}

// deepFile is a rule file with an unknown key whose value is n inline
// tables, one in the other: {a = {a = … 1 …}}.
func deepFile(n int) []byte {
	return []byte("[[rule]]\nname = \"a\"\ntype = \"tcp\"\nlisten = \"127.0.0.1:1\"\nto = [\"127.0.0.1:2\"]\nx = " +
		strings.Repeat("{a = ", n) + "1" + strings.Repeat("}", n) + "\n")
}

// TestParseRefusesDeepNesting: 6,000 nested tables took the decoder 12 s
// and 1.8 GB, 50,000 ran a 24 GB machine out of memory; both are refused
// with one problem before decoding.
func TestParseRefusesDeepNesting(t *testing.T) {
	for _, n := range []int{6000, 50000} {
		_, err := Parse("deep.toml", deepFile(n))
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || !errors.Is(err, ErrTooDeep) {
			t.Fatalf("%d deep: Parse = %v, want one too-deep problem", n, err)
		}
		if got, want := ce.Problems[0].String(), "deep.toml:6: nested "+itoa(n+3)+" deep, the limit is 32"; got != want {
			t.Errorf("%d deep: %q, want %q", n, got, want)
		}
	}
	for _, text := range []string{
		"[[rule]]\n" + strings.Repeat("a.", 6000) + "a = 1\n",
		"[" + strings.Repeat("a.", 6000) + "a]\n",
		"x = " + strings.Repeat("[", 6000) + strings.Repeat("]", 6000) + "\n",
	} {
		if _, err := Parse("deep.toml", []byte(text)); !errors.Is(err, ErrTooDeep) {
			t.Errorf("Parse(%.20q…) = %v, want too deep", text, err)
		}
	}
}

// TestParseUnknownNestedKeyOnce: an unknown key whose value is a table is
// one problem, not one per key inside it.
func TestParseUnknownNestedKeyOnce(t *testing.T) {
	_, err := Parse("u.toml", deepFile(MaxDepth-3))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	if want := `u.toml:6: rule "a": x: unknown key`; len(got) != 1 || got[0] != want {
		t.Errorf("problems %q, want only %q", got, want)
	}
}

func itoa(n int) string {
	var b []byte
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// decodedDepth is how deeply the decoder's result nests, counted as
// scanDepth counts: a key is one level below its table, a table or array
// that is a key's value is at the key's level, and one in an array is one
// level below the array.
func decodedDepth(v any) int {
	var walk func(v any, d int) int
	walk = func(v any, d int) int {
		max := d
		elem := func(e any, key bool) {
			n := d
			switch e.(type) {
			case map[string]any, []map[string]any, []any:
				n = walk(e, d+1)
			default:
				if key {
					n = d + 1
				}
			}
			if n > max {
				max = n
			}
		}
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				elem(e, true)
			}
		case []map[string]any:
			for _, e := range x {
				elem(e, false)
			}
		case []any:
			for _, e := range x {
				elem(e, false)
			}
		}
		return max
	}
	return walk(v, 0)
}

// FuzzScanDepth: the scan never panics, and on any text the decoder
// takes, it never finds less nesting than the decoder builds, so no
// spelling of a deep file gets past the limit to the decoder.
func FuzzScanDepth(f *testing.F) {
	for _, s := range []string{
		"x = {a = {b = 1}}\n", "a.b.c = 1\n", "[a.b]\n[[c.d]]\nx = [[1], {y = 2}]\n",
		"x = \"\"\"\n[[[\n\"\"\"\n", "x = '''{{'''\n", "x = \"a\\\"[\" # [[\n",
		"\"a.b\" = {c.d = [1]}\n", "x = [\n1, # ]\n[2]]\n", "x = \"\"\"a\"\"\"\"\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := scanDepth(data, MaxDepth)
		if got.max < 0 || (got.overLine != 0) != (got.max > MaxDepth) {
			t.Fatalf("scanDepth = %+v", got)
		}
		if got.max > 200 {
			return // too deep to hand to the decoder in a fuzz loop
		}
		var m map[string]any
		if _, err := toml.Decode(string(data), &m); err != nil {
			return
		}
		if d := decodedDepth(m); d > got.max {
			t.Fatalf("decoded depth %d > scanned %d for %q", d, got.max, data)
		}
	})
}
