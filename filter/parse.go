package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portkit/ports"
	"github.com/portkit/ports/registry"
)

// SyntaxError reports a filter that Parse cannot accept, pointing at the
// word at fault.
type SyntaxError struct {
	Expr string // the whole filter
	Pos  int    // byte offset in Expr of the word at fault; len(Expr) at the end
	Msg  string // what is wrong, quoting the word
	// Err is an underlying error callers can test with errors.Is
	// (ports.ErrUnknownService for a service name the registry does not
	// know), or nil.
	Err error
}

// Error returns "filter: MSG at position N", N counting bytes from 1.
func (e *SyntaxError) Error() string {
	return "filter: " + e.Msg + " at position " + strconv.Itoa(e.Pos+1)
}

// Unwrap returns e.Err.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Parse parses a filter in the subset of tcpdump's language described in
// the package documentation. An empty or blank filter gives a nil *Expr,
// which matches every packet. Errors are *SyntaxError.
//
// Service names ("port http") are looked up in the IANA registry
// (registry.Default) while parsing, so that an unknown name is a syntax
// error; the Expr keeps the name.
func Parse(expr string) (*Expr, error) { return ParseConfig(expr, nil) }

// ParseConfig is Parse with the options of cfg; a nil cfg is Parse's.
// With cfg.Resolver set, host names are looked up while parsing (see
// [Resolver]); an error the Resolver returns is wrapped in the
// *SyntaxError, which also wraps ErrUnknownHost.
func ParseConfig(expr string, cfg *Config) (*Expr, error) {
	p := &parser{src: expr}
	if cfg != nil {
		p.res = cfg.Resolver
	}
	p.lex()
	if len(p.toks) == 0 {
		return nil, nil
	}
	e, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, p.errorf(t, "unbalanced parentheses: ')' without '('")
		}
		return nil, p.errorf(t, "expected 'and' or 'or' before '%s'", t.text)
	}
	return e, nil
}

// MustParse is like Parse but panics on an error. It is for filters
// written into programs and tests.
func MustParse(expr string) *Expr {
	e, err := Parse(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// maxDepth bounds the nesting of parentheses and not, so that a hostile
// filter cannot exhaust the stack.
const maxDepth = 256

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tLParen
	tRParen
	tNot // not, !
	tAnd // and, &&
	tOr  // or, ||
	tBad // a character that starts no token
)

type token struct {
	kind tokKind
	text string
	pos  int
}

type parser struct {
	src  string
	toks []token
	i    int
	// last holds the qualifiers of the latest primitive, which a bare
	// value after and/or repeats ("host a or b"); !last.ok after a
	// primitive without them ("tcp") and at the start.
	last qual
	// bad is the error for the tBad token, if any.
	bad *SyntaxError
	// res looks up host names, if set.
	res Resolver
}

// qual is the qualifiers of a primitive: what a bare value repeats.
type qual struct {
	ok    bool
	proto Proto
	dir   Dir
	kind  Kind
}

// errorf returns a *SyntaxError at token t, or the lexer's error if that
// comes first: the parser stops at the bad token.
func (p *parser) errorf(t token, format string, args ...any) *SyntaxError {
	if p.bad != nil && t.pos >= p.bad.Pos {
		return p.bad
	}
	return &SyntaxError{Expr: p.src, Pos: t.pos, Msg: fmt.Sprintf(format, args...)}
}

// lex splits the filter into words and operators. Words run to a blank,
// a parenthesis, '!', '&' or '|'. A character that cannot start a token
// ends the list with a tBad token, and p.bad holds the error for it,
// which is reported if the parser gets that far.
func (p *parser) lex() { p.lexFrom(0) }

// relex drops the tokens from the current one on and lexes the text
// again from byte start: after a relation, which has a lexer of its
// own.
func (p *parser) relex(start int) {
	p.toks = p.toks[:p.i]
	if p.bad != nil && p.bad.Pos >= start {
		p.bad = nil
	}
	p.lexFrom(start)
}

func (p *parser) lexFrom(start int) {
	s := p.src
	bad := func(i int, msg string) {
		p.bad = &SyntaxError{Expr: s, Pos: i, Msg: msg}
		p.toks = append(p.toks, token{tBad, s[i : i+1], i})
	}
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '(':
			p.toks = append(p.toks, token{tLParen, "(", i})
			i++
		case c == ')':
			p.toks = append(p.toks, token{tRParen, ")", i})
			i++
		case c == '!':
			if i+1 < len(s) && s[i+1] == '=' {
				bad(i, "unexpected '!=' (a comparison needs a number or byte offset before it)")
				return
			}
			p.toks = append(p.toks, token{tNot, "!", i})
			i++
		case c == '&' || c == '|':
			if i+1 < len(s) && s[i+1] == c {
				k := tAnd
				if c == '|' {
					k = tOr
				}
				p.toks = append(p.toks, token{k, s[i : i+2], i})
				i += 2
				continue
			}
			op := "and"
			if c == '|' {
				op = "or"
			}
			bad(i, fmt.Sprintf("unexpected '%c' (for %s write '%c%c'; bitwise operators go in a comparison)", c, op, c, c))
			return
		default:
			j := i
			for j < len(s) && !isBreak(s[j]) {
				j++
			}
			w := s[i:j]
			k := tWord
			switch w {
			case "not":
				k = tNot
			case "and":
				k = tAnd
			case "or":
				k = tOr
			}
			p.toks = append(p.toks, token{k, w, i})
			i = j
		}
	}
}

func isBreak(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', '(', ')', '!', '&', '|':
		return true
	}
	return false
}

func (p *parser) peek() token { return p.peekAt(0) }

func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return token{kind: tEOF, pos: len(p.src)}
}

func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

// protoWord returns the protocol a keyword names.
func protoWord(w string) (Proto, bool) {
	switch w {
	case "ip":
		return ProtoIP, true
	case "ip6":
		return ProtoIP6, true
	case "arp":
		return ProtoARP, true
	case "tcp":
		return ProtoTCP, true
	case "udp":
		return ProtoUDP, true
	case "sctp":
		return ProtoSCTP, true
	case "icmp":
		return ProtoICMP, true
	case "icmp6":
		return ProtoICMP6, true
	case "ether", "link":
		return ProtoEther, true
	case "rarp":
		return ProtoRARP, true
	case "igmp":
		return ProtoIGMP, true
	case "igrp":
		return ProtoIGRP, true
	case "pim":
		return ProtoPIM, true
	case "vrrp":
		return ProtoVRRP, true
	case "carp":
		return ProtoCARP, true
	case "ah":
		return ProtoAH, true
	case "esp":
		return ProtoESP, true
	}
	return ProtoNone, false
}

// kindWord returns the kind a keyword names.
func kindWord(w string) (Kind, bool) {
	switch w {
	case "host":
		return KindHost, true
	case "net":
		return KindNet, true
	case "port":
		return KindPort, true
	case "portrange":
		return KindPortRange, true
	}
	return 0, false
}

// isUnsupported reports whether w is a pcap-filter(7) keyword outside
// the subset, which gets a clearer error than "unknown word".
func isUnsupported(w string) bool {
	switch w {
	case "gateway", "geneve",
		"wlan", "type", "subtype", "dir",
		"ifname", "on", "rnr", "rulenum", "reason", "rset", "ruleset", "srnr",
		"subrulenum", "action", "fddi", "tr",
		"slip", "ppp", "radio", "ra", "ta",
		"addr1", "addr2", "addr3", "addr4", "bpf", "clnp", "esis", "isis", "l1", "l2",
		"iih", "lsp", "snp", "csnp", "psnp", "hdpk", "ifindex":
		return true
	}
	return false
}

func (p *parser) isWord(t token, w string) bool { return t.kind == tWord && t.text == w }

// isValue reports whether t is a word that is not a keyword: an
// address, number or name, which a bare value after and/or may be.
func isValue(t token) bool {
	if t.kind != tWord {
		return false
	}
	_, isProto := protoWord(t.text)
	_, isKind := kindWord(t.text)
	return !isProto && !isKind && t.text != "src" && t.text != "dst" && !isUnsupported(t.text) &&
		!strings.ContainsAny(t.text, "[]") && !linkKeywords[t.text]
}

// linkKeywords are the words of the primitives without a value, or
// with a number: never a repeated value.
var linkKeywords = map[string]bool{
	"less": true, "greater": true, "vlan": true, "broadcast": true, "multicast": true, "proto": true, "protochain": true,
	"mask": true, // of "net A mask M"
	"mpls": true, "pppoed": true, "pppoes": true, "llc": true, "inbound": true, "outbound": true,
	"decnet": true, "atalk": true, "aarp": true, "iso": true, "stp": true, "ipx": true, "netbeui": true,
	"lat": true, "sca": true, "mopdl": true, "moprc": true,
}

// linkProtoWords are the words that stand for an "ether proto" of their
// own, as in libpcap: "stp" is "ether proto \stp", 0x42.
var linkProtoWords = map[string]uint32{
	"decnet": etherDECnet, "atalk": etherATalk, "aarp": etherAARP, "lat": etherLAT, "sca": etherSCA,
	"mopdl": etherMOPDL, "moprc": etherMOPRC,
	"iso": llcISO, "stp": llcSTP, "ipx": llcIPX, "netbeui": llcNetBEUI,
}

// llcTypes are the frame types "llc" takes: the mask of the control
// byte's bits that tell it and their value, as libpcap's gen_llc_s_subtype
// and gen_llc_u_subtype compare them. "i" is tested apart (its low bit
// is clear).
var llcTypes = map[string]struct{ mask, val uint32 }{
	"s": {3, 1}, "u": {3, 3},
	"rr": {0x0f, 0x01}, "rnr": {0x0f, 0x05}, "rej": {0x0f, 0x09},
	"ui": {0xef, 0x03}, "ua": {0xef, 0x63}, "disc": {0xef, 0x43}, "dm": {0xef, 0x0f},
	"sabme": {0xef, 0x6f}, "test": {0xef, 0xe3}, "xid": {0xef, 0xaf}, "frmr": {0xef, 0x87},
}

// tryRelation parses a relation at the token t if the text there is
// one, and moves past it.
func (p *parser) tryRelation(t token) (*Expr, *SyntaxError, bool) {
	if p.bad != nil && t.pos >= p.bad.Pos && t.kind == tBad {
		return nil, nil, false
	}
	r, end, err := parseRelation(p.src, t.pos)
	if err != nil {
		return nil, err, false
	}
	if p.bad != nil && p.bad.Pos >= t.pos {
		p.bad = nil // a '&' or '!=' of the relation, which the word lexer refused
	}
	for p.i < len(p.toks) && p.toks[p.i].pos < end {
		p.i++
	}
	p.relex(end)
	p.last = qual{}
	return &Expr{Op: OpPrim, Prim: Primitive{Kind: KindRel, Rel: r}}, nil, true
}

// startsArith reports whether word w begins an arithmetic expression
// for certain: a byte offset, len or a minus sign.
func (p *parser) startsArith(t token) bool {
	if t.kind != tWord {
		return false
	}
	w := t.text
	if w == "len" || strings.HasPrefix(w, "-") {
		return true
	}
	name, _, bracket := strings.Cut(w, "[")
	if _, ok := loadProtos[name]; !ok && !unsupportedLoadProtos[name] {
		return false
	}
	if bracket {
		return true
	}
	rest := strings.TrimLeft(p.src[t.pos+len(w):], " \t\n\r\f\v")
	return strings.HasPrefix(rest, "[")
}

// mayStartArith reports whether t could begin an arithmetic expression:
// a number or a named constant.
func mayStartArith(t token) bool {
	if t.kind != tWord {
		return false
	}
	if _, ok := parseNumber(t.text); ok {
		return true
	}
	if _, ok := arithConstants[t.text]; ok {
		return true
	}
	return numberError(t.text) != ""
}

// parseExpr parses term {and|or (term|value)}: and and or have the same
// precedence and group to the left, as in tcpdump.
func (p *parser) parseExpr(depth int) (*Expr, error) {
	x, err := p.parseTerm(depth)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		op := OpAnd
		switch t.kind {
		case tAnd:
		case tOr:
			op = OpOr
		default:
			return x, nil
		}
		p.next()
		var y *Expr
		if r, _, ok := p.relationAhead(); ok {
			y = r
		} else if p.startsValue() {
			if !p.last.ok {
				return nil, p.needQualifier()
			}
			y, err = p.parseValue(p.last, depth)
		} else {
			y, err = p.parseTerm(depth)
		}
		if err != nil {
			return nil, err
		}
		x = &Expr{Op: op, X: x, Y: y}
	}
}

// relationAhead parses a relation at the next token if there is one
// there ("port 80 or 1 = 1"); a bare value is not.
func (p *parser) relationAhead() (*Expr, *SyntaxError, bool) {
	t := p.peek()
	if !mayStartArith(t) && !p.startsArith(t) && t.kind != tLParen {
		return nil, nil, false
	}
	save, saveToks, saveBad := p.i, p.toks, p.bad
	p.toks = append([]token(nil), p.toks...)
	e, err, ok := p.tryRelation(t)
	if !ok {
		p.i, p.toks, p.bad = save, saveToks, saveBad
	}
	return e, err, ok
}

// startsValue reports whether the next tokens, past any not and '(',
// begin a bare value rather than a primitive.
func (p *parser) startsValue() bool {
	for n := 0; ; n++ {
		t := p.peekAt(n)
		switch t.kind {
		case tNot, tLParen:
			continue
		case tWord:
			return isValue(t) && !p.startsArith(t) && !p.arithFollows(t)
		}
		return false
	}
}

// arithFollows reports whether an arithmetic operator or a comparison
// follows the word t: "2 + 2 = 4", not a bare value.
func (p *parser) arithFollows(t token) bool {
	rest := strings.TrimLeft(p.src[t.pos+len(t.text):], " \t\n\r\f\v")
	return rest != "" && strings.IndexByte("+-*/%&|^<>=!", rest[0]) >= 0 &&
		!strings.HasPrefix(rest, "&&") && !strings.HasPrefix(rest, "||") &&
		(rest[0] != '!' || strings.HasPrefix(rest, "!="))
}

// needQualifier is the error for a bare value with nothing to repeat.
func (p *parser) needQualifier() error {
	for n := 0; ; n++ {
		if t := p.peekAt(n); t.kind == tWord {
			return p.errorf(t, "'%s' needs a qualifier, such as host, net or port, in front of it", t.text)
		}
	}
}

func (p *parser) parseTerm(depth int) (*Expr, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.peek(), "expression nested too deeply")
	}
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		x, err := p.parseTerm(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Expr{Op: OpNot, X: x}, nil
	case tLParen:
		// "(ip[0]) = 1" is a relation, "(tcp)" a group.
		if e, _, ok := p.relationAhead(); ok {
			return e, nil
		}
		p.next()
		saved := p.last
		x, err := p.parseExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tRParen {
			return nil, p.unclosed(t)
		}
		p.next()
		// As in tcpdump, a value after a parenthesised group repeats the
		// qualifiers from before it.
		p.last = saved
		return x, nil
	case tWord:
		if p.startsArith(t) {
			e, err, ok := p.tryRelation(t)
			if !ok {
				return nil, err
			}
			return e, nil
		}
		if mayStartArith(t) {
			if e, _, ok := p.relationAhead(); ok {
				return e, nil
			}
			if p.arithFollows(t) {
				// "1 + x = 2": an arithmetic expression gone wrong.
				_, _, err := parseRelation(p.src, t.pos)
				return nil, err
			}
		}
		return p.parsePrimitive()
	case tEOF:
		if p.i > 0 {
			return nil, p.errorf(t, "expected a primitive after '%s'", p.toks[p.i-1].text)
		}
		return nil, p.errorf(t, "expected a primitive")
	case tRParen:
		if p.i > 0 && p.toks[p.i-1].kind == tLParen {
			return nil, p.errorf(t, "empty parentheses")
		}
		return nil, p.errorf(t, "expected a primitive before ')'")
	}
	return nil, p.errorf(t, "expected a primitive before '%s'", t.text)
}

// unclosed is the error for a '(' at open whose ')' is missing.
func (p *parser) unclosed(open token) error {
	t := p.peek()
	if t.kind == tEOF {
		return p.errorf(open, "unbalanced parentheses: '(' without ')'")
	}
	return p.errorf(t, "expected ')' or 'and' or 'or' before '%s' (for the '(' at position %d)", t.text, open.pos+1)
}

// parseValue parses a bare value, or not value, or a parenthesised group
// of them joined by and/or, all taking the qualifiers q: the "a or b" of
// "host a or b" and the "(a or b)" of "host (a or b)".
func (p *parser) parseValue(q qual, depth int) (*Expr, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.peek(), "expression nested too deeply")
	}
	t := p.next()
	switch t.kind {
	case tNot:
		x, err := p.parseValue(q, depth+1)
		if err != nil {
			return nil, err
		}
		return &Expr{Op: OpNot, X: x}, nil
	case tLParen:
		x, err := p.parseValue(q, depth+1)
		if err != nil {
			return nil, err
		}
		for {
			op := OpAnd
			switch p.peek().kind {
			case tAnd:
			case tOr:
				op = OpOr
			case tRParen:
				p.next()
				return x, nil
			default:
				return nil, p.unclosed(t)
			}
			p.next()
			y, err := p.parseValue(q, depth+1)
			if err != nil {
				return nil, err
			}
			x = &Expr{Op: op, X: x, Y: y}
		}
	case tWord:
		if q.kind == KindIPProto || q.kind == KindProtochain {
			p.i-- // they read the number or name themselves
			f := p.ipProto
			if q.kind == KindProtochain {
				f = p.protochain
			}
			e, err, _ := f(q.proto, token{kind: tWord, text: q.kind.String(), pos: t.pos})
			return e, err
		}
		if !isValue(t) {
			return nil, p.errorf(t, "expected %s, not '%s', in the list for '%s'", valueWant(q.kind), t.text, q.kind)
		}
		if e, err, ok := p.hostName(q, t); ok {
			return e, err
		}
		prim, err := p.makePrimitive(q, t)
		if err != nil {
			if p.peek().kind == tWord && !looksLikeValue(t.text) {
				// "host a or hots b": a word followed by a value was
				// meant as a keyword, not as a repeated value.
				return nil, p.errorf(t, "unknown word '%s'", t.text)
			}
			return nil, err
		}
		return &Expr{Op: OpPrim, Prim: prim}, nil
	}
	if t.kind == tEOF {
		return nil, p.errorf(t, "expected %s at the end", valueWant(q.kind))
	}
	return nil, p.errorf(t, "expected %s before '%s'", valueWant(q.kind), t.text)
}

func valueWant(k Kind) string {
	switch k {
	case KindHost:
		return "an IP address"
	case KindNet:
		return "a network (CIDR)"
	case KindPort:
		return "a port number or name"
	case KindPortRange:
		return "a port range (A-B)"
	}
	return "a value"
}

// parsePrimitive parses [proto] [dir] [kind] value, or a protocol alone.
func (p *parser) parsePrimitive() (*Expr, error) {
	first := p.peek()
	if e, err, ok := p.parseLinkPrimitive(); ok {
		if err != nil {
			return nil, err
		}
		p.last = qual{}
		if k := e.Prim.Kind; e.Op == OpPrim && (k == KindIPProto || k == KindProtochain) {
			// "ip proto 6 or 17" repeats "ip proto", as in tcpdump.
			p.last = qual{ok: true, proto: e.Prim.Proto, kind: k}
		}
		return e, nil
	}
	var q qual
	var protoTok token
	if pr, ok := protoWord(first.text); ok && first.kind == tWord {
		q.proto = pr
		protoTok = p.next()
	}
	hasDir := false
	if t := p.peek(); p.isWord(t, "src") || p.isWord(t, "dst") {
		p.next()
		hasDir = true
		q.dir = DirSrc
		other := "dst"
		if t.text == "dst" {
			q.dir, other = DirDst, "src"
		}
		if op := p.peekAt(0); (op.kind == tAnd || op.kind == tOr) && p.isWord(p.peekAt(1), other) {
			q.dir = DirSrcAndDst
			if op.kind == tOr {
				q.dir = DirSrcOrDst
			}
			p.next()
			p.next()
		}
	}
	hasKind := false
	kindTok := p.peek()
	if k, ok := kindWord(kindTok.text); ok && kindTok.kind == tWord {
		p.next()
		q.kind, hasKind = k, true
	}
	if q.proto == ProtoEther && !hasDir && !hasKind {
		t := p.peek()
		if t.kind != tWord || !isValue(t) {
			if t.kind == tEOF {
				return nil, p.errorf(t, "expected host, src, dst, proto, broadcast, multicast or an offset after '%s'", protoTok.text)
			}
		}
		// "ether 1:2:3:4:5:6" is a syntax error in tcpdump too.
		return nil, p.errorf(t, "expected host, src, dst, proto, broadcast, multicast or an offset after '%s', not '%s'", protoTok.text, t.text)
	}
	if t := p.peek(); q.proto != ProtoNone && !hasDir && !hasKind && t.kind == tWord && isUnsupported(t.text) {
		return nil, p.errorf(t, "not supported: %s (pcap-filter feature)", t.text) // "ip6 protochain 58"
	}
	if q.proto != ProtoNone && !hasDir && !hasKind {
		// A protocol on its own; tcpdump repeats nothing after it.
		p.last = qual{}
		return &Expr{Op: OpPrim, Prim: Primitive{Kind: KindProto, Proto: q.proto}}, nil
	}
	if !hasDir && !hasKind {
		switch {
		case first.kind != tWord:
			return nil, p.errorf(first, "expected a primitive before '%s'", first.text)
		case isUnsupported(first.text):
			return nil, p.errorf(first, "not supported: %s (pcap-filter feature)", first.text)
		case strings.ContainsAny(first.text, "[]"):
			return nil, p.errorf(first, "byte offsets ('%s') are not supported", first.text)
		case looksLikeValue(first.text):
			return nil, p.errorf(first, "'%s' needs a qualifier, such as host, net or port, in front of it", first.text)
		}
		if first.text == "vxlan" {
			// Newer libpcap has it; Debian's 1.10, the reference here,
			// does not (a syntax error in its tcpdump).
			return nil, p.errorf(first, "unknown word 'vxlan' (not in libpcap 1.10's filter language)")
		}
		return nil, p.errorf(first, "unknown word '%s'", first.text)
	}
	if !hasKind {
		q.kind = KindHost // "src 10.0.0.1" is "src host 10.0.0.1"
		kindTok = token{}
	}
	if q.proto != ProtoNone {
		switch q.kind {
		case KindHost, KindNet:
			if q.proto != ProtoIP && q.proto != ProtoIP6 && q.proto != ProtoARP && q.proto != ProtoRARP &&
				!(q.proto == ProtoEther && q.kind == KindHost) {
				return nil, p.errorf(protoTok, "'%s' modifier applied to %s (only ip, ip6, arp and rarp qualify %s)", q.proto, q.kind, q.kind)
			}
		case KindPort, KindPortRange:
			if q.proto != ProtoTCP && q.proto != ProtoUDP && q.proto != ProtoSCTP {
				return nil, p.errorf(protoTok, "illegal qualifier '%s' of '%s' (only tcp, udp and sctp qualify %s)", q.proto, q.kind, q.kind)
			}
		}
	}
	q.ok = true
	p.last = q
	t := p.peek()
	if t.kind == tNot || t.kind == tLParen {
		return p.parseValue(q, 0) // "host (a or b)", "port not 80"
	}
	if !isValue(t) {
		after := p.toks[p.i-1].text
		if t.kind == tEOF {
			return nil, p.errorf(t, "expected %s after '%s'", valueWant(q.kind), after)
		}
		return nil, p.errorf(t, "expected %s after '%s', not '%s'", valueWant(q.kind), after, t.text)
	}
	p.next()
	if e, err, ok := p.hostName(q, t); ok {
		return e, err
	}
	prim, err := p.makePrimitive(q, t)
	if err != nil {
		return nil, err
	}
	return &Expr{Op: OpPrim, Prim: prim}, nil
}

// hostName resolves the value t of a host or ether host primitive with
// qualifiers q if it is a host name and a Resolver is set, as tcpdump
// does: "host NAME" is "host A or host B ..." over the name's addresses
// in the Resolver's order (IPv4 ones only under ip, arp and rarp, IPv6
// ones only under ip6), "ether host NAME" the name's Ethernet address.
// It reports false for a value that is not a name.
func (p *parser) hostName(q qual, t token) (*Expr, error, bool) {
	w := t.text
	if q.kind != KindHost || p.res == nil || !isHostName(w) {
		return nil, nil, false
	}
	if q.proto == ProtoEther {
		if _, ok := parseMAC(w); ok {
			return nil, nil, false
		}
		m, err := p.res.LookupEther(w)
		if err != nil {
			return nil, p.resolveError(t, err), true
		}
		return &Expr{Op: OpPrim, Prim: Primitive{Kind: KindEtherHost, Proto: ProtoEther, Dir: q.dir, MAC: m}}, nil, true
	}
	if _, err := parseHost(w); err == nil {
		return nil, nil, false
	}
	if _, ok := hostAsNet(w); ok {
		return nil, nil, false
	}
	e, err := p.lookupHosts(t, q.proto, q.dir)
	return e, err, true
}

// lookupHosts resolves the name t to "host A or host B ..." with
// protocol proto and direction dir.
func (p *parser) lookupHosts(t token, proto Proto, dir Dir) (*Expr, error) {
	addrs, err := p.res.LookupHost(t.text)
	if err != nil {
		return nil, p.resolveError(t, err)
	}
	var e *Expr
	for _, a := range addrs {
		if !a.IsValid() || a.Zone() != "" ||
			a.Is4() && proto == ProtoIP6 || a.Is6() && (proto == ProtoIP || proto == ProtoARP || proto == ProtoRARP) {
			continue
		}
		x := &Expr{Op: OpPrim, Prim: Primitive{Kind: KindHost, Proto: proto, Dir: dir, Net: netip.PrefixFrom(a, a.BitLen())}}
		if e == nil {
			e = x
		} else {
			e = &Expr{Op: OpOr, X: e, Y: x}
		}
	}
	if e == nil {
		msg := fmt.Sprintf("unknown host '%s'", t.text)
		if proto != ProtoNone {
			msg += " for specified address family"
		}
		se := p.errorf(t, "%s", msg)
		if se != p.bad {
			se.Err = ErrUnknownHost
		}
		return nil, se
	}
	return e, nil
}

// network resolves the network name t ("net localnet") through a
// NetworkResolver, as libpcap 1.10 does: the network number aligned
// left as a short "net A.B" is, but compared as a whole address, so
// that 192.168 is 192.168.0.0/32 (tcpdump's program tests that one
// address: its mask is computed and not used).
func (p *parser) network(t token) (netip.Prefix, error) {
	nr, ok := p.res.(NetworkResolver)
	if !ok {
		return netip.Prefix{}, p.errorf(t, "'%s' is not a network (network names need a resolver that knows them: filter.NetworkResolver)", t.text)
	}
	v, err := nr.LookupNetwork(t.text)
	if err != nil {
		return netip.Prefix{}, p.resolveError(t, err)
	}
	for v != 0 && v&0xff000000 == 0 {
		v <<= 8
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32), nil
}

// resolveError is the error for a name the Resolver cannot look up.
func (p *parser) resolveError(t token, err error) error {
	se := p.errorf(t, "%v", err)
	if se != p.bad {
		se.Err = err
		if !errors.Is(err, ErrUnknownHost) {
			se.Err = fmt.Errorf("%w: %w", ErrUnknownHost, err)
		}
	}
	return se
}

// gateway refuses "[proto] gateway NAME" (t is gateway) as libpcap 1.10
// does when built with IPv6, as Debian's is: its gen_gateway handles
// IPv4 hosts only, and is compiled out there.
func (p *parser) gateway(t token) error {
	return p.errorf(t, "'gateway' not supported in this configuration (libpcap 1.10 with IPv6, as tcpdump)")
}

// looksLikeValue reports whether w reads as an address or number.
func looksLikeValue(w string) bool {
	if _, ok := parseNumber(w); ok {
		return true
	}
	if _, _, ok := parseDotted(w); ok {
		return true
	}
	_, err := netip.ParseAddr(w)
	return err == nil || strings.Contains(w, "/")
}

// makePrimitive turns the value word t into a primitive with
// qualifiers q.
func (p *parser) makePrimitive(q qual, t token) (Primitive, error) {
	prim := Primitive{Kind: q.kind, Proto: q.proto, Dir: q.dir}
	w := t.text
	switch q.kind {
	case KindHost:
		if q.proto == ProtoEther {
			m, ok := parseMAC(w)
			if !ok {
				return prim, p.errorf(t, "bogus ethernet address '%s'", w)
			}
			prim.Kind, prim.MAC = KindEtherHost, m
			break
		}
		if n, ok := hostAsNet(w); ok {
			// tcpdump's other host forms: "host 10.1" is the network
			// 10.1.0.0/16, "host ::1/128" the host ::1.
			if err := checkFamily(q.proto, n.Addr().Is4(), KindHost); err != nil {
				return prim, p.errorf(t, "%s", err.Error())
			}
			if n.IsSingleIP() {
				prim.Net = n
			} else {
				prim.Kind, prim.Net = KindNet, n
			}
			break
		}
		if strings.Contains(w, "/") {
			if _, err := parseNet(w); err != nil {
				return prim, p.errorf(t, "%s", err.Error())
			}
			return prim, p.errorf(t, "'%s' has a mask, which only a network takes: use net, not host", w)
		}
		a, err := parseHost(w)
		if err != nil {
			return prim, p.errorf(t, "%s", err.Error())
		}
		if err := checkFamily(q.proto, a.Is4(), KindHost); err != nil {
			return prim, p.errorf(t, "%s", err.Error())
		}
		prim.Net = netip.PrefixFrom(a, a.BitLen())
	case KindNet:
		if m := p.peek(); m.kind == tWord && m.text == "mask" {
			n, mask, err := p.netMask(t)
			if err != nil {
				return prim, err
			}
			prim.Mask = mask
			if err := checkFamily(q.proto, true, KindNet); err != nil {
				return prim, p.errorf(t, "%s", err.Error())
			}
			prim.Net = n
			break
		}
		n, err := parseNet(w)
		if err != nil && isHostName(w) && !strings.Contains(w, "/") {
			n, err = p.network(t)
			if err != nil {
				return prim, err
			}
		}
		if err != nil {
			return prim, p.errorf(t, "%s", err.Error())
		}
		if err := checkFamily(q.proto, n.Addr().Is4(), KindNet); err != nil {
			return prim, p.errorf(t, "%s", err.Error())
		}
		prim.Net = n
	case KindPort:
		if n, ok := parseNumber(w); ok {
			if n > 65535 {
				return prim, p.errorf(t, "illegal port number %d > 65535", n)
			}
			prim.Ports = ports.Range{First: ports.Port(n), Last: ports.Port(n)}
			break
		}
		if err := numberError(w); err != "" {
			return prim, p.errorf(t, "%s", err)
		}
		if !isServiceName(w) {
			return prim, p.errorf(t, "expected a port number or name after 'port', not '%s'", w)
		}
		if _, msg := resolveService(w, q.proto); msg != "" {
			e := p.errorf(t, "%s", msg)
			if e != p.bad {
				e.Err = ports.ErrUnknownService
			}
			return prim, e
		}
		prim.Service = w
	case KindPortRange:
		r, err := parsePortRange(w)
		if err == nil {
			prim.Ports = r
			break
		}
		if !strings.Contains(w, "-") || strings.Trim(w, "0123456789-") == "" {
			return prim, p.errorf(t, "%s", err.Error())
		}
		r, _, msg := resolvePortRange(w, q.proto)
		if msg != "" {
			e := p.errorf(t, "%s", msg)
			if e != p.bad {
				e.Err = ports.ErrUnknownService
			}
			return prim, e
		}
		prim.Ports, prim.Service = r, w
	}
	return prim, nil
}

// hostAsNet reads the host forms that tcpdump takes besides a full
// address: a number (0xAC11591E, 2886818078, 80 is 0.0.0.80), one to
// three dotted parts (a network: "10.1" is 10.1.0.0/16, as libpcap
// aligns a short address left), and ADDR/LEN where LEN is the full
// length, for IPv6 only (a host; tcpdump refuses the others).
func hostAsNet(w string) (netip.Prefix, bool) {
	if n, ok := parseNumber(w); ok {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), 32), true
	}
	if v, bits, ok := parseDotted(w); ok && bits < 32 {
		v <<= 32 - bits
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits), true
	}
	if strings.Contains(w, "/") {
		// Only IPv6: tcpdump refuses "host 10.0.0.1/32".
		if n, err := parseNet(w); err == nil && n.IsSingleIP() && n.Addr().Is6() {
			return n, true
		}
	}
	return netip.Prefix{}, false
}

// netMask parses the rest of "net A mask M", t being A and the next
// word "mask": A and M are dotted IPv4 (A may be short, aligned left as
// libpcap does), M a contiguous mask, and A has no bits outside M.
func (p *parser) netMask(t token) (netip.Prefix, uint32, error) {
	p.next() // mask
	m := p.peek()
	if m.kind != tWord {
		return netip.Prefix{}, 0, p.errorf(m, "expected a mask (A.B.C.D) after 'mask'")
	}
	p.next()
	// As libpcap's grammar, both are dotted: "net 10 mask 255.0.0.0" is
	// a syntax error in tcpdump.
	av, abits, ok := parseDotted(t.text)
	if !ok || !strings.Contains(t.text, ".") {
		return netip.Prefix{}, 0, p.errorf(t, "expected an IPv4 network (A.B.C.D) before 'mask', not '%s'", t.text)
	}
	mv, mbits, ok := parseDotted(m.text)
	if !ok || !strings.Contains(m.text, ".") {
		return netip.Prefix{}, 0, p.errorf(m, "expected a mask (A.B.C.D) after 'mask', not '%s'", m.text)
	}
	av <<= 32 - abits
	mv <<= 32 - mbits
	if av&^mv != 0 {
		return netip.Prefix{}, 0, p.errorf(t, "non-network bits set in '%s mask %s'", t.text, m.text)
	}
	ones := 0
	for ones < 32 && mv&(1<<(31-ones)) != 0 {
		ones++
	}
	a := netip.AddrFrom4([4]byte{byte(av >> 24), byte(av >> 16), byte(av >> 8), byte(av)})
	if ones < 32 && mv<<ones != 0 {
		// Not a prefix: kept as a mask, compared as libpcap does.
		return netip.PrefixFrom(a, 32), mv, nil
	}
	return netip.PrefixFrom(a, ones), 0, nil
}

// checkFamily checks a host or net address against its qualifier, with
// tcpdump's wording.
func checkFamily(proto Proto, is4 bool, k Kind) error {
	fam := "ip"
	if !is4 {
		fam = "ip6"
	}
	if proto == ProtoIP && !is4 || proto == ProtoIP6 && is4 || (proto == ProtoARP || proto == ProtoRARP) && !is4 {
		return fmt.Errorf("'%s' modifier applied to %s %s", proto, fam, k)
	}
	return nil
}

// parseNumber parses a number as tcpdump does: 0x for hexadecimal, a
// leading 0 for octal, else decimal. It fails above 1<<32-1.
func parseNumber(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	digits := s
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	for _, c := range []byte(digits) {
		if !isDigitIn(c, base) {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, base, 32)
	return n, err == nil
}

func isDigitIn(c byte, base int) bool {
	switch base {
	case 8:
		return '0' <= c && c <= '7'
	case 16:
		return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
	}
	return '0' <= c && c <= '9'
}

// numberError explains why a word of digits is not a number, or returns
// "" for a word that is not meant as one.
func numberError(s string) string {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return ""
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return ""
		}
	}
	if s[0] == '0' {
		return fmt.Sprintf("number %s contains a non-octal digit (a leading 0 means octal)", s)
	}
	return fmt.Sprintf("number %s is too large", s)
}

// parseDotted parses one to four decimal parts joined by dots, as
// tcpdump reads IPv4 addresses and networks: the value, right-aligned,
// and the number of bits given (8 a part).
func parseDotted(s string) (v uint32, bits int, ok bool) {
	if s == "" {
		return 0, 0, false
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || len(part) > 3 || bits == 32 {
			return 0, 0, false
		}
		n := 0
		for _, c := range []byte(part) {
			if c < '0' || c > '9' {
				return 0, 0, false
			}
			n = n*10 + int(c-'0')
		}
		if n > 255 {
			return 0, 0, false
		}
		v = v<<8 | uint32(n)
		bits += 8
	}
	return v, bits, true
}

// parseHost parses the address of a host primitive: a full dotted IPv4
// address (octets in decimal, leading zeros allowed as in tcpdump) or an
// IPv6 address without a zone.
func parseHost(w string) (netip.Addr, error) {
	if !strings.Contains(w, ".") && !strings.Contains(w, ":") {
		if _, ok := parseNumber(w); ok {
			return netip.Addr{}, fmt.Errorf("expected an IP address, not the number %s", w)
		}
	}
	if v, bits, ok := parseDotted(w); ok {
		if bits != 32 {
			return netip.Addr{}, fmt.Errorf("'%s' is not a full IPv4 address (for a network, use net)", w)
		}
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
	}
	if strings.Contains(w, ":") {
		a, err := netip.ParseAddr(w)
		if err == nil && a.Zone() == "" {
			return a, nil
		}
		if err == nil {
			return netip.Addr{}, fmt.Errorf("'%s': IPv6 zones are not supported", w)
		}
		return netip.Addr{}, fmt.Errorf("invalid IPv6 address '%s'", w)
	}
	if strings.Contains(w, "/") {
		return netip.Addr{}, fmt.Errorf("'%s' is a network: use net, not host", w)
	}
	if strings.Count(w, ".") == 3 && strings.Trim(w, "0123456789.") == "" {
		return netip.Addr{}, fmt.Errorf("invalid IPv4 address '%s'", w)
	}
	return netip.Addr{}, fmt.Errorf("'%s' is not an IP address (host names need a resolver: filter.Config.Resolver)", w)
}

// parseNet parses the network of a net primitive: ADDR/LEN, IPv4 with
// one to four parts ("10.1/16" is 10.1.0.0/16), or IPv4 without a length
// in tcpdump's shorthand ("10", "172.16", "192.168.1"), or an IPv6
// address or prefix. Bits set past the length are an error.
func parseNet(w string) (netip.Prefix, error) {
	addr, lenStr, hasLen := strings.Cut(w, "/")
	if strings.Contains(addr, ":") {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid IPv6 network '%s'", w)
		}
		bits := 128
		if hasLen {
			n, ok := parseNumber(lenStr)
			if !ok || n > 128 {
				return netip.Prefix{}, fmt.Errorf("invalid prefix length in '%s' (want 0 to 128)", w)
			}
			bits = int(n)
		}
		pfx := netip.PrefixFrom(a, bits)
		if pfx.Masked() != pfx {
			return netip.Prefix{}, fmt.Errorf("non-network bits set in '%s'", w)
		}
		return pfx, nil
	}
	var v, mask uint32
	if hasLen {
		n, nbits, ok := parseDotted(addr)
		if !ok {
			return netip.Prefix{}, fmt.Errorf("invalid IPv4 network '%s'", w)
		}
		l, ok := parseNumber(lenStr)
		if !ok || l > 32 {
			return netip.Prefix{}, fmt.Errorf("invalid prefix length in '%s' (want 0 to 32)", w)
		}
		v = n << (32 - nbits)
		if l > 0 {
			mask = ^uint32(0) << (32 - l)
		}
		if v&^mask != 0 {
			return netip.Prefix{}, fmt.Errorf("non-network bits set in '%s'", w)
		}
	} else {
		var ok bool
		if n, isNum := parseNumber(w); isNum {
			v, ok = uint32(n), true
		} else if e := numberError(w); e != "" {
			return netip.Prefix{}, errors.New(e)
		} else {
			v, _, ok = parseDotted(w)
		}
		if !ok {
			return netip.Prefix{}, fmt.Errorf("invalid network '%s' (want A.B.C.D/LEN, or A, A.B, A.B.C)", w)
		}
		// tcpdump's rule: shift a short network number left until
		// its top byte is set, and its mask with it. So 10 is
		// 10.0.0.0/8 and 172.16 is 172.16.0.0/16.
		mask = ^uint32(0)
		for v != 0 && v&0xff000000 == 0 {
			v <<= 8
			mask <<= 8
		}
	}
	bits := 32
	for bits > 0 && mask&(1<<(32-bits)) == 0 {
		bits--
	}
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return netip.PrefixFrom(a, bits), nil
}

// parsePortRange parses A-B (in either order) or a single port, in
// decimal.
func parsePortRange(w string) (ports.Range, error) {
	a, b, isRange := strings.Cut(w, "-")
	if !isRange {
		b = a
	}
	lo, ok1 := parseDecimalPort(a)
	hi, ok2 := parseDecimalPort(b)
	for _, s := range []string{a, b} {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil && n > 65535 {
			return ports.Range{}, fmt.Errorf("illegal port number %d > 65535", n)
		}
	}
	if !ok1 || !ok2 {
		return ports.Range{}, fmt.Errorf("expected a port range (A-B, in decimal) after 'portrange', not '%s'", w)
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return ports.Range{First: lo, Last: hi}, nil
}

func parseDecimalPort(s string) (ports.Port, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return ports.Port(n), n <= 65535
}

// isServiceName reports whether s can be a service name: letters,
// digits, '-', '_', '.' and '+', starting with a letter or digit.
func isServiceName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '-' || c == '_' || c == '.' || c == '+'):
		default:
			return false
		}
	}
	return true
}

// servicePorts is what a service name resolves to: its TCP ports, its
// UDP ports, and the ports it has over both, which libpcap also matches
// over SCTP (a name whose TCP and UDP ports agree is "any protocol" to
// it), as sorted, merged ranges.
type servicePorts struct {
	tcp, udp, sctp []ports.Range
}

// resolveService looks name up in the IANA registry and keeps its TCP,
// UDP and SCTP ports (see servicePorts), or only those of proto when
// that is ProtoTCP, ProtoUDP or ProtoSCTP. A registry record without a
// protocol counts for TCP and UDP. When nothing is left it returns what
// is wrong, for an error that wraps ports.ErrUnknownService.
func resolveService(name string, proto Proto) (servicePorts, string) {
	var sp servicePorts
	var tcp, udp, both [65536 / 64]uint64
	found := false
	for pr, port := range registry.Default().ServicePorts(name) {
		if pr == ports.ProtoAny || pr == ports.ProtoTCP {
			tcp[port/64] |= 1 << (port % 64)
			found = true
		}
		if pr == ports.ProtoAny || pr == ports.ProtoUDP {
			udp[port/64] |= 1 << (port % 64)
			found = true
		}
	}
	if !found {
		return sp, fmt.Sprintf("unknown port '%s' (not a TCP or UDP service in the IANA registry)", name)
	}
	for i := range both {
		both[i] = tcp[i] & udp[i]
	}
	switch proto {
	case ProtoTCP:
		udp, both = [len(udp)]uint64{}, [len(both)]uint64{}
	case ProtoUDP:
		tcp, both = [len(tcp)]uint64{}, [len(both)]uint64{}
	case ProtoSCTP:
		tcp, udp = [len(tcp)]uint64{}, [len(udp)]uint64{}
	}
	sp.tcp, sp.udp, sp.sctp = bitRanges(&tcp), bitRanges(&udp), bitRanges(&both)
	if len(sp.tcp)+len(sp.udp)+len(sp.sctp) == 0 {
		if proto == ProtoSCTP {
			// libpcap's rule: a name is taken for SCTP only where it
			// is the same port over TCP and UDP.
			return sp, fmt.Sprintf("port '%s' is not the same port over tcp and udp in the IANA registry, which sctp needs", name)
		}
		return sp, fmt.Sprintf("port '%s' is not a %s service in the IANA registry", name, proto)
	}
	return sp, ""
}

// nameToPort resolves one end of a portrange as libpcap's
// pcap_nametoport does: a decimal number is any protocol's; a name is
// its lowest TCP port (its TCP port "for any protocol" if its lowest
// UDP port is the same), else its lowest UDP port. proto is
// ProtoNone for any protocol, else ProtoTCP or ProtoUDP.
func nameToPort(s string) (port ports.Port, proto Proto, ok bool) {
	if p, ok := parseDecimalPort(s); ok {
		return p, ProtoNone, true
	}
	if !isServiceName(s) {
		return 0, 0, false
	}
	tcp, udp := -1, -1
	for pr, p := range registry.Default().ServicePorts(s) {
		if (pr == ports.ProtoAny || pr == ports.ProtoTCP) && (tcp < 0 || int(p) < tcp) {
			tcp = int(p)
		}
		if (pr == ports.ProtoAny || pr == ports.ProtoUDP) && (udp < 0 || int(p) < udp) {
			udp = int(p)
		}
	}
	switch {
	case tcp >= 0 && tcp == udp:
		return ports.Port(tcp), ProtoNone, true
	case tcp >= 0:
		return ports.Port(tcp), ProtoTCP, true
	case udp >= 0:
		return ports.Port(udp), ProtoUDP, true
	}
	return 0, 0, false
}

// resolvePortRange resolves a portrange written with a service name at
// one end or both ("25-smtp", "ftp-ftp-data"), as libpcap does: the
// word splits at its first '-', each end is resolved by nameToPort, and
// the range is over the protocol both ends agree on, or any protocol
// (TCP, UDP and SCTP) if they do not; a qualifier proto narrows that,
// and one that contradicts it is an error. It returns the range and
// the protocol, ProtoNone for any, or what is wrong.
func resolvePortRange(w string, proto Proto) (ports.Range, Proto, string) {
	a, b, ok := strings.Cut(w, "-")
	lo, pa, ok1 := nameToPort(a)
	hi, pb, ok2 := nameToPort(b)
	if !ok || !ok1 || !ok2 {
		return ports.Range{}, 0, fmt.Sprintf("unknown port in range '%s' (want A-B, each a decimal port or a TCP or UDP service in the IANA registry)", w)
	}
	real := pa
	if pa != pb {
		real = ProtoNone
	}
	if proto != ProtoNone {
		if real != ProtoNone && real != proto {
			return ports.Range{}, 0, fmt.Sprintf("port in range '%s' is %s", w, real)
		}
		real = proto
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return ports.Range{First: lo, Last: hi}, real, ""
}

// bitRanges returns the runs of set bits in a 65536-bit set.
func bitRanges(set *[65536 / 64]uint64) []ports.Range {
	var rs []ports.Range
	in := false
	first := 0
	for p := 0; p < 65536; p++ {
		w := set[p/64]
		if p%64 == 0 && (w == 0 && !in || w == ^uint64(0) && in) {
			p += 63 // a whole word with nothing to change
			continue
		}
		on := w&(1<<(p%64)) != 0
		switch {
		case on && !in:
			first, in = p, true
		case !on && in:
			rs = append(rs, ports.Range{First: ports.Port(first), Last: ports.Port(p - 1)})
			in = false
		}
	}
	if in {
		rs = append(rs, ports.Range{First: ports.Port(first), Last: 65535})
	}
	return rs
}

// parseLinkPrimitive parses the primitives that take no value or a
// number: less N, greater N, vlan [ID], [ether] broadcast, [ether|ip|ip6]
// multicast, ether proto N. It reports false if the next words are none
// of them.
func (p *parser) parseLinkPrimitive() (*Expr, error, bool) {
	t := p.peek()
	if t.kind != tWord {
		return nil, nil, false
	}
	prim := func(pr Primitive) (*Expr, error, bool) { return &Expr{Op: OpPrim, Prim: pr}, nil, true }
	number := func(after token) (uint32, token, error) {
		n := p.peek()
		v, ok := parseNumber(n.text)
		if n.kind != tWord || !ok {
			if msg := numberError(n.text); n.kind == tWord && msg != "" {
				return 0, n, p.errorf(n, "%s", msg)
			}
			if n.kind == tEOF {
				return 0, n, p.errorf(n, "expected a number after '%s'", after.text)
			}
			return 0, n, p.errorf(n, "expected a number after '%s', not '%s'", after.text, n.text)
		}
		p.next()
		return uint32(v), n, nil
	}
	switch t.text {
	case "less", "greater":
		p.next()
		n, _, err := number(t)
		if err != nil {
			return nil, err, true
		}
		r := &Relation{Op: RelLe, X: &Arith{Op: ArithLen}, Y: &Arith{Op: ArithConst, K: n}}
		if t.text == "greater" {
			r.Op = RelGe
		}
		return prim(Primitive{Kind: KindRel, Rel: r})
	case "vlan":
		p.next()
		pr := Primitive{Kind: KindVLAN}
		if n := p.peek(); n.kind == tWord && (mayStartArith(n) && !isArithConst(n.text)) {
			v, nt, err := number(t)
			if err != nil {
				return nil, err, true
			}
			if v > 4095 {
				return nil, p.errorf(nt, "VLAN tag %d greater than maximum 4095", v), true
			}
			pr.Num, pr.HasNum = v, true
		}
		return prim(pr)
	case "proto":
		p.next()
		return p.ipProto(ProtoNone, t)
	case "protochain":
		p.next()
		return p.protochain(ProtoNone, t)
	case "mpls", "pppoes":
		p.next()
		pr := Primitive{Kind: KindMPLS}
		limit, what := uint32(1<<20-1), "MPLS label"
		if t.text == "pppoes" {
			pr.Kind, limit, what = KindPPPoES, 0xffff, "PPPoE session number"
		}
		if n := p.peek(); n.kind == tWord && (mayStartArith(n) && !isArithConst(n.text)) {
			v, nt, err := number(t)
			if err != nil {
				return nil, err, true
			}
			if v > limit {
				return nil, p.errorf(nt, "%s %d greater than maximum %d", what, v, limit), true
			}
			pr.Num, pr.HasNum = v, true
		}
		return prim(pr)
	case "pppoed":
		p.next()
		return prim(Primitive{Kind: KindPPPoED})
	case "inbound":
		p.next()
		return prim(Primitive{Kind: KindInbound})
	case "outbound":
		p.next()
		return prim(Primitive{Kind: KindOutbound})
	case "llc":
		p.next()
		pr := Primitive{Kind: KindLLC}
		if n := p.peek(); n.kind == tWord {
			if _, ok := llcTypes[n.text]; !ok && n.text != "i" {
				return nil, p.errorf(n, "unknown LLC type name '%s'", n.text), true
			}
			p.next()
			pr.LLC = n.text
		}
		return prim(pr)
	case "decnet", "atalk", "aarp", "iso", "stp", "ipx", "netbeui", "lat", "sca", "mopdl", "moprc":
		p.next()
		if n := p.peek(); n.kind == tWord {
			if _, isKind := kindWord(n.text); isKind || n.text == "src" || n.text == "dst" || n.text == "proto" {
				if t.text == "decnet" || t.text == "iso" {
					return nil, p.errorf(t, "not supported: %s %s (pcap-filter feature)", t.text, n.text), true
				}
				return nil, p.errorf(t, "'%s' modifier applied to %s", t.text, n.text), true
			}
		}
		return prim(Primitive{Kind: KindEtherProto, Proto: ProtoEther, Num: linkProtoWords[t.text]})
	case "gateway":
		return nil, p.gateway(t), true
	case "broadcast":
		p.next()
		return prim(Primitive{Kind: KindBroadcast, Proto: ProtoEther})
	case "multicast":
		p.next()
		return prim(Primitive{Kind: KindMulticast, Proto: ProtoEther})
	}
	pr, ok := protoWord(t.text)
	if !ok {
		return nil, nil, false
	}
	n := p.peekAt(1)
	if n.kind != tWord {
		return nil, nil, false
	}
	switch {
	case n.text == "gateway":
		return nil, p.gateway(n), true
	case n.text == "multicast" && (pr == ProtoEther || pr == ProtoIP || pr == ProtoIP6):
		p.next()
		p.next()
		return prim(Primitive{Kind: KindMulticast, Proto: pr})
	case n.text == "broadcast" && pr == ProtoEther:
		p.next()
		p.next()
		return prim(Primitive{Kind: KindBroadcast, Proto: ProtoEther})
	case n.text == "broadcast" && pr == ProtoIP:
		p.next()
		p.next()
		return prim(Primitive{Kind: KindBroadcast, Proto: ProtoIP})
	case n.text == "broadcast":
		p.next()
		return nil, p.errorf(n, "only link-layer/IP broadcast filters supported, not '%s broadcast'", t.text), true
	case n.text == "proto" && pr == ProtoEther:
		p.next()
		p.next()
		v := p.peek()
		if et, ok := etherProtoNames[v.text]; ok && v.kind == tWord {
			p.next()
			return prim(Primitive{Kind: KindEtherProto, Proto: ProtoEther, Num: et})
		}
		if v.kind == tWord && strings.HasPrefix(v.text, "\\") {
			return nil, p.errorf(v, "unknown ether proto '%s'", v.text[1:]), true
		}
		num, nt, err := number(n)
		if err != nil {
			return nil, err, true
		}
		if num > 0xffff {
			return nil, p.errorf(nt, "ether proto %d is more than 16 bits", num), true
		}
		return prim(Primitive{Kind: KindEtherProto, Proto: ProtoEther, Num: num})
	case n.text == "proto" && (pr == ProtoIP || pr == ProtoIP6):
		p.next()
		p.next()
		return p.ipProto(pr, n)
	case n.text == "proto":
		p.next()
		return nil, p.errorf(n, "not supported: %s proto (pcap-filter feature)", t.text), true
	case n.text == "protochain" && (pr == ProtoIP || pr == ProtoIP6):
		p.next()
		p.next()
		return p.protochain(pr, n)
	case n.text == "protochain":
		return nil, p.errorf(t, "bad protocol applied for 'protochain'"), true
	}
	return nil, nil, false
}

func isArithConst(w string) bool { _, ok := arithConstants[w]; return ok }

// etherProtoNames are the protocol names "ether proto" takes, written
// with a backslash because they are keywords.
var etherProtoNames = map[string]uint32{`\ip`: etherIPv4, `\ip6`: etherIPv6, `\arp`: etherARP, `\rarp`: etherRARP,
	`\decnet`: etherDECnet, `\atalk`: etherATalk, `\aarp`: etherAARP, `\lat`: etherLAT, `\sca`: etherSCA,
	`\mopdl`: etherMOPDL, `\moprc`: etherMOPRC,
	`\iso`: llcISO, `\stp`: llcSTP, `\ipx`: llcIPX, `\netbeui`: llcNetBEUI,
	`\loopback`: etherLoopback, "loopback": etherLoopback}

// protochain parses the number or name after "protochain" (the token
// after): as for "proto", but any 32-bit number, as libpcap takes it
// (one above 255 is never found).
func (p *parser) protochain(pr Proto, after token) (*Expr, error, bool) {
	v := p.peek()
	if name, escaped := strings.CutPrefix(v.text, "\\"); v.kind == tWord && escaped {
		n, ok := ipProtocols[name]
		if !ok {
			return nil, p.errorf(v, "unknown ip proto '%s'", name), true
		}
		p.next()
		return &Expr{Op: OpPrim, Prim: Primitive{Kind: KindProtochain, Proto: pr, Num: n}}, nil, true
	}
	n, ok := parseNumber(v.text)
	if v.kind != tWord || !ok {
		if v.kind == tEOF {
			return nil, p.errorf(v, "expected a protocol number after '%s'", after.text), true
		}
		return nil, p.errorf(v, "expected a protocol number after '%s', not '%s'", after.text, v.text), true
	}
	p.next()
	return &Expr{Op: OpPrim, Prim: Primitive{Kind: KindProtochain, Proto: pr, Num: uint32(n)}}, nil, true
}

// ipProto parses the number or name after "proto" (the token after).
func (p *parser) ipProto(pr Proto, after token) (*Expr, error, bool) {
	v := p.peek()
	if name, escaped := strings.CutPrefix(v.text, "\\"); v.kind == tWord && (escaped || isValue(v) && !looksLikeValue(v.text) && numberError(v.text) == "") {
		// A name of /etc/protocols; a keyword only with a backslash.
		n, ok := ipProtocols[name]
		if !ok {
			return nil, p.errorf(v, "unknown ip proto '%s'", name), true
		}
		p.next()
		return &Expr{Op: OpPrim, Prim: Primitive{Kind: KindIPProto, Proto: pr, Num: n}}, nil, true
	}
	n, ok := parseNumber(v.text)
	if v.kind != tWord || !ok {
		if v.kind == tEOF {
			return nil, p.errorf(v, "expected a protocol number after '%s'", after.text), true
		}
		return nil, p.errorf(v, "expected a protocol number after '%s', not '%s'", after.text, v.text), true
	}
	if n > 255 {
		return nil, p.errorf(v, "protocol number %d is more than 255", n), true
	}
	p.next()
	return &Expr{Op: OpPrim, Prim: Primitive{Kind: KindIPProto, Proto: pr, Num: uint32(n)}}, nil, true
}
