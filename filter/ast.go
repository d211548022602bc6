package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portkit/ports"
)

// Op is the kind of an [Expr] node.
type Op uint8

// Node kinds.
const (
	OpPrim Op = iota // a primitive: Expr.Prim
	OpAnd            // X and Y
	OpOr             // X or Y
	OpNot            // not X
)

// String returns the operator's keyword ("and", "or", "not"), or "prim".
func (o Op) String() string {
	switch o {
	case OpPrim:
		return "prim"
	case OpAnd:
		return "and"
	case OpOr:
		return "or"
	case OpNot:
		return "not"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Expr is a node of a parsed filter: a primitive, or an operator over
// one or two sub-expressions. A nil *Expr is the empty filter, which
// matches every packet.
//
// An Expr is plain data: build one by hand if that is easier than
// writing a string, and compare two with reflect.DeepEqual or go-cmp.
type Expr struct {
	Op   Op
	X, Y *Expr     // operands: X and Y for OpAnd and OpOr, X alone for OpNot
	Prim Primitive // the primitive, for OpPrim
}

// Proto is a protocol keyword: a primitive of its own ("tcp") or the
// qualifier in front of host, net, port and portrange ("ip host",
// "udp port").
type Proto uint8

// Protocol keywords. ProtoNone is the absent qualifier.
const (
	ProtoNone  Proto = iota
	ProtoIP          // ip: IPv4
	ProtoIP6         // ip6: IPv6
	ProtoARP         // arp
	ProtoTCP         // tcp, over IPv4 or IPv6
	ProtoUDP         // udp
	ProtoSCTP        // sctp
	ProtoICMP        // icmp: ICMP over IPv4
	ProtoICMP6       // icmp6: ICMPv6
	ProtoEther       // ether (or link): the link-layer header
	ProtoRARP        // rarp
	ProtoIGMP        // igmp: over IPv4 only
	ProtoIGRP        // igrp: over IPv4 only
	ProtoPIM         // pim: over IPv4 or IPv6
	ProtoVRRP        // vrrp: over IPv4 only
	ProtoCARP        // carp: IP protocol 112, as vrrp
	ProtoAH          // ah: over IPv4 or IPv6
	ProtoESP         // esp: over IPv4 or IPv6
)

var protoNames = [...]string{
	ProtoNone: "", ProtoIP: "ip", ProtoIP6: "ip6", ProtoARP: "arp",
	ProtoTCP: "tcp", ProtoUDP: "udp", ProtoSCTP: "sctp",
	ProtoICMP: "icmp", ProtoICMP6: "icmp6", ProtoEther: "ether", ProtoRARP: "rarp",
	ProtoIGMP: "igmp", ProtoIGRP: "igrp", ProtoPIM: "pim", ProtoVRRP: "vrrp", ProtoCARP: "carp", ProtoAH: "ah", ProtoESP: "esp",
}

// String returns the keyword ("tcp"), "" for ProtoNone, or "proto(N)".
func (p Proto) String() string {
	if int(p) < len(protoNames) {
		return protoNames[p]
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// Dir is the direction qualifier of host, net, port and portrange.
type Dir uint8

// Directions. DirAny, the absent qualifier, means the same as
// DirSrcOrDst but is kept apart so that String gives back what was
// written.
const (
	DirAny       Dir = iota // no qualifier: source or destination
	DirSrc                  // src
	DirDst                  // dst
	DirSrcOrDst             // src or dst
	DirSrcAndDst            // src and dst
)

var dirNames = [...]string{DirAny: "", DirSrc: "src", DirDst: "dst", DirSrcOrDst: "src or dst", DirSrcAndDst: "src and dst"}

// String returns the qualifier as written ("src or dst"), "" for DirAny,
// or "dir(N)".
func (d Dir) String() string {
	if int(d) < len(dirNames) {
		return dirNames[d]
	}
	return "dir(" + strconv.Itoa(int(d)) + ")"
}

// Kind is what a primitive tests.
type Kind uint8

// Primitive kinds.
const (
	KindProto      Kind = iota // the protocol alone: "tcp", "ip6"
	KindHost                   // host ADDR
	KindNet                    // net PREFIX
	KindPort                   // port N or port NAME
	KindPortRange              // portrange A-B
	KindRel                    // a relation: Rel ("tcp[13] & 2 != 0", "len <= 100")
	KindEtherHost              // ether host MAC
	KindEtherProto             // ether proto N
	KindBroadcast              // ether broadcast
	KindMulticast              // ether, ip or ip6 multicast
	KindVLAN                   // vlan [ID]
	KindIPProto                // [ip|ip6] proto N
	KindMPLS                   // mpls [LABEL]
	KindPPPoED                 // pppoed: PPPoE discovery
	KindPPPoES                 // pppoes [ID]: PPPoE session
	KindLLC                    // llc [TYPE]: an 802.2 LLC frame on Ethernet
	KindInbound                // inbound: a Linux cooked (SLL) packet not sent by the host
	KindOutbound               // outbound: one the host sent
	KindProtochain             // [ip|ip6] protochain N
)

var kindNames = [...]string{KindProto: "proto", KindHost: "host", KindNet: "net", KindPort: "port", KindPortRange: "portrange",
	KindRel: "relation", KindEtherHost: "host", KindEtherProto: "proto", KindBroadcast: "broadcast", KindMulticast: "multicast", KindVLAN: "vlan", KindIPProto: "proto",
	KindMPLS: "mpls", KindPPPoED: "pppoed", KindPPPoES: "pppoes", KindLLC: "llc", KindInbound: "inbound", KindOutbound: "outbound",
	KindProtochain: "protochain"}

// String returns the keyword ("host", "portrange"), "proto" for
// KindProto, or "kind(N)".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Primitive is one test on a packet. Which fields count depends on Kind:
//
//	KindProto      Proto (not ProtoNone)
//	KindHost       Proto, Dir, Net: one address (Net.IsSingleIP)
//	KindNet        Proto, Dir, Net
//	KindPort       Proto, Dir, and Ports (First == Last) or Service
//	KindPortRange  Proto, Dir, Ports, and Service if written with a name
//	KindRel        Rel
//	KindEtherHost  Dir, MAC (Proto is ProtoEther)
//	KindEtherProto Num, an EtherType (Proto is ProtoEther)
//	KindBroadcast  Proto: ProtoEther, or ProtoIP (destination 0.0.0.0 or
//	               255.255.255.255, tcpdump's netmask for a file)
//	KindMulticast  Proto: ProtoEther, ProtoIP or ProtoIP6
//	KindVLAN       HasNum, Num: the VLAN ID if one is given
//	KindIPProto    Proto (ProtoIP, ProtoIP6 or ProtoNone), Num: an IP protocol number
//	KindMPLS       HasNum, Num: the label if one is given
//	KindPPPoED     nothing
//	KindPPPoES     HasNum, Num: the session ID if one is given
//	KindLLC        LLC: "" for any LLC frame, else the frame type (i, s, u) or
//	               the S or U frame's name (rr, ui, xid, ...)
//	KindInbound    nothing
//	KindOutbound   nothing
//	KindProtochain Proto (ProtoIP, ProtoIP6 or ProtoNone), Num: the IP
//	               protocol looked for along the header chain
//
// The protocol names of "ether proto" and the words that stand for one
// (stp, ipx, decnet, atalk, ...) are a KindEtherProto with their number,
// as in libpcap, where "stp" is "ether proto 0x42".
//
// Unused fields are zero.
type Primitive struct {
	Kind  Kind
	Proto Proto
	Dir   Dir
	// Net is the address of a host (a /32 or /128) or the network of a
	// net. An IPv4-mapped IPv6 address stays IPv6.
	Net netip.Prefix
	// Ports is the port of "port N" (First == Last) and the range of
	// portrange; zero for a port given by Service.
	Ports ports.Range
	// Service is the service name of "port NAME" as written, or the
	// range of a portrange with a service name at an end ("25-smtp");
	// the ports come from the IANA registry (see the package
	// documentation). A portrange keeps its resolved range in Ports too.
	Service string
	// Mask is the mask of "net A mask M" when it is not contiguous
	// (255.0.255.0 is 0xff00ff00), so that no prefix length says it;
	// Net is then A/32. Otherwise it is 0 (a zero mask is contiguous).
	Mask uint32
	// MAC is the address of "ether host".
	MAC [6]byte
	// Num is the EtherType of "ether proto" and the ID of "vlan ID".
	Num    uint32
	HasNum bool
	// Rel is the relation of KindRel.
	Rel *Relation
	// LLC is the frame type of KindLLC.
	LLC string
}

// String returns the filter text of e, which Parse turns back into an
// equal Expr. Every primitive is written out in full (no repeated
// qualifiers), and and/or operands are parenthesised wherever the
// grouping could be in doubt. A nil Expr gives "".
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	var b strings.Builder
	e.appendTo(&b)
	return b.String()
}

func (e *Expr) appendTo(b *strings.Builder) {
	switch e.Op {
	case OpPrim:
		b.WriteString(e.Prim.String())
	case OpNot:
		b.WriteString("not ")
		e.X.appendOperand(b, e.X != nil && (e.X.Op == OpAnd || e.X.Op == OpOr))
	case OpAnd, OpOr:
		// and and or have the same precedence and group to the left,
		// so a left operand needs no parentheses; they are added when
		// the operator differs, for the reader.
		e.X.appendOperand(b, e.X != nil && e.X.Op != e.Op && e.X.Op != OpPrim && e.X.Op != OpNot)
		b.WriteByte(' ')
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		e.Y.appendOperand(b, e.Y != nil && (e.Y.Op == OpAnd || e.Y.Op == OpOr))
	default:
		fmt.Fprintf(b, "%v", e.Op)
	}
}

func (e *Expr) appendOperand(b *strings.Builder, paren bool) {
	if e == nil {
		b.WriteString("()")
		return
	}
	if paren {
		b.WriteByte('(')
	}
	e.appendTo(b)
	if paren {
		b.WriteByte(')')
	}
}

// String returns the primitive in filter syntax, with every qualifier
// written out: "tcp", "ip src host 10.0.0.1", "udp dst portrange
// 1024-2047".
func (p Primitive) String() string {
	var b strings.Builder
	switch p.Kind {
	case KindRel:
		return p.Rel.String()
	case KindEtherProto:
		return "ether proto " + strconv.FormatUint(uint64(p.Num), 10)
	case KindBroadcast:
		return p.Proto.String() + " broadcast"
	case KindMulticast:
		return p.Proto.String() + " multicast"
	case KindIPProto, KindProtochain:
		w := " " + p.Kind.String() + " " + strconv.FormatUint(uint64(p.Num), 10)
		if p.Proto == ProtoNone {
			return w[1:]
		}
		return p.Proto.String() + w
	case KindVLAN, KindMPLS, KindPPPoES:
		if p.HasNum {
			return p.Kind.String() + " " + strconv.FormatUint(uint64(p.Num), 10)
		}
		return p.Kind.String()
	case KindPPPoED, KindInbound, KindOutbound:
		return p.Kind.String()
	case KindLLC:
		if p.LLC != "" {
			return "llc " + p.LLC
		}
		return "llc"
	}
	if p.Proto != ProtoNone {
		b.WriteString(p.Proto.String())
		if p.Kind == KindProto {
			return b.String()
		}
		b.WriteByte(' ')
	}
	if p.Dir != DirAny {
		b.WriteString(p.Dir.String())
		b.WriteByte(' ')
	}
	b.WriteString(p.Kind.String())
	b.WriteByte(' ')
	switch p.Kind {
	case KindHost:
		b.WriteString(p.Net.Addr().String())
	case KindEtherHost:
		fmt.Fprintf(&b, "%02x:%02x:%02x:%02x:%02x:%02x", p.MAC[0], p.MAC[1], p.MAC[2], p.MAC[3], p.MAC[4], p.MAC[5])
	case KindNet:
		if p.Mask != 0 {
			m := p.Mask
			b.WriteString(p.Net.Addr().String() + " mask " + netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String())
			break
		}
		b.WriteString(p.Net.String())
	case KindPort:
		if p.Service != "" {
			b.WriteString(p.Service)
		} else {
			b.WriteString(strconv.Itoa(int(p.Ports.First)))
		}
	case KindPortRange:
		if p.Service != "" {
			b.WriteString(p.Service)
			break
		}
		b.WriteString(strconv.Itoa(int(p.Ports.First)))
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(int(p.Ports.Last)))
	}
	return b.String()
}
