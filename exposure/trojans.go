package exposure

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/portkit/ports"
)

//go:embed trojans.csv
var trojansCSV string

// Trojan is a port a trojan horse or backdoor is known to listen on.
type Trojan struct {
	Proto   ports.Proto
	Port    ports.Port
	Program string
	Source  string // the public page that names the program and its port
}

// Trojans is a dataset of trojan ports.
type Trojans struct {
	byKey map[trojanKey][]Trojan
	n     int
}

type trojanKey struct {
	proto ports.Proto
	port  ports.Port
}

// DefaultTrojans returns the dataset kept in this package
// (trojans.csv), parsed on first use.
func DefaultTrojans() *Trojans { return defaultTrojans() }

var defaultTrojans = sync.OnceValue(func() *Trojans {
	t, err := ParseTrojans(strings.NewReader(trojansCSV))
	if err != nil {
		panic("exposure: the embedded trojans.csv is bad: " + err.Error()) // a test checks it
	}
	return t
})

// Len is the number of entries.
func (t *Trojans) Len() int { return t.n }

// Lookup returns the entries for proto and port.
func (t *Trojans) Lookup(proto ports.Proto, port ports.Port) []Trojan {
	return t.byKey[trojanKey{proto, port}]
}

// ParseTrojans reads a dataset in trojans.csv's format: lines starting
// with # are comments, then a header, then proto,port,program,source,
// each field required.
func ParseTrojans(r io.Reader) (*Trojans, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = 4
	t := &Trojans{byKey: map[trojanKey][]Trojan{}}
	header := true
	for {
		f, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trojan ports: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if header {
			if strings.Join(f, ",") != "proto,port,program,source" {
				return nil, fmt.Errorf("trojan ports: line %d: header %q, want proto,port,program,source", line, strings.Join(f, ","))
			}
			header = false
			continue
		}
		var tr Trojan
		switch f[0] {
		case "tcp":
			tr.Proto = ports.ProtoTCP
		case "udp":
			tr.Proto = ports.ProtoUDP
		default:
			return nil, fmt.Errorf("trojan ports: line %d: protocol %q, want tcp or udp", line, f[0])
		}
		p, err := strconv.ParseUint(f[1], 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("trojan ports: line %d: port %q is not 1-65535", line, f[1])
		}
		tr.Port = ports.Port(p)
		tr.Program, tr.Source = strings.TrimSpace(f[2]), strings.TrimSpace(f[3])
		if tr.Program == "" {
			return nil, fmt.Errorf("trojan ports: line %d: no program", line)
		}
		if !strings.HasPrefix(tr.Source, "http://") && !strings.HasPrefix(tr.Source, "https://") {
			return nil, fmt.Errorf("trojan ports: line %d: source %q is not a web address", line, tr.Source)
		}
		k := trojanKey{tr.Proto, tr.Port}
		t.byKey[k] = append(t.byKey[k], tr)
		t.n++
	}
	if header {
		return nil, fmt.Errorf("trojan ports: no header")
	}
	return t, nil
}
