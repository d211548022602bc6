package filter

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// ArithOp is the kind of an [Arith] node.
type ArithOp uint8

// Arithmetic node kinds.
const (
	ArithConst ArithOp = iota // the number K
	ArithLen                  // len: the packet's length on the wire
	ArithLoad                 // Proto[X:Size]: Size bytes at offset X of the Proto header
	ArithNeg                  // -X
	ArithAdd                  // X + Y
	ArithSub                  // X - Y
	ArithMul                  // X * Y
	ArithDiv                  // X / Y
	ArithMod                  // X % Y
	ArithAnd                  // X & Y
	ArithOr                   // X | Y
	ArithXor                  // X ^ Y
	ArithLsh                  // X << Y
	ArithRsh                  // X >> Y
)

var arithSymbols = [...]string{ArithAdd: "+", ArithSub: "-", ArithMul: "*", ArithDiv: "/", ArithMod: "%",
	ArithAnd: "&", ArithOr: "|", ArithXor: "^", ArithLsh: "<<", ArithRsh: ">>"}

// Arith is an arithmetic expression of a relation: unsigned 32-bit
// numbers, as in BPF.
type Arith struct {
	Op    ArithOp
	K     uint32 // ArithConst
	Proto Proto  // ArithLoad: ether, ip, ip6, arp, rarp, tcp, udp, sctp, icmp or icmp6
	Size  uint8  // ArithLoad: 1, 2 or 4
	X, Y  *Arith // operands; the offset of ArithLoad is X
}

// RelOp is a comparison of a [Relation].
type RelOp uint8

// Comparisons, unsigned.
const (
	RelEq RelOp = iota // =, ==
	RelNe              // !=
	RelLt              // <
	RelLe              // <=
	RelGt              // >
	RelGe              // >=
)

var relSymbols = [...]string{RelEq: "=", RelNe: "!=", RelLt: "<", RelLe: "<=", RelGt: ">", RelGe: ">="}

// Relation compares two arithmetic expressions: "tcp[13] & 2 != 0",
// "len <= 100".
type Relation struct {
	Op   RelOp
	X, Y *Arith
}

// String returns the relation in filter syntax, every operation in
// parentheses and every number in decimal.
func (r *Relation) String() string {
	if r == nil || r.X == nil || r.Y == nil {
		return "()"
	}
	op := "?"
	if int(r.Op) < len(relSymbols) {
		op = relSymbols[r.Op]
	}
	return r.X.String() + " " + op + " " + r.Y.String()
}

// String returns the expression in filter syntax.
func (a *Arith) String() string {
	if a == nil {
		return "()"
	}
	switch a.Op {
	case ArithConst:
		return strconv.FormatUint(uint64(a.K), 10)
	case ArithLen:
		return "len"
	case ArithLoad:
		return fmt.Sprintf("%s[%s:%d]", a.Proto, a.X, a.Size)
	case ArithNeg:
		return "-(" + a.X.String() + ")"
	}
	if int(a.Op) < len(arithSymbols) && arithSymbols[a.Op] != "" {
		return "(" + a.X.String() + " " + arithSymbols[a.Op] + " " + a.Y.String() + ")"
	}
	return fmt.Sprintf("arith(%d)", a.Op)
}

// Named constants of pcap-filter(7): header offsets and field values.
var arithConstants = map[string]uint32{
	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
	"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
	"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,
}

// loadProtos are the protocols that take a byte offset, by keyword.
var loadProtos = map[string]Proto{
	"ether": ProtoEther, "link": ProtoEther, "ip": ProtoIP, "ip6": ProtoIP6, "arp": ProtoARP,
	"rarp": ProtoRARP, "tcp": ProtoTCP, "udp": ProtoUDP, "sctp": ProtoSCTP,
	"icmp": ProtoICMP, "icmp6": ProtoICMP6,
	"igmp": ProtoIGMP, "igrp": ProtoIGRP, "pim": ProtoPIM, "vrrp": ProtoVRRP, "carp": ProtoCARP,
}

// unsupportedLoadProtos take a byte offset in pcap-filter(7) but not
// here.
var unsupportedLoadProtos = map[string]bool{
	"atalk": true,
	"aarp":  true, "decnet": true, "lat": true, "sca": true, "moprc": true, "mopdl": true,
	"iso": true, "esis": true, "isis": true, "l1": true, "l2": true, "iih": true, "lsp": true,
	"snp": true, "csnp": true, "psnp": true, "clnp": true, "stp": true, "ipx": true,
	"netbeui": true, "ah": true, "esp": true, "radio": true, "ppp": true, "slip": true,
}

// Arithmetic tokens.
type atok struct {
	kind byte // 'n' number, 'w' word, 'e' end, or the operator's first byte; 'L' <<, 'R' >>, 'l' <=, 'g' >=, '!' !=, '=' = or ==
	text string
	num  uint32
	pos  int
}

// arithParser parses a relation from a position of the filter text,
// with a lexer of its own: inside a relation "-" and ":" are operators,
// where elsewhere they are parts of words (port ranges, addresses).
type arithParser struct {
	src string
	pos int
	tok atok
	err *SyntaxError
}

func (a *arithParser) errorf(pos int, format string, args ...any) {
	if a.err == nil {
		a.err = &SyntaxError{Expr: a.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
}

func isArithWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// next reads the next token into a.tok.
func (a *arithParser) next() {
	s := a.src
	for a.pos < len(s) && strings.IndexByte(" \t\n\r\f\v", s[a.pos]) >= 0 {
		a.pos++
	}
	start := a.pos
	if start >= len(s) {
		a.tok = atok{kind: 'e', pos: start}
		return
	}
	c := s[start]
	two := ""
	if start+1 < len(s) {
		two = s[start : start+2]
	}
	switch {
	case two == "<<":
		a.tok, a.pos = atok{kind: 'L', text: two, pos: start}, start+2
	case two == ">>":
		a.tok, a.pos = atok{kind: 'R', text: two, pos: start}, start+2
	case two == "<=":
		a.tok, a.pos = atok{kind: 'l', text: two, pos: start}, start+2
	case two == ">=":
		a.tok, a.pos = atok{kind: 'g', text: two, pos: start}, start+2
	case two == "!=":
		a.tok, a.pos = atok{kind: '!', text: two, pos: start}, start+2
	case two == "==":
		a.tok, a.pos = atok{kind: '=', text: two, pos: start}, start+2
	case two == "&&" || two == "||":
		a.tok, a.pos = atok{kind: 'e', text: two, pos: start}, start // ends the relation
	case strings.IndexByte("+-*/%&|^<>=()[]:", c) >= 0:
		// A '-' that starts a word ("-1") is minus: words start with
		// a letter or digit.
		a.tok, a.pos = atok{kind: c, text: s[start : start+1], pos: start}, start+1
	case isArithWordByte(c):
		j := start
		for j < len(s) && isArithWordByte(s[j]) {
			j++
		}
		// As in libpcap's lexer, a word does not end in '-' or '_'.
		for j > start+1 && (s[j-1] == '-' || s[j-1] == '_') {
			j--
		}
		w := s[start:j]
		a.pos = j
		if n, ok := parseNumber(w); ok {
			a.tok = atok{kind: 'n', text: w, num: uint32(n), pos: start}
			return
		}
		if k, ok := arithConstants[w]; ok {
			a.tok = atok{kind: 'n', text: w, num: k, pos: start}
			return
		}
		a.tok = atok{kind: 'w', text: w, pos: start}
	default:
		a.tok, a.pos = atok{kind: 'e', text: s[start : start+1], pos: start}, start
	}
}

// parseRelation parses "arith relop arith" starting at pos. It returns
// the relation and the position after it, or an error.
func parseRelation(src string, pos int) (*Relation, int, *SyntaxError) {
	a := &arithParser{src: src, pos: pos}
	a.next()
	x := a.arith(0)
	if a.err != nil {
		return nil, 0, a.err
	}
	var op RelOp
	switch a.tok.kind {
	case '=':
		op = RelEq
	case '!':
		op = RelNe
	case '<':
		op = RelLt
	case 'l':
		op = RelLe
	case '>':
		op = RelGt
	case 'g':
		op = RelGe
	default:
		a.errorf(a.tok.pos, "expected a comparison (=, !=, <, <=, >, >=) %s", a.here())
		return nil, 0, a.err
	}
	a.next()
	y := a.arith(0)
	if a.err != nil {
		return nil, 0, a.err
	}
	switch a.tok.kind {
	case '=', '!', '<', 'l', '>', 'g', '[', ']', ':':
		// "ip[0] = 1 = 1": the rest is the main parser's.
		a.errorf(a.tok.pos, "unexpected '%s' after a comparison", a.tok.text)
		return nil, 0, a.err
	}
	return &Relation{Op: op, X: x, Y: y}, a.tok.pos, nil
}

func (a *arithParser) here() string {
	if a.tok.kind == 'e' && a.tok.text == "" {
		return "at the end"
	}
	return "before '" + a.tok.text + "'"
}

// binaryOp returns the operator of token kind k and its precedence,
// as in libpcap's grammar; '^' has none there, so yacc shifts on it:
// an operator next to '^' always takes what follows first.
func binaryOp(k byte) (ArithOp, int, bool) {
	switch k {
	case '|':
		return ArithOr, 1, true
	case '&':
		return ArithAnd, 2, true
	case 'L':
		return ArithLsh, 3, true
	case 'R':
		return ArithRsh, 3, true
	case '+':
		return ArithAdd, 4, true
	case '-':
		return ArithSub, 4, true
	case '*':
		return ArithMul, 5, true
	case '/':
		return ArithDiv, 5, true
	case '%':
		return ArithMod, 5, true
	case '^':
		return ArithXor, 0, true
	}
	return 0, 0, false
}

type stackOp struct {
	op   ArithOp
	prec int // 0: '^'; 6: unary minus
	pos  int
}

// arith parses an arithmetic expression by shift and reduce, with
// libpcap's precedences.
func (a *arithParser) arith(depth int) *Arith {
	if depth > maxDepth {
		a.errorf(a.tok.pos, "expression nested too deeply")
		return nil
	}
	var vals []*Arith
	var ops []stackOp
	reduce := func() {
		o := ops[len(ops)-1]
		ops = ops[:len(ops)-1]
		if o.op == ArithNeg {
			x := vals[len(vals)-1]
			vals[len(vals)-1] = &Arith{Op: ArithNeg, X: x}
			return
		}
		x, y := vals[len(vals)-2], vals[len(vals)-1]
		vals = vals[:len(vals)-2]
		vals = append(vals, a.binary(o, x, y))
	}
	for {
		// Operand, after any unary minus.
		for a.tok.kind == '-' {
			ops = append(ops, stackOp{op: ArithNeg, prec: 6, pos: a.tok.pos})
			a.next()
		}
		v := a.primary(depth)
		if a.err != nil {
			return nil
		}
		vals = append(vals, v)
		op, prec, ok := binaryOp(a.tok.kind)
		if !ok {
			break
		}
		for len(ops) > 0 {
			top := ops[len(ops)-1]
			if top.prec == 0 || op == ArithXor || top.prec < prec {
				break
			}
			reduce()
		}
		ops = append(ops, stackOp{op: op, prec: prec, pos: a.tok.pos})
		a.next()
	}
	for len(ops) > 0 {
		reduce()
	}
	if a.err != nil {
		return nil
	}
	return vals[0]
}

// binary builds x op y, refusing what libpcap refuses.
func (a *arithParser) binary(o stackOp, x, y *Arith) *Arith {
	if y.Op == ArithConst {
		switch {
		case o.op == ArithDiv && y.K == 0:
			a.errorf(o.pos, "division by zero")
		case o.op == ArithMod && y.K == 0:
			a.errorf(o.pos, "modulus by zero")
		case (o.op == ArithLsh || o.op == ArithRsh) && y.K > 31:
			a.errorf(o.pos, "shift by more than 31 bits")
		}
	}
	return &Arith{Op: o.op, X: x, Y: y}
}

func (a *arithParser) primary(depth int) *Arith {
	t := a.tok
	switch t.kind {
	case 'n':
		a.next()
		return &Arith{Op: ArithConst, K: t.num}
	case '(':
		a.next()
		x := a.arith(depth + 1)
		if a.err != nil {
			return nil
		}
		if a.tok.kind != ')' {
			a.errorf(a.tok.pos, "expected ')' %s (for the '(' at position %d)", a.here(), t.pos+1)
			return nil
		}
		a.next()
		return x
	case 'w':
		if t.text == "len" {
			a.next()
			return &Arith{Op: ArithLen}
		}
		pr, ok := loadProtos[t.text]
		if !ok {
			switch {
			case unsupportedLoadProtos[t.text]:
				a.errorf(t.pos, "not supported: %s (pcap-filter feature)", t.text)
			case strings.Trim(t.text, "0123456789") == "" && t.text[0] != '0':
				a.errorf(t.pos, "number %s overflows 32 bits", t.text)
			case numberError(t.text) != "":
				a.errorf(t.pos, "%s", numberError(t.text))
			default:
				a.errorf(t.pos, "unknown word '%s' in an arithmetic expression", t.text)
			}
			return nil
		}
		a.next()
		if a.tok.kind != '[' {
			a.errorf(a.tok.pos, "expected '[' after '%s' in an arithmetic expression", t.text)
			return nil
		}
		a.next()
		off := a.arith(depth + 1)
		if a.err != nil {
			return nil
		}
		size := uint8(1)
		if a.tok.kind == ':' {
			a.next()
			if a.tok.kind != 'n' || a.tok.num != 1 && a.tok.num != 2 && a.tok.num != 4 {
				a.errorf(a.tok.pos, "data size must be 1, 2, or 4")
				return nil
			}
			size = uint8(a.tok.num)
			a.next()
		}
		if a.tok.kind != ']' {
			a.errorf(a.tok.pos, "expected ']' %s (for the '[' of '%s')", a.here(), t.text)
			return nil
		}
		a.next()
		return &Arith{Op: ArithLoad, Proto: pr, Size: size, X: off}
	case 'e':
		if t.text == "" {
			a.errorf(t.pos, "expected a number or byte offset at the end")
		} else {
			a.errorf(t.pos, "expected a number or byte offset before '%s'", t.text)
		}
		return nil
	}
	a.errorf(t.pos, "expected a number or byte offset before '%s'", t.text)
	return nil
}

// value is an arithmetic expression lowered for a link type: offsets
// are from the start of the packet.
type value struct {
	kind  valKind
	k     uint32
	size  uint8  // vLoad
	off   uint32 // vLoad: the constant part of the offset
	ihl   bool   // vLoad: add the IPv4 header length of the header at xoff
	xoff  uint32 // vLoad
	idx   *value // vLoad: the variable part of the offset, or nil
	op    bpf.ALUOp
	x, y  *value
	neg   bool   // vALU: -x
	chain *chain // vChain
	ident string
}

type valKind uint8

const (
	vConst valKind = iota
	vLen
	vLoad
	vALU
	vChain // the protocol a protochain walk stops at
)

func (v *value) String() string {
	if v.ident != "" {
		return v.ident
	}
	switch v.kind {
	case vConst:
		v.ident = "#" + strconv.FormatUint(uint64(v.k), 10)
	case vLen:
		v.ident = "len"
	case vChain:
		v.ident = v.chain.String()
	case vLoad:
		s := fmt.Sprintf("[%d", v.off)
		if v.ihl {
			s += fmt.Sprintf("+ihl%d", v.xoff)
		}
		if v.idx != nil {
			s += "+" + v.idx.String()
		}
		v.ident = s + fmt.Sprintf(":%d]", v.size)
	case vALU:
		if v.neg {
			v.ident = "-(" + v.x.String() + ")"
		} else {
			v.ident = fmt.Sprintf("(%s %d %s)", v.x, v.op, v.y)
		}
	}
	return v.ident
}

var aluOps = map[ArithOp]bpf.ALUOp{
	ArithAdd: bpf.ALUOpAdd, ArithSub: bpf.ALUOpSub, ArithMul: bpf.ALUOpMul, ArithDiv: bpf.ALUOpDiv,
	ArithMod: bpf.ALUOpMod, ArithAnd: bpf.ALUOpAnd, ArithOr: bpf.ALUOpOr, ArithXor: bpf.ALUOpXor,
	ArithLsh: bpf.ALUOpShiftLeft, ArithRsh: bpf.ALUOpShiftRight,
}

func aluConst(op bpf.ALUOp, x, y uint32) uint32 {
	switch op {
	case bpf.ALUOpAdd:
		return x + y
	case bpf.ALUOpSub:
		return x - y
	case bpf.ALUOpMul:
		return x * y
	case bpf.ALUOpDiv:
		if y == 0 {
			return 0
		}
		return x / y
	case bpf.ALUOpMod:
		if y == 0 {
			return 0
		}
		return x % y
	case bpf.ALUOpAnd:
		return x & y
	case bpf.ALUOpOr:
		return x | y
	case bpf.ALUOpXor:
		return x ^ y
	case bpf.ALUOpShiftLeft:
		if y > 31 {
			return 0
		}
		return x << y
	case bpf.ALUOpShiftRight:
		if y > 31 {
			return 0
		}
		return x >> y
	}
	return 0
}

// lowerArith lowers a, returning its value and the protocol tests that
// must hold first (libpcap's order: those of an offset before those of
// its load, those of a left operand before those of a right one).
func lowerArith(a *Arith, ll *linkLayer, depth int) (*value, []*node, error) {
	if a == nil {
		return nil, nil, fmt.Errorf("filter: missing operand in arithmetic")
	}
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("filter: arithmetic nested too deeply")
	}
	switch a.Op {
	case ArithConst:
		return &value{kind: vConst, k: a.K}, nil, nil
	case ArithLen:
		return &value{kind: vLen}, nil, nil
	case ArithNeg:
		x, checks, err := lowerArith(a.X, ll, depth+1)
		if err != nil {
			return nil, nil, err
		}
		if x.kind == vConst {
			return &value{kind: vConst, k: -x.k}, checks, nil
		}
		return &value{kind: vALU, neg: true, x: x}, checks, nil
	case ArithLoad:
		idx, checks, err := lowerArith(a.X, ll, depth+1)
		if err != nil {
			return nil, nil, err
		}
		if a.Size != 1 && a.Size != 2 && a.Size != 4 {
			return nil, nil, fmt.Errorf("filter: data size must be 1, 2, or 4")
		}
		v := &value{kind: vLoad, size: a.Size}
		nl := ll.nl()
		var check *node
		switch a.Proto {
		case ProtoEther:
			check, v.off = tru, ll.linkOff
		case ProtoIP:
			check, v.off = ll.ipv4(), nl
		case ProtoIP6:
			check, v.off = ll.ipv6(), nl
		case ProtoARP:
			check, v.off = ll.etherType(etherARP), nl
		case ProtoRARP:
			check, v.off = ll.etherType(etherRARP), nl
		case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoIGMP, ProtoIGRP, ProtoPIM, ProtoVRRP, ProtoCARP:
			// As libpcap: IPv4 only, the first fragment, after the IHL.
			check = and(ll.ipv4(), eq(1, nl+ip4Proto, protoNumber(a.Proto)),
				not(cmpNode(2, nl+ip4Frag, bpf.JumpBitsSet, 0x1fff)))
			v.off, v.ihl, v.xoff = nl, true, nl
		case ProtoICMP6:
			// As libpcap: only right after the fixed IPv6 header.
			check = and(ll.ipv6(), eq(1, nl+ip6Next, ipprotoICMP6))
			v.off = nl + ip6HdrLen
		default:
			return nil, nil, fmt.Errorf("filter: not supported: %s[] (pcap-filter feature)", a.Proto)
		}
		if idx.kind == vConst {
			v.off += idx.k
		} else {
			v.idx = idx
		}
		return v, append(checks, check), nil
	}
	op, ok := aluOps[a.Op]
	if !ok {
		return nil, nil, fmt.Errorf("filter: unknown arithmetic operator %d", a.Op)
	}
	x, cx, err := lowerArith(a.X, ll, depth+1)
	if err != nil {
		return nil, nil, err
	}
	y, cy, err := lowerArith(a.Y, ll, depth+1)
	if err != nil {
		return nil, nil, err
	}
	checks := append(cx, cy...)
	if y.kind == vConst {
		switch {
		case (op == bpf.ALUOpDiv || op == bpf.ALUOpMod) && y.k == 0:
			return nil, nil, fmt.Errorf("filter: division by zero")
		case x.kind == vConst:
			return &value{kind: vConst, k: aluConst(op, x.k, y.k)}, checks, nil
		case y.k == 0 && (op == bpf.ALUOpMul || op == bpf.ALUOpAnd) && !ll.noOpt:
			// libpcap's optimizer makes these 0 and drops the loads.
			return &value{kind: vConst}, checks, nil
		}
	}
	return &value{kind: vALU, op: op, x: x, y: y}, checks, nil
}

// lowerRelation lowers r to its protocol tests and then the comparison.
func lowerRelation(r *Relation, ll *linkLayer) (*node, error) {
	if r == nil {
		return nil, fmt.Errorf("filter: relation without operands")
	}
	x, cx, err := lowerArith(r.X, ll, 0)
	if err != nil {
		return nil, err
	}
	y, cy, err := lowerArith(r.Y, ll, 0)
	if err != nil {
		return nil, err
	}
	var cond bpf.JumpTest
	neg := false
	switch r.Op {
	case RelEq:
		cond = bpf.JumpEqual
	case RelNe:
		cond, neg = bpf.JumpEqual, true
	case RelGt:
		cond = bpf.JumpGreaterThan
	case RelGe:
		cond = bpf.JumpGreaterOrEqual
	case RelLt:
		cond, neg = bpf.JumpGreaterOrEqual, true
	case RelLe:
		cond, neg = bpf.JumpGreaterThan, true
	default:
		return nil, fmt.Errorf("filter: unknown comparison %d", r.Op)
	}
	var t *node
	if x.kind == vConst && y.kind == vConst {
		ok := false
		switch cond {
		case bpf.JumpEqual:
			ok = x.k == y.k
		case bpf.JumpGreaterThan:
			ok = x.k > y.k
		case bpf.JumpGreaterOrEqual:
			ok = x.k >= y.k
		}
		t = fls
		if ok {
			t = tru
		}
		if r.X.Op != ArithConst || r.Y.Op != ArithConst {
			// libpcap folds "1 = 1" away but keeps "2 + 2 = 4" as a
			// block that reads nothing and goes one way; the tests
			// before it stay, and so do their reads.
			t = &node{op: nTest, t: test{opaque: true, taken: ok != neg}}
			neg = false
		}
	} else {
		t = &node{op: nTest, t: relTest(x, y, cond)}
	}
	if neg {
		t = not(t)
	}
	return and(append(append(cx, cy...), t)...), nil
}

// relTest makes the test "x cond y", as a plain load test where it is
// one, so that the code generator can share the load.
//
// A relation's comparison never decides a primitive's test or the other
// way round, even on the same field: libpcap compiles a relation as a
// subtraction compared with zero, which its jump threading does not
// relate to the primitives' comparisons (it turns it into a plain
// comparison only after threading), so neither is skipped here either.
func relTest(x, y *value, cond bpf.JumpTest) test {
	if y.kind == vConst {
		if ld, ok := simpleLoad(x); ok {
			return test{ld: ld, cond: cond, val: y.k, rel: true}
		}
		return test{lhs: x, cond: cond, val: y.k, rel: true}
	}
	return test{lhs: x, rhs: y, cond: cond, rel: true}
}

func simpleLoad(v *value) (load, bool) {
	switch {
	case v.kind == vLoad && v.idx == nil:
		return load{size: v.size, off: v.off, ind: v.ihl, xoff: v.xoff}, true
	case v.kind == vALU && !v.neg && v.op == bpf.ALUOpAnd && v.y.kind == vConst:
		ld, ok := simpleLoad(v.x)
		if ok && !ld.hasMask {
			ld.hasMask, ld.mask = true, v.y.k
			return ld, true
		}
	}
	return load{}, false
}

// calc is the code that computes values into A, with scratch memory
// for the operands waiting.
type calc struct {
	prog []bpf.Instruction
	// kernel asks for code the kernel runs: no backward jumps.
	kernel bool
}

func (c *calc) add(ins ...bpf.Instruction) { c.prog = append(c.prog, ins...) }

// value computes v into A, using the scratch slots from slot up.
func (c *calc) value(v *value, slot int) error {
	if slot >= 16 {
		return fmt.Errorf("filter: arithmetic expression too complex (more than 16 values waiting)")
	}
	switch v.kind {
	case vConst:
		c.add(bpf.LoadConstant{Dst: bpf.RegA, Val: v.k})
	case vLen:
		c.add(bpf.LoadExtension{Num: bpf.ExtLen})
	case vChain:
		return c.chain(v.chain, slot, c.kernel)
	case vLoad:
		switch {
		case v.idx != nil:
			if err := c.value(v.idx, slot); err != nil {
				return err
			}
			if v.ihl {
				c.add(bpf.LoadMemShift{Off: v.xoff}, bpf.ALUOpX{Op: bpf.ALUOpAdd})
			}
			c.add(bpf.TAX{}, bpf.LoadIndirect{Off: v.off, Size: int(v.size)})
		case v.ihl:
			c.add(bpf.LoadMemShift{Off: v.xoff}, bpf.LoadIndirect{Off: v.off, Size: int(v.size)})
		default:
			c.add(bpf.LoadAbsolute{Off: v.off, Size: int(v.size)})
		}
	case vALU:
		if v.neg {
			if err := c.value(v.x, slot); err != nil {
				return err
			}
			// -A as A * 0xffffffff: x/net/bpf's VM has no neg.
			c.add(bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 0xffffffff})
			return nil
		}
		if v.y.kind == vConst {
			if err := c.value(v.x, slot); err != nil {
				return err
			}
			c.add(bpf.ALUOpConstant{Op: v.op, Val: v.y.k})
			return nil
		}
		if err := c.value(v.y, slot); err != nil {
			return err
		}
		c.add(bpf.StoreScratch{Src: bpf.RegA, N: slot})
		if err := c.value(v.x, slot+1); err != nil {
			return err
		}
		c.add(bpf.LoadScratch{Dst: bpf.RegX, N: slot}, bpf.ALUOpX{Op: v.op})
	}
	return nil
}
