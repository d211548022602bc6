package probe

import (
	"bytes"
	"strings"

	"github.com/portkit/ports"
)

// SSDP (UPnP Device Architecture 2.0, section 1.3.2): an M-SEARCH for
// every device and service, sent by unicast; a device answers with an
// HTTP-over-UDP 200 response.
func ssdpProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "ssdp",
		Ports: []ports.Port{1900}, // ssdp
		payload: func() []byte {
			return []byte("M-SEARCH * HTTP/1.1\r\n" +
				"HOST: 239.255.255.250:1900\r\n" +
				"MAN: \"ssdp:discover\"\r\n" +
				"MX: 1\r\n" +
				"ST: ssdp:all\r\n\r\n")
		},
		match: func(r []byte) (Service, bool) {
			status, hdr, ok := parseHTTPHead(r)
			if !ok || status != 200 {
				return Service{}, false
			}
			s := Service{Name: "upnp"}
			if v := hdr["server"]; v != "" {
				s.Info = v
			}
			return s, true
		},
	}
}

// SIP (RFC 3261 section 11): an OPTIONS request; any SIP/2.0 response
// proves a SIP endpoint, and its Server or User-Agent header names it.
func sipProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "sip",
		Ports: []ports.Port{5060}, // sip
		payload: func() []byte {
			return []byte("OPTIONS sip:probe@invalid SIP/2.0\r\n" +
				"Via: SIP/2.0/UDP invalid;branch=z9hG4bK-ports-probe;rport\r\n" +
				"Max-Forwards: 70\r\n" +
				"To: <sip:probe@invalid>\r\n" +
				"From: <sip:ports@invalid>;tag=ports\r\n" +
				"Call-ID: ports-probe@invalid\r\n" +
				"CSeq: 1 OPTIONS\r\n" +
				"Accept: application/sdp\r\n" +
				"Content-Length: 0\r\n\r\n")
		},
		match: func(r []byte) (Service, bool) {
			if !bytes.HasPrefix(r, []byte("SIP/2.0 ")) {
				return Service{}, false
			}
			_, hdr, _ := parseHeaders(r)
			s := Service{Name: "sip"}
			if line, _, _ := bytes.Cut(r, []byte("\r\n")); len(line) > 8 {
				s.Info = printable(line[8:], 40)
			}
			if v := cmpOr(hdr["server"], hdr["user-agent"]); v != "" {
				s.Product, s.Version = splitProductVersion(v)
			}
			return s, true
		},
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseHTTPHead parses an HTTP/1.x status line and headers (RFC 9112
// section 4 and 5), returning the status and the headers by lower-case
// name (the first of each). The headers may be cut short: ok only needs
// the status line.
func parseHTTPHead(r []byte) (status int, hdr map[string]string, ok bool) {
	if !bytes.HasPrefix(r, []byte("HTTP/1.")) || len(r) < 12 || r[8] != ' ' {
		return 0, nil, false
	}
	for _, c := range r[9:12] {
		if c < '0' || c > '9' {
			return 0, nil, false
		}
		status = status*10 + int(c-'0')
	}
	if len(r) > 12 && r[12] != ' ' && r[12] != '\r' && r[12] != '\n' {
		return 0, nil, false
	}
	_, hdr, _ = parseHeaders(r)
	return status, hdr, true
}

// parseHeaders splits the start line from MIME-style headers up to an
// empty line or the end of r.
func parseHeaders(r []byte) (start string, hdr map[string]string, body []byte) {
	hdr = map[string]string{}
	head, body, _ := bytes.Cut(r, []byte("\r\n\r\n"))
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	start = lines[0]
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok || len(hdr) >= 64 {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := hdr[k]; !dup {
			hdr[k] = printable([]byte(strings.TrimSpace(v)), 80)
		}
	}
	return start, hdr, body
}
