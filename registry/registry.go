// Package registry is the IANA Service Name and Transport Protocol Port
// Number Registry: every record of it, embedded in the binary, with
// lookups by port, by service name and by range, and the ports that
// belong together (ftp-data 20 with ftp 21).
//
// The embedded copy is parsed on the first call to Default, never at
// import. The data is IANA's; see SOURCE.txt beside this file.
package registry

import (
	_ "embed"
	"fmt"
	"iter"
	"strings"
	"sync"

	"github.com/portkit/ports"
)

//go:embed service-names-port-numbers.csv
var embedded string

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

// Registry holds the records and their indexes. It is safe for concurrent
// use; indexes are built on the first lookup that needs them.
type Registry struct {
	recs []Record

	portOnce sync.Once
	portIdx  []int32 // single-port record indexes, grouped by port
	portOff  []int32 // portIdx[portOff[p]:portOff[p+1]] are port p's records
	ranges   []int32 // records that span several ports

	nameOnce sync.Once
	byName   map[string][]int32 // lower-case name -> record indexes
	names    []string           // distinct lower-case names, in registry order
}

// Default returns the registry embedded in the binary, parsing it on the
// first call.
func Default() *Registry { return defaultRegistry() }

var defaultRegistry = sync.OnceValue(func() *Registry {
	r, err := Parse(embedded)
	if err != nil {
		// The embedded file is checked by the tests; a failure here is a
		// build from a corrupted tree.
		panic("registry: embedded CSV: " + err.Error())
	}
	return r
})

// Parse reads a registry in IANA's CSV layout (the header row, then
// records of 12 fields). The records keep substrings of data.
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
	// The IANA file has about 14,500 records over 15,400 lines.
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

func (r *Registry) buildPortIndex() {
	count := make([]int32, 65537)
	for i := range r.recs {
		rec := &r.recs[i]
		switch {
		case !rec.HasPort:
		case rec.Ports.First == rec.Ports.Last:
			count[int(rec.Ports.First)+1]++
		default:
			r.ranges = append(r.ranges, int32(i))
		}
	}
	for p := 1; p < len(count); p++ {
		count[p] += count[p-1]
	}
	r.portOff = count
	r.portIdx = make([]int32, count[65536])
	next := make([]int32, 65536)
	copy(next, count[:65536])
	for i := range r.recs {
		rec := &r.recs[i]
		if rec.HasPort && rec.Ports.First == rec.Ports.Last {
			p := rec.Ports.First
			r.portIdx[next[p]] = int32(i)
			next[p]++
		}
	}
}

// Port yields the records that cover port p for proto, in registry order:
// those for the port alone, then the ranges that contain it. With
// ProtoAny it yields the records of every protocol.
func (r *Registry) Port(proto ports.Proto, p ports.Port) iter.Seq[*Record] {
	return func(yield func(*Record) bool) {
		r.portOnce.Do(r.buildPortIndex)
		for _, i := range r.portIdx[r.portOff[p]:r.portOff[int(p)+1]] {
			rec := &r.recs[i]
			if protoMatch(proto, rec.Proto) && !yield(rec) {
				return
			}
		}
		for _, i := range r.ranges {
			rec := &r.recs[i]
			if rec.Ports.Contains(p) && protoMatch(proto, rec.Proto) && !yield(rec) {
				return
			}
		}
	}
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

func (r *Registry) buildNameIndex() {
	r.byName = make(map[string][]int32, len(r.recs))
	for i := range r.recs {
		name := r.recs[i].Name
		if name == "" {
			continue
		}
		key := lower(name)
		if _, ok := r.byName[key]; !ok {
			r.names = append(r.names, key)
		}
		r.byName[key] = append(r.byName[key], int32(i))
	}
}

// lower returns s in lower case, without allocating when it already is
// (as almost every IANA name is).
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Name yields the records whose service name is name, ignoring case, in
// registry order.
func (r *Registry) Name(name string) iter.Seq[*Record] {
	return func(yield func(*Record) bool) {
		r.nameOnce.Do(r.buildNameIndex)
		for _, i := range r.byName[lower(name)] {
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
// (ignoring case; * and ? are wildcards).
func (r *Registry) ServicePorts(pattern string) iter.Seq2[ports.Proto, ports.Port] {
	return func(yield func(ports.Proto, ports.Port) bool) {
		emit := func(idx []int32) bool {
			for _, i := range idx {
				rec := &r.recs[i]
				if !rec.HasPort || rec.Proto == ports.ProtoAny {
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
		r.nameOnce.Do(r.buildNameIndex)
		pat := lower(pattern)
		if !strings.ContainsAny(pat, "*?") {
			emit(r.byName[pat])
			return
		}
		for _, name := range r.names {
			if globMatch(pat, name) && !emit(r.byName[name]) {
				return
			}
		}
	}
}

// Registered implements ports.ServiceResolver: it reports whether a
// service name is assigned to port p for proto (any protocol for
// ProtoAny).
func (r *Registry) Registered(proto ports.Proto, p ports.Port) bool {
	for rec := range r.Port(proto, p) {
		if rec.Name != "" && rec.Proto != ports.ProtoAny {
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
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == name[nx]):
			px++
			nx++
		case px < len(pattern) && pattern[px] == '*':
			starP, starN = px, nx
			px++
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
