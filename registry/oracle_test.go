package registry

import (
	"encoding/csv"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portkit/ports"
)

// csvFile is the registry file that embedded is read from.
const csvFile = "service-names-port-numbers.csv"

// oracle is the registry CSV read with encoding/csv and converted with
// strconv, sharing no code with Parse; tests compare the Registry with it.
type oracle struct {
	data string
	rows [][]string // without the header
	recs []Record   // rows[i] converted

	namesOnce sync.Once
	names     []string         // distinct lower-case names, in order of first appearance
	byName    map[string][]int // lower-case name -> record numbers
}

var loadOracle = sync.OnceValues(func() (*oracle, error) {
	b, err := os.ReadFile(csvFile)
	if err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", csvFile)
	}
	o := &oracle{data: string(b), rows: rows[1:]}
	for i, row := range o.rows {
		rec, err := oracleRecord(row)
		if err != nil {
			return nil, fmt.Errorf("%s: record %d: %v", csvFile, i+1, err)
		}
		o.recs = append(o.recs, rec)
	}
	return o, nil
})

func getOracle(t testing.TB) *oracle {
	t.Helper()
	o, err := loadOracle()
	if err != nil {
		t.Fatalf("reading %s with encoding/csv: %v", csvFile, err)
	}
	return o
}

var oracleProtos = map[string]ports.Proto{
	"": ports.ProtoAny, "tcp": ports.ProtoTCP, "udp": ports.ProtoUDP,
	"sctp": ports.ProtoSCTP, "dccp": ports.ProtoDCCP,
}

func oracleRecord(f []string) (Record, error) {
	if len(f) != 12 {
		return Record{}, fmt.Errorf("%d fields", len(f))
	}
	rec := Record{
		Name: f[0], Description: f[3], Assignee: f[4], Contact: f[5],
		Registered: f[6], Modified: f[7], Reference: f[8], ServiceCode: f[9],
		Unauthorized: f[10], Notes: f[11],
	}
	if f[1] != "" {
		a, b, isRange := strings.Cut(f[1], "-")
		if !isRange {
			b = a
		}
		first, err := strconv.ParseUint(a, 10, 16)
		if err != nil {
			return Record{}, err
		}
		last, err := strconv.ParseUint(b, 10, 16)
		if err != nil {
			return Record{}, err
		}
		rec.Ports = ports.Range{First: ports.Port(first), Last: ports.Port(last)}
		rec.HasPort = true
	}
	p, ok := oracleProtos[f[2]]
	if !ok {
		return Record{}, fmt.Errorf("protocol %q", f[2])
	}
	rec.Proto = p
	return rec, nil
}

// covers reports whether rec is a record for port p and protocol proto, as
// Registry.Port defines it: a record without a protocol answers for all.
func (rec *Record) oracleCovers(proto ports.Proto, p ports.Port) bool {
	return rec.HasPort && rec.Ports.First <= p && p <= rec.Ports.Last &&
		(proto == ports.ProtoAny || rec.Proto == ports.ProtoAny || rec.Proto == proto)
}

// portIndexes is the oracle for Registry.Port: indexes of the records
// for p alone, then of the ranges holding p, each in file order.
func (o *oracle) portIndexes(proto ports.Proto, p ports.Port) []int {
	var single, ranges []int
	for i := range o.recs {
		rec := &o.recs[i]
		if !rec.oracleCovers(proto, p) {
			continue
		}
		if rec.Ports.First == rec.Ports.Last {
			single = append(single, i)
		} else {
			ranges = append(ranges, i)
		}
	}
	return append(single, ranges...)
}

// servicePorts is the oracle for Registry.ServicePorts: path.Match over
// the lower-case names in order of first appearance, each name's records
// in file order (valid for patterns without '[', '\\' or '\x01').
func (o *oracle) servicePorts(pattern string) []protoPort {
	pattern = strings.ToLower(pattern)
	o.namesOnce.Do(func() {
		o.byName = map[string][]int{}
		for i := range o.recs {
			n := strings.ToLower(o.recs[i].Name)
			if n == "" {
				continue
			}
			if _, ok := o.byName[n]; !ok {
				o.names = append(o.names, n)
			}
			o.byName[n] = append(o.byName[n], i)
		}
	})
	names, byName := o.names, o.byName
	var out []protoPort
	// path.Match's wildcards do not match '/', which a few names hold
	// ("cl/1"): swap it for a byte that is in no name or test pattern.
	pattern = strings.ReplaceAll(pattern, "/", "\x01")
	for _, n := range names {
		if ok, _ := path.Match(pattern, strings.ReplaceAll(n, "/", "\x01")); !ok {
			continue
		}
		for _, i := range byName[n] {
			rec := &o.recs[i]
			if !rec.HasPort {
				continue
			}
			for p := int(rec.Ports.First); p <= int(rec.Ports.Last); p++ {
				out = append(out, protoPort{rec.Proto, ports.Port(p)})
			}
		}
	}
	return out
}

type protoPort struct {
	Proto ports.Proto
	Port  ports.Port
}

// indexOf maps the Registry's record pointers back to record numbers.
func indexOf(r *Registry) map[*Record]int {
	m := make(map[*Record]int, r.Len())
	for i := range r.Len() {
		m[r.Record(i)] = i
	}
	return m
}
