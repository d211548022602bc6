package registry

import (
	"errors"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/portkit/ports"
)

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// asciiLower folds ASCII letters only, as containsFold does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// pathMatch is the oracle for globMatch: path.Match, with '/' (which its
// wildcards do not match) swapped for '\x01'. It is valid for ASCII
// patterns without '[', '\\' or '\x01' and ASCII names without '\x01'.
func pathMatch(pattern, name string) (ok, valid bool) {
	if !isASCII(pattern) || !isASCII(name) || strings.ContainsAny(pattern, "[\\\x01") || strings.Contains(name, "\x01") {
		return false, false
	}
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", "\x01"), strings.ReplaceAll(name, "/", "\x01"))
	return ok, err == nil
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"**", "x", true},
		{"?", "", false},
		{"?", "a", true},
		{"??", "a", false},
		{"ftp", "ftp", true},
		{"ftp", "ftps", false},
		{"ftp*", "ftp", true},
		{"ftp*", "ftp-data", true},
		{"ftp?", "ftps", true},
		{"ftp?", "ftp", false},
		{"*data", "ftp-data", true},
		{"*-*", "ftp-data", true},
		{"*-*", "ftp", false},
		{"a*b*c", "abxbc", true},
		{"a*b*c", "abxbd", false},
		{"*a*a", "banana", true},
		{"cl/1", "cl/1", true},
		{"cl?1", "cl/1", true},
		{"*1", "cl/1", true},
		// The registry has a name with a '*' in it: sql*net (port 66).
		{"sql*net", "sql*net", true},
		{"sql?net", "sql*net", true},
		{"*net", "sql*net", true},
		{"sql*", "sql*net", true},
		{"*sql*", "sql*net", true}, // the trailing '*' meets the name's '*'
		{"*q*", "sql*net", true},
		{"s*l*n*", "sql*net", true},
		{"*l*e*", "sql*net", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.name, func(t *testing.T) {
			if got := globMatch(tt.pattern, tt.name); got != tt.want {
				t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
			}
			if ok, valid := pathMatch(tt.pattern, tt.name); valid && ok != tt.want {
				t.Errorf("the oracle says %v", ok)
			}
		})
	}
}

// FuzzGlobMatch compares globMatch with path.Match.
func FuzzGlobMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"ftp*", "ftp-data"}, {"ftp?", "ftps"}, {"*", ""}, {"?", ""},
		{"a*b*c", "abxbc"}, {"*sql*", "sql*net"}, {"sql*net", "sql*net"},
		{"cl?1", "cl/1"}, {"**a", "aaa"}, {"*?", ""}, {"?*?", "ab"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := globMatch(pattern, name) // must not panic on any input
		if want, valid := pathMatch(pattern, name); valid && got != want {
			t.Fatalf("globMatch(%q, %q) = %v, path.Match says %v", pattern, name, got, want)
		}
	})
}

// FuzzSearch checks that Search does not panic and, for ASCII input,
// yields exactly the named records whose name (or description) holds
// substr, ignoring ASCII case, in registry order.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{"sql", "SQL", "", "http", "world wide web", "*", "\x00", "é", "K", "\xff", "zzzzzz"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	o := getOracle(f)
	reg := Default()
	idx := indexOf(reg)
	lowNames := make([]string, len(o.recs))
	lowDescs := make([]string, len(o.recs))
	for i := range o.recs {
		lowNames[i], lowDescs[i] = asciiLower(o.recs[i].Name), asciiLower(o.recs[i].Description)
	}
	f.Fuzz(func(t *testing.T, substr string, inDesc bool) {
		var got []int
		for rec := range reg.Search(substr, inDesc) {
			if rec.Name == "" {
				t.Fatalf("Search(%q) yielded an unnamed record", substr)
			}
			got = append(got, idx[rec])
		}
		if !isASCII(substr) {
			return
		}
		needle := asciiLower(substr)
		var want []int
		for i := range o.recs {
			if o.recs[i].Name != "" && (strings.Contains(lowNames[i], needle) ||
				inDesc && strings.Contains(lowDescs[i], needle)) {
				want = append(want, i)
			}
		}
		if !slices.Equal(want, got) {
			t.Fatalf("Search(%q, %v) record numbers (-oracle +got):\n%s", substr, inDesc, cmp.Diff(want, got, cmpopts.EquateEmpty()))
		}
	})
}

// FuzzServicePorts checks that ServicePorts does not panic on any
// pattern and, where path.Match is an oracle, yields the same
// protocol/port pairs.
func FuzzServicePorts(f *testing.F) {
	for _, s := range []string{
		"http", "HTTP", "ftp*", "ftp?", "*", "**", "?", "", "*sql*", "sql*net", "cl/1", "cl?1",
		"[", "\\", "nosuch*", "*-data", "\xff*", "é", "https?",
	} {
		f.Add(s)
	}
	o := getOracle(f)
	reg := Default()
	f.Fuzz(func(t *testing.T, pattern string) {
		var got []protoPort
		for proto, p := range reg.ServicePorts(pattern) {
			got = append(got, protoPort{proto, p})
		}
		if !isASCII(pattern) || strings.ContainsAny(pattern, "[\\\x01") {
			return
		}
		want := o.servicePorts(pattern)
		if strings.ContainsAny(pattern, "*?") {
			got, want = sortedPairs(got), sortedPairs(want)
		}
		if !slices.Equal(want, got) {
			t.Fatalf("ServicePorts(%q): %d pairs, the oracle %d:\n%s", pattern, len(got), len(want), cmp.Diff(want, got))
		}
	})
}

// FuzzParse checks that Parse does not panic on any body after the
// header, and that the lookups of a registry it returns find each record
// and do not panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"echo,7,tcp,Echo,[Jon_Postel],[Jon_Postel],,,,,,\n",
		"a,1-3,,x,,,,,,,,\nb,2,udp,,,,,,,,,\n",
		"ftp,21,tcp,File Transfer,,,,,[RFC959],,,\nftp-data,20,tcp,FTP data,,,,,[RFC959],,,\n",
		"x,,,,,,,,,,,\n\n",
		"A-B,65535,SCTP,\"q\"\"\n\",,,,,,,,\n",
		"a,1,tcp\n", "a,99999,tcp,,,,,,,,,\n", "\"", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		reg, err := Parse(headerLine + body)
		if err != nil {
			var ce *CSVError
			if !errors.As(err, &ce) || ce.Line < 1 {
				t.Fatalf("Parse error %v (%T) is not a *CSVError with a line", err, err)
			}
			return
		}
		for rec := range reg.All() {
			if rec.Name != "" && !slices.Contains(slices.Collect(reg.Name(rec.Name)), rec) {
				t.Fatalf("Name(%q) does not find its record", rec.Name)
			}
			if rec.HasPort && !slices.Contains(slices.Collect(reg.Port(ports.ProtoAny, rec.Ports.Last)), rec) {
				t.Fatalf("Port(any, %d) does not find record %+v", rec.Ports.Last, *rec)
			}
			for _, rel := range reg.Related(rec.Name) {
				if rel.Reason == "" || len(rel.Ports) == 0 {
					t.Fatalf("Related(%q) has %+v", rec.Name, rel)
				}
			}
			for range reg.ServicePorts(rec.Name + "*") {
			}
		}
	})
}
