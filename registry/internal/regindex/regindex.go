// Package regindex builds the lookup indexes of the port registry. Both
// package registry (for a CSV parsed at run time) and its generator (for
// the compiled-in copy) use it, so the two indexes cannot differ.
package regindex

import (
	"cmp"
	"slices"
	"strings"
)

// Name is one distinct lower-case service name and the records that
// carry it: Recs[First : First+Count] of the Index.
type Name struct {
	Name         string
	First, Count uint16
}

// Index holds record numbers (uint16: the registry has about 14,500).
type Index struct {
	ByPort []uint16 // single-port records, stably sorted by port
	// Ranges are the records that span several ports, stably sorted by
	// their first port; none is longer than MaxRangeLen ports, so the
	// ranges holding port p start in [p-MaxRangeLen+1, p].
	Ranges      []uint16
	MaxRangeLen uint16
	// NamedRanges are the Ranges that carry a service name, so that
	// "is anything registered here" need not look at the hundreds of
	// Unassigned ranges. Sorted like Ranges.
	NamedRanges []uint16
	Names       []Name   // sorted by Name
	Recs        []uint16 // record numbers grouped by name, each group in record order
}

// Entry is what the index needs to know of one record.
type Entry struct {
	Name        string
	First, Last uint16
	HasPort     bool
}

// Build indexes n records; at(i) describes record i. n must be below
// 65536.
func Build(n int, at func(i int) Entry) Index {
	var x Index
	groups := map[string][]uint16{}
	for i := 0; i < n; i++ {
		e := at(i)
		switch {
		case !e.HasPort:
		case e.First == e.Last:
			x.ByPort = append(x.ByPort, uint16(i))
		default:
			x.Ranges = append(x.Ranges, uint16(i))
			x.MaxRangeLen = max(x.MaxRangeLen, e.Last-e.First+1)
		}
		if e.Name != "" {
			k := Lower(e.Name)
			groups[k] = append(groups[k], uint16(i))
		}
	}
	byFirst := func(a, b uint16) int { return cmp.Compare(at(int(a)).First, at(int(b)).First) }
	slices.SortStableFunc(x.ByPort, byFirst)
	slices.SortStableFunc(x.Ranges, byFirst)
	for _, i := range x.Ranges {
		if at(int(i)).Name != "" {
			x.NamedRanges = append(x.NamedRanges, i)
		}
	}
	for name := range groups {
		x.Names = append(x.Names, Name{Name: name})
	}
	slices.SortFunc(x.Names, func(a, b Name) int { return strings.Compare(a.Name, b.Name) })
	for i := range x.Names {
		g := groups[x.Names[i].Name]
		x.Names[i].First, x.Names[i].Count = uint16(len(x.Recs)), uint16(len(g))
		x.Recs = append(x.Recs, g...)
	}
	return x
}

// Lower returns s in lower case, without allocating when it already is
// (as almost every IANA name is).
func Lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
