package registry

import (
	"os"
	"testing"

	"github.com/portkit/ports"
)

// BenchmarkParse reads the whole IANA CSV at run time (what Parse does for
// a newer download; Default is compiled in).
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(csvFile)
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	records, n := 0, 0
	for b.Loop() {
		reg, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		records = reg.Len()
		n++
	}
	b.ReportMetric(float64(records)*float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkParseAndIndex adds building the indexes, the cost of the first
// lookup in a parsed registry.
func BenchmarkParseAndIndex(b *testing.B) {
	data, err := os.ReadFile(csvFile)
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	b.ReportAllocs()
	for b.Loop() {
		reg, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		reg.Registered(ports.ProtoTCP, 443)
	}
}

var benchPorts = []ports.Port{22, 53, 80, 443, 3306, 5432, 8080, 27017, 49152, 65535}

func BenchmarkPortLookup(b *testing.B) {
	reg := Default()
	b.ReportAllocs()
	var sink *Record
	n := 0
	for b.Loop() {
		for _, p := range benchPorts {
			for rec := range reg.Port(ports.ProtoTCP, p) {
				sink = rec
			}
		}
		n += len(benchPorts)
	}
	_ = sink
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lookups/s")
}

func BenchmarkRegistered(b *testing.B) {
	reg := Default()
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range benchPorts {
			reg.Registered(ports.ProtoTCP, p)
		}
	}
}

// BenchmarkRegisteredAllPorts is what ports.ParseSet("T:[-]") asks: every
// port, each of which scans all the range records.
func BenchmarkRegisteredAllPorts(b *testing.B) {
	reg := Default()
	b.ReportAllocs()
	for b.Loop() {
		for p := range 65536 {
			reg.Registered(ports.ProtoTCP, ports.Port(p))
		}
	}
}

func BenchmarkServicePortsGlob(b *testing.B) {
	reg := Default()
	b.ReportAllocs()
	for b.Loop() {
		for range reg.ServicePorts("ftp*") {
		}
	}
}

func BenchmarkRelated(b *testing.B) {
	reg := Default()
	for _, name := range []string{"ftp", "http", "netbios-ns"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(reg.Related(name)) == 0 {
					b.Fatal("no relations")
				}
			}
		})
	}
}
