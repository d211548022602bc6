package probe

import (
	"strings"

	"github.com/portkit/ports"
)

// NetBIOS name service (RFC 1002 section 4.2.17 and 4.2.18): a node
// status request (NBSTAT, type 0x21) for the wildcard name "*", which a
// node answers with the table of its names.
const nbID = 0x7072

// nbWildcard is "*" padded with NULs to 16 bytes, first-level encoded
// (RFC 1001 section 14.1): each half-byte becomes 'A' plus its value.
func nbWildcard() []byte {
	raw := make([]byte, 16)
	raw[0] = '*'
	b := []byte{32}
	for _, c := range raw {
		b = append(b, 'A'+c>>4, 'A'+c&0x0f)
	}
	return append(b, 0)
}

func netbiosProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "netbios-ns",
		Ports: []ports.Port{137}, // netbios-ns
		payload: func() []byte {
			b := put16(nil, nbID)
			b = put16(b, 0)                       // a query, no flags
			b = append(b, 0, 1, 0, 0, 0, 0, 0, 0) // QDCOUNT 1
			b = append(b, nbWildcard()...)
			b = put16(b, 0x21) // NBSTAT
			return put16(b, 1) // IN
		},
		match: func(r []byte) (Service, bool) {
			if len(r) < 12 || be16(r) != nbID || r[2]&0x80 == 0 {
				return Service{}, false
			}
			s := Service{Name: "netbios-ns"}
			off, ok := dnsSkipName(r, 12)
			if !ok || off+10 > len(r) || be16(r[off:]) != 0x21 || be16(r[6:]) == 0 {
				return s, true // a negative or odd answer: a name service still
			}
			off += 10
			if off >= len(r) {
				return s, true
			}
			n := int(r[off]) // NUM_NAMES, then 18 bytes per name
			off++
			var names []string
			for i := 0; i < n && off+18 <= len(r) && len(names) < 2; i++ {
				name := strings.TrimRight(printable(r[off:off+15], 15), " ")
				flags := be16(r[off+16:])
				if flags&0x8000 == 0 && name != "" { // a unique name, not a group
					names = append(names, name)
				}
				off += 18
			}
			if len(names) > 0 {
				s.Info = "name " + names[0]
			}
			return s, true
		},
	}
}
