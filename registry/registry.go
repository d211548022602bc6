// Package registry is the IANA Service Name and Transport Protocol Port
// Number Registry: every record of it, embedded in the binary, with
// lookups by port, by service name and by range, and the ports that
// belong together (ftp-data 20 with ftp 21).
//
// The registry is compiled in: go generate turns IANA's CSV
// (service-names-port-numbers.csv beside this file) into zdata.go, a
// composite literal that the linker lays out as static data, so a run
// that looks up one port pays nothing to load 14,500 records; parsing the
// CSV at start-up took about 5 ms, four times the whole run of
// `getent services` (see bench/info.sh). Parse reads a CSV at run time,
// for a newer copy of the registry. The data is IANA's; see SOURCE.txt.
package registry

//go:generate go run ./internal/gen -in service-names-port-numbers.csv -out zdata.go

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/portkit/ports"
	"github.com/portkit/ports/registry/internal/regindex"
)

// Record is one row of the registry. Strings are as IANA wrote them,
// with surrounding brackets kept ("[RFC6335]", "[Jon_Postel]").
type Record struct {
	Name        string      // service name; "" for Reserved and Unassigned rows
	Ports       ports.Range // the port or range; zero when !HasPort
	HasPort     bool        // false for the service-name-only rows (DNS-SD names)
	Proto       ports.Proto // ProtoAny when the row names no protocol
	Description string
	Assignee    string
	Contact     string
	Registered  string // Registration Date, YYYY-MM-DD or ""
	Modified    string // Modification Date, YYYY-MM-DD or ""
	Reference   string
	ServiceCode string
	// Unauthorized is the "Unauthorized Use Reported" column: IANA's
	// note that the port is used without assignment, or "".
	Unauthorized string
	Notes        string // Assignment Notes
}

// IsAssigned reports whether the record assigns a service name (rather
// than marking ports Reserved or Unassigned).
func (r *Record) IsAssigned() bool { return r.Name != "" }

// Registry holds the records and their indexes. It is safe for
// concurrent use.
type Registry struct {
	recs []Record

	idxOnce sync.Once
	idx     regindex.Index
}

// Default returns the registry compiled into the binary. Its records and
// indexes are static data: nothing is parsed or built.
func Default() *Registry { return defaultRegistry() }

var defaultRegistry = sync.OnceValue(func() *Registry {
	r := &Registry{recs: records[:]}
	r.idxOnce.Do(func() {})
	r.idx = regindex.Index{
		ByPort: indexByPort[:], Ranges: indexRanges[:], MaxRangeLen: indexMaxRangeLen, NamedRanges: indexNamedRanges[:],
		Names: indexNames[:], Recs: indexRecs[:],
	}
	return r
})

// index returns the indexes, building them on first use for a registry
// read by Parse.
func (r *Registry) index() *regindex.Index {
	r.idxOnce.Do(func() {
		r.idx = regindex.Build(len(r.recs), func(i int) regindex.Entry {
			rec := &r.recs[i]
			return regindex.Entry{Name: rec.Name, First: uint16(rec.Ports.First), Last: uint16(rec.Ports.Last), HasPort: rec.HasPort}
		})
	})
	return &r.idx
}

// Parse reads a registry in IANA's CSV layout (the header row, then
// records of 12 fields), such as a newer download of
// https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv.
// The records keep substrings of data.
func Parse(data string) (*Registry, error) {
	cr := csvReader{data: data, line: 1}
	var f [numFields]string
	n, err := cr.next(f[:])
	if err != nil {
		return nil, err
	}
	if n != numFields || f != header {
		return nil, &CSVError{Line: 1, Msg: "not the IANA service-names-port-numbers header"}
	}
	reg := &Registry{recs: make([]Record, 0, strings.Count(data, "\n"))}
	for {
		line := cr.line
		n, err := cr.next(f[:])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if n == 1 && f[0] == "" {
			continue // blank line
		}
		if n != numFields {
			return nil, &CSVError{Line: line, Msg: fmt.Sprintf("%d fields, want %d", n, numFields)}
		}
		if len(reg.recs) == 1<<16-1 {
			return nil, &CSVError{Line: line, Msg: "more than 65535 records"}
		}
		rec := Record{
			Name: f[0], Description: f[3], Assignee: f[4], Contact: f[5],
			Registered: f[6], Modified: f[7], Reference: f[8], ServiceCode: f[9],
			Unauthorized: f[10], Notes: f[11],
		}
		if f[1] != "" {
			if rec.Ports, err = ports.ParseRange(f[1]); err != nil {
				return nil, &CSVError{Line: line, Msg: err.Error()}
			}
			rec.HasPort = true
		}
		if rec.Proto, err = ports.ParseProto(f[2]); err != nil {
			return nil, &CSVError{Line: line, Msg: err.Error()}
		}
		reg.recs = append(reg.recs, rec)
	}
	return reg, nil
}

// Len returns the number of records.
func (r *Registry) Len() int { return len(r.recs) }

// Record returns the i'th record, in registry order.
func (r *Registry) Record(i int) *Record { return &r.recs[i] }

// All yields every record in registry order.
func (r *Registry) All() iter.Seq[*Record] {
	return func(yield func(*Record) bool) {
		for i := range r.recs {
			if !yield(&r.recs[i]) {
				return
			}
		}
	}
}

// Port yields the records that cover port p for proto: those for the port
// alone, in registry order, then the ranges that contain it, by first
// port. With
// ProtoAny it yields the records of every protocol.
func (r *Registry) Port(proto ports.Proto, p ports.Port) iter.Seq[*Record] {
	return func(yield func(*Record) bool) {
		x := r.index()
		i, _ := slices.BinarySearchFunc(x.ByPort, p, func(ri uint16, p ports.Port) int {
			return cmp.Compare(r.recs[ri].Ports.First, p)
		})
		for ; i < len(x.ByPort) && r.recs[x.ByPort[i]].Ports.First == p; i++ {
			rec := &r.recs[x.ByPort[i]]
			if protoMatch(proto, rec.Proto) && !yield(rec) {
				return
			}
		}
		for _, ri := range r.rangesNear(x.Ranges, p) {
			rec := &r.recs[ri]
			if rec.Ports.Contains(p) && protoMatch(proto, rec.Proto) && !yield(rec) {
				return
			}
		}
	}
}

// rangesNear returns the part of rs (range records sorted by first port)
// that could hold p: those starting at most MaxRangeLen-1 ports before it.
func (r *Registry) rangesNear(rs []uint16, p ports.Port) []uint16 {
	x := r.index()
	first := func(ri uint16, p int) int { return cmp.Compare(int(r.recs[ri].Ports.First), p) }
	lo, _ := slices.BinarySearchFunc(rs, int(p)-int(x.MaxRangeLen)+1, first)
	hi, _ := slices.BinarySearchFunc(rs, int(p)+1, first)
	return rs[lo:hi]
}

// protoMatch reports whether a record for have answers a query for want.
// A record without a protocol (a range of Unassigned ports) answers all.
func protoMatch(want, have ports.Proto) bool {
	return want == ports.ProtoAny || have == ports.ProtoAny || want == have
}

// Range yields the records that overlap rg for proto, in registry order.
func (r *Registry) Range(proto ports.Proto, rg ports.Range) iter.Seq[*Record] {
	return func(yield func(*Record) bool) {
		for i := range r.recs {
			rec := &r.recs[i]
			if rec.HasPort && rec.Ports.First <= rg.Last && rec.Ports.Last >= rg.First &&
				protoMatch(proto, rec.Proto) && !yield(rec) {
				return
			}
		}
	}
}

// nameRecs returns the numbers of the records named name (in lower
// case).
func (r *Registry) nameRecs(name string) []uint16 {
	x := r.index()
	i, ok := slices.BinarySearchFunc(x.Names, name, func(n regindex.Name, name string) int {
		return strings.Compare(n.Name, name)
	})
	if !ok {
		return nil
	}
	n := x.Names[i]
	return x.Recs[n.First : n.First+n.Count]
}

// Name yields the records whose service name is name, ignoring case, in
// registry order.
func (r *Registry) Name(name string) iter.Seq[*Record] {
	return func(yield func(*Record) bool) {
		for _, i := range r.nameRecs(regindex.Lower(name)) {
			if !yield(&r.recs[i]) {
				return
			}
		}
	}
}

// Search yields, in registry order, the assigned records whose service
// name contains substr, ignoring case; with inDescription, also those
// whose description does.
func (r *Registry) Search(substr string, inDescription bool) iter.Seq[*Record] {
	needle := strings.ToLower(substr)
	return func(yield func(*Record) bool) {
		for i := range r.recs {
			rec := &r.recs[i]
			if rec.Name == "" {
				continue
			}
			if containsFold(rec.Name, needle) || inDescription && containsFold(rec.Description, needle) {
				if !yield(rec) {
					return
				}
			}
		}
	}
}

// containsFold reports whether s contains the lower-case needle, ignoring
// ASCII case, without allocating.
func containsFold(s, needle string) bool {
	if len(needle) == 0 {
		return true
	}
	for i := 0; i+len(needle) <= len(s); i++ {
		j := 0
		for j < len(needle) {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
			j++
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}

// ServicePorts implements ports.ServiceResolver: it yields the protocol
// and port of each record with a port whose name matches pattern
// (ignoring case; * and ? are wildcards), with ProtoAny for a record that
// names no protocol. Exact names come in registry order, wildcard
// matches by name.
func (r *Registry) ServicePorts(pattern string) iter.Seq2[ports.Proto, ports.Port] {
	return func(yield func(ports.Proto, ports.Port) bool) {
		emit := func(idx []uint16) bool {
			for _, i := range idx {
				rec := &r.recs[i]
				if !rec.HasPort {
					continue
				}
				for p := int(rec.Ports.First); p <= int(rec.Ports.Last); p++ {
					if !yield(rec.Proto, ports.Port(p)) {
						return false
					}
				}
			}
			return true
		}
		pat := regindex.Lower(pattern)
		if !strings.ContainsAny(pat, "*?") {
			emit(r.nameRecs(pat))
			return
		}
		x := r.index()
		for _, n := range x.Names {
			if globMatch(pat, n.Name) && !emit(x.Recs[n.First:n.First+n.Count]) {
				return
			}
		}
	}
}

// Registered implements ports.ServiceResolver: it reports whether a
// service name is assigned to port p for proto (any protocol for
// ProtoAny). A named record without a protocol (a few old ones, such as
// flex-lm 27000-27009) counts for every protocol.
func (r *Registry) Registered(proto ports.Proto, p ports.Port) bool {
	x := r.index()
	i, _ := slices.BinarySearchFunc(x.ByPort, p, func(ri uint16, p ports.Port) int {
		return cmp.Compare(r.recs[ri].Ports.First, p)
	})
	for ; i < len(x.ByPort) && r.recs[x.ByPort[i]].Ports.First == p; i++ {
		if rec := &r.recs[x.ByPort[i]]; rec.Name != "" && protoMatch(proto, rec.Proto) {
			return true
		}
	}
	for _, ri := range r.rangesNear(x.NamedRanges, p) {
		if rec := &r.recs[ri]; rec.Ports.Contains(p) && protoMatch(proto, rec.Proto) {
			return true
		}
	}
	return false
}

var _ ports.ServiceResolver = (*Registry)(nil)

// globMatch matches name against pattern with * and ? wildcards.
func globMatch(pattern, name string) bool {
	px, nx := 0, 0
	starP, starN := -1, 0
	for nx < len(name) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			starP, starN = px, nx
			px++
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == name[nx]):
			px++
			nx++
		case starP >= 0:
			px = starP + 1
			starN++
			nx = starN
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
