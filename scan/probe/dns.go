package probe

import (
	"strconv"
	"strings"

	"github.com/portkit/ports"
)

// DNS (RFC 1035 section 4.1): a query of version.bind, class CHAOS, type
// TXT, which BIND, dnsmasq, Unbound and others answer with their version
// (or refuse, which still proves a name server).
const dnsID = 0x7072 // "pr"

// DNS constants from RFC 1035 section 3.2.
const (
	dnsTypePTR   = 12
	dnsTypeTXT   = 16
	dnsClassIN   = 1
	dnsClassCH   = 3
	dnsHeaderLen = 12
)

// dnsRcodes names the RCODEs of RFC 1035 section 4.1.1 and RFC 2136.
var dnsRcodes = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// dnsQuery builds a query with one question.
func dnsQuery(id uint16, flags uint16, name string, qtype, qclass uint16) []byte {
	b := put16(nil, id)
	b = put16(b, flags)
	b = put16(b, 1) // QDCOUNT
	b = append(b, 0, 0, 0, 0, 0, 0)
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = put16(b, qtype)
	return put16(b, qclass)
}

func dnsProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "dns",
		Ports: []ports.Port{53}, // domain
		payload: func() []byte {
			return dnsQuery(dnsID, 0, "version.bind", dnsTypeTXT, dnsClassCH)
		},
		match: matchVersionBind,
	}
}

// matchVersionBind reads the answer to the version.bind query: any DNS
// response proves a DNS server, and its TXT record (dnsmasq: "dnsmasq-2.90",
// BIND: "9.18.19-1-Debian") names it.
func matchVersionBind(reply []byte) (Service, bool) {
	m, ok := parseDNS(reply, dnsID)
	if !ok {
		return Service{}, false
	}
	s := Service{Name: "domain", Info: m.rcodeName()}
	for _, rr := range m.answers {
		if rr.typ == dnsTypeTXT && rr.class == dnsClassCH && len(rr.data) > 0 {
			n := int(rr.data[0])
			if n > len(rr.data)-1 {
				continue
			}
			txt := printable(rr.data[1:1+n], 64)
			s.Product, s.Version = splitProductVersion(txt)
			break
		}
	}
	return s, true
}

// TCPDNSVersionBind is the version.bind query over TCP (RFC 1035
// section 4.2.2: the message after its two-byte length), which -sV
// sends to a TCP port that says nothing first, as nmap's
// DNSVersionBindReqTCP: a DNS server answers it, and nothing else does.
var TCPDNSVersionBind = func() string {
	q := dnsQuery(dnsID, 0, "version.bind", dnsTypeTXT, dnsClassCH)
	return string(append([]byte{byte(len(q) >> 8), byte(len(q))}, q...))
}()

// TCPDNSComplete reports whether b holds a whole length-prefixed DNS
// message, the answer to TCPDNSVersionBind.
func TCPDNSComplete(b []byte) bool {
	return len(b) >= 2 && len(b) >= 2+int(be16(b))
}

// ParseTCPDNS reads the answer to TCPDNSVersionBind.
func ParseTCPDNS(b []byte) (Service, bool) {
	if !TCPDNSComplete(b) {
		return Service{}, false
	}
	return matchVersionBind(b[2 : 2+int(be16(b))])
}

// mDNS (RFC 6762 section 6.7, legacy unicast; RFC 6763 section 9): a
// query of _services._dns-sd._udp.local PTR from a port other than 5353,
// which a responder answers by unicast to the sender.
func mdnsProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "mdns",
		Ports: []ports.Port{5353}, // mdns
		payload: func() []byte {
			return dnsQuery(0, 0, "_services._dns-sd._udp.local", dnsTypePTR, dnsClassIN)
		},
		match: func(reply []byte) (Service, bool) {
			m, ok := parseDNS(reply, 0)
			if !ok {
				return Service{}, false
			}
			s := Service{Name: "mdns"}
			var svcs []string
			for _, rr := range m.answers {
				if rr.typ == dnsTypePTR && len(svcs) < 4 {
					if name, ok := dnsName(reply, rr.off); ok {
						svcs = append(svcs, name)
					}
				}
			}
			if len(svcs) > 0 {
				s.Info = strings.Join(svcs, " ")
			}
			return s, true
		},
	}
}

// dnsMsg is what parseDNS needs of a response.
type dnsMsg struct {
	rcode   int
	answers []dnsRR
}

func (m *dnsMsg) rcodeName() string {
	if m.rcode < len(dnsRcodes) {
		return dnsRcodes[m.rcode]
	}
	return "RCODE" + strconv.Itoa(m.rcode)
}

// dnsRR is one resource record; data aliases the message and starts at
// offset off in it.
type dnsRR struct {
	typ, class uint16
	off        int
	data       []byte
}

// parseDNS parses a response with the given ID: its header, questions
// and answers.
func parseDNS(b []byte, id uint16) (dnsMsg, bool) {
	var m dnsMsg
	if len(b) < dnsHeaderLen || be16(b) != id || b[2]&0x80 == 0 { // QR: a response
		return m, false
	}
	m.rcode = int(b[3] & 0x0f)
	qd, an := int(be16(b[4:])), int(be16(b[6:]))
	off := dnsHeaderLen
	for range qd {
		var ok bool
		if off, ok = dnsSkipName(b, off); !ok || off+4 > len(b) {
			return m, false
		}
		off += 4
	}
	for i := 0; i < an && i < 32; i++ {
		var ok bool
		if off, ok = dnsSkipName(b, off); !ok || off+10 > len(b) {
			return m, false
		}
		rr := dnsRR{typ: be16(b[off:]), class: be16(b[off+2:]) & 0x7fff} // mDNS cache-flush bit
		n := int(be16(b[off+8:]))
		off += 10
		if off+n > len(b) {
			return m, false
		}
		rr.off, rr.data = off, b[off:off+n]
		m.answers = append(m.answers, rr)
		off += n
	}
	return m, true
}

// dnsSkipName returns the offset after the name at off.
func dnsSkipName(b []byte, off int) (int, bool) {
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0: // a compression pointer ends the name
			if off+2 > len(b) {
				return 0, false
			}
			return off + 2, true
		case l&0xc0 != 0:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}

// dnsName decodes the possibly compressed name at off.
func dnsName(b []byte, off int) (string, bool) {
	var labels []string
	for hops := 0; hops < 32 && off < len(b); {
		l := int(b[off])
		switch {
		case l == 0:
			return strings.Join(labels, "."), true
		case l&0xc0 == 0xc0:
			if off+2 > len(b) {
				return "", false
			}
			off = int(be16(b[off:]) & 0x3fff)
			hops++
			continue
		case l&0xc0 != 0 || off+1+l > len(b):
			return "", false
		}
		labels = append(labels, printable(b[off+1:off+1+l], 63))
		off += 1 + l
		if len(labels) > 128 {
			return "", false
		}
	}
	return "", false
}

// splitProductVersion splits "dnsmasq-2.90", "unbound 1.17.1" or
// "9.18.19-1-Debian" into product and version.
func splitProductVersion(s string) (product, version string) {
	if s == "" {
		return "", ""
	}
	if s[0] >= '0' && s[0] <= '9' {
		return "", s
	}
	for i := 1; i < len(s)-1; i++ {
		if (s[i] == '-' || s[i] == ' ' || s[i] == '/' || s[i] == '_') && s[i+1] >= '0' && s[i+1] <= '9' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}
