package probe

import (
	"bytes"
	"strconv"

	"github.com/portkit/ports"
)

// NTP (RFC 5905 section 7.3): a 48-byte client request, LI 0, version 4,
// mode 3, with a transmit timestamp that a server copies into the origin
// timestamp of its answer (section 8), which the parser checks.
var ntpCookie = [8]byte{0x70, 0x6f, 0x72, 0x74, 0x73, 0x21, 0x6e, 0x74} // "ports!nt"

func ntpProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "ntp",
		Ports: []ports.Port{123}, // ntp
		payload: func() []byte {
			b := make([]byte, 48)
			b[0] = 0<<6 | 4<<3 | 3 // LI, VN, Mode
			copy(b[40:], ntpCookie[:])
			return b
		},
		match: func(r []byte) (Service, bool) {
			if len(r) < 48 {
				return Service{}, false
			}
			vn, mode := r[0]>>3&7, r[0]&7
			if vn < 1 || vn > 4 || (mode != 4 && mode != 2) || string(r[24:32]) != string(ntpCookie[:]) {
				return Service{}, false
			}
			stratum := r[1]
			s := Service{Name: "ntp", Version: "v" + strconv.Itoa(int(vn))}
			switch {
			case stratum == 0:
				s.Info = "unsynchronized"
				if id := printable(bytes.TrimRight(r[12:16], "\x00"), 4); id != "" {
					s.Info += ", kiss code " + id
				}
			case stratum == 1:
				s.Info = "stratum 1"
				if id := printable(bytes.TrimRight(r[12:16], "\x00"), 4); id != "" {
					s.Info += ", refid " + id
				}
			default:
				s.Info = "stratum " + strconv.Itoa(int(stratum))
			}
			return s, true
		},
	}
}
