package ports_test

import (
	"encoding/csv"
	"errors"
	"iter"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portkit/ports"
	"github.com/portkit/ports/registry"
)

// pr is one Add call: ports First-Last for Proto.
type pr struct {
	proto       ports.Proto
	first, last ports.Port
}

func unq(a, b ports.Port) pr  { return pr{ports.ProtoAny, a, b} }
func tcp(a, b ports.Port) pr  { return pr{ports.ProtoTCP, a, b} }
func udp(a, b ports.Port) pr  { return pr{ports.ProtoUDP, a, b} }
func sctp(a, b ports.Port) pr { return pr{ports.ProtoSCTP, a, b} }
func dccp(a, b ports.Port) pr { return pr{ports.ProtoDCCP, a, b} }

// mkSet builds a Set with Add, independently of ParseSet.
func mkSet(items ...pr) ports.Set {
	var s ports.Set
	for _, it := range items {
		s.Add(it.proto, ports.Range{First: it.first, Last: it.last})
	}
	return s
}

// mustParseSet parses s with a nil resolver.
func mustParseSet(t testing.TB, s string) ports.Set {
	t.Helper()
	set, err := ports.ParseSet(s, nil)
	if err != nil {
		t.Fatalf("ParseSet(%q): %v", s, err)
	}
	return set
}

// diffSets reports the difference of two sets: String is injective over a
// Set's slots, so a diff of the strings is a diff of the sets.
func diffSets(t *testing.T, want, got ports.Set) {
	t.Helper()
	if diff := cmp.Diff(want.String(), got.String()); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
	if !want.Equal(got) || !got.Equal(want) {
		t.Errorf("Equal(%q, %q) = false", want, got)
	}
}

// ianaRec is a record of the IANA CSV read with encoding/csv, the oracle
// for what the registry resolves.
type ianaRec struct {
	name        string
	first, last int // -1 when the row has no port
	proto       string
}

var loadIANA = sync.OnceValues(func() ([]ianaRec, error) {
	f, err := os.Open("registry/service-names-port-numbers.csv")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var recs []ianaRec
	for _, row := range rows[1:] {
		rec := ianaRec{name: row[0], first: -1, last: -1, proto: row[2]}
		if row[1] != "" {
			a, b, isRange := strings.Cut(row[1], "-")
			if !isRange {
				b = a
			}
			if rec.first, err = strconv.Atoi(a); err != nil {
				return nil, err
			}
			if rec.last, err = strconv.Atoi(b); err != nil {
				return nil, err
			}
		}
		recs = append(recs, rec)
	}
	return recs, nil
})

func ianaRecords(t testing.TB) []ianaRec {
	t.Helper()
	recs, err := loadIANA()
	if err != nil {
		t.Fatalf("reading the IANA CSV: %v", err)
	}
	return recs
}

// registeredOracle returns the ports of r, for each protocol of protos,
// that the CSV assigns a service name to for exactly that protocol.
func registeredOracle(t testing.TB, protos []ports.Proto, r ports.Range) ports.Set {
	var s ports.Set
	for _, rec := range ianaRecords(t) {
		if rec.name == "" || rec.first < 0 {
			continue
		}
		for _, p := range protos {
			if rec.proto != p.String() {
				continue
			}
			lo, hi := max(rec.first, int(r.First)), min(rec.last, int(r.Last))
			if lo <= hi {
				s.Add(p, ports.Range{First: ports.Port(lo), Last: ports.Port(hi)})
			}
		}
	}
	return s
}

func TestParseSet(t *testing.T) {
	reg := registry.Default()
	tests := []struct {
		name string
		in   string
		r    ports.ServiceResolver
		want ports.Set
	}{
		{"one port", "22", nil, mkSet(unq(22, 22))},
		{"range", "1-1024", nil, mkSet(unq(1, 1024))},
		{"every port but 0", "-", nil, mkSet(unq(1, 65535))},
		{"port 0 when named", "0", nil, mkSet(unq(0, 0))},
		{"0 to the end", "0-", nil, mkSet(unq(0, 65535))},
		{"open start", "-100", nil, mkSet(unq(1, 100))},
		{"open end", "60000-", nil, mkSet(unq(60000, 65535))},
		{"single max", "65535", nil, mkSet(unq(65535, 65535))},
		{"list", "22,80,443", nil, mkSet(unq(22, 22), unq(80, 80), unq(443, 443))},
		{"adjacent merge", "1-5,6-10", nil, mkSet(unq(1, 10))},
		{"duplicates", "80,80,79-81", nil, mkSet(unq(79, 81))},
		{"unsorted", "443,22,80", nil, mkSet(unq(22, 22), unq(80, 80), unq(443, 443))},
		{"protocols", "T:80,U:53", nil, mkSet(tcp(80, 80), udp(53, 53))},
		{"prefix is sticky", "U:53,111,T:21-25,80", nil, mkSet(udp(53, 53), udp(111, 111), tcp(21, 25), tcp(80, 80))},
		{"sticky after unqualified", "22,T:80,443", nil, mkSet(unq(22, 22), tcp(80, 80), tcp(443, 443))},
		{"qualified and unqualified are separate", "80,T:80", nil, mkSet(unq(80, 80), tcp(80, 80))},
		{"all prefixes lower case", "t:1,u:2,s:3,d:4", nil, mkSet(tcp(1, 1), udp(2, 2), sctp(3, 3), dccp(4, 4))},
		{"all prefixes", "T:1,U:2,S:3,D:4", nil, mkSet(tcp(1, 1), udp(2, 2), sctp(3, 3), dccp(4, 4))},
		{"prefixed full range", "T:-", nil, mkSet(tcp(1, 65535))},
		{"spaces after commas", "22, 80,  443", nil, mkSet(unq(22, 22), unq(80, 80), unq(443, 443))},
		{"spaces before commas", "22 ,80\t,443 ", nil, mkSet(unq(22, 22), unq(80, 80), unq(443, 443))},
		{"leading space and tab", " \t22", nil, mkSet(unq(22, 22))},
		{"space after prefix", "T: 80, U:53", nil, mkSet(tcp(80, 80), udp(53, 53))},

		{"service", "http", reg, mkSet(tcp(80, 80), udp(80, 80), sctp(80, 80))},
		{"service ignores case", "HTTP", reg, mkSet(tcp(80, 80), udp(80, 80), sctp(80, 80))},
		{"service for one protocol", "T:https", reg, mkSet(tcp(443, 443))},
		{"prefix sticks to services", "U:53,domain", reg, mkSet(udp(53, 53))},
		{"service and ports", "ssh,8000-8080", reg, mkSet(tcp(22, 22), udp(22, 22), sctp(22, 22), unq(8000, 8080))},
		// ftp-data 20 and ftp 21 (tcp, udp, sctp), ftp-agent 574,
		// ftps-data 989, ftps 990 (tcp, udp); ftpcroco has no port.
		{"glob", "ftp*", reg, mkSet(
			tcp(20, 21), tcp(574, 574), tcp(989, 990),
			udp(20, 21), udp(574, 574), udp(989, 990),
			sctp(20, 21))},
		{"glob ?", "ftp?", reg, mkSet(tcp(990, 990), udp(990, 990))},
		{"registered ports", "[-1024]", reg, registeredOracle(t, ports.Protos[:], ports.Range{First: 1, Last: 1024})},
		{"registered tcp ports", "T:[1-100]", reg, registeredOracle(t, []ports.Proto{ports.ProtoTCP}, ports.Range{First: 1, Last: 100})},
		{"registered, list in brackets", "U:[50-60,120-130]", reg, func() ports.Set {
			s := registeredOracle(t, []ports.Proto{ports.ProtoUDP}, ports.Range{First: 50, Last: 60})
			s.AddSet(registeredOracle(t, []ports.Proto{ports.ProtoUDP}, ports.Range{First: 120, Last: 130}))
			return s
		}()},
		{"brackets then more", "[20-25] , 8080", reg, func() ports.Set {
			s := registeredOracle(t, ports.Protos[:], ports.Range{First: 20, Last: 25})
			s.Add(ports.ProtoAny, ports.Range{First: 8080, Last: 8080})
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ports.ParseSet(tt.in, tt.r)
			if err != nil {
				t.Fatalf("ParseSet(%q): %v", tt.in, err)
			}
			diffSets(t, tt.want, got)
		})
	}
}

// TestParseSetBrackets checks a few registered ports by hand, so that the
// oracle of TestParseSet is not the only witness.
func TestParseSetBrackets(t *testing.T) {
	s, err := ports.ParseSet("[-1024]", registry.Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		proto ports.Proto
		port  ports.Port
		want  bool
	}{
		{ports.ProtoTCP, 22, true},
		{ports.ProtoTCP, 443, true},
		{ports.ProtoSCTP, 80, true},
		{ports.ProtoUDP, 143, false}, // imap is tcp only; udp 143 is Reserved
		{ports.ProtoTCP, 0, false},   // Reserved, and outside the range
		{ports.ProtoTCP, 1025, false},
		{ports.ProtoTCP, 275, false}, // 272-279 are Unassigned
	} {
		if got := s.Contains(tt.proto, tt.port); got != tt.want {
			t.Errorf("[-1024] Contains(%v, %d) = %v, want %v", tt.proto, tt.port, got, tt.want)
		}
	}
	if len(s.Ranges(ports.ProtoAny)) != 0 {
		t.Errorf("[-1024] has unqualified ports %v; brackets should give per-protocol ports", s.Ranges(ports.ProtoAny))
	}
}

func TestParseSetErrors(t *testing.T) {
	reg := registry.Default()
	tests := []struct {
		in          string
		r           ports.ServiceResolver
		pos         int    // want ParseError.Pos; -1 to skip
		msg         string // a part of the message
		unknownName bool   // errors.Is(err, ErrUnknownService)
	}{
		{"", nil, 0, "empty", false},
		{"   ", nil, 0, "empty", false},
		{"80,", nil, 2, "trailing comma", false},
		{"80,,81", nil, 3, "missing port", false},
		{"80, ", nil, 4, "missing port", false},
		{",80", nil, 0, "missing port", false},
		{"x:80", nil, 0, `unknown protocol prefix "x:"`, false},
		{"80,x:80", nil, 3, `unknown protocol prefix "x:"`, false},
		{"P:6", nil, 0, "IP protocol numbers", false},
		{"T:", nil, 2, "missing port", false},
		{"65536", nil, 0, "above 65535", false},
		{"22,65536", nil, 3, "above 65535", false},
		{"1-65536", nil, 2, "above 65535", false},
		{"10-5", nil, 0, "ends below its start", false},
		{"1,10-5", nil, 2, "ends below its start", false},
		{"-0", nil, 0, "ends below its start", false},
		{"1-2-3", nil, 3, "not a port number", false},
		{"80 81", nil, 2, "not a port number", false},
		{"[1-10", reg, 0, "unclosed '['", false},
		{"T:[1-10", reg, 2, "unclosed '['", false},
		{"[]", reg, 1, "missing port", false},
		{"[1,]", reg, 3, "missing port", false},
		{"[80]x", reg, 4, `unexpected 'x'`, false},
		{"[[80]]", reg, 1, `unexpected '['`, false},
		{"[T:80]", reg, 2, `unexpected ':'`, false},
		{"http:80", reg, 4, `unexpected ':'`, false},
		{"80]", reg, 2, "not a port number", false},
		{"nosuchservice", reg, 0, `unknown service name "nosuchservice"`, true},
		{"80,nosuchservice", reg, 3, `unknown service name "nosuchservice"`, true},
		{"nosuch*", reg, 0, "unknown service name", true},
		{"D:http", reg, 2, `no dccp port registered for service "http"`, true},
		{"abc", nil, 0, "needs a service registry", false},
		{"22,abc", nil, 3, "needs a service registry", false},
		{"[1-10]", nil, 0, "need a service registry", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ports.ParseSet(tt.in, tt.r)
			if err == nil {
				t.Fatalf("ParseSet(%q) = %q, want an error", tt.in, got)
			}
			wantParseError(t, err, "port set", tt.in, tt.pos, tt.msg)
			if is := errors.Is(err, ports.ErrUnknownService); is != tt.unknownName {
				t.Errorf("errors.Is(%v, ErrUnknownService) = %v, want %v", err, is, tt.unknownName)
			}
			if !got.IsEmpty() {
				t.Errorf("ParseSet(%q) returned %q with its error, want the empty set", tt.in, got)
			}
		})
	}
}

// TestParseSetErrorMessageNamesPosition checks ParseSet's documented
// promise, "Errors are *ParseError values that quote the input and the
// position", for errors found at the first byte. ParseError.Error only
// writes "at position N" when Pos > 0, so these messages do not say where
// the problem is, unlike the same problem later in the input.
func TestParseSetErrorMessageNamesPosition(t *testing.T) {
	reg := registry.Default()
	for _, tt := range []struct {
		in string
		r  ports.ServiceResolver
	}{
		{"x:80", nil},
		{"P:6", nil},
		{"65536", nil},
		{"10-5", nil},
		{"abc", nil},
		{"[1-10", reg},
		{"nosuchservice", reg},
		// The same problems at a later position name it (these pass).
		{"80,x:80", nil},
		{"22,65536", nil},
		{"80,nosuchservice", reg},
	} {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ports.ParseSet(tt.in, tt.r)
			var pe *ports.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseSet(%q) error = %v, want a *ParseError", tt.in, err)
			}
			want := "at position " + strconv.Itoa(pe.Pos+1)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ParseSet(%q) error %q (Pos %d) does not name the position (%q)", tt.in, err, pe.Pos, want)
			}
		})
	}
}

func TestSetAdd(t *testing.T) {
	tests := []struct {
		name string
		adds []pr
		want string
	}{
		{"empty", nil, ""},
		{"one", []pr{unq(80, 80)}, "80"},
		{"adjacent after", []pr{unq(1, 5), unq(6, 10)}, "1-10"},
		{"adjacent before", []pr{unq(6, 10), unq(1, 5)}, "1-10"},
		{"overlap", []pr{unq(1, 6), unq(5, 10)}, "1-10"},
		{"inside", []pr{unq(1, 10), unq(3, 4)}, "1-10"},
		{"around", []pr{unq(3, 4), unq(1, 10)}, "1-10"},
		{"gap stays", []pr{unq(1, 5), unq(7, 10)}, "1-5,7-10"},
		{"fills a gap", []pr{unq(1, 5), unq(7, 10), unq(6, 6)}, "1-10"},
		{"bridges many", []pr{unq(1, 1), unq(3, 3), unq(5, 5), unq(7, 7), unq(2, 6)}, "1-7"},
		{"sorted", []pr{unq(100, 100), unq(1, 1), unq(50, 60)}, "1,50-60,100"},
		{"port 0 and 65535", []pr{unq(65535, 65535), unq(0, 0)}, "0,65535"},
		{"whole space", []pr{unq(0, 30000), unq(30001, 65535)}, "0-65535"},
		{"reversed range is ignored", []pr{{ports.ProtoAny, 10, 5}}, ""},
		{"per protocol", []pr{tcp(1, 5), udp(6, 10), tcp(6, 6)}, "T:1-6,U:6-10"},
		{"protocols are not merged with unqualified", []pr{unq(1, 5), tcp(6, 10)}, "1-5,T:6-10"},
		{"slot order", []pr{dccp(4, 4), sctp(3, 3), udp(2, 2), tcp(1, 1), unq(0, 0)}, "0,T:1,U:2,S:3,D:4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mkSet(tt.adds...)
			if diff := cmp.Diff(tt.want, got.String()); diff != "" {
				t.Errorf("String() (-want +got):\n%s", diff)
			}
			if got.IsEmpty() != (tt.want == "") {
				t.Errorf("IsEmpty() = %v for %q", got.IsEmpty(), tt.want)
			}
		})
	}
}

func TestSetAddSet(t *testing.T) {
	s := mustParseSet(t, "1-10,T:20,U:30")
	s.AddSet(mustParseSet(t, "11,T:21,S:40"))
	diffSets(t, mkSet(unq(1, 11), tcp(20, 21), udp(30, 30), sctp(40, 40)), s)

	s.AddSet(s) // adding a set to itself changes nothing
	diffSets(t, mkSet(unq(1, 11), tcp(20, 21), udp(30, 30), sctp(40, 40)), s)
}

func TestSetRemove(t *testing.T) {
	tests := []struct {
		name string
		s, o string
		want ports.Set
	}{
		{"unqualified from unqualified", "1-100", "50", mkSet(unq(1, 49), unq(51, 100))},
		{"unqualified removes for every protocol", "443,T:80,U:80", "80", mkSet(unq(443, 443))},
		{"TCP only: the port stays for the others", "1-100", "T:50",
			mkSet(unq(1, 49), unq(51, 100), udp(50, 50), sctp(50, 50), dccp(50, 50))},
		{"two protocols", "1-10", "T:5,U:5", mkSet(unq(1, 4), unq(6, 10), sctp(5, 5), dccp(5, 5))},
		{"mixed", "80,T:443", "T:80,U:443", mkSet(tcp(443, 443), udp(80, 80), sctp(80, 80), dccp(80, 80))},
		{"from a protocol's own ports", "T:1-10", "T:3-4", mkSet(tcp(1, 2), tcp(5, 10))},
		{"other protocol leaves it", "T:1-10", "U:3", mkSet(tcp(1, 10))},
		{"everything", "-", "-", ports.Set{}},
		{"ends", "0-65535", "0,65535", mkSet(unq(1, 65534))},
		{"nothing in common", "1-10", "20-30,T:40", mkSet(unq(1, 10))},
		{"splits several ranges", "1-10,20-30,T:40-50", "5-45", mkSet(unq(1, 4), tcp(46, 50))},
		{"TCP range across unqualified and TCP ports", "1-10,T:11-20", "T:5-15", mkSet(unq(1, 4), tcp(16, 20), udp(5, 10), sctp(5, 10), dccp(5, 10))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParseSet(t, tt.s)
			o := mustParseSet(t, tt.o)
			oBefore := o.String()
			got := s.Clone()
			got.Remove(o)
			diffSets(t, tt.want, got)
			if o.String() != oBefore {
				t.Errorf("Remove changed its argument from %q to %q", oBefore, o)
			}
			// The semantics of Remove, port by port: p stays for proto
			// exactly when s held it for proto and o did not.
			for _, proto := range ports.Protos {
				for _, p := range []ports.Port{0, 1, 3, 4, 5, 6, 10, 11, 40, 45, 46, 50, 51, 79, 80, 81, 100, 443, 65534, 65535} {
					want := s.Contains(proto, p) && !o.Contains(proto, p)
					if got.Contains(proto, p) != want {
						t.Errorf("after %q minus %q: Contains(%v, %d) = %v, want %v", tt.s, tt.o, proto, p, !want, want)
					}
				}
			}
		})
	}
	// An empty set removes nothing.
	s := mustParseSet(t, "1-10,T:20")
	s.Remove(ports.Set{})
	diffSets(t, mkSet(unq(1, 10), tcp(20, 20)), s)
	// Removing from the empty set leaves it empty.
	var e ports.Set
	e.Remove(s)
	if !e.IsEmpty() {
		t.Errorf("empty set minus %q = %q", s, e)
	}
}

func TestSetContains(t *testing.T) {
	s := mustParseSet(t, "22,1000-2000,T:80,U:53,S:9")
	tests := []struct {
		proto ports.Proto
		port  ports.Port
		want  bool
	}{
		{ports.ProtoAny, 22, true}, // unqualified ports are held for every protocol
		{ports.ProtoTCP, 22, true},
		{ports.ProtoUDP, 22, true},
		{ports.ProtoSCTP, 22, true},
		{ports.ProtoDCCP, 22, true},
		{ports.ProtoTCP, 1000, true},
		{ports.ProtoTCP, 1500, true},
		{ports.ProtoTCP, 2000, true},
		{ports.ProtoTCP, 999, false},
		{ports.ProtoTCP, 2001, false},
		{ports.ProtoTCP, 80, true},
		{ports.ProtoUDP, 80, false},
		{ports.ProtoAny, 80, false}, // ProtoAny: held for every protocol, and 80 is TCP only
		{ports.ProtoUDP, 53, true},
		{ports.ProtoTCP, 53, false},
		{ports.ProtoSCTP, 9, true},
		{ports.ProtoDCCP, 9, false},
		{ports.ProtoTCP, 0, false},
		{ports.ProtoTCP, 65535, false},
		{ports.Proto(1), 22, true}, // a protocol without a slot still sees unqualified ports
		{ports.Proto(1), 80, false},
	}
	for _, tt := range tests {
		t.Run(tt.proto.String()+"/"+tt.port.String(), func(t *testing.T) {
			if got := s.Contains(tt.proto, tt.port); got != tt.want {
				t.Errorf("Contains(%v, %d) = %v, want %v", tt.proto, tt.port, got, tt.want)
			}
		})
	}
	var zero ports.Set
	if zero.Contains(ports.ProtoAny, 0) || zero.Contains(ports.ProtoTCP, 80) {
		t.Errorf("the zero Set holds ports")
	}
}

func TestSetRangesPortsLen(t *testing.T) {
	s := mustParseSet(t, "80,100-102,T:81,U:79,S:200")
	tests := []struct {
		proto      ports.Proto
		wantRanges []ports.Range
		wantPorts  []ports.Port
	}{
		{ports.ProtoAny, []ports.Range{{80, 80}, {100, 102}}, []ports.Port{80, 100, 101, 102}},
		{ports.ProtoTCP, []ports.Range{{80, 81}, {100, 102}}, []ports.Port{80, 81, 100, 101, 102}},
		{ports.ProtoUDP, []ports.Range{{79, 80}, {100, 102}}, []ports.Port{79, 80, 100, 101, 102}},
		{ports.ProtoSCTP, []ports.Range{{80, 80}, {100, 102}, {200, 200}}, []ports.Port{80, 100, 101, 102, 200}},
		{ports.ProtoDCCP, []ports.Range{{80, 80}, {100, 102}}, []ports.Port{80, 100, 101, 102}},
	}
	for _, tt := range tests {
		t.Run(tt.proto.String(), func(t *testing.T) {
			if diff := cmp.Diff(tt.wantRanges, s.Ranges(tt.proto)); diff != "" {
				t.Errorf("Ranges(%v) (-want +got):\n%s", tt.proto, diff)
			}
			if diff := cmp.Diff(tt.wantPorts, slices.Collect(s.Ports(tt.proto))); diff != "" {
				t.Errorf("Ports(%v) (-want +got):\n%s", tt.proto, diff)
			}
			if got := s.Len(tt.proto); got != len(tt.wantPorts) {
				t.Errorf("Len(%v) = %d, want %d", tt.proto, got, len(tt.wantPorts))
			}
		})
	}

	t.Run("Ranges returns a new slice", func(t *testing.T) {
		before := s.String()
		rs := s.Ranges(ports.ProtoAny)
		rs[0] = ports.Range{1, 2}
		_ = append(rs[:1], ports.Range{7, 7})
		if s.String() != before {
			t.Errorf("changing Ranges' result changed the set from %q to %q", before, s)
		}
	})
	t.Run("Ports stops on break", func(t *testing.T) {
		var got []ports.Port
		for p := range s.Ports(ports.ProtoTCP) {
			got = append(got, p)
			if p == 81 {
				break
			}
		}
		if diff := cmp.Diff([]ports.Port{80, 81}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("Len of the whole space", func(t *testing.T) {
		if got := mustParseSet(t, "-").Len(ports.ProtoTCP); got != 65535 {
			t.Errorf(`"-" Len = %d, want 65535`, got)
		}
		if got := mustParseSet(t, "0-").Len(ports.ProtoUDP); got != 65536 {
			t.Errorf(`"0-" Len = %d, want 65536`, got)
		}
		full := mustParseSet(t, "-")
		var last ports.Port
		n := 0
		for p := range full.Ports(ports.ProtoTCP) {
			if n > 0 && p != last+1 {
				t.Fatalf("Ports jumped from %d to %d", last, p)
			}
			last = p
			n++
		}
		if n != 65535 || last != 65535 {
			t.Errorf(`"-" Ports yielded %d ports ending at %d`, n, last)
		}
	})
	t.Run("Protos", func(t *testing.T) {
		if diff := cmp.Diff([]ports.Proto{ports.ProtoTCP, ports.ProtoUDP, ports.ProtoSCTP}, s.Protos()); diff != "" {
			t.Errorf("Protos() (-want +got):\n%s", diff)
		}
		if got := mustParseSet(t, "1-10").Protos(); len(got) != 0 {
			t.Errorf("Protos() of an unqualified set = %v", got)
		}
	})
}

func TestSetStringRoundTrip(t *testing.T) {
	reg := registry.Default()
	for _, in := range []string{
		"22", "0", "-", "0-", "1-1024", "65535", "22,80,443", "1-5,7-10",
		"T:80,U:53", "U:53,111,T:21-25,80", "80,T:80", "1,T:2,U:3,S:4,D:5",
		" 22 , 80", "t:1-100,u:-10", "http", "ftp*", "[-1024]", "T:[1-100]",
	} {
		t.Run(in, func(t *testing.T) {
			s, err := ports.ParseSet(in, reg)
			if err != nil {
				t.Fatal(err)
			}
			str := s.String()
			s2, err := ports.ParseSet(str, nil) // the canonical form needs no resolver
			if err != nil {
				t.Fatalf("ParseSet(%q).String() = %q, which does not parse: %v", in, str, err)
			}
			if !s2.Equal(s) {
				t.Errorf("ParseSet(%q) = %q; re-parsed as %q", in, str, s2)
			}
			if s2.String() != str {
				t.Errorf("String is not stable: %q then %q", str, s2)
			}
		})
	}
	if got := (ports.Set{}).String(); got != "" {
		t.Errorf("empty set String() = %q, want \"\"", got)
	}
}

func TestSetEqual(t *testing.T) {
	a := mustParseSet(t, "1-10,T:20")
	for _, tt := range []struct {
		b    string
		want bool
	}{
		{"1-10,T:20", true},
		{"1-5,6-10,T:20", true},
		{"T:20,1-10", false}, // prefix is sticky: 1-10 is TCP here
		{"1-10", false},
		{"1-10,U:20", false},
		{"1-10,T:20,U:20,S:20,D:20", false}, // same ports per protocol, different slots
	} {
		if got := a.Equal(mustParseSet(t, tt.b)); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", a, tt.b, got, tt.want)
		}
	}
}

func TestSetClone(t *testing.T) {
	s := mustParseSet(t, "1-10,20-30,T:80,U:53")
	before := s.String()
	c := s.Clone()
	if !c.Equal(s) {
		t.Fatalf("Clone() = %q, want %q", c, s)
	}
	// Change the clone every way the API allows; s must not see it.
	c.Add(ports.ProtoAny, ports.Range{First: 11, Last: 19})
	c.Add(ports.ProtoTCP, ports.Range{First: 81, Last: 81})
	c.Remove(mustParseSet(t, "5,U:53"))
	c.AddSet(mustParseSet(t, "S:1"))
	if s.String() != before {
		t.Errorf("changing the clone changed the original from %q to %q", before, s)
	}
	// And the other way round.
	c2 := s.Clone()
	s.Add(ports.ProtoAny, ports.Range{First: 11, Last: 11})
	s.Remove(mustParseSet(t, "T:1"))
	if c2.String() != before {
		t.Errorf("changing the original changed the clone from %q to %q", before, c2)
	}
}

func TestSetNoAllocs(t *testing.T) {
	s := mustParseSet(t, "22,80,443,1000-2000,T:8080,U:53")
	var sink bool
	if n := testing.AllocsPerRun(100, func() {
		sink = s.Contains(ports.ProtoTCP, 8080) && s.Contains(ports.ProtoUDP, 1500) && !s.Contains(ports.ProtoAny, 53)
	}); n != 0 {
		t.Errorf("Set.Contains allocates %v times, want 0", n)
	}
	if !sink {
		t.Errorf("unexpected Contains result")
	}
	if n := testing.AllocsPerRun(100, func() {
		p, err := ports.ParsePort("8080")
		sink = err == nil && p == 8080
	}); n != 0 {
		t.Errorf("ParsePort allocates %v times, want 0", n)
	}
}

// fakeResolver is a small, fast ServiceResolver for fuzzing: a few
// services, and every port divisible by 7 registered for TCP.
type fakeResolver struct{}

var fakeServices = map[string][]struct {
	proto ports.Proto
	port  ports.Port
}{
	"http":     {{ports.ProtoTCP, 80}, {ports.ProtoUDP, 80}, {ports.ProtoSCTP, 80}},
	"ftp":      {{ports.ProtoTCP, 21}},
	"ftp-data": {{ports.ProtoTCP, 20}},
	"domain":   {{ports.ProtoTCP, 53}, {ports.ProtoUDP, 53}},
	"odd":      {{ports.ProtoAny, 9}, {ports.Proto(1), 9}, {ports.ProtoDCCP, 65535}, {ports.ProtoTCP, 0}},
}

func (fakeResolver) ServicePorts(pattern string) iter.Seq2[ports.Proto, ports.Port] {
	return func(yield func(ports.Proto, ports.Port) bool) {
		for _, name := range slices.Sorted(maps.Keys(fakeServices)) {
			if ok, _ := path.Match(strings.ToLower(pattern), name); !ok {
				continue
			}
			for _, pp := range fakeServices[name] {
				if !yield(pp.proto, pp.port) {
					return
				}
			}
		}
	}
}

func (fakeResolver) Registered(proto ports.Proto, p ports.Port) bool {
	if p%7 == 0 && (proto == ports.ProtoTCP || proto == ports.ProtoAny) {
		return true
	}
	for _, pps := range fakeServices {
		for _, pp := range pps {
			if pp.port == p && (proto == ports.ProtoAny || pp.proto == proto) {
				return true
			}
		}
	}
	return false
}

// FuzzParseSet checks that ParseSet does not panic, that its errors are
// ParseErrors with a position inside the input, and that a parsed set's
// String re-parses, without a resolver, to an Equal set.
func FuzzParseSet(f *testing.F) {
	for _, s := range []string{
		"22", "1-1024", "0", "65535", "65536", // single ports and limits
		"-", "-100", "60000-", "0-", "-0", "--", // open ends
		"T:80,U:53", "U:53,111,T:21-25,80", "t:1,u:2,s:3,d:4", // sticky prefixes
		"P:6", "x:80", "T:", ":80", "T:U:80", // bad prefixes
		"80,", ",80", "80,,81", "", " ", "\t", // empty items
		"22, 80 ,\t443",                                                // spaces
		"http", "ftp*", "f?p", "*", "nosuch", "D:http", "odd", "T:odd", // services
		"[-1024]", "T:[1-100]", "[1-10", "[]", "[1,]", "[[1]]", "[80]x", "[http]", "[1]", // brackets
		"1-2-3", "10-5", "80]", "http:80", "\x00", "\xff", // junk
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ports.ParseSet(in, fakeResolver{})
		if err != nil {
			var pe *ports.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseSet(%q) error %v is a %T, not a *ParseError", in, err, err)
			}
			if pe.Input != in || pe.Pos < 0 || pe.Pos > len(in) {
				t.Fatalf("ParseSet(%q) error has Input %q, Pos %d", in, pe.Input, pe.Pos)
			}
			if !s.IsEmpty() {
				t.Fatalf("ParseSet(%q) returned %q with an error", in, s)
			}
			return
		}
		str := s.String()
		if s.IsEmpty() {
			// Brackets can select no registered port ("[1]"); the
			// empty set's String, "", is not a valid input.
			if str != "" {
				t.Fatalf("empty set String() = %q", str)
			}
			return
		}
		s2, err := ports.ParseSet(str, nil)
		if err != nil {
			t.Fatalf("ParseSet(%q) = %q, which does not parse: %v", in, str, err)
		}
		if !s2.Equal(s) {
			t.Fatalf("ParseSet(%q) = %q, re-parsed as %q", in, str, s2)
		}
		if s2.String() != str {
			t.Fatalf("String is not canonical: %q re-parsed prints %q", str, s2)
		}
	})
}

func BenchmarkParseSet(b *testing.B) {
	const in = "22,80,443,1000-2000,T:8080-8090,U:53,161-162"
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := ports.ParseSet(in, nil); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "sets/s")
}

func BenchmarkSetContains(b *testing.B) {
	s := mustParseSet(b, "22,80,443,1000-2000,3000-3010,T:8080-8090,U:53,161-162")
	b.ReportAllocs()
	for b.Loop() {
		for p := ports.Port(0); p < 100; p++ {
			s.Contains(ports.ProtoTCP, p*50)
		}
	}
}
