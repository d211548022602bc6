package app

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// DNSOptions says how a DNS message travels.
type DNSOptions struct {
	// OverTCP: the message is prefixed by its 2-byte length (RFC 1035
	// §4.2.2), as in a TCP segment.
	OverTCP bool
	// MDNS: multicast DNS (RFC 6762), whose class's top bit is the
	// QU bit of a question and the cache-flush bit of a record.
	MDNS bool
}

// AppendDNS appends to b what tcpdump -nn (4.99) prints for a DNS
// message: "22836+ [1au] A? www.tcpdump.org. (56)" for a query,
// "22836*- 2/2/5 A 192.139.46.66, A 198.199.88.104 (224)" for a reply.
// data is the payload captured (a UDP datagram's or a TCP segment's, up
// to the IP length), length the payload's length on the wire. A message
// cut by the capture ends in tcpdump's " [|domain]" where tcpdump
// stops; a malformed one as tcpdump shows it (<BAD PTR>, (invalid)).
// Over TCP the text starts with a space, as tcpdump puts it after the
// TCP length.
func AppendDNS(b, data []byte, length int, o DNSOptions) []byte {
	p := dnsPrinter{b: b, mdns: o.MDNS}
	p.message(data, length, o.OverTCP)
	return p.b
}

// dnsPrinter follows tcpdump's domain_print: offsets into m are its
// pointers, -1 its NULL, len(m) its snapend.
type dnsPrinter struct {
	b    []byte
	m    []byte // the message, from its header to the end of the capture
	mdns bool
	// cut is tcpdump's longjmp when it reads past the capture: nothing
	// more is printed but the " [|domain]" mark.
	cut bool
}

const (
	dnsTrunc = " [|domain]"
	maxCName = 255 // tcpdump's MAXCDNAME
)

func (p *dnsPrinter) str(s string) { p.b = append(p.b, s...) }
func (p *dnsPrinter) uint(v int)   { p.b = strconv.AppendUint(p.b, uint64(v), 10) }

// u8 reads byte i, or marks the message cut (tcpdump's GET_U_1 past the
// capture).
func (p *dnsPrinter) u8(i int) int {
	if i < 0 || i >= len(p.m) {
		p.cut = true
		return 0
	}
	return int(p.m[i])
}

func (p *dnsPrinter) u16(i int) int {
	if i < 0 || i+2 > len(p.m) {
		p.cut = true
		return 0
	}
	return int(binary.BigEndian.Uint16(p.m[i:]))
}

func (p *dnsPrinter) has(i, n int) bool { return i >= 0 && n >= 0 && i+n <= len(p.m) }

func (p *dnsPrinter) message(data []byte, length int, overTCP bool) {
	if overTCP {
		if length < 2 {
			p.str(" [DNS over TCP: length ")
			p.uint(length)
			p.str(" < 2] (invalid)")
			return
		}
		length -= 2
		if len(data) < 2 {
			p.str(dnsTrunc)
			return
		}
		if n := int(binary.BigEndian.Uint16(data)); n != length {
			p.str(" [prefix length(")
			p.uint(n)
			p.str(") != length(")
			p.uint(length)
			p.str(")] (invalid)")
			return
		}
		data = data[2:]
		p.str(" ")
	}
	p.m = data
	if length < 12 {
		p.str("domain [length ")
		p.uint(length)
		p.str(" < 12] (invalid)")
		return
	}
	if len(p.m) < 12 {
		p.str(dnsTrunc)
		return
	}
	if !p.body(length) || p.cut {
		p.str(dnsTrunc)
	}
}

// body prints the message after its checks; false where tcpdump goes to
// its truncation mark.
func (p *dnsPrinter) body(length int) bool {
	m := p.m
	flags := int(binary.BigEndian.Uint16(m[2:]))
	qd := int(binary.BigEndian.Uint16(m[4:]))
	an := int(binary.BigEndian.Uint16(m[6:]))
	ns := int(binary.BigEndian.Uint16(m[8:]))
	ar := int(binary.BigEndian.Uint16(m[10:]))
	rcode := p.extendedRcode(flags, qd, an, ns, ar)
	op := flags >> 11 & 0xf
	if flags&0x8000 != 0 { // a response
		p.uint(int(binary.BigEndian.Uint16(m)))
		p.str(dnsOps[op])
		p.rcode(rcode)
		if flags&0x0400 != 0 {
			p.str("*")
		}
		if flags&0x0080 == 0 {
			p.str("-")
		}
		if flags&0x0200 != 0 {
			p.str("|")
		}
		if flags&0x0020 != 0 {
			p.str("$")
		}
		if qd != 1 {
			p.str(" [")
			p.uint(qd)
			p.str("q]")
		}
		cp := 12
		for i := range qd {
			if i != 0 {
				p.str(",")
			}
			if cp = p.skipName(cp); cp < 0 {
				return false
			}
			cp += 4
		}
		p.str(" ")
		p.uint(an)
		p.str("/")
		p.uint(ns)
		p.str("/")
		p.uint(ar)
		if an > 0 {
			if cp = p.record(cp); cp < 0 || p.cut {
				return false
			}
			an--
			for cp < len(m) && an > 0 {
				p.str(",")
				if cp = p.record(cp); cp < 0 || p.cut {
					return false
				}
				an--
			}
		}
		if an > 0 {
			return false
		}
	} else {
		p.uint(int(binary.BigEndian.Uint16(m)))
		p.str(dnsOps[op])
		if flags&0x0100 != 0 {
			p.str("+")
		}
		if flags&0x0010 != 0 {
			p.str("%")
		}
		if flags&0x6cf != 0 {
			p.str(" [b2&3=0x")
			p.b = strconv.AppendUint(p.b, uint64(flags), 16)
			p.str("]")
		}
		count := func(n int, unit string) {
			p.str(" [")
			p.uint(n)
			p.str(unit)
		}
		if op == 1 { // IQUERY
			if qd != 0 {
				count(qd, "q]")
			}
			if an != 1 {
				count(an, "a]")
			}
		} else {
			if an != 0 {
				count(an, "a]")
			}
			if qd != 1 {
				count(qd, "q]")
			}
		}
		if ns != 0 {
			count(ns, "n]")
		}
		if ar != 0 {
			count(ar, "au]")
		}
		cp := 12
		if qd > 0 {
			if cp = p.question(cp); cp < 0 || p.cut {
				return false
			}
			qd--
			for cp < len(m) && qd > 0 {
				if cp = p.question(cp); cp < 0 || p.cut {
					return false
				}
				qd--
			}
		}
		if qd > 0 {
			return false
		}
	}
	p.str(" (")
	p.uint(length)
	p.str(")")
	return true
}

// extendedRcode adds the upper bits an OPT record carries (RFC 6891),
// found as tcpdump finds it: the first OPT among the additional records,
// as far as the capture goes.
func (p *dnsPrinter) extendedRcode(flags, qd, an, ns, ar int) int {
	rcode := flags & 0xf
	m := p.m
	cp := 12
	for range qd {
		if cp = p.skipName(cp); cp < 0 {
			return rcode
		}
		if cp += 4; cp >= len(m) {
			return rcode
		}
	}
	for range an + ns {
		if cp = p.skipName(cp); cp < 0 {
			return rcode
		}
		if cp += 8; cp+2 > len(m) {
			return rcode
		}
		if cp += 2 + int(binary.BigEndian.Uint16(m[cp:])); cp >= len(m) {
			return rcode
		}
	}
	for range ar {
		if cp = p.skipName(cp); cp < 0 || cp+2 > len(m) {
			return rcode
		}
		typ := binary.BigEndian.Uint16(m[cp:])
		if cp += 4; cp+1 > len(m) {
			return rcode
		}
		if typ == 41 {
			return rcode | int(m[cp])<<4
		}
		if cp += 4; cp+2 > len(m) {
			return rcode
		}
		if cp += 2 + int(binary.BigEndian.Uint16(m[cp:])); cp >= len(m) {
			return rcode
		}
	}
	return rcode
}

func (p *dnsPrinter) rcode(rcode int) {
	if rcode < len(dnsRcodes) {
		p.str(dnsRcodes[rcode])
		return
	}
	p.str(" Resp")
	p.uint(rcode & 0xfff)
}

var dnsOps = [16]string{
	"", " inv_q", " stat", " op3", " notify", " update", " op6", " op7",
	" op8", " updateA", " updateD", " updateDA", " updateM", " updateMA", " zoneInit", " zoneRef",
}

// dnsRcodes are tcpdump's words, two of them without their space.
var dnsRcodes = [...]string{
	"", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused", " YXDomain", " YXRRSet",
	" NXRRSet", " NotAuth", " NotZone", " Resp11", " Resp12", " Resp13", " Resp14", " NoChange",
	" BadVers", "Resp17", " Resp18", " Resp19", " Resp20", "Resp21", " Resp22", " BadCookie",
}

// skipName is tcpdump's ns_nskip: the offset after the name at cp, or
// -1.
func (p *dnsPrinter) skipName(cp int) int {
	m := p.m
	if cp < 0 || cp >= len(m) {
		return -1
	}
	i := int(m[cp])
	cp++
	for i != 0 {
		switch i & 0xc0 {
		case 0xc0:
			return cp + 1
		case 0x40:
			if i&0x3f != 1 {
				return -1
			}
			if cp >= len(m) {
				return -1
			}
			bits := int(m[cp])
			if bits == 0 {
				bits = 256
			}
			cp += 1 + (bits+7)/8
		case 0x80:
			return -1
		default:
			cp += i
		}
		if cp >= len(m) {
			return -1
		}
		i = int(m[cp])
		cp++
	}
	return cp
}

// labelLen is tcpdump's labellen, with what it prints on a bad label.
func (p *dnsPrinter) labelLen(cp int) int {
	m := p.m
	if cp < 0 || cp >= len(m) {
		return -1
	}
	i := int(m[cp])
	switch i & 0xc0 {
	case 0x40:
		if elt := i & 0x3f; elt != 1 {
			p.str("<ELT ")
			p.uint(elt)
			p.str(">")
			return -1
		}
		if cp+1 >= len(m) {
			return -1
		}
		bits := int(m[cp+1])
		if bits == 0 {
			bits = 256
		}
		return (bits+7)/8 + 1
	case 0x80:
		p.str("<BAD LABEL TYPE>")
		return -1
	}
	return i
}

// name prints the domain name at cp as tcpdump's fqdn_print does,
// compression pointers followed (backwards only), relative to base;
// it returns the offset after the name where it is written, or -1.
func (p *dnsPrinter) name(cp, base int) int {
	m := p.m
	l := p.labelLen(cp)
	if l < 0 || cp >= len(m) {
		return -1
	}
	maxOff := uint32(cp - base)
	i := int(m[cp])
	cp++
	rp := -1
	compress := false
	if i&0xc0 != 0xc0 {
		rp = cp + l
	}
	if i == 0 {
		p.str(".")
		return rp
	}
	chars := 0
	for i != 0 && cp < len(m) {
		switch i & 0xc0 {
		case 0xc0:
			if !compress {
				rp = cp + 1
				compress = true
			}
			if cp >= len(m) {
				return -1
			}
			off := (i<<8 | int(m[cp])) & 0x3fff
			if uint32(off) >= maxOff {
				p.str("<BAD PTR>")
				return -1
			}
			maxOff = uint32(off)
			cp = base + off
			if cp < 0 || cp >= len(m) {
				return -1
			}
			i = int(m[cp])
			if l = p.labelLen(cp); l < 0 {
				return -1
			}
			cp++
			continue
		case 0x40:
			if elt := i & 0x3f; elt != 1 {
				p.str("<ELT ")
				p.uint(elt)
				p.str(">")
				return -1
			}
			if p.bitLabel(cp) < 0 {
				return -1
			}
		case 0x80:
			p.str("<BAD LABEL TYPE>")
			return -1
		default:
			if chars+l <= maxCName {
				if p.printn(cp, l) {
					return -1
				}
			} else if chars < maxCName {
				if p.printn(cp, maxCName-chars) {
					return -1
				}
			}
			chars += l
		}
		cp += l
		if chars <= maxCName {
			p.str(".")
		}
		chars++
		if cp >= len(m) {
			return -1
		}
		i = int(m[cp])
		if l = p.labelLen(cp); l < 0 {
			return -1
		}
		cp++
		if !compress {
			rp += l + 1
		}
	}
	if chars > maxCName {
		p.str("<DOMAIN NAME TOO LONG>")
	}
	return rp
}

// bitLabel prints an RFC 2673 bit-string label as tcpdump's blabel_print
// does, reading as far as it does.
func (p *dnsPrinter) bitLabel(cp int) int {
	if cp < 0 || cp >= len(p.m) {
		return -1
	}
	bits := int(p.m[cp])
	if bits == 0 {
		bits = 256
	}
	lim := cp + 1 + (bits+3)/4
	p.str(`\[x`)
	bp, b := cp+1, bits
	for ; bp < lim && b > 7; b, bp = b-8, bp+1 {
		v := p.u8(bp)
		if p.cut {
			return -1
		}
		p.hex2(v)
	}
	if b > 4 {
		v := p.u8(bp)
		if p.cut {
			return -1
		}
		p.hex2(v & (0xff << (8 - b)) & 0xff)
	} else if b > 0 {
		v := p.u8(bp)
		if p.cut {
			return -1
		}
		p.b = strconv.AppendUint(p.b, uint64((v>>4)&0x0f&(0x0f<<(4-b))), 16)
	}
	p.str("/")
	p.uint(bits)
	p.str("]")
	return lim
}

func (p *dnsPrinter) hex2(v int) {
	const digits = "0123456789abcdef"
	p.b = append(p.b, digits[v>>4&0xf], digits[v&0xf])
}

// printn prints n bytes at cp as tcpdump's nd_printn, up to the end of
// the capture; true if it stopped there first.
func (p *dnsPrinter) printn(cp, n int) bool {
	for ; n > 0 && cp < len(p.m); n, cp = n-1, cp+1 {
		p.b = appendChar(p.b, p.m[cp])
	}
	return n != 0
}

// appendChar appends c as tcpdump's fn_print_char shows it: M- for the
// high bit, ^ for control characters.
func appendChar(b []byte, c byte) []byte {
	if c >= 0x80 {
		c &= 0x7f
		b = append(b, 'M', '-')
	}
	if c < 0x20 || c == 0x7f {
		c ^= 0x40
		b = append(b, '^')
	}
	return append(b, c)
}

// question prints one question as tcpdump's ns_qprint: " A? name.".
func (p *dnsPrinter) question(cp int) int {
	np := cp
	cp = p.skipName(cp)
	if cp < 0 || !p.has(cp, 4) {
		return -1
	}
	p.str(" ")
	p.typeName(int(binary.BigEndian.Uint16(p.m[cp:])))
	i := int(binary.BigEndian.Uint16(p.m[cp+2:]))
	class := i
	if p.mdns {
		class = i &^ 0x8000
	}
	if class != 1 {
		p.str(" ")
		p.className(class)
	}
	if p.mdns {
		if i&0x8000 != 0 {
			p.str(" (QU)")
		} else {
			p.str(" (QM)")
		}
	}
	p.str("? ")
	if cp = p.name(np, 0); cp < 0 {
		return -1
	}
	return cp + 4
}

// record prints one resource record as tcpdump's ns_rprint without -v:
// the class if not IN, the type and, for the types tcpdump shows, the
// data.
func (p *dnsPrinter) record(cp int) int {
	m := p.m
	cp = p.skipName(cp)
	if cp < 0 || !p.has(cp, 10) {
		return len(m)
	}
	typ := int(binary.BigEndian.Uint16(m[cp:]))
	i := int(binary.BigEndian.Uint16(m[cp+2:]))
	cp += 4
	class := i
	if p.mdns {
		class = i &^ 0x8000
	}
	if class != 1 && typ != 41 {
		p.str(" ")
		p.className(class)
	}
	if p.mdns && i&0x8000 != 0 {
		p.str(" (Cache flush)")
	}
	optFlags := 0
	if typ == 41 {
		optFlags = int(binary.BigEndian.Uint16(m[cp+2:]))
	}
	cp += 4
	rdlen := int(binary.BigEndian.Uint16(m[cp:]))
	cp += 2
	rp := cp + rdlen
	p.str(" ")
	p.typeName(typ)
	if rp > len(m) {
		return -1
	}
	switch typ {
	case 1: // A
		if !p.has(cp, 4) {
			return -1
		}
		p.b = netip.AddrFrom4([4]byte(m[cp : cp+4])).AppendTo(append(p.b, ' '))
	case 2, 5, 12, 39: // NS, CNAME, PTR, DNAME
		p.str(" ")
		if p.name(cp, 0) < 0 {
			return -1
		}
	case 15: // MX
		p.str(" ")
		if !p.has(cp, 2) {
			return -1
		}
		if p.name(cp+2, 0) < 0 {
			return -1
		}
		p.str(" ")
		p.uint(int(binary.BigEndian.Uint16(m[cp:])))
	case 16: // TXT
		for cp < rp {
			p.str(` "`)
			if cp = p.charString(cp); cp < 0 {
				return -1
			}
			p.str(`"`)
		}
	case 33: // SRV: target:port priority weight
		p.str(" ")
		if !p.has(cp, 6) {
			return -1
		}
		if p.name(cp+6, 0) < 0 {
			return -1
		}
		p.str(":")
		p.uint(int(binary.BigEndian.Uint16(m[cp+4:])))
		p.str(" ")
		p.uint(int(binary.BigEndian.Uint16(m[cp:])))
		p.str(" ")
		p.uint(int(binary.BigEndian.Uint16(m[cp+2:])))
	case 28: // AAAA
		if !p.has(cp, 16) {
			return -1
		}
		p.b = netip.AddrFrom16([16]byte(m[cp : cp+16])).AppendTo(append(p.b, ' '))
	case 38: // A6
		if !p.has(cp, 1) {
			return -1
		}
		pbit := int(m[cp])
		pbyte := (pbit &^ 7) / 8
		if pbit > 128 {
			p.str(" ")
			p.uint(pbit)
			p.str("(bad plen)")
			break
		} else if pbit < 128 {
			var a [16]byte
			if !p.has(cp+1, 16-pbyte) {
				p.cut = true
				return -1
			}
			copy(a[pbyte:], m[cp+1:])
			p.str(" ")
			p.uint(pbit)
			p.b = netip.AddrFrom16(a).AppendTo(append(p.b, ' '))
		}
		if pbit > 0 {
			p.str(" ")
			if p.name(cp+1+16-pbyte, 0) < 0 {
				return -1
			}
		}
	case 104: // UNSPECA: one long string
		if !p.has(cp, rdlen) {
			return -1
		}
		if p.printn(cp, rdlen) {
			return -1
		}
	case 256: // URI
		if !p.has(cp, rdlen) {
			return -1
		}
		prio, weight := p.u16(cp), p.u16(cp+2)
		if p.cut {
			return -1
		}
		p.str(" ")
		p.uint(prio)
		p.str(" ")
		p.uint(weight)
		p.str(" ")
		n := rdlen - 4
		if n < 0 {
			n = int(uint32(n)) // tcpdump's unsigned length
		}
		if p.printn(cp+4, n) {
			return -1
		}
	case 41: // OPT
		p.str(" UDPsize=")
		p.uint(class)
		if optFlags&0x8000 != 0 {
			p.str(" DO")
		}
		if cp < rp {
			p.str(" [")
			for cp < rp {
				if cp = p.ednsOption(cp); cp < 0 {
					return -1
				}
				if cp < rp {
					p.str(",")
				}
			}
			p.str("]")
		}
	case 250: // TSIG: shown only with -v
		if !p.has(cp, rdlen) {
			return -1
		}
	}
	return rp
}

// charString prints a <character-string>.
func (p *dnsPrinter) charString(cp int) int {
	if cp < 0 || cp >= len(p.m) {
		return -1
	}
	n := int(p.m[cp])
	cp++
	if p.printn(cp, n) {
		return -1
	}
	return cp + n
}

// ednsOption prints one EDNS option of an OPT record, by tcpdump's name
// and with its data in hex (tcpdump decodes some; an OPT record in the
// answer section, the only place it prints one without -vv, is rare).
func (p *dnsPrinter) ednsOption(cp int) int {
	if !p.has(cp, 4) {
		return -1
	}
	opt := int(binary.BigEndian.Uint16(p.m[cp:]))
	n := int(binary.BigEndian.Uint16(p.m[cp+2:]))
	if name := ednsOptName(opt); name != "" {
		p.str(name)
	} else {
		p.str("Opt")
		p.uint(opt)
	}
	cp += 4
	if !p.has(cp, n) {
		return -1
	}
	if n > 0 {
		p.str(" ")
		if opt == 12 { // PADDING
			p.str("(")
			p.uint(n)
			p.str(")")
		} else {
			for _, c := range p.m[cp : cp+n] {
				p.hex2(int(c))
			}
		}
	}
	return cp + n
}

// ednsOptName is tcpdump's name for an EDNS option code, or "".
func ednsOptName(opt int) string {
	if opt < len(ednsOpts) {
		return ednsOpts[opt]
	}
	return ""
}

var ednsOpts = [...]string{"", "LLQ", "UL", "NSID", "", "DAU", "DHU", "N3U", "ECS", "EXPIRE",
	"COOKIE", "KEEPALIVE", "PADDING", "CHAIN", "KEY-TAG", "", "CLIENT-TAG", "SERVER-TAG"}

func (p *dnsPrinter) typeName(t int) {
	if n := DNSTypeName(uint16(t)); n != "" {
		p.str(n)
		return
	}
	p.str("Type")
	p.uint(t)
}

func (p *dnsPrinter) className(c int) {
	switch c {
	case 1:
		p.str("IN")
	case 3:
		p.str("CHAOS")
	case 4:
		p.str("HS")
	case 255:
		p.str("ANY")
	default:
		p.str("(Class ")
		p.uint(c)
		p.str(")")
	}
}

// DNSTypeName is tcpdump 4.99's name for a record type, "" for one it
// shows as TypeN.
func DNSTypeName(t uint16) string {
	switch {
	case int(t) < len(dnsTypes):
		return dnsTypes[t]
	case t >= 99 && t <= 104:
		return [...]string{"SPF", "UINFO", "UID", "GID", "UNSPEC", "UNSPECA"}[t-99]
	case t >= 249 && t <= 256:
		return [...]string{"TKEY", "TSIG", "IXFR", "AXFR", "MAILB", "MAILA", "ANY", "URI"}[t-249]
	}
	return ""
}

var dnsTypes = [...]string{
	"", "A", "NS", "MD", "MF", "CNAME", "SOA", "MB", "MG", "MR", "NULL", "WKS", "PTR", "HINFO", "MINFO", "MX", "TXT",
	"RP", "AFSDB", "X25", "ISDN", "RT", "NSAP", "NSAP_PTR", "SIG", "KEY", "PX", "GPOS", "AAAA", "LOC", "NXT", "EID",
	"NIMLOC", "SRV", "ATMA", "NAPTR", "KX", "CERT", "A6", "DNAME", "SINK", "OPT", "APL", "DS", "SSHFP", "IPSECKEY",
	"RRSIG", "NSEC", "DNSKEY",
}
