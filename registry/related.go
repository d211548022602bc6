package registry

import (
	"slices"
	"strconv"
	"strings"

	"github.com/portkit/ports"
	"github.com/portkit/ports/registry/internal/regindex"
)

// Relation is a service related to another one, with the evidence the
// registry gives for it.
type Relation struct {
	Name   string       // service name, as IANA wrote it
	Ports  []ports.Port // its distinct ports, increasing
	Protos []ports.Proto
	Reason string // why it is related, e.g. "next to ftp-data 20" or "shared reference [RFC959]"
}

// Related returns the services that belong with the service name: those
// whose names are of one family (ftp and ftp-data, http and https, snmp
// and snmptrap, bootps and bootpc) and that the registry also ties
// together by adjacent ports, a shared reference, a shared assignee, or a
// description that names the other. Nothing is hand-listed; the
// relations are derived from the records each call. The result is sorted
// by port.
func (r *Registry) Related(name string) []Relation {
	key := regindex.Lower(name)
	self := r.nameRecs(key)
	if len(self) == 0 || len(key) < 3 {
		return nil
	}
	// familyLinked names share at least their first three letters, and
	// the names are sorted: look only at that stretch.
	x := r.index()
	prefix := key[:3]
	lo, _ := slices.BinarySearchFunc(x.Names, prefix, func(n regindex.Name, p string) int { return strings.Compare(n.Name, p) })
	var out []Relation
	for _, n := range x.Names[lo:] {
		other := n.Name
		if !strings.HasPrefix(other, prefix) {
			break
		}
		if other == key || !familyLinked(key, other) {
			continue
		}
		recs := x.Recs[n.First : n.First+n.Count]
		reason := r.evidence(self, key, recs, other)
		if reason == "" {
			continue
		}
		rel := Relation{Name: r.recs[recs[0]].Name, Reason: reason}
		for _, i := range recs {
			rec := &r.recs[i]
			if !rec.HasPort {
				continue
			}
			for p := int(rec.Ports.First); p <= int(rec.Ports.Last) && p-int(rec.Ports.First) < 64; p++ {
				if !slices.Contains(rel.Ports, ports.Port(p)) {
					rel.Ports = append(rel.Ports, ports.Port(p))
				}
			}
			if rec.Proto != ports.ProtoAny && !slices.Contains(rel.Protos, rec.Proto) {
				rel.Protos = append(rel.Protos, rec.Proto)
			}
		}
		if len(rel.Ports) == 0 {
			continue
		}
		slices.Sort(rel.Ports)
		out = append(out, rel)
	}
	slices.SortStableFunc(out, func(a, b Relation) int { return int(a.Ports[0]) - int(b.Ports[0]) })
	return out
}

// family returns the part of a lower-case service name before its first
// hyphen: "ftp" for "ftp-data".
func family(name string) string {
	if i := strings.IndexByte(name, '-'); i > 0 {
		return name[:i]
	}
	return name
}

// familyLinked reports whether two lower-case names look like one
// protocol's parts: one family is a prefix of the other's (ftp, ftp-data;
// http, https; snmp, snmptrap), or they differ only in a last letter
// (bootps, bootpc).
func familyLinked(a, b string) bool {
	fa, fb := family(a), family(b)
	if len(fa) > len(fb) {
		fa, fb = fb, fa
	}
	if len(fa) < 3 {
		return false
	}
	if strings.HasPrefix(fb, fa) {
		return true
	}
	return len(fa) == len(fb) && len(fa) >= 5 && fa[:len(fa)-1] == fb[:len(fb)-1]
}

// evidence returns why records a (named an) and b (named bn) belong
// together, or "" if the registry does not tie them.
func (r *Registry) evidence(a []uint16, an string, b []uint16, bn string) string {
	for _, i := range a {
		ra := &r.recs[i]
		for _, j := range b {
			rb := &r.recs[j]
			if ra.HasPort && rb.HasPort && absDiff(ra.Ports.First, rb.Ports.First) <= 2 {
				// Name the port it is next to: a service has several
				// ports (http-alt: 591, 8008, 8080), and "adjacent"
				// alone reads as next to the port that was asked about.
				return "next to " + ra.Name + " " + strconv.Itoa(int(ra.Ports.First))
			}
		}
	}
	for _, i := range a {
		ra := &r.recs[i]
		for _, j := range b {
			rb := &r.recs[j]
			if ref := sharedRef(ra.Reference, rb.Reference); ref != "" {
				return "shared reference " + ref
			}
		}
	}
	for _, i := range a {
		ra := &r.recs[i]
		for _, j := range b {
			rb := &r.recs[j]
			if ra.Assignee != "" && ra.Assignee == rb.Assignee {
				return "same assignee " + ra.Assignee
			}
		}
	}
	for _, i := range a {
		for _, j := range b {
			if mentions(r.recs[j].Description, family(an)) {
				return "description names " + family(an)
			}
			if mentions(r.recs[i].Description, family(bn)) {
				return "description names " + family(bn)
			}
		}
	}
	return ""
}

func absDiff(a, b ports.Port) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// sharedRef returns the first bracketed reference in both a and b, other
// than RFC 6335 (which covers the whole registry).
func sharedRef(a, b string) string {
	for a != "" {
		i := strings.IndexByte(a, '[')
		j := strings.IndexByte(a, ']')
		if i < 0 || j < i {
			return ""
		}
		ref := a[i : j+1]
		a = a[j+1:]
		if ref != "[RFC6335]" && !isFootnote(ref) && strings.Contains(b, ref) {
			return ref
		}
	}
	return ""
}

// isFootnote reports whether ref is a bare footnote number like "[1]".
func isFootnote(ref string) bool {
	for i := 1; i < len(ref)-1; i++ {
		if ref[i] < '0' || ref[i] > '9' {
			return false
		}
	}
	return true
}

// mentions reports whether desc holds word as a whole word, ignoring case.
func mentions(desc, word string) bool {
	d := strings.ToLower(desc)
	for off := 0; ; {
		i := strings.Index(d[off:], word)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(word)
		if (i == 0 || !isWordByte(d[i-1])) && (end == len(d) || !isWordByte(d[end])) {
			return true
		}
		off = i + 1
	}
}

func isWordByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
