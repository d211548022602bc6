package cli

import (
	"strings"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/procattr"
)

func TestPortsFilter(t *testing.T) {
	for _, tt := range []struct {
		tcp, udp []ports.Port
		want     string
	}{
		{nil, nil, "less 1"},
		{[]ports.Port{22}, nil, "(tcp and (port 22))"},
		{[]ports.Port{80, 81, 82, 443}, []ports.Port{53}, "(tcp and (portrange 80-82 or port 443)) or (udp and (port 53))"},
	} {
		got := portsFilter(tt.tcp, tt.udp)
		if got != tt.want {
			t.Errorf("portsFilter(%v, %v) = %q, want %q", tt.tcp, tt.udp, got, tt.want)
		}
		// The kernel gets it compiled: it must compile, with the user's filter too.
		for _, expr := range []string{got, combineFilters("host 127.0.0.1", got)} {
			if _, err := filter.Compile(expr, pcapfile.LinkTypeEthernet, 262144); err != nil {
				t.Errorf("%q does not compile: %v", expr, err)
			}
		}
	}
	// Past maxFilterRanges ranges, the whole protocol.
	var many []ports.Port
	for p := ports.Port(1000); p < 1000+2*(maxFilterRanges+1); p += 2 {
		many = append(many, p)
	}
	if got := portsFilter(many, nil); got != "tcp" {
		t.Errorf("%d ranges: %q, want tcp", len(many), got)
	}
}

// FuzzParseProcComment: any comment parses or is refused without a
// panic, and what appendProcComment writes reads back.
func FuzzParseProcComment(f *testing.F) {
	f.Add("curl", 42, "nginx: worker", 7)
	f.Add("a/b", 1, "-", 0)
	f.Fuzz(func(t *testing.T, src string, spid int, dst string, dpid int) {
		parseProcComment([]byte(src + dst)) // anything: no panic
		var a procattr.Attribution
		if spid > 0 && src != "" {
			a.Src = &procattr.Process{PID: spid, Name: src}
		}
		if dpid > 0 && dst != "" {
			a.Dst = &procattr.Process{PID: dpid, Name: dst}
		}
		c := appendProcComment(nil, a)
		v, ok := parseProcComment(c)
		if strings.Contains(src+dst, " > ") || strings.ContainsAny(src+dst, "\x00") {
			return // names that the text form cannot carry unambiguously
		}
		if !ok {
			t.Fatalf("%q: not read back", c)
		}
		if (a.Src == nil) != (v.Src == nil) || a.Src != nil && (v.Src.PID != spid || v.Src.Name != src) {
			t.Fatalf("%q: src %+v", c, v.Src)
		}
		if (a.Dst == nil) != (v.Dst == nil) || a.Dst != nil && (v.Dst.PID != dpid || v.Dst.Name != dst) {
			t.Fatalf("%q: dst %+v", c, v.Dst)
		}
	})
}
