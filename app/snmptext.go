package app

import "strconv"

// AppendSNMP appends what tcpdump -nn (4.99) prints for an SNMP message
// without -v: the community unless it is "public" (C="..."), the v3
// flags, user and context, the PDU type with its length
// ("GetRequest(28)"), the error status and index of a response, and
// every variable binding, its object identifier in numbers (-nn) and
// its value after "=" on all but requests. It walks the BER encoding as
// tcpdump's print-snmp.c does, printing tcpdump's marks where the
// message is not what it expects ("[len4<asnlen49]", "[!init SEQ]")
// and " [|snmp]" where the capture ends first.
func AppendSNMP(b, data []byte, length int) []byte {
	b, _ = appendSNMP(b, data, length)
	return b
}

func appendSNMP(b, data []byte, length int) ([]byte, bool) {
	p := snmpPrinter{b: append(b, ' '), m: data}
	p.message(0, length)
	if p.cut {
		p.str(" [|snmp]")
	}
	return p.b, p.jumped
}

// BER element types as tcpdump's print-snmp.c sorts them.
const (
	beAny uint8 = iota
	beNull
	beOctet
	beOID
	beInt
	beUns
	beStr
	beSeq
	beInetAddr
	bePDU
	beUns64
	beNoSuchObject
	beNoSuchInst
	beEndOfMIBView
)

// PDU types (context-specific tags).
const (
	pduGet     = 0
	pduGetNext = 1
	pduSet     = 3
	pduTrap    = 4
	pduGetBulk = 5
	pduInform  = 6
	pduV2Trap  = 7
	pduReport  = 8
)

var (
	berUniversal   = [...]string{"U-0", "Boolean", "Integer", "Bitstring", "String", "Null", "ObjID", "ObjectDes", "U-8", "U-9", "U-10", "U-11", "U-12", "U-13", "U-14", "U-15", "Sequence", "Set"}
	berApplication = [...]string{"IpAddress", "Counter", "Gauge", "TimeTicks", "Opaque", "C-5", "Counter64"}
	berContext     = [...]string{"GetRequest", "GetNextRequest", "GetResponse", "SetRequest", "Trap", "GetBulk", "Inform", "V2Trap", "Report"}
	berPrivate     = [...]string{"P-0"}
	berExceptions  = [...]string{"noSuchObject", "noSuchInstance", "endOfMibView"}
	snmpErrors     = [...]string{"noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
		"wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue", "resourceUnavailable",
		"commitFailed", "undoFailed", "authorizationError", "notWritable", "inconsistentName"}
	snmpGenericTraps = [...]string{"coldStart", "warmStart", "linkDown", "linkUp", "authenticationFailure", "egpNeighborLoss", "enterpriseSpecific"}
)

func berNames(class uint8) []string {
	switch class {
	case 0:
		return berUniversal[:]
	case 1:
		return berApplication[:]
	case 2:
		return berContext[:]
	}
	return berPrivate[:]
}

// berElem is one decoded element: data is the offset of its contents.
type berElem struct {
	typ, class, form, id uint8
	asnlen               uint32
	data                 int
	integer              int32
	uns                  uint32
	uns64                uint64
}

type snmpPrinter struct {
	b   []byte
	m   []byte
	cut bool // the capture ended: stop, and mark it
	// jumped: it ended at a tag or length byte, which tcpdump reads
	// with a macro that leaves the printer by longjmp, where a content
	// it checks first ends it by return.
	jumped bool
}

// get is has for one byte of an element's header.
func (p *snmpPrinter) get(off int) bool {
	if !p.has(off, 1) {
		p.jumped = true
		return false
	}
	return true
}

func (p *snmpPrinter) str(s string) { p.b = append(p.b, s...) }
func (p *snmpPrinter) num(v int64)  { p.b = strconv.AppendInt(p.b, v, 10) }
func (p *snmpPrinter) unum(v uint64) {
	p.b = strconv.AppendUint(p.b, v, 10)
}

// has reports whether n bytes at off were captured; if not, the
// printer stops.
func (p *snmpPrinter) has(off int, n uint32) bool {
	if off < 0 || uint64(off)+uint64(n) > uint64(len(p.m)) {
		p.cut = true
		return false
	}
	return true
}

// parse decodes the element at off, of at most length bytes, and
// returns how many it takes, or -1 after printing why it cannot.
func (p *snmpPrinter) parse(off int, length uint32, e *berElem) int {
	*e = berElem{typ: beAny}
	if length < 1 {
		p.str("[nothing to parse]")
		return -1
	}
	if !p.get(off) {
		return -1
	}
	c := p.m[off]
	id := c & 0x1f
	e.form, e.class = c>>5&1, c>>6
	off++
	length--
	hdr := 1
	if id == 0x1f {
		id = 0
		for {
			if !p.get(off) {
				return -1
			}
			if p.m[off]&0x80 == 0 {
				break
			}
			if length < 1 {
				p.str("[Xtagfield?]")
				return -1
			}
			id = id<<7 | p.m[off]&0x7f
			length--
			hdr++
			off++
		}
		if length < 1 {
			p.str("[Xtagfield?]")
			return -1
		}
		id = id<<7 | p.m[off]
		length--
		hdr++
		off++
	}
	e.id = id
	if length < 1 {
		p.str("[no asnlen]")
		return -1
	}
	if !p.get(off) {
		return -1
	}
	e.asnlen = uint32(p.m[off])
	off++
	length--
	hdr++
	if e.asnlen&0x80 != 0 {
		noct := e.asnlen & 0x7f
		e.asnlen = 0
		if length < noct {
			p.str("[asnlen? ")
			p.num(int64(int32(length)))
			p.str("<")
			p.num(int64(noct))
			p.str("]")
			return -1
		}
		if !p.has(off, noct) {
			return -1
		}
		for ; noct > 0; noct-- {
			e.asnlen = e.asnlen<<8 | uint32(p.m[off])
			off++
			length--
			hdr++
		}
	}
	if length < e.asnlen {
		p.str("[len")
		p.num(int64(int32(length)))
		p.str("<asnlen")
		p.unum(uint64(e.asnlen))
		p.str("]")
		return -1
	}
	names := berNames(e.class)
	if int(id) >= len(names) {
		p.str("[id?")
		p.str("PC"[e.form : e.form+1])
		p.str("/x/")
		p.num(int64(id))
		p.str("]")
		return -1
	}
	// tcpdump wants the whole element captured before it decodes it.
	if !p.has(off, e.asnlen) {
		return -1
	}
	e.data = off
	if e.form == 0 {
		switch e.class {
		case 0:
			switch id {
			case 4:
				e.typ = beStr
			case 2:
				e.typ = beInt
				if e.asnlen == 0 {
					p.str("[asnlen=0]")
					return -1
				}
				var v int32
				if e.asnlen > 0 && p.m[off]&0x80 != 0 {
					v = -1
				}
				for _, c := range p.m[off : off+int(e.asnlen)] {
					v = v<<8 | int32(c)
				}
				e.integer = v
			case 6:
				e.typ = beOID
			case 5:
				e.typ = beNull
			default:
				e.typ = beOctet
				p.str("[P/U/")
				p.str(names[id])
				p.str("]")
			}
		case 1:
			switch id {
			case 0:
				e.typ = beInetAddr
			case 1, 2, 3:
				e.typ = beUns
				if !p.has(off, e.asnlen) {
					return -1
				}
				var v uint32
				for _, c := range p.m[off : off+int(e.asnlen)] {
					v = v<<8 + uint32(c)
				}
				e.uns = v
			case 6:
				e.typ = beUns64
				if !p.has(off, e.asnlen) {
					return -1
				}
				var v uint64
				for _, c := range p.m[off : off+int(e.asnlen)] {
					v = v<<8 + uint64(c)
				}
				e.uns64 = v
			default:
				e.typ = beOctet
				p.str("[P/A/")
				p.str(names[id])
				p.str("]")
			}
		case 2:
			switch id {
			case 0:
				e.typ = beNoSuchObject
			case 1:
				e.typ = beNoSuchInst
			case 2:
				e.typ = beEndOfMIBView
			}
		default:
			p.str("[P/x/")
			p.str(names[id])
			p.str("]")
			if !p.has(off, e.asnlen) {
				return -1
			}
			e.typ = beOctet
		}
	} else {
		switch e.class {
		case 0:
			if id == 16 {
				e.typ = beSeq
			} else {
				e.typ = beOctet
				p.str("C/U/")
				p.str(names[id])
			}
		case 2:
			e.typ = bePDU
		default:
			e.typ = beOctet
			p.str("C/x/")
			p.str(names[id])
		}
	}
	return int(e.asnlen) + hdr
}

// print prints an element's value; false where the capture ends.
func (p *snmpPrinter) print(e *berElem) bool {
	off, n := e.data, e.asnlen
	switch e.typ {
	case beOctet:
		if !p.has(off, n) {
			return false
		}
		for _, c := range p.m[off : off+int(n)] {
			p.b = append(p.b, '_', hexDigits[c>>4], hexDigits[c&15])
		}
	case beNull:
	case beOID:
		var o int32
		first := -1
		for i := 0; i < int(n); i++ {
			if !p.has(off+i, 1) {
				return false
			}
			c := p.m[off+i]
			o = o<<7 + int32(c&0x7f)
			if c&0x80 != 0 {
				continue
			}
			if first < 0 {
				first = 0
				s := o / 40
				if s > 2 {
					s = 2
				}
				p.str(".")
				p.unum(uint64(uint32(s)))
				o -= s * 40
			}
			p.str(".")
			p.unum(uint64(uint32(o)))
			o = 0
		}
	case beInt:
		p.num(int64(e.integer))
	case beUns:
		p.unum(uint64(e.uns))
	case beUns64:
		p.unum(e.uns64)
	case beStr:
		if !p.has(off, n) {
			return false
		}
		s := p.m[off : off+int(n)]
		printable := true
		for _, c := range s {
			if c < 0x20 || c > 0x7e {
				printable = false
				break
			}
		}
		if printable {
			p.str(`"`)
			p.b = append(p.b, s...)
			p.str(`"`)
			break
		}
		for i, c := range s {
			if i > 0 {
				p.str("_")
			}
			p.b = append(p.b, hexDigits[c>>4], hexDigits[c&15])
		}
	case beSeq:
		p.str("Seq(")
		p.unum(uint64(n))
		p.str(")")
	case beInetAddr:
		if n != 4 {
			p.str("[inetaddr len!=4]")
		}
		if !p.has(off, n) {
			return false
		}
		for i, c := range p.m[off : off+int(n)] {
			if i > 0 {
				p.str(".")
			}
			p.unum(uint64(c))
		}
	case beNoSuchObject, beNoSuchInst, beEndOfMIBView:
		p.str("[")
		p.str(berExceptions[e.typ-beNoSuchObject])
		p.str("]")
	case bePDU:
		p.str(berContext[e.id])
		p.str("(")
		p.unum(uint64(n))
		p.str(")")
	case beAny:
		p.str("[BE_ANY!?]")
	}
	return true
}

// expect parses the element at *off, which must be of type typ; else it
// prints what (as tcpdump's "[reqId!=INT]") and the element. It moves
// *off and *length past it.
func (p *snmpPrinter) expect(off *int, length *uint32, e *berElem, typ uint8, what string) bool {
	n := p.parse(*off, *length, e)
	if n < 0 {
		return false
	}
	if e.typ != typ {
		p.str(what)
		p.print(e)
		return false
	}
	*off += n
	*length -= uint32(n)
	return true
}

// strField prints an octet string of the header as tcpdump does (as
// a value: quoted if printable, else in hex), then a space.
func (p *snmpPrinter) strField(e *berElem) bool {
	if !p.print(e) {
		return false
	}
	p.str(" ")
	return true
}

func (p *snmpPrinter) message(off int, l int) {
	if l < 0 {
		l = 0
	}
	length := uint32(l)
	var e berElem
	n := p.parse(off, length, &e)
	if n < 0 {
		return
	}
	if e.typ != beSeq {
		p.str("[!init SEQ]")
		p.print(&e)
		return
	}
	if uint32(n) < length {
		p.str("[")
		p.num(int64(length) - int64(n))
		p.str(" extra after iSEQ]")
	}
	off, length = e.data, e.asnlen
	if !p.expect(&off, &length, &e, beInt, "[version!=INT]") {
		return
	}
	switch v := e.integer; v {
	case 0, 1:
		p.community(off, length, int(v))
	case 3:
		p.v3(off, length)
	default:
		p.str("SNMP [version = ")
		p.num(int64(v))
		p.str("]")
	}
}

func (p *snmpPrinter) community(off int, length uint32, version int) {
	var e berElem
	if !p.expect(&off, &length, &e, beStr, "[comm!=STR]") {
		return
	}
	if string(p.m[e.data:min(len(p.m), e.data+int(e.asnlen))]) != "public" {
		p.str("C=")
		if !p.strField(&e) {
			return
		}
	}
	p.pdu(off, length, version)
}

func (p *snmpPrinter) v3(off int, length uint32) {
	xoff, xlength := off, length
	var e berElem
	if !p.expect(&off, &length, &e, beSeq, "[!message]") {
		return
	}
	off, length = e.data, e.asnlen
	if !p.expect(&off, &length, &e, beInt, "[msgID!=INT]") ||
		!p.expect(&off, &length, &e, beInt, "[msgMaxSize!=INT]") {
		return
	}
	n := p.parse(off, length, &e)
	if n < 0 {
		return
	}
	if e.typ != beStr {
		p.str("[msgFlags!=STR]")
		p.print(&e)
		return
	}
	if e.asnlen != 1 {
		p.str("[msgFlags size ")
		p.num(int64(int32(e.asnlen)))
		p.str("]")
		return
	}
	if !p.has(e.data, 1) {
		return
	}
	flags := p.m[e.data]
	switch flags {
	case 0, 1, 3, 4, 5, 7:
	default:
		p.str("[msgFlags=0x")
		p.b = append(p.b, "0123456789ABCDEF"[flags>>4], "0123456789ABCDEF"[flags&15])
		p.str("]")
		return
	}
	off += n
	length -= uint32(n)
	p.str("F=")
	for i, c := range "apr" {
		if flags&(1<<i) != 0 {
			p.b = append(p.b, byte(c))
		}
	}
	p.str(" ")
	n = p.parse(off, length, &e)
	if n < 0 {
		return
	}
	if e.typ != beInt {
		p.str("[msgSecurityModel!=INT]")
		p.print(&e)
		return
	}
	model := e.integer
	off += n
	length -= uint32(n)
	if uint32(n) < length {
		p.str("[")
		p.num(int64(int32(length - uint32(n))))
		p.str(" extra after message SEQ]")
	}
	if model != 3 {
		p.str("[security model ")
		p.num(int64(model))
		p.str("]")
		return
	}
	// The security parameters follow the header's sequence.
	length = xlength - uint32(off-xoff)
	if !p.expect(&off, &length, &e, beStr, "[msgSecurityParameters!=STR]") {
		return
	}
	if !p.usm(e.data, e.asnlen) {
		return
	}
	p.scoped(off, length)
}

func (p *snmpPrinter) usm(off int, length uint32) bool {
	var e berElem
	if !p.expect(&off, &length, &e, beSeq, "[!usm]") {
		return !p.cut
	}
	off, length = e.data, e.asnlen
	if !p.expect(&off, &length, &e, beStr, "[msgAuthoritativeEngineID!=STR]") ||
		!p.expect(&off, &length, &e, beInt, "[msgAuthoritativeEngineBoots!=INT]") ||
		!p.expect(&off, &length, &e, beInt, "[msgAuthoritativeEngineTime!=INT]") ||
		!p.expect(&off, &length, &e, beStr, "[msgUserName!=STR]") {
		return !p.cut
	}
	p.str("U=")
	if !p.strField(&e) {
		return false
	}
	n := p.parse(off, length, &e)
	if n < 0 {
		return !p.cut
	}
	if e.typ != beStr {
		p.str("[msgAuthenticationParameters!=STR]")
		p.print(&e)
		return !p.cut
	}
	off += n
	length -= uint32(n)
	n = p.parse(off, length, &e)
	if n < 0 {
		return !p.cut
	}
	if e.typ != beStr {
		p.str("[msgPrivacyParameters!=STR]")
		p.print(&e)
		return !p.cut
	}
	length -= uint32(n)
	if uint32(n) < length {
		p.str("[")
		p.num(int64(int32(length - uint32(n))))
		p.str(" extra after usm SEQ]")
	}
	return true
}

func (p *snmpPrinter) scoped(off int, length uint32) {
	var e berElem
	if !p.expect(&off, &length, &e, beSeq, "[!scoped PDU]") {
		return
	}
	off, length = e.data, e.asnlen
	if !p.expect(&off, &length, &e, beStr, "[contextEngineID!=STR]") {
		return
	}
	p.str("E=")
	e.typ = beOctet
	if !p.strField(&e) {
		return
	}
	if !p.expect(&off, &length, &e, beStr, "[contextName!=STR]") {
		return
	}
	p.str("C=")
	if !p.strField(&e) {
		return
	}
	p.pdu(off, length, 3)
}

func (p *snmpPrinter) pdu(off int, length uint32, version int) {
	var e berElem
	n := p.parse(off, length, &e)
	if n < 0 {
		return
	}
	if e.typ != bePDU {
		p.str("[no PDU]")
		return
	}
	if uint32(n) < length {
		p.str("[")
		p.num(int64(length) - int64(n))
		p.str(" extra after PDU]")
	}
	p.print(&e)
	p.str(" ")
	id := e.id
	if version == 0 && (id == pduGetBulk || id == pduInform || id == pduV2Trap || id == pduReport) {
		p.str("[v2 PDU in v1 message]")
		return
	}
	if version == 1 && id == pduTrap {
		p.str("[v1 PDU in v2 message]")
		return
	}
	if id == pduTrap {
		p.trap(e.data, e.asnlen)
		return
	}
	p.reqPDU(id, e.data, e.asnlen)
}

func (p *snmpPrinter) errorStatus(v int32) {
	if v >= 0 && int(v) < len(snmpErrors) {
		p.str(snmpErrors[v])
		return
	}
	p.str("err=")
	p.unum(uint64(uint32(v)))
}

func (p *snmpPrinter) reqPDU(id uint8, off int, length uint32) {
	var e berElem
	if !p.expect(&off, &length, &e, beInt, "[reqId!=INT]") ||
		!p.expect(&off, &length, &e, beInt, "[errorStatus!=INT]") {
		return
	}
	strict := id == pduGet || id == pduGetNext || id == pduSet || id == pduInform || id == pduV2Trap || id == pduReport
	var errStatus int32
	switch v := e.integer; {
	case strict && v != 0:
		p.str("[errorStatus(")
		p.errorStatus(v)
		p.str(")!=0]")
	case id == pduGetBulk:
		p.str(" N=")
		p.num(int64(v))
	case v != 0:
		p.str(" ")
		p.errorStatus(v)
		errStatus = v
	}
	if !p.expect(&off, &length, &e, beInt, "[errorIndex!=INT]") {
		return
	}
	switch v := e.integer; {
	case strict && v != 0:
		p.str("[errorIndex(")
		p.num(int64(v))
		p.str(")!=0]")
	case id == pduGetBulk:
		p.str(" M=")
		p.num(int64(v))
	case v != 0 && errStatus == 0:
		p.str("[errorIndex(")
		p.num(int64(v))
		p.str(") w/o errorStatus]")
	case v != 0:
		p.str("@")
		p.num(int64(v))
	case errStatus != 0:
		p.str("[errorIndex==0]")
	}
	p.varbinds(id, off, length)
}

func (p *snmpPrinter) trap(off int, length uint32) {
	var e berElem
	p.str(" ")
	if !p.expect(&off, &length, &e, beOID, "[enterprise!=OID]") || !p.print(&e) {
		return
	}
	p.str(" ")
	if !p.expect(&off, &length, &e, beInetAddr, "[agent-addr!=INETADDR]") || !p.print(&e) {
		return
	}
	if !p.expect(&off, &length, &e, beInt, "[generic-trap!=INT]") {
		return
	}
	generic := e.integer
	p.str(" ")
	if generic >= 0 && int(generic) < len(snmpGenericTraps) {
		p.str(snmpGenericTraps[generic])
	} else {
		p.str("gt=")
		p.num(int64(generic))
	}
	if !p.expect(&off, &length, &e, beInt, "[specific-trap!=INT]") {
		return
	}
	if generic != 6 {
		if e.integer != 0 {
			p.str("[specific-trap(")
			p.num(int64(e.integer))
			p.str(")!=0]")
		}
	} else {
		p.str(" s=")
		p.num(int64(e.integer))
	}
	p.str(" ")
	if !p.expect(&off, &length, &e, beUns, "[time-stamp!=TIMETICKS]") || !p.print(&e) {
		return
	}
	p.varbinds(pduTrap, off, length)
}

func (p *snmpPrinter) varbinds(id uint8, off int, length uint32) {
	var e berElem
	n := p.parse(off, length, &e)
	if n < 0 {
		return
	}
	if e.typ != beSeq {
		p.str("[!SEQ of varbind]")
		p.print(&e)
		return
	}
	if uint32(n) < length {
		p.str("[")
		p.num(int64(length) - int64(n))
		p.str(" extra after SEQ of varbind]")
	}
	read := id == pduGet || id == pduGetNext || id == pduGetBulk
	off, length = e.data, e.asnlen
	for length > 0 {
		p.str(" ")
		n := p.parse(off, length, &e)
		if n < 0 {
			return
		}
		if e.typ != beSeq {
			p.str("[!varbind]")
			p.print(&e)
			return
		}
		next, nextLen := off+n, length-uint32(n)
		off, length = e.data, e.asnlen
		if !p.expect(&off, &length, &e, beOID, "[objName!=OID]") || !p.print(&e) {
			return
		}
		if !read {
			p.str("=")
		}
		if p.parse(off, length, &e) < 0 {
			return
		}
		if read {
			if e.typ != beNull {
				p.str("[objVal!=NULL]")
				if !p.print(&e) {
					return
				}
			}
		} else if e.typ != beNull && !p.print(&e) {
			return
		}
		off, length = next, nextLen
	}
}
