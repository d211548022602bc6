package ports

import (
	"fmt"
	"strings"
)

// Proto is a transport protocol, identified by its IP protocol number so
// that it can be compared directly with the Protocol / Next Header field of
// a packet. The zero value, ProtoAny, means "no particular protocol".
type Proto uint8

// Transport protocols that carry port numbers.
const (
	ProtoAny  Proto = 0
	ProtoTCP  Proto = 6
	ProtoUDP  Proto = 17
	ProtoDCCP Proto = 33
	ProtoSCTP Proto = 132
)

// Protos lists the transport protocols with port numbers, in the order the
// IANA registry lists them.
var Protos = [...]Proto{ProtoTCP, ProtoUDP, ProtoSCTP, ProtoDCCP}

// String returns the lower-case protocol name ("tcp"), "any" for ProtoAny,
// or "proto(N)" for a number without a name.
func (p Proto) String() string {
	switch p {
	case ProtoAny:
		return "any"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoDCCP:
		return "dccp"
	case ProtoSCTP:
		return "sctp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// MarshalText implements encoding.TextMarshaler.
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Proto) UnmarshalText(b []byte) error {
	q, err := ParseProto(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ParseProto parses a protocol name, in any case: tcp, udp, sctp, dccp, or
// "any" (and the empty string) for ProtoAny.
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(s) {
	case "", "any":
		return ProtoAny, nil
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	case "sctp":
		return ProtoSCTP, nil
	case "dccp":
		return ProtoDCCP, nil
	}
	return ProtoAny, &ParseError{What: "protocol", Input: s, Pos: -1, Msg: "want tcp, udp, sctp or dccp"}
}
