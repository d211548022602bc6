package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/portkit/ports"
)

var seedFlag = flag.Uint64("registry.seed", 0, "seed for the per-run random samples (0: from the clock)")

// runSeed returns the seed of this run's random samples, logging it so that
// a failure can be repeated with -registry.seed.
func runSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("per-run seed %d (repeat with -registry.seed=%d)", seed, seed)
	return seed
}

func TestEmbeddedMatchesCSV(t *testing.T) {
	o := getOracle(t)
	reg := Default()

	if len(o.recs) != 14500 {
		t.Errorf("encoding/csv reads %d records, want 14500 (SOURCE.txt)", len(o.recs))
	}
	if reg.Len() != len(o.recs) {
		t.Fatalf("Default().Len() = %d, encoding/csv reads %d records", reg.Len(), len(o.recs))
	}
	// Parse, the run-time path, must read the same file the same way.
	parsed, err := Parse(o.data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", csvFile, err)
	}
	if parsed.Len() != len(o.recs) {
		t.Fatalf("Parse(%s).Len() = %d, encoding/csv reads %d records", csvFile, parsed.Len(), len(o.recs))
	}

	sample := func(name string, seed uint64) {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
			for range 50 {
				i := rng.IntN(len(o.recs))
				t.Run(strconv.Itoa(i+1), func(t *testing.T) {
					if diff := cmp.Diff(&o.recs[i], reg.Record(i)); diff != "" {
						t.Errorf("record %d, %q (-encoding/csv +Default()):\n%s", i+1, o.rows[i], diff)
					}
					if diff := cmp.Diff(&o.recs[i], parsed.Record(i)); diff != "" {
						t.Errorf("record %d, %q (-encoding/csv +Parse):\n%s", i+1, o.rows[i], diff)
					}
				})
			}
		})
	}
	sample("fixed seed", 20260302)
	sample("per-run seed", runSeed(t))

	t.Run("all", func(t *testing.T) {
		bad := 0
		for i := range o.recs {
			for _, r := range []*Registry{reg, parsed} {
				if diff := cmp.Diff(&o.recs[i], r.Record(i)); diff != "" {
					if bad++; bad <= 5 {
						t.Errorf("record %d (-encoding/csv +Registry):\n%s", i+1, diff)
					}
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d of %d records differ", bad, len(o.recs))
		}
		// All yields the same records, in order.
		i := 0
		for rec := range reg.All() {
			if rec != reg.Record(i) {
				t.Fatalf("All()'s record %d is not Record(%d)", i, i)
			}
			i++
		}
		if i != reg.Len() {
			t.Errorf("All() yielded %d records, want %d", i, reg.Len())
		}
	})
}

// TestSourceFacts checks what SOURCE.txt says about the data against the
// encoding/csv oracle.
func TestSourceFacts(t *testing.T) {
	o := getOracle(t)
	src, err := os.ReadFile("SOURCE.txt")
	if err != nil {
		t.Fatal(err)
	}
	num := func(re string) int {
		t.Helper()
		m := regexp.MustCompile(re).FindSubmatch(src)
		if m == nil {
			t.Fatalf("SOURCE.txt has no match for %s", re)
		}
		n, err := strconv.Atoi(strings.ReplaceAll(string(m[1]), ",", ""))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	count := func(f func(row []string) bool) int {
		n := 0
		for _, row := range o.rows {
			if f(row) {
				n++
			}
		}
		return n
	}
	sum := sha256.Sum256([]byte(o.data))
	if m := regexp.MustCompile(`sha256:\s+([0-9a-f]{64})`).FindSubmatch(src); m == nil || string(m[1]) != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 of %s = %x; SOURCE.txt says %s", csvFile, sum, m)
	}
	if got, want := len(o.data), num(`Size:\s+([\d,]+) bytes`); got != want {
		t.Errorf("size = %d, SOURCE.txt says %d", got, want)
	}
	if got, want := strings.Count(o.data, "\n"), num(`([\d,]+) physical lines`); got != want {
		t.Errorf("lines = %d, SOURCE.txt says %d", got, want)
	}
	for _, tt := range []struct {
		re string
		f  func(row []string) bool
	}{
		{`header row \+ ([\d,]+) records`, func([]string) bool { return true }},
		{`empty\s+\(([\d,]+) service-name-only rows`, func(r []string) bool { return r[1] == "" }},
		{`a range \("11212-11234", ([\d,]+) rows`, func(r []string) bool { return strings.Contains(r[1], "-") }},
		{`tcp ([\d,]+)`, func(r []string) bool { return r[2] == "tcp" }},
		{`udp ([\d,]+)`, func(r []string) bool { return r[2] == "udp" }},
		{`sctp ([\d,]+)`, func(r []string) bool { return r[2] == "sctp" }},
		{`dccp ([\d,]+)`, func(r []string) bool { return r[2] == "dccp" }},
		{`empty ([\d,]+) \(ranges`, func(r []string) bool { return r[2] == "" }},
		{`([\d,]+) rows have a name`, func(r []string) bool { return r[0] != "" }},
		{`non-empty in ([\d,]+) rows`, func(r []string) bool { return r[10] != "" }},
	} {
		if got, want := count(tt.f), num(tt.re); got != want {
			t.Errorf("%s: the CSV has %d, SOURCE.txt says %d", tt.re, got, want)
		}
	}
}

// TestNameOnlyRecords checks that the rows without a port (DNS-SD service
// names) are kept, and that port lookups never return them.
func TestNameOnlyRecords(t *testing.T) {
	o := getOracle(t)
	reg := Default()
	want := 0
	var first string
	for _, row := range o.rows {
		if row[1] == "" {
			if want == 0 {
				first = row[0]
			}
			want++
		}
	}
	got := 0
	for rec := range reg.All() {
		if !rec.HasPort {
			got++
			if rec.Ports != (ports.Range{}) {
				t.Errorf("name-only record %q has Ports %v, want zero", rec.Name, rec.Ports)
			}
		}
	}
	t.Logf("%d name-only records (SOURCE.txt: 1,056)", got)
	if got != want {
		t.Errorf("%d records have no port; the CSV has %d rows without one", got, want)
	}
	found := false
	for rec := range reg.Name(first) {
		found = found || !rec.HasPort
	}
	if !found {
		t.Errorf("Name(%q) does not find the name-only record", first)
	}
	// ftpcroco has a name but no port: nothing to resolve.
	if got := slices.Collect(seq2Pairs(reg.ServicePorts("ftpcroco"))); len(got) != 0 {
		t.Errorf("ServicePorts(ftpcroco) = %v, want none", got)
	}
	for rec := range reg.Range(ports.ProtoAny, ports.Range{First: 0, Last: 65535}) {
		if !rec.HasPort {
			t.Fatalf("Range yielded name-only record %q", rec.Name)
		}
	}
}

func names(seq func(func(*Record) bool)) []string {
	var out []string
	for rec := range seq {
		out = append(out, rec.Name)
	}
	return out
}

func TestPort(t *testing.T) {
	reg := Default()
	t.Run("tcp/443", func(t *testing.T) {
		if diff := cmp.Diff([]string{"https"}, names(reg.Port(ports.ProtoTCP, 443))); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("udp/53", func(t *testing.T) {
		if diff := cmp.Diff([]string{"domain"}, names(reg.Port(ports.ProtoUDP, 53))); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("any/80", func(t *testing.T) {
		var http []ports.Proto
		for rec := range reg.Port(ports.ProtoAny, 80) {
			if rec.Name == "http" {
				http = append(http, rec.Proto)
			}
		}
		if diff := cmp.Diff([]ports.Proto{ports.ProtoTCP, ports.ProtoUDP, ports.ProtoSCTP}, http); diff != "" {
			t.Errorf("http records on port 80 (-want +got):\n%s", diff)
		}
	})
	t.Run("unassigned range", func(t *testing.T) {
		// 272-279 is one Unassigned row with no protocol: it answers for
		// every protocol.
		for _, proto := range []ports.Proto{ports.ProtoAny, ports.ProtoTCP, ports.ProtoDCCP} {
			var got []Record
			for rec := range reg.Port(proto, 275) {
				got = append(got, *rec)
			}
			want := []Record{{Ports: ports.Range{First: 272, Last: 279}, HasPort: true, Description: "Unassigned"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Port(%v, 275) (-want +got):\n%s", proto, diff)
			}
		}
	})
	t.Run("break", func(t *testing.T) {
		n := 0
		for range reg.Port(ports.ProtoAny, 80) {
			n++
			break
		}
		if n != 1 {
			t.Errorf("loop ran %d times", n)
		}
	})
}

// TestPortOracle compares Port with a scan of the encoding/csv records
// for the boundaries and random ports, for every protocol.
func TestPortOracle(t *testing.T) {
	o := getOracle(t)
	reg := Default()
	idx := indexOf(reg)
	pts := []ports.Port{0, 1, 7, 20, 21, 53, 80, 443, 1023, 1024, 3322, 6400, 27005, 49151, 49152, 65535}
	rng := rand.New(rand.NewPCG(1, runSeed(t)))
	for range 300 {
		pts = append(pts, ports.Port(rng.IntN(65536)))
	}
	for _, proto := range []ports.Proto{ports.ProtoAny, ports.ProtoTCP, ports.ProtoUDP, ports.ProtoSCTP, ports.ProtoDCCP} {
		for _, p := range pts {
			var got []int
			for rec := range reg.Port(proto, p) {
				got = append(got, idx[rec])
			}
			if diff := cmp.Diff(o.portIndexes(proto, p), got); diff != "" {
				t.Errorf("Port(%v, %d) record numbers (-oracle +got):\n%s", proto, p, diff)
			}
		}
	}
}

func TestRegistered(t *testing.T) {
	reg := Default()
	tests := []struct {
		proto ports.Proto
		port  ports.Port
		want  bool
	}{
		{ports.ProtoTCP, 443, true},
		{ports.ProtoUDP, 53, true},
		{ports.ProtoSCTP, 80, true},
		{ports.ProtoDCCP, 80, false},
		{ports.ProtoTCP, 143, true},  // imap
		{ports.ProtoUDP, 143, false}, // Reserved
		{ports.ProtoAny, 143, true},
		{ports.ProtoTCP, 0, false},   // Reserved
		{ports.ProtoTCP, 275, false}, // Unassigned range
		{ports.ProtoAny, 275, false},
		{ports.ProtoTCP, 65535, false},
	}
	for _, tt := range tests {
		t.Run(tt.proto.String()+"/"+tt.port.String(), func(t *testing.T) {
			if got := reg.Registered(tt.proto, tt.port); got != tt.want {
				t.Errorf("Registered(%v, %d) = %v, want %v", tt.proto, tt.port, got, tt.want)
			}
		})
	}
}

// TestRegisteredOracle compares Registered with the CSV for every port:
// a port is registered for proto when a named row with that protocol (any
// protocol for ProtoAny) covers it. Ports whose only names come from rows
// without a protocol are left to TestRegisteredProtolessNames.
func TestRegisteredOracle(t *testing.T) {
	o := getOracle(t)
	reg := Default()
	var want, protoless [5][65536]bool
	protos := []ports.Proto{ports.ProtoAny, ports.ProtoTCP, ports.ProtoUDP, ports.ProtoSCTP, ports.ProtoDCCP}
	for i := range o.recs {
		rec := &o.recs[i]
		if rec.Name == "" || !rec.HasPort {
			continue
		}
		for k, proto := range protos {
			if rec.Proto == ports.ProtoAny || proto == ports.ProtoAny || proto == rec.Proto {
				for p := int(rec.Ports.First); p <= int(rec.Ports.Last); p++ {
					if rec.Proto == ports.ProtoAny {
						protoless[k][p] = true
					} else {
						want[k][p] = true
					}
				}
			}
		}
	}
	bad := 0
	for k, proto := range protos {
		for p := range 65536 {
			if protoless[k][p] && !want[k][p] {
				continue
			}
			if got := reg.Registered(proto, ports.Port(p)); got != want[k][p] {
				if bad++; bad <= 10 {
					t.Errorf("Registered(%v, %d) = %v, want %v", proto, p, got, want[k][p])
				}
			}
		}
	}
}

// TestRegisteredProtolessNames: sixteen rows assign a service name to a
// port or range without naming a transport protocol (boe-cms 6400,
// flex-lm 27000-27009, swx 7300-7359...). Port yields them for every
// protocol, but Registered ignores them, so Registered(ProtoAny, 6400) is
// false though Registered's doc says "whether a service name is assigned
// to port p for proto (any protocol for ProtoAny)"; ParseSet("[6400]")
// is empty, and ServicePorts("boe-cms") yields nothing, so
// ParseSet("boe-cms") fails with ErrUnknownService.
func TestRegisteredProtolessNames(t *testing.T) {
	reg := Default()
	for _, tt := range []struct {
		name string
		port ports.Port
	}{
		{"boe-cms", 6400},
		{"flex-lm", 27005},
		{"active-net", 3322},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var assigned []string
			for rec := range reg.Port(ports.ProtoTCP, tt.port) {
				if rec.IsAssigned() {
					assigned = append(assigned, rec.Name)
				}
			}
			if !slices.Contains(assigned, tt.name) {
				t.Fatalf("Port(tcp, %d) assigned names = %v, want %s", tt.port, assigned, tt.name)
			}
			if !reg.Registered(ports.ProtoAny, tt.port) {
				t.Errorf("Registered(any, %d) = false, but %s is assigned to it", tt.port, tt.name)
			}
			if !reg.Registered(ports.ProtoTCP, tt.port) {
				t.Errorf("Registered(tcp, %d) = false, but Port(tcp, %d) yields %s, assigned", tt.port, tt.port, tt.name)
			}
		})
	}
}

func TestName(t *testing.T) {
	o := getOracle(t)
	reg := Default()
	for _, tt := range []struct {
		query string
		want  int // records; -1: compare with the oracle only
	}{
		{"HTTPS", 4}, // 443 tcp, udp, sctp, and a DNS-SD row without a port
		{"https", 4},
		{"ftp", 3}, // not ftp-data
		{"CAIlic", 2},
		{"cailic", 2},
		{"sql*net", 2}, // a name with a '*' in it: Name does not glob
		{"sql?net", 0},
		{"", 0},
		{"nosuch", 0},
		{"ftpcroco", 1},
	} {
		t.Run(tt.query, func(t *testing.T) {
			var want []Record
			for _, rec := range o.recs {
				if rec.Name != "" && strings.EqualFold(rec.Name, tt.query) {
					want = append(want, rec)
				}
			}
			var got []Record
			for rec := range reg.Name(tt.query) {
				got = append(got, *rec)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Name(%q) (-oracle +got):\n%s", tt.query, diff)
			}
			if tt.want >= 0 && len(got) != tt.want {
				t.Errorf("Name(%q) yielded %d records, want %d", tt.query, len(got), tt.want)
			}
		})
	}
}

func TestSearch(t *testing.T) {
	o := getOracle(t)
	reg := Default()
	oracle := func(substr string, inDesc bool) []string {
		var out []string
		s := strings.ToLower(substr)
		for _, rec := range o.recs {
			if rec.Name == "" {
				continue
			}
			if strings.Contains(strings.ToLower(rec.Name), s) || inDesc && strings.Contains(strings.ToLower(rec.Description), s) {
				out = append(out, rec.Name+"/"+rec.Proto.String())
			}
		}
		return out
	}
	search := func(substr string, inDesc bool) []string {
		var out []string
		for rec := range reg.Search(substr, inDesc) {
			out = append(out, rec.Name+"/"+rec.Proto.String())
		}
		return out
	}
	for _, tt := range []struct {
		substr      string
		inDesc      bool
		mustInclude []string
		mustExclude []string
	}{
		{"sql", false, []string{"mysql/tcp", "postgresql/tcp", "ms-sql-s/tcp", "sql*net/tcp"}, []string{"ftp/tcp"}},
		{"SQL", false, []string{"mysql/tcp", "postgresql/udp"}, nil},
		{"postgres", false, []string{"postgresql/tcp"}, nil},
		{"postgres", true, []string{"postgresql/tcp"}, nil},
		{"world wide web", false, nil, []string{"http/tcp"}},
		{"world wide web", true, []string{"http/tcp", "www/tcp", "www-http/udp"}, nil},
		{"nosuchthing", true, nil, []string{"http/tcp"}},
		{"", false, []string{"http/tcp"}, nil}, // every named record
	} {
		t.Run(tt.substr+"/"+strconv.FormatBool(tt.inDesc), func(t *testing.T) {
			got := search(tt.substr, tt.inDesc)
			if diff := cmp.Diff(oracle(tt.substr, tt.inDesc), got); diff != "" {
				t.Errorf("Search(%q, %v) (-oracle +got):\n%s", tt.substr, tt.inDesc, diff)
			}
			for _, n := range tt.mustInclude {
				if !slices.Contains(got, n) {
					t.Errorf("Search(%q, %v) lacks %s", tt.substr, tt.inDesc, n)
				}
			}
			for _, n := range tt.mustExclude {
				if slices.Contains(got, n) {
					t.Errorf("Search(%q, %v) has %s", tt.substr, tt.inDesc, n)
				}
			}
		})
	}
	if n := len(search("", false)); n != 12780 {
		t.Errorf("Search(\"\") yielded %d records, want every named one (12,780 per SOURCE.txt)", n)
	}
}

func TestRange(t *testing.T) {
	o := getOracle(t)
	reg := Default()
	idx := indexOf(reg)
	for _, tt := range []struct {
		proto ports.Proto
		r     ports.Range
	}{
		{ports.ProtoTCP, ports.Range{First: 20, Last: 25}},
		{ports.ProtoUDP, ports.Range{First: 20, Last: 25}},
		{ports.ProtoAny, ports.Range{First: 0, Last: 0}},
		{ports.ProtoAny, ports.Range{First: 270, Last: 280}},
		{ports.ProtoSCTP, ports.Range{First: 0, Last: 65535}},
		{ports.ProtoDCCP, ports.Range{First: 49152, Last: 65535}},
	} {
		t.Run(tt.proto.String()+"/"+tt.r.String(), func(t *testing.T) {
			var want, got []int
			for i := range o.recs {
				rec := &o.recs[i]
				if rec.HasPort && rec.Ports.First <= tt.r.Last && rec.Ports.Last >= tt.r.First &&
					(tt.proto == ports.ProtoAny || rec.Proto == ports.ProtoAny || rec.Proto == tt.proto) {
					want = append(want, i)
				}
			}
			for rec := range reg.Range(tt.proto, tt.r) {
				got = append(got, idx[rec])
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Range(%v, %v) record numbers (-oracle +got):\n%s", tt.proto, tt.r, diff)
			}
		})
	}
	// ftp-data and ftp, all three protocols, in registry order.
	if diff := cmp.Diff([]string{"ftp-data", "ftp"}, slices.Compact(names(reg.Range(ports.ProtoSCTP, ports.Range{First: 20, Last: 21})))); diff != "" {
		t.Errorf("Range(sctp, 20-21) (-want +got):\n%s", diff)
	}
}

func seq2Pairs(seq func(func(ports.Proto, ports.Port) bool)) func(func(protoPort) bool) {
	return func(yield func(protoPort) bool) {
		for proto, p := range seq {
			if !yield(protoPort{proto, p}) {
				return
			}
		}
	}
}

func sortedPairs(pp []protoPort) []protoPort {
	pp = slices.Clone(pp)
	slices.SortFunc(pp, func(a, b protoPort) int {
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return int(a.Proto) - int(b.Proto)
	})
	return pp
}

func TestServicePorts(t *testing.T) {
	o := getOracle(t)
	reg := Default()
	tcp := func(p ports.Port) protoPort { return protoPort{ports.ProtoTCP, p} }
	udp := func(p ports.Port) protoPort { return protoPort{ports.ProtoUDP, p} }
	sctp := func(p ports.Port) protoPort { return protoPort{ports.ProtoSCTP, p} }
	for _, tt := range []struct {
		pattern string
		want    []protoPort // nil: compare with the oracle only
	}{
		{"http", []protoPort{tcp(80), udp(80), sctp(80)}},
		{"HTTP", []protoPort{tcp(80), udp(80), sctp(80)}},
		{"https", []protoPort{tcp(443), udp(443), sctp(443)}},
		{"domain", []protoPort{tcp(53), udp(53)}},
		{"ftp*", []protoPort{
			tcp(20), udp(20), sctp(20), tcp(21), udp(21), sctp(21),
			tcp(574), udp(574), tcp(989), udp(989), tcp(990), udp(990),
		}},
		{"FTP?", []protoPort{tcp(990), udp(990)}},
		{"?tp", nil},
		{"*sql*", nil},
		{"*", nil},
		{"**", nil},
		{"sql*net", nil}, // a real name holding '*'
		{"nosuch", []protoPort{}},
		{"", []protoPort{}},
		{"ftpcroco", []protoPort{}}, // name only
	} {
		t.Run(tt.pattern, func(t *testing.T) {
			got := slices.Collect(seq2Pairs(reg.ServicePorts(tt.pattern)))
			want := o.servicePorts(tt.pattern)
			if strings.ContainsAny(tt.pattern, "*?") {
				// The order of names is not documented; compare the
				// pairs as multisets.
				got, want = sortedPairs(got), sortedPairs(want)
				if tt.want != nil {
					tt.want = sortedPairs(tt.want)
				}
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ServicePorts(%q) (-oracle +got):\n%s", tt.pattern, diff)
			}
			if tt.want != nil && !slices.Equal(tt.want, got) {
				t.Errorf("ServicePorts(%q) = %v, want %v", tt.pattern, got, tt.want)
			}
		})
	}
	t.Run("break", func(t *testing.T) {
		n := 0
		for range reg.ServicePorts("*") {
			if n++; n == 3 {
				break
			}
		}
		if n != 3 {
			t.Errorf("loop ran %d times", n)
		}
	})
}

// TestParseSetWithRegistry checks the registry as the resolver of
// ports.ParseSet.
func TestParseSetWithRegistry(t *testing.T) {
	reg := Default()
	// The prefix is sticky: [20-23] is for UDP.
	s, err := ports.ParseSet("ftp,T:https,U:domain,[20-23]", reg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "T:21,443,U:20-23,53,S:21"; got != want {
		t.Errorf("ParseSet = %q, want %q", got, want)
	}
}

// TestConcurrentLookups builds the indexes of a fresh Registry from many
// goroutines at once (run with -race).
func TestConcurrentLookups(t *testing.T) {
	reg, err := Parse(getOracle(t).data)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch g % 4 {
			case 0:
				if got, w := names(reg.Port(ports.ProtoTCP, 443)), names(want.Port(ports.ProtoTCP, 443)); !slices.Equal(got, w) {
					t.Errorf("Port: %v, want %v", got, w)
				}
			case 1:
				if got, w := len(slices.Collect(seq2Pairs(reg.ServicePorts("ftp*")))), len(slices.Collect(seq2Pairs(want.ServicePorts("ftp*")))); got != w {
					t.Errorf("ServicePorts: %d, want %d", got, w)
				}
			case 2:
				if got, w := len(reg.Related("ftp")), len(want.Related("ftp")); got != w {
					t.Errorf("Related: %d, want %d", got, w)
				}
			case 3:
				if !reg.Registered(ports.ProtoUDP, 53) || len(names(reg.Name("http"))) != 3 {
					t.Errorf("Registered/Name disagree")
				}
			}
		}()
	}
	wg.Wait()
}

// TestLookupNoAllocs: once the index is built, a port lookup and
// Registered do not allocate.
func TestLookupNoAllocs(t *testing.T) {
	reg := Default()
	reg.Registered(ports.ProtoTCP, 1) // build the port index
	var sink *Record
	var ok bool
	n := testing.AllocsPerRun(100, func() {
		for rec := range reg.Port(ports.ProtoTCP, 443) {
			sink = rec
		}
		ok = reg.Registered(ports.ProtoTCP, 443)
	})
	if n != 0 {
		t.Errorf("Port(tcp, 443) and Registered allocate %v times per run, want 0", n)
	}
	if sink == nil || !ok {
		t.Errorf("lookup found nothing")
	}
	for name := range reg.Name("http") { // build the name index
		_ = name
	}
	n = testing.AllocsPerRun(100, func() {
		for rec := range reg.Name("https") {
			sink = rec
		}
		for range reg.ServicePorts("domain") {
		}
	})
	if n != 0 {
		t.Errorf("Name and ServicePorts allocate %v times per run, want 0", n)
	}
}
