package probe

import (
	"strconv"

	"github.com/portkit/ports"
)

// SNMP (RFC 1157 section 4, RFC 3416 section 3, RFC 1901 for the v2c
// community message): a v2c GetRequest of sysDescr.0 (1.3.6.1.2.1.1.1.0,
// RFC 3418) with the community "public", in BER (X.690). An agent that
// knows the community answers with a GetResponse; one that does not stays
// silent.
const snmpRequestID = 0x706f7274 // "port"

// BER tags used here.
const (
	berInteger     = 0x02
	berOctetString = 0x04
	berNull        = 0x05
	berOID         = 0x06
	berSequence    = 0x30
	snmpGetRequest = 0xa0
	snmpGetResp    = 0xa2
)

// sysDescr.0 encoded as an OID's contents.
var sysDescrOID = []byte{0x2b, 6, 1, 2, 1, 1, 1, 0}

// berTLV appends a tag, a definite length and content.
func berTLV(b []byte, tag byte, content []byte) []byte {
	b = append(b, tag)
	switch n := len(content); {
	case n < 0x80:
		b = append(b, byte(n))
	case n < 0x100:
		b = append(b, 0x81, byte(n))
	default:
		b = append(b, 0x82, byte(n>>8), byte(n))
	}
	return append(b, content...)
}

// berInt encodes a non-negative integer's contents in the fewest bytes.
func berInt(v uint32) []byte {
	b := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	for len(b) > 1 && b[0] == 0 && b[1]&0x80 == 0 {
		b = b[1:]
	}
	if b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return b
}

func snmpPayload() []byte {
	varbind := berTLV(berTLV(nil, berOID, sysDescrOID), berNull, nil)
	varbinds := berTLV(nil, berSequence, berTLV(nil, berSequence, varbind))
	var pdu []byte
	pdu = berTLV(pdu, berInteger, berInt(snmpRequestID))
	pdu = berTLV(pdu, berInteger, berInt(0)) // error-status
	pdu = berTLV(pdu, berInteger, berInt(0)) // error-index
	pdu = append(pdu, varbinds...)
	var msg []byte
	msg = berTLV(msg, berInteger, berInt(1)) // version-2c (RFC 1901)
	msg = berTLV(msg, berOctetString, []byte("public"))
	msg = berTLV(msg, snmpGetRequest, pdu)
	return berTLV(nil, berSequence, msg)
}

// berRead reads one TLV with a definite length of at most 4 bytes; it
// returns the tag, the contents (aliasing b) and the rest of b.
func berRead(b []byte) (tag byte, content, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag, l := b[0], int(b[1])
	b = b[2:]
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || n > len(b) {
			return 0, nil, nil, false
		}
		l = 0
		for _, c := range b[:n] {
			l = l<<8 | int(c)
		}
		b = b[n:]
	}
	if l < 0 || l > len(b) {
		return 0, nil, nil, false
	}
	return tag, b[:l], b[l:], true
}

// berUint decodes an INTEGER's contents of at most 4 bytes plus a sign byte.
func berUint(c []byte) (uint32, bool) {
	if len(c) == 0 || len(c) > 5 || (len(c) == 5 && c[0] != 0) {
		return 0, false
	}
	var v uint32
	for _, x := range c {
		v = v<<8 | uint32(x)
	}
	return v, true
}

func snmpProbe() *UDPProbe {
	return &UDPProbe{
		Name:    "snmp",
		Ports:   []ports.Port{161}, // snmp
		payload: snmpPayload,
		match:   snmpMatch,
	}
}

func snmpMatch(r []byte) (Service, bool) {
	tag, msg, _, ok := berRead(r)
	if !ok || tag != berSequence {
		return Service{}, false
	}
	tag, ver, msg, ok := berRead(msg)
	v, vok := berUint(ver)
	if !ok || tag != berInteger || !vok || v > 1 {
		return Service{}, false
	}
	tag, _, msg, ok = berRead(msg) // community
	if !ok || tag != berOctetString {
		return Service{}, false
	}
	tag, pdu, _, ok := berRead(msg)
	if !ok || tag != snmpGetResp {
		return Service{}, false
	}
	var fields [3]uint32
	for i := range fields {
		var c []byte
		tag, c, pdu, ok = berRead(pdu)
		if fields[i], vok = berUint(c); !ok || tag != berInteger || !vok {
			return Service{}, false
		}
	}
	if fields[0] != snmpRequestID {
		return Service{}, false
	}
	s := Service{Name: "snmp", Version: "v" + strconv.Itoa(int(v)+1)}
	if v == 1 {
		s.Version = "v2c"
	}
	if fields[1] != 0 {
		s.Info = "error-status " + strconv.Itoa(int(fields[1]))
		return s, true
	}
	// variable-bindings: SEQUENCE OF SEQUENCE { name, value }
	if tag, vbs, _, ok := berRead(pdu); ok && tag == berSequence {
		if tag, vb, _, ok := berRead(vbs); ok && tag == berSequence {
			if tag, _, val, ok := berRead(vb); ok && tag == berOID {
				if tag, descr, _, ok := berRead(val); ok && tag == berOctetString {
					s.Info = printable(descr, 80)
				}
			}
		}
	}
	return s, true
}
