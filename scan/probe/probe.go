// Package probe holds the payloads that a UDP scan sends to provoke an
// answer from a service, the parsers that recognise those answers, and
// the parsers of TCP banners and replies used for service detection
// (ports scan -sV). It does no I/O: package scan sends and receives.
//
// Every payload is written by the project from the protocol's
// specification, cited at each probe; none is taken from nmap's data
// files (nmap-payloads and nmap-service-probes are under the NPSL). The
// parsers are the project's own too: recognising a reply and pulling a
// short hint out of it is this package's core job, and the protocols are
// small enough that a dependency per protocol would cost more than it
// saves. Every parser checks lengths rather than trusting the input and
// is fuzzed.
package probe

import (
	"slices"
	"strings"
	"sync"

	"github.com/portkit/ports"
)

// Service is what service detection learnt about a port. Fields are empty
// when unknown.
type Service struct {
	Name    string // service name as nmap uses it: "ssh", "http", "domain", "ntp"...
	Product string // software, such as "OpenSSH" or "dnsmasq"
	Version string // software version, such as "9.2p1" or "2.90"
	Info    string // anything else worth a few words: "stratum 2", "HTTP 200", "TLS 1.3"
	Tunnel  string // "ssl" when the service was reached through TLS
}

// IsZero reports whether s holds nothing.
func (s Service) IsZero() bool { return s == Service{} }

// String returns the service as one line: "ssh OpenSSH 9.2p1 (protocol 2.0)".
func (s Service) String() string {
	var parts []string
	name := s.Name
	if s.Tunnel != "" && name != "" {
		name = s.Tunnel + "/" + name
	}
	for _, p := range []string{name, s.Product, s.Version} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if s.Info != "" {
		parts = append(parts, "("+s.Info+")")
	}
	return strings.Join(parts, " ")
}

// UDPProbe is one UDP payload and the parser of the replies it provokes.
type UDPProbe struct {
	// Name is a short name for the probe: "dns", "ntp", "snmp"...
	Name string
	// Ports are the ports the probe is sent to by default: those the IANA
	// registry assigns to the protocol (checked by a test against the
	// registry's service names), and a few common alternatives noted at
	// the probe.
	Ports []ports.Port

	payload func() []byte
	match   func(reply []byte) (Service, bool)
	once    sync.Once
	bytes   []byte
}

// Payload returns the datagram to send. The slice is shared: callers must
// not modify it.
func (p *UDPProbe) Payload() []byte {
	p.once.Do(func() { p.bytes = p.payload() })
	return p.bytes
}

// Match reports whether reply is a valid answer of the probed protocol
// to Payload, and returns what it tells about the service. A reply that
// does not match still proves the port open; it only says less.
func (p *UDPProbe) Match(reply []byte) (Service, bool) {
	return p.match(reply)
}

// udpProbes is built on first use.
var udpProbes = sync.OnceValue(func() []*UDPProbe {
	return []*UDPProbe{
		dnsProbe(), mdnsProbe(), ntpProbe(), snmpProbe(), netbiosProbe(),
		ssdpProbe(), memcachedProbe(), ikeProbe(), ikeNATTProbe(), quicProbe(),
		sipProbe(), ripProbe(), rpcProbe(), stunProbe(), coapProbe(),
	}
})

// UDPProbes returns every UDP probe of the package. The probes are shared
// and must not be modified.
func UDPProbes() []*UDPProbe { return slices.Clone(udpProbes()) }

// ForUDPPort returns the probe sent to port by default, or nil if there
// is none: such ports get an empty datagram, as nmap sends them.
func ForUDPPort(port ports.Port) *UDPProbe {
	for _, p := range udpProbes() {
		if slices.Contains(p.Ports, port) {
			return p
		}
	}
	return nil
}

// UDPProbeNamed returns the probe named name, or nil.
func UDPProbeNamed(name string) *UDPProbe {
	for _, p := range udpProbes() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// be16 and be32 read big-endian integers; callers check the length.
func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func be32(b []byte) uint32 { return uint32(be16(b))<<16 | uint32(be16(b[2:])) }

func put16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }
func put32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// printable returns s with control and non-ASCII bytes replaced by '.',
// trimmed of white space and cut to at most n bytes, for hints.
func printable(s []byte, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for _, c := range s {
		if len(b) >= n {
			break
		}
		if c < 0x20 || c >= 0x7f {
			if c == '\r' || c == '\n' || c == '\t' {
				c = ' '
			} else {
				c = '.'
			}
		}
		b = append(b, c)
	}
	return strings.TrimSpace(string(b))
}
