package ports

import "strconv"

// Port is a TCP, UDP, SCTP or DCCP port number.
type Port uint16

// MaxPort is the largest port number.
const MaxPort Port = 65535

// String returns the port in decimal.
func (p Port) String() string { return strconv.Itoa(int(p)) }

// Class returns the RFC 6335 range the port falls in.
func (p Port) Class() Class {
	switch {
	case p <= 1023:
		return ClassSystem
	case p <= 49151:
		return ClassUser
	}
	return ClassDynamic
}

// Class is one of the three port number ranges of RFC 6335 section 6.
type Class uint8

// The port classes, in increasing port order.
const (
	ClassSystem  Class = iota // 0-1023, "system" or "well-known" ports, assigned by IANA through IETF review.
	ClassUser                 // 1024-49151, "user" or "registered" ports, assigned by IANA on request.
	ClassDynamic              // 49152-65535, "dynamic" or "private" ports, never assigned; the RFC 6335 ephemeral range.
)

// String returns the RFC 6335 name: "system", "user" or "dynamic".
func (c Class) String() string {
	switch c {
	case ClassSystem:
		return "system"
	case ClassUser:
		return "user"
	case ClassDynamic:
		return "dynamic"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Alias returns the older, common name of the class: "well-known",
// "registered" or "private".
func (c Class) Alias() string {
	switch c {
	case ClassSystem:
		return "well-known"
	case ClassUser:
		return "registered"
	case ClassDynamic:
		return "private"
	}
	return c.String()
}

// Range returns the ports of the class.
func (c Class) Range() Range {
	switch c {
	case ClassSystem:
		return Range{0, 1023}
	case ClassUser:
		return Range{1024, 49151}
	}
	return Range{49152, 65535}
}

// MarshalText implements encoding.TextMarshaler.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Range is an inclusive range of ports, First <= Last.
type Range struct {
	First, Last Port
}

// Contains reports whether p lies in r.
func (r Range) Contains(p Port) bool { return r.First <= p && p <= r.Last }

// Len returns the number of ports in r.
func (r Range) Len() int { return int(r.Last) - int(r.First) + 1 }

// String returns "First-Last", or "First" for a single port.
func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// ParseRange parses "N" or "A-B" (decimal, A <= B).
func ParseRange(s string) (Range, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			a, err := parsePortAt(s, s[:i], 0)
			if err != nil {
				return Range{}, err
			}
			b, err := parsePortAt(s, s[i+1:], i+1)
			if err != nil {
				return Range{}, err
			}
			if a > b {
				return Range{}, &ParseError{What: "port range", Input: s, Pos: i + 1, Msg: "end is below start"}
			}
			return Range{a, b}, nil
		}
	}
	p, err := parsePortAt(s, s, 0)
	return Range{p, p}, err
}

// ParsePort parses a decimal port number, 0-65535.
func ParsePort(s string) (Port, error) { return parsePortAt(s, s, 0) }

// parsePortAt parses field, which starts at byte off of the whole input.
func parsePortAt(input, field string, off int) (Port, error) {
	if field == "" {
		return 0, &ParseError{What: "port", Input: input, Pos: off, Msg: "missing port number"}
	}
	n := 0
	for i := 0; i < len(field); i++ {
		c := field[i]
		if c < '0' || c > '9' {
			return 0, &ParseError{What: "port", Input: input, Pos: off + i, Msg: "not a port number"}
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return 0, &ParseError{What: "port", Input: input, Pos: off, Msg: "port number above 65535"}
		}
	}
	return Port(n), nil
}
