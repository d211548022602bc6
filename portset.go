package ports

import (
	"iter"
	"slices"
	"strings"
)

// ServiceResolver maps service names to ports. Package registry's
// *Registry implements it from the IANA registry.
type ServiceResolver interface {
	// ServicePorts yields the protocol and port of every registered
	// service whose name matches pattern, ignoring case, with ProtoAny
	// for a service registered without a protocol. The pattern may hold
	// the wildcards * (any run of characters) and ? (one character).
	ServicePorts(pattern string) iter.Seq2[Proto, Port]
	// Registered reports whether a service is registered on port p for
	// proto (for any protocol when proto is ProtoAny).
	Registered(proto Proto, p Port) bool
}

// numSlots is the number of protocol slots in a Set: unqualified, then one
// per entry of Protos.
const numSlots = 1 + len(Protos)

// slot returns the index of proto in Set.ranges; 0 for ProtoAny.
func slot(p Proto) int {
	switch p {
	case ProtoTCP:
		return 1
	case ProtoUDP:
		return 2
	case ProtoSCTP:
		return 3
	case ProtoDCCP:
		return 4
	}
	return 0
}

// slotProto is the inverse of slot.
func slotProto(i int) Proto {
	if i == 0 {
		return ProtoAny
	}
	return Protos[i-1]
}

// Set is a set of ports, some of them for one protocol only. Unqualified
// ports (written without a "T:" or "U:" prefix) apply to every protocol.
// The zero Set is empty and ready to use; Sets are values, but share
// backing arrays when copied, so use Clone before changing a copy.
type Set struct {
	ranges [numSlots][]Range // each sorted, disjoint and not adjacent
}

// Add adds the ports of r for proto; ProtoAny adds them for every
// protocol. Protocols other than those in Protos are ignored.
func (s *Set) Add(proto Proto, r Range) {
	if r.First > r.Last || (proto != ProtoAny && slot(proto) == 0) {
		return
	}
	i := slot(proto)
	s.ranges[i] = addRange(s.ranges[i], r)
}

// AddSet adds every port of o.
func (s *Set) AddSet(o Set) {
	for i := range o.ranges {
		for _, r := range o.ranges[i] {
			s.ranges[i] = addRange(s.ranges[i], r)
		}
	}
}

// Remove takes the ports of o out of s. Unqualified ports of o are removed
// for every protocol; ports o holds for one protocol are removed for that
// protocol only, so an unqualified port of s that o removes for TCP stays
// for the other protocols.
func (s *Set) Remove(o Set) {
	for _, r := range o.ranges[0] {
		for i := range s.ranges {
			s.ranges[i] = removeRange(s.ranges[i], r)
		}
	}
	for i := 1; i < numSlots; i++ {
		for _, r := range o.ranges[i] {
			// Split what s holds for every protocol: it stays for the others.
			for _, in := range intersect(s.ranges[0], r) {
				s.ranges[0] = removeRange(s.ranges[0], in)
				for j := 1; j < numSlots; j++ {
					if j != i {
						s.ranges[j] = addRange(s.ranges[j], in)
					}
				}
			}
			s.ranges[i] = removeRange(s.ranges[i], r)
		}
	}
}

// Clone returns a copy of s that shares no memory with it.
func (s Set) Clone() Set {
	var c Set
	for i := range s.ranges {
		c.ranges[i] = slices.Clone(s.ranges[i])
	}
	return c
}

// IsEmpty reports whether s holds no port.
func (s Set) IsEmpty() bool {
	for i := range s.ranges {
		if len(s.ranges[i]) > 0 {
			return false
		}
	}
	return true
}

// Contains reports whether s holds port p for proto. With ProtoAny it
// reports whether p is held for every protocol (written unqualified).
func (s Set) Contains(proto Proto, p Port) bool {
	if containsPort(s.ranges[0], p) {
		return true
	}
	return proto != ProtoAny && containsPort(s.ranges[slot(proto)], p)
}

// Ranges returns the ports s holds for proto: the unqualified ones and
// those given for proto, sorted and merged. With ProtoAny it returns only
// the unqualified ranges. The result is a new slice.
func (s Set) Ranges(proto Proto) []Range {
	out := slices.Clone(s.ranges[0])
	if proto != ProtoAny {
		for _, r := range s.ranges[slot(proto)] {
			out = addRange(out, r)
		}
	}
	return out
}

// Ports yields, in increasing order, each port s holds for proto (see
// Ranges).
func (s Set) Ports(proto Proto) iter.Seq[Port] {
	return func(yield func(Port) bool) {
		for _, r := range s.Ranges(proto) {
			for p := int(r.First); p <= int(r.Last); p++ {
				if !yield(Port(p)) {
					return
				}
			}
		}
	}
}

// Len returns the number of ports s holds for proto (see Ranges).
func (s Set) Len(proto Proto) int {
	n := 0
	for _, r := range s.Ranges(proto) {
		n += r.Len()
	}
	return n
}

// Protos returns the protocols that s names explicitly ("T:", "U:"...),
// in the order of the package-level Protos.
func (s Set) Protos() []Proto {
	var ps []Proto
	for i := 1; i < numSlots; i++ {
		if len(s.ranges[i]) > 0 {
			ps = append(ps, slotProto(i))
		}
	}
	return ps
}

// Equal reports whether s and o hold the same ports in the same slots.
func (s Set) Equal(o Set) bool {
	for i := range s.ranges {
		if !slices.Equal(s.ranges[i], o.ranges[i]) {
			return false
		}
	}
	return true
}

// String returns s in the grammar ParseSet reads: unqualified ranges
// first, then each protocol's after its prefix, e.g. "22,80-90,U:53".
// The empty set is "".
func (s Set) String() string {
	var b strings.Builder
	for i := range s.ranges {
		for j, r := range s.ranges[i] {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			if j == 0 && i > 0 {
				b.WriteString(protoPrefix[i])
			}
			b.WriteString(r.String())
		}
	}
	return b.String()
}

var protoPrefix = [numSlots]string{"", "T:", "U:", "S:", "D:"}

func containsPort(rs []Range, p Port) bool {
	i, found := slices.BinarySearchFunc(rs, p, func(r Range, p Port) int {
		switch {
		case r.Last < p:
			return -1
		case r.First > p:
			return 1
		}
		return 0
	})
	_ = i
	return found
}

// addRange inserts r into the sorted, merged rs.
func addRange(rs []Range, r Range) []Range {
	// First range that ends at or after r.First-1 (could touch r).
	i := 0
	for i < len(rs) && int(rs[i].Last)+1 < int(r.First) {
		i++
	}
	j := i
	for j < len(rs) && int(rs[j].First) <= int(r.Last)+1 {
		r.First = min(r.First, rs[j].First)
		r.Last = max(r.Last, rs[j].Last)
		j++
	}
	return slices.Replace(rs, i, j, r)
}

// removeRange removes r from the sorted, merged rs.
func removeRange(rs []Range, r Range) []Range {
	out := rs[:0:0]
	changed := false
	for _, x := range rs {
		if x.Last < r.First || x.First > r.Last {
			out = append(out, x)
			continue
		}
		changed = true
		if x.First < r.First {
			out = append(out, Range{x.First, r.First - 1})
		}
		if x.Last > r.Last {
			out = append(out, Range{r.Last + 1, x.Last})
		}
	}
	if !changed {
		return rs
	}
	return out
}

// intersect returns the parts of rs inside r.
func intersect(rs []Range, r Range) []Range {
	var out []Range
	for _, x := range rs {
		lo, hi := max(x.First, r.First), min(x.Last, r.Last)
		if lo <= hi {
			out = append(out, Range{lo, hi})
		}
	}
	return out
}
