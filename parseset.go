package ports

import (
	"errors"
	"fmt"
	"strings"
)

// ParseSet parses a port set in nmap's -p grammar:
//
//	22              one port
//	1-1024          a range; "-1024" starts at 1, "60000-" ends at 65535
//	-               every port from 1 to 65535 (port 0 only when named)
//	T:80,U:53       ports for one protocol: T tcp, U udp, S sctp, D dccp;
//	                a prefix holds until the next one
//	http, ftp*      service names, with * and ? wildcards, resolved by r
//	[-1024]         only the ports that have a registered service
//
// Items are separated by commas; a bracket holds a comma list of ranges.
// Service names and brackets need a resolver; r may be nil otherwise.
// Errors are *ParseError values that quote the input and the position.
func ParseSet(s string, r ServiceResolver) (Set, error) {
	p := setParser{in: s, r: r}
	if err := p.parse(); err != nil {
		return Set{}, err
	}
	return p.set, nil
}

type setParser struct {
	in    string
	r     ServiceResolver
	set   Set
	proto Proto // current prefix
}

func (p *setParser) errorf(pos int, format string, args ...any) error {
	return &ParseError{What: "port set", Input: p.in, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *setParser) parse() error {
	if strings.TrimSpace(p.in) == "" {
		return p.errorf(0, "empty")
	}
	i := 0
	for {
		next, err := p.item(i)
		if err != nil {
			return err
		}
		i = next
		if i == len(p.in) {
			return nil
		}
		// p.item stops only at the end or at a comma.
		i++
		if i == len(p.in) {
			return p.errorf(i-1, "trailing comma")
		}
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// item parses one item starting at i and returns the index of the comma
// after it, or len(p.in).
func (p *setParser) item(i int) (int, error) {
	i = skipSpace(p.in, i)
	if i+1 < len(p.in) && p.in[i+1] == ':' {
		switch p.in[i] {
		case 'T', 't':
			p.proto = ProtoTCP
		case 'U', 'u':
			p.proto = ProtoUDP
		case 'S', 's':
			p.proto = ProtoSCTP
		case 'D', 'd':
			p.proto = ProtoDCCP
		case 'P', 'p':
			return 0, p.errorf(i, "IP protocol numbers (P:) are not ports")
		default:
			return 0, p.errorf(i, "unknown protocol prefix %q; want T:, U:, S: or D:", p.in[i:i+2])
		}
		i = skipSpace(p.in, i+2)
	}
	if i < len(p.in) && p.in[i] == '[' {
		end := strings.IndexByte(p.in[i:], ']')
		if end < 0 {
			return 0, p.errorf(i, "unclosed '['")
		}
		end += i
		inner := setParser{in: p.in, r: p.r, proto: ProtoAny}
		j := i + 1
		for {
			k, err := inner.spec(j, end)
			if err != nil {
				return 0, err
			}
			if k == end {
				break
			}
			j = k + 1
		}
		if p.r == nil {
			return 0, p.errorf(i, "registered-port brackets need a service registry")
		}
		p.addRegistered(inner.set)
		return p.after(end + 1)
	}
	k, err := p.spec(i, len(p.in))
	if err != nil {
		return 0, err
	}
	return k, nil
}

// after checks that only spaces stand between i and the next comma.
func (p *setParser) after(i int) (int, error) {
	i = skipSpace(p.in, i)
	if i < len(p.in) && p.in[i] != ',' {
		return 0, p.errorf(i, "unexpected %q", p.in[i])
	}
	return i, nil
}

// spec parses a range or service name starting at i and ending at the
// next comma or at limit, whichever comes first; it returns that index.
func (p *setParser) spec(i, limit int) (int, error) {
	i = skipSpace(p.in, i)
	end := i
	for end < limit && p.in[end] != ',' {
		end++
	}
	field := strings.TrimRight(p.in[i:end], " \t")
	if field == "" {
		return 0, p.errorf(i, "missing port")
	}
	c := field[0]
	if c == '-' || (c >= '0' && c <= '9') {
		r, err := p.rangeAt(field, i)
		if err != nil {
			return 0, err
		}
		p.set.Add(p.proto, r)
		return end, nil
	}
	if strings.ContainsAny(field, "[]:") {
		return 0, p.errorf(i+strings.IndexAny(field, "[]:"), "unexpected %q", field[strings.IndexAny(field, "[]:")])
	}
	if err := p.service(field, i); err != nil {
		return 0, err
	}
	return end, nil
}

// rangeAt parses "N", "A-B", "-B", "A-" or "-" at offset off.
func (p *setParser) rangeAt(field string, off int) (Range, error) {
	dash := strings.IndexByte(field, '-')
	if dash < 0 {
		n, err := parsePortAt(p.in, field, off)
		if err != nil {
			return Range{}, p.portErr(err)
		}
		return Range{n, n}, nil
	}
	r := Range{1, MaxPort}
	var err error
	if dash > 0 {
		if r.First, err = parsePortAt(p.in, field[:dash], off); err != nil {
			return Range{}, p.portErr(err)
		}
	}
	if dash+1 < len(field) {
		if r.Last, err = parsePortAt(p.in, field[dash+1:], off+dash+1); err != nil {
			return Range{}, p.portErr(err)
		}
	}
	if r.First > r.Last {
		return Range{}, p.errorf(off, "range %s ends below its start", field)
	}
	return r, nil
}

// portErr relabels a port error as a port set error.
func (p *setParser) portErr(err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return p.errorf(pe.Pos, "%s", pe.Msg)
	}
	return err
}

func (p *setParser) service(name string, off int) error {
	if p.r == nil {
		return p.errorf(off, "service name %q needs a service registry", name)
	}
	found := false
	for proto, port := range p.r.ServicePorts(name) {
		switch {
		case proto == ProtoAny:
			// Registered without a protocol: it stands for whichever
			// protocol the prefix names, or for all.
			proto = p.proto
		case p.proto != ProtoAny && proto != p.proto:
			continue
		case slot(proto) == 0:
			continue // a protocol a Set has no slot for
		}
		found = true
		p.set.Add(proto, Range{port, port})
	}
	if !found {
		if p.proto != ProtoAny {
			return &ParseError{What: "port set", Input: p.in, Pos: off,
				Msg: fmt.Sprintf("no %s port registered for service %q", p.proto, name), Err: ErrUnknownService}
		}
		return &ParseError{What: "port set", Input: p.in, Pos: off,
			Msg: fmt.Sprintf("%s %q", ErrUnknownService, name), Err: ErrUnknownService}
	}
	return nil
}

// addRegistered adds the ports of in (parsed inside brackets) that have a
// registered service, per protocol.
func (p *setParser) addRegistered(in Set) {
	protos := Protos[:]
	if p.proto != ProtoAny {
		protos = []Proto{p.proto}
	}
	for _, proto := range protos {
		for _, r := range in.Ranges(proto) {
			for port := int(r.First); port <= int(r.Last); port++ {
				if p.r.Registered(proto, Port(port)) {
					p.set.Add(proto, Range{Port(port), Port(port)})
				}
			}
		}
	}
}
