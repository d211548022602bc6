package registry

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portkit/ports"
)

// oracleFamily is the part of a lower-case name before its first hyphen
// (not counting a hyphen in first place).
func oracleFamily(name string) string {
	if i := strings.IndexByte(name, '-'); i > 0 {
		return name[:i]
	}
	return name
}

// named returns the oracle's records named name, ignoring case.
func (o *oracle) named(name string) []*Record {
	var out []*Record
	for i := range o.recs {
		if o.recs[i].Name != "" && strings.EqualFold(o.recs[i].Name, name) {
			out = append(out, &o.recs[i])
		}
	}
	return out
}

// mentionsWord reports whether desc holds word as a whole word, ignoring
// case; a word character is an ASCII letter or digit.
func mentionsWord(desc, word string) bool {
	return regexp.MustCompile(`(?i)(^|[^a-z0-9])` + regexp.QuoteMeta(word) + `($|[^a-z0-9])`).MatchString(desc)
}

// justified reports whether the CSV bears out reason as a tie between
// the services a (the query) and b (the relation).
func (o *oracle) justified(a, b, reason string) bool {
	A, B := o.named(a), o.named(b)
	any := func(f func(ra, rb *Record) bool) bool {
		for _, ra := range A {
			for _, rb := range B {
				if f(ra, rb) {
					return true
				}
			}
		}
		return false
	}
	if next, ok := strings.CutPrefix(reason, "next to "); ok {
		return any(func(ra, rb *Record) bool {
			d := int(ra.Ports.First) - int(rb.Ports.First)
			return ra.HasPort && rb.HasPort && -2 <= d && d <= 2 &&
				next == ra.Name+" "+strconv.Itoa(int(ra.Ports.First))
		})
	}
	if ref, ok := strings.CutPrefix(reason, "shared reference "); ok {
		return strings.HasPrefix(ref, "[") && strings.HasSuffix(ref, "]") && ref != "[RFC6335]" &&
			any(func(ra, rb *Record) bool {
				return strings.Contains(ra.Reference, ref) && strings.Contains(rb.Reference, ref)
			})
	}
	if who, ok := strings.CutPrefix(reason, "same assignee "); ok {
		return who != "" && any(func(ra, rb *Record) bool { return ra.Assignee == who && rb.Assignee == who })
	}
	if word, ok := strings.CutPrefix(reason, "description names "); ok {
		fa, fb := oracleFamily(strings.ToLower(a)), oracleFamily(strings.ToLower(b))
		// b's description names a's family, or a's names b's.
		return word == fa && any(func(_, rb *Record) bool { return mentionsWord(rb.Description, fa) }) ||
			word == fb && any(func(ra, _ *Record) bool { return mentionsWord(ra.Description, fb) })
	}
	return false
}

// checkRelations returns the ways in which Related's result for query
// breaks its promises.
func checkRelations(o *oracle, query string, rels []Relation) []string {
	var bad []string
	errorf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	for i, rel := range rels {
		if rel.Reason == "" {
			errorf("Related(%q): %s has no reason", query, rel.Name)
		} else if !o.justified(query, rel.Name, rel.Reason) {
			errorf("Related(%q): %s: the registry does not bear out %q", query, rel.Name, rel.Reason)
		}
		if strings.EqualFold(rel.Name, query) {
			errorf("Related(%q) names the service itself", query)
		}
		recs := o.named(rel.Name)
		if len(recs) == 0 || recs[0].Name != rel.Name {
			errorf("Related(%q): %q is not a name as IANA wrote it", query, rel.Name)
		}
		if len(rel.Ports) == 0 {
			errorf("Related(%q): %s has no ports", query, rel.Name)
			continue
		}
		if i > 0 && rels[i-1].Ports[0] > rel.Ports[0] {
			errorf("Related(%q) is not sorted by port: %s %v after %s %v", query, rel.Name, rel.Ports, rels[i-1].Name, rels[i-1].Ports)
		}
		if !slices.IsSorted(rel.Ports) || len(slices.Compact(slices.Clone(rel.Ports))) != len(rel.Ports) {
			errorf("Related(%q): %s ports %v are not distinct and increasing", query, rel.Name, rel.Ports)
		}
		var protos []ports.Proto
		for _, rec := range recs {
			if rec.Proto != ports.ProtoAny && !slices.Contains(protos, rec.Proto) {
				protos = append(protos, rec.Proto)
			}
		}
		for _, p := range rel.Ports {
			if !slices.ContainsFunc(recs, func(rec *Record) bool { return rec.HasPort && rec.Ports.Contains(p) }) {
				errorf("Related(%q): %s has port %d, which none of its records holds", query, rel.Name, p)
			}
		}
		if !slices.Equal(sortedProtos(protos), sortedProtos(rel.Protos)) {
			errorf("Related(%q): %s protocols %v, the records have %v", query, rel.Name, rel.Protos, protos)
		}
	}
	return bad
}

func sortedProtos(p []ports.Proto) []ports.Proto {
	p = slices.Clone(p)
	slices.Sort(p)
	return p
}

func TestRelated(t *testing.T) {
	o := getOracle(t)
	reg := Default()
	tests := []struct {
		name string
		want map[string][]ports.Port // a relation each must include, with its ports
	}{
		{"ftp", map[string][]ports.Port{"ftp-data": {20}}},
		{"ftp-data", map[string][]ports.Port{"ftp": {21}}},
		{"netbios-ns", map[string][]ports.Port{"netbios-dgm": {138}, "netbios-ssn": {139}}},
		{"netbios-dgm", map[string][]ports.Port{"netbios-ns": {137}, "netbios-ssn": {139}}},
		{"netbios-ssn", map[string][]ports.Port{"netbios-ns": {137}, "netbios-dgm": {138}}},
		{"bootps", map[string][]ports.Port{"bootpc": {68}}},
		{"bootpc", map[string][]ports.Port{"bootps": {67}}},
		{"imap", map[string][]ports.Port{"imaps": {993}}},
		{"imaps", map[string][]ports.Port{"imap": {143}}},
		{"http", map[string][]ports.Port{"https": {443}}},
		{"https", map[string][]ports.Port{"http": {80}}},
		{"HTTP", map[string][]ports.Port{"https": {443}}},
		{"snmp", map[string][]ports.Port{"snmptrap": {162}}},
		{"postgresql", nil}, // no family: whatever it returns must be justified
		{"mysql", nil},
		{"domain", nil},
		{"ftpcroco", nil}, // a name without a port
		{"tcpmux", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rels := reg.Related(tt.name)
			for _, rel := range rels {
				t.Logf("%s: %s %v %v (%s)", tt.name, rel.Name, rel.Ports, rel.Protos, rel.Reason)
			}
			for _, problem := range checkRelations(o, tt.name, rels) {
				t.Error(problem)
			}
			for name, wantPorts := range tt.want {
				i := slices.IndexFunc(rels, func(r Relation) bool { return r.Name == name })
				if i < 0 {
					t.Errorf("Related(%q) lacks %s", tt.name, name)
					continue
				}
				if diff := cmp.Diff(wantPorts, rels[i].Ports); diff != "" {
					t.Errorf("Related(%q): %s ports (-want +got):\n%s", tt.name, name, diff)
				}
			}
		})
	}
	for _, name := range []string{"", "ab", "nosuchservice"} {
		if rels := reg.Related(name); len(rels) != 0 {
			t.Errorf("Related(%q) = %v, want none", name, rels)
		}
	}
	if diff := cmp.Diff(reg.Related("http"), reg.Related("HtTp")); diff != "" {
		t.Errorf("Related is not case-blind (-http +HtTp):\n%s", diff)
	}
}

// TestRelatedAll checks every service name: each relation is justified
// by the registry, and relations between services with ports go both
// ways.
func TestRelatedAll(t *testing.T) {
	if testing.Short() {
		t.Skip("every name of the registry")
	}
	o := getOracle(t)
	reg := Default()
	hasPort := map[string]bool{}
	var names []string
	for _, rec := range o.recs {
		n := strings.ToLower(rec.Name)
		if n == "" {
			continue
		}
		if _, ok := hasPort[n]; !ok {
			names = append(names, n)
		}
		hasPort[n] = hasPort[n] || rec.HasPort
	}
	related := map[string][]string{}
	problems := 0
	for _, n := range names {
		rels := reg.Related(n)
		for _, problem := range checkRelations(o, n, rels) {
			if problems++; problems <= 10 {
				t.Error(problem)
			}
		}
		for _, rel := range rels {
			related[n] = append(related[n], strings.ToLower(rel.Name))
		}
	}
	if problems > 10 {
		t.Errorf("... %d problems in all", problems)
	}
	asym := 0
	for a, bs := range related {
		for _, b := range bs {
			if hasPort[a] && hasPort[b] && !slices.Contains(related[b], a) {
				if asym++; asym <= 10 {
					t.Errorf("Related(%q) has %q, but Related(%q) = %v", a, b, b, related[b])
				}
			}
		}
	}
}
