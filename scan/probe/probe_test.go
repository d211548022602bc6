package probe

import (
	"bufio"
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/portkit/ports"
	"github.com/portkit/ports/registry"
)

// TestProbePorts checks each probe's ports against the IANA registry's
// service names, so that a probe is sent where the protocol lives.
func TestProbePorts(t *testing.T) {
	want := map[string][]string{ // probe -> acceptable registry names
		"dns": {"domain"}, "mdns": {"mdns"}, "ntp": {"ntp"}, "snmp": {"snmp"},
		"netbios-ns": {"netbios-ns"}, "ssdp": {"ssdp"}, "memcached": {"memcache"},
		"ike": {"isakmp"}, "ike-natt": {"ipsec-nat-t"}, "quic": {"https"}, "sip": {"sip"},
		"rip": {"router"}, "rpcbind": {"sunrpc"}, "stun": {"stun"}, "coap": {"coap"},
	}
	seen := map[ports.Port]string{}
	for _, p := range UDPProbes() {
		names, ok := want[p.Name]
		if !ok {
			t.Errorf("probe %s: no expected registry name in the test", p.Name)
			continue
		}
		if len(p.Ports) == 0 {
			t.Errorf("probe %s has no ports", p.Name)
		}
		for _, port := range p.Ports {
			if other, dup := seen[port]; dup {
				t.Errorf("port %d has two probes: %s and %s", port, other, p.Name)
			}
			seen[port] = p.Name
			var got []string
			for rec := range registry.Default().Port(ports.ProtoUDP, port) {
				got = append(got, rec.Name)
			}
			found := false
			for _, n := range names {
				for _, g := range got {
					found = found || strings.EqualFold(n, g)
				}
			}
			if !found {
				t.Errorf("probe %s on %d/udp: the registry names it %q, want one of %q", p.Name, port, got, names)
			}
			if ForUDPPort(port) != p {
				t.Errorf("ForUDPPort(%d) is not probe %s", port, p.Name)
			}
		}
		if UDPProbeNamed(p.Name) != p {
			t.Errorf("UDPProbeNamed(%q) is not the probe", p.Name)
		}
	}
	if ForUDPPort(9) != nil {
		t.Errorf("ForUDPPort(9) = %v, want nil (an empty datagram)", ForUDPPort(9).Name)
	}
}

// TestOwnPayloadNotAReply: a probe's own payload, echoed back, is not a
// valid reply of the protocol (an echo service proves a port open, but
// must not be taken for the protocol).
func TestOwnPayloadNotAReply(t *testing.T) {
	for _, p := range UDPProbes() {
		if s, ok := p.Match(p.Payload()); ok {
			t.Errorf("probe %s matches its own payload: %+v", p.Name, s)
		}
		if _, ok := p.Match(nil); ok {
			t.Errorf("probe %s matches an empty reply", p.Name)
		}
	}
}

func TestDNSPayloads(t *testing.T) {
	for _, tc := range []struct {
		probe string
		name  string
		typ   dnsmessage.Type
		class dnsmessage.Class
	}{
		{"dns", "version.bind.", dnsmessage.TypeTXT, dnsmessage.ClassCHAOS},
		{"mdns", "_services._dns-sd._udp.local.", dnsmessage.TypePTR, dnsmessage.ClassINET},
	} {
		var m dnsmessage.Message
		if err := m.Unpack(UDPProbeNamed(tc.probe).Payload()); err != nil {
			t.Fatalf("%s: %v", tc.probe, err)
		}
		if m.Response || len(m.Questions) != 1 {
			t.Fatalf("%s: %+v", tc.probe, m)
		}
		q := m.Questions[0]
		if q.Name.String() != tc.name || q.Type != tc.typ || q.Class != tc.class {
			t.Errorf("%s: question %v, want %s %v %v", tc.probe, q, tc.name, tc.typ, tc.class)
		}
	}
}

// dnsReply builds a reply to query with answers made by add.
func dnsReply(t *testing.T, query []byte, add func(b *dnsmessage.Builder, q dnsmessage.Question) error) []byte {
	t.Helper()
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Question()
	if err != nil {
		t.Fatal(err)
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	if err := add(&b, q); err != nil {
		t.Fatal(err)
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDNSMatch(t *testing.T) {
	p := UDPProbeNamed("dns")
	reply := dnsReply(t, p.Payload(), func(b *dnsmessage.Builder, q dnsmessage.Question) error {
		return b.TXTResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassCHAOS}, dnsmessage.TXTResource{TXT: []string{"dnsmasq-2.90"}})
	})
	got, ok := p.Match(reply)
	want := Service{Name: "domain", Product: "dnsmasq", Version: "2.90", Info: "NOERROR"}
	if !ok || got != want {
		t.Errorf("Match = %+v, %v; want %+v", got, ok, want)
	}
	// A refusal still proves a name server.
	refused := dnsReply(t, p.Payload(), func(*dnsmessage.Builder, dnsmessage.Question) error { return nil })
	refused[3] |= 5
	if got, ok := p.Match(refused); !ok || got.Info != "REFUSED" {
		t.Errorf("refused: %+v, %v", got, ok)
	}
	// Another ID is not ours.
	other := bytes.Clone(reply)
	other[0] ^= 1
	if _, ok := p.Match(other); ok {
		t.Error("a reply with another ID matched")
	}

	m := UDPProbeNamed("mdns")
	reply = dnsReply(t, m.Payload(), func(b *dnsmessage.Builder, q dnsmessage.Question) error {
		return b.PTRResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET},
			dnsmessage.PTRResource{PTR: dnsmessage.MustNewName("_http._tcp.local.")})
	})
	if got, ok := m.Match(reply); !ok || got.Info != "_http._tcp.local" {
		t.Errorf("mdns: %+v, %v", got, ok)
	}
}

func TestNTP(t *testing.T) {
	p := UDPProbeNamed("ntp")
	q := p.Payload()
	if len(q) != 48 || q[0] != 0x23 {
		t.Fatalf("request % x", q[:4])
	}
	r := make([]byte, 48)
	r[0] = 4<<3 | 4 // v4 server
	r[1] = 2
	copy(r[24:32], q[40:48])
	if got, ok := p.Match(r); !ok || got != (Service{Name: "ntp", Version: "v4", Info: "stratum 2"}) {
		t.Errorf("Match = %+v, %v", got, ok)
	}
	r[1] = 1
	copy(r[12:], "GPS\x00")
	if got, _ := p.Match(r); got.Info != "stratum 1, refid GPS" {
		t.Errorf("stratum 1: %q", got.Info)
	}
	r[24] ^= 1 // not our timestamp
	if _, ok := p.Match(r); ok {
		t.Error("a reply to another request matched")
	}
}

// snmpMessage mirrors RFC 1157's Message for encoding/asn1.
type snmpMessage struct {
	Version   int
	Community []byte
	PDU       asn1.RawValue
}

type snmpPDU struct {
	RequestID   int
	ErrorStatus int
	ErrorIndex  int
	Bindings    []snmpBinding
}

type snmpBinding struct {
	Name  asn1.ObjectIdentifier
	Value asn1.RawValue
}

func TestSNMP(t *testing.T) {
	p := UDPProbeNamed("snmp")
	var m snmpMessage
	if rest, err := asn1.Unmarshal(p.Payload(), &m); err != nil || len(rest) != 0 {
		t.Fatalf("unmarshal: %v (%d bytes left)", err, len(rest))
	}
	if m.Version != 1 || string(m.Community) != "public" || m.PDU.Class != asn1.ClassContextSpecific || m.PDU.Tag != 0 {
		t.Fatalf("message %+v", m)
	}
	var pdu snmpPDU
	if _, err := asn1.UnmarshalWithParams(m.PDU.FullBytes, &pdu, "tag:0"); err != nil {
		t.Fatal(err)
	}
	if len(pdu.Bindings) != 1 || pdu.Bindings[0].Name.String() != "1.3.6.1.2.1.1.1.0" || pdu.Bindings[0].Value.Tag != asn1.TagNull {
		t.Fatalf("pdu %+v", pdu)
	}
	// The agent's answer, encoded by encoding/asn1.
	pdu.Bindings[0].Value = asn1.RawValue{Tag: asn1.TagOctetString, Bytes: []byte("Linux router 6.1.0 x86_64")}
	body, err := asn1.MarshalWithParams(pdu, "tag:2")
	if err != nil {
		t.Fatal(err)
	}
	m.PDU = asn1.RawValue{FullBytes: body}
	reply, err := asn1.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := p.Match(reply)
	if want := (Service{Name: "snmp", Version: "v2c", Info: "Linux router 6.1.0 x86_64"}); !ok || got != want {
		t.Errorf("Match = %+v, %v; want %+v", got, ok, want)
	}
	pdu.RequestID++
	body, _ = asn1.MarshalWithParams(pdu, "tag:2")
	m.PDU = asn1.RawValue{FullBytes: body}
	reply, _ = asn1.Marshal(m)
	if _, ok := p.Match(reply); ok {
		t.Error("a reply to another request matched")
	}
}

func TestNetBIOS(t *testing.T) {
	p := UDPProbeNamed("netbios-ns")
	var m dnsmessage.Message
	if err := m.Unpack(p.Payload()); err != nil {
		t.Fatal(err)
	}
	if len(m.Questions) != 1 || m.Questions[0].Name.String() != "CK"+strings.Repeat("AA", 15)+"." || m.Questions[0].Type != 0x21 {
		t.Fatalf("question %+v", m.Questions)
	}
	// The node status response of RFC 1002 section 4.2.18.
	r := bytes.Clone(p.Payload()[:12])
	r[2] = 0x84 // response, authoritative
	binary.BigEndian.PutUint16(r[4:], 0)
	binary.BigEndian.PutUint16(r[6:], 1)
	r = append(r, p.Payload()[12:12+34]...)
	r = append(r, 0, 0x21, 0, 1, 0, 0, 0, 0)
	names := []byte{2}
	names = append(names, []byte("WORKGROUP      \x00")...)
	names = append(names, 0x84, 0)
	names = append(names, []byte("FILESRV        \x00")...)
	names = append(names, 0x04, 0)
	r = binary.BigEndian.AppendUint16(r, uint16(len(names)+46))
	r = append(r, names...)
	r = append(r, make([]byte, 46)...)
	if got, ok := p.Match(r); !ok || got.Info != "name FILESRV" {
		t.Errorf("Match = %+v, %v", got, ok)
	}
}

func TestTextPayloads(t *testing.T) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(UDPProbeNamed("ssdp").Payload())))
	if err != nil || req.Method != "M-SEARCH" || req.Header.Get("Man") != `"ssdp:discover"` || req.Header.Get("St") != "ssdp:all" {
		t.Fatalf("ssdp request: %v %+v", err, req)
	}
	got, ok := UDPProbeNamed("ssdp").Match([]byte("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nSERVER: Linux/5.10 UPnP/1.0 MiniUPnPd/2.3\r\nST: upnp:rootdevice\r\n\r\n"))
	if !ok || got.Info != "Linux/5.10 UPnP/1.0 MiniUPnPd/2.3" {
		t.Errorf("ssdp: %+v %v", got, ok)
	}
	sip := string(UDPProbeNamed("sip").Payload())
	for _, h := range []string{"Via:", "To:", "From:", "Call-ID:", "CSeq: 1 OPTIONS", "Max-Forwards:"} { // RFC 3261 section 8.1.1
		if !strings.Contains(sip, "\r\n"+h) {
			t.Errorf("sip request lacks %s", h)
		}
	}
	got, ok = UDPProbeNamed("sip").Match([]byte("SIP/2.0 200 OK\r\nUser-Agent: Asterisk PBX 18.10.0\r\n\r\n"))
	if want := (Service{Name: "sip", Product: "Asterisk PBX", Version: "18.10.0", Info: "200 OK"}); !ok || got != want {
		t.Errorf("sip: %+v %v", got, ok)
	}
}

func TestBinaryPayloads(t *testing.T) {
	mc := UDPProbeNamed("memcached")
	if q := mc.Payload(); binary.BigEndian.Uint16(q[4:]) != 1 || string(q[8:]) != "version\r\n" {
		t.Errorf("memcached request % x", q)
	}
	r := append(bytes.Clone(mc.Payload()[:8]), "VERSION 1.6.21\r\n"...)
	if got, ok := mc.Match(r); !ok || got.Version != "1.6.21" {
		t.Errorf("memcached: %+v %v", got, ok)
	}

	ike := UDPProbeNamed("ike").Payload()
	if int(binary.BigEndian.Uint32(ike[24:])) != len(ike) || ike[18] != 34 || ike[17] != 0x20 {
		t.Fatalf("ike header % x", ike[:28])
	}
	// Walk the payload chain: SA, KE, Nonce, and their lengths add up.
	next, off, chain := ike[16], 28, []byte{}
	for next != 0 {
		chain = append(chain, next)
		if off+4 > len(ike) {
			t.Fatalf("ike payload chain runs past the end")
		}
		next, off = ike[off], off+int(binary.BigEndian.Uint16(ike[off+2:]))
	}
	if off != len(ike) || !bytes.Equal(chain, []byte{33, 34, 40}) {
		t.Errorf("ike payloads %v end at %d of %d", chain, off, len(ike))
	}
	// NO_PROPOSAL_CHOSEN (14) from a responder.
	resp := append(bytes.Clone(ike[:8]), 1, 2, 3, 4, 5, 6, 7, 8, 41, 0x20, 34, 0x20, 0, 0, 0, 0, 0, 0, 0, 36, 0, 0, 0, 8, 0, 0, 0, 14)
	if got, ok := UDPProbeNamed("ike").Match(resp); !ok || got != (Service{Name: "isakmp", Version: "IKEv2", Info: "notify 14"}) {
		t.Errorf("ike: %+v %v", got, ok)
	}
	if got, ok := UDPProbeNamed("ike-natt").Match(append([]byte{0, 0, 0, 0}, resp...)); !ok || got.Version != "IKEv2" {
		t.Errorf("ike-natt: %+v %v", got, ok)
	}

	q := UDPProbeNamed("quic").Payload()
	if len(q) != 1200 || q[0]&0xc0 != 0xc0 || binary.BigEndian.Uint32(q[1:]) != 0x1a2a3a4a {
		t.Fatalf("quic: %d bytes, % x", len(q), q[:8])
	}
	// The length varint covers the rest of the packet.
	hl := 1 + 4 + 1 + 8 + 1 + 8 + 1
	if l := int(binary.BigEndian.Uint16(q[hl:]) & 0x3fff); hl+2+l != len(q) {
		t.Errorf("quic length field %d, want %d", l, len(q)-hl-2)
	}
	vn := []byte{0x80, 0, 0, 0, 0, 8}
	vn = append(vn, "portssrc"...)
	vn = append(vn, 8)
	vn = append(vn, "portsdst"...)
	vn = append(vn, 0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf)
	if got, ok := UDPProbeNamed("quic").Match(vn); !ok || got.Info != "versions v1,v2" {
		t.Errorf("quic: %+v %v", got, ok)
	}

	rip := UDPProbeNamed("rip")
	// RFC 2453 section 3.9.1: one entry, address family 0, metric 16.
	if q := rip.Payload(); len(q) != 24 || q[0] != 1 || q[1] != 2 || binary.BigEndian.Uint16(q[4:]) != 0 || binary.BigEndian.Uint32(q[20:]) != 16 {
		t.Errorf("rip request % x", q)
	}
	resp = append([]byte{2, 2, 0, 0}, make([]byte, 40)...)
	if got, ok := rip.Match(resp); !ok || got.Info != "2 routes" {
		t.Errorf("rip: %+v %v", got, ok)
	}

	rpc := UDPProbeNamed("rpcbind")
	if q := rpc.Payload(); len(q) != 40 || binary.BigEndian.Uint32(q[12:]) != 100000 {
		t.Errorf("rpc call % x", q)
	}
	resp = append(bytes.Clone(rpc.Payload()[:4]), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	if got, ok := rpc.Match(resp); !ok || got.Name != "rpcbind" {
		t.Errorf("rpc: %+v %v", got, ok)
	}

	st := UDPProbeNamed("stun")
	// RFC 8489 section 5: type 0x0001, length 0, magic cookie, 96-bit ID.
	if q := st.Payload(); len(q) != 20 || binary.BigEndian.Uint16(q) != 1 || binary.BigEndian.Uint16(q[2:]) != 0 ||
		binary.BigEndian.Uint32(q[4:]) != 0x2112a442 {
		t.Errorf("stun request % x", q)
	}
	resp = append([]byte{0x01, 0x01, 0, 16}, st.Payload()[4:20]...)
	resp = append(resp, 0x80, 0x22, 0, 10)
	resp = append(resp, "coturn-4.6\x00\x00"...)
	if got, ok := st.Match(resp); !ok || got.Product != "coturn" || got.Version != "4.6" {
		t.Errorf("stun: %+v %v", got, ok)
	}

	coap := UDPProbeNamed("coap")
	if q := coap.Payload(); !bytes.Contains(q, []byte(".well-known")) || q[0] != 0x40 {
		t.Errorf("coap % x", q)
	}
	if got, ok := coap.Match([]byte{0x60, 0x45, 0x70, 0x72}); !ok || got.Info != "2.05" {
		t.Errorf("coap: %+v %v", got, ok)
	}
}

func TestParseTCP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Service
	}{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", Service{Name: "ssh", Product: "OpenSSH", Version: "9.2p1 Debian-2+deb12u3", Info: "protocol 2.0"}},
		{"SSH-2.0-Go\r\n", Service{Name: "ssh", Product: "Go", Info: "protocol 2.0"}},
		{"220 mail.example ESMTP Postfix (Debian/GNU)\r\n", Service{Name: "smtp", Product: "Postfix", Info: "mail.example ESMTP Postfix (Debian/GNU)"}},
		// vsftpd's own greeting: the product once, not again in Info
		// (13.15: "vsFTPd 3.0.3 ((vsFTPd 3.0.3))").
		{"220 (vsFTPd 3.0.3)\r\n", Service{Name: "ftp", Product: "vsFTPd", Version: "3.0.3"}},
		{"220 ProFTPD 1.3.8 Server (Debian) [::ffff:127.0.0.1]\r\n", Service{Name: "ftp", Product: "ProFTPD", Version: "1.3.8", Info: "ProFTPD 1.3.8 Server (Debian) [::ffff:127.0.0.1]"}},
		// python3 -m http.server: the Python version too (13.15).
		{"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\n\r\n", Service{Name: "http", Product: "SimpleHTTP", Version: "0.6", Info: "Python 3.12.3; HTTP 200"}},
		{"HTTP/1.1 200 OK\r\nServer: Apache/2.4.58 (Ubuntu)\r\n\r\n", Service{Name: "http", Product: "Apache", Version: "2.4.58", Info: "Ubuntu; HTTP 200"}},
		{"+OK Dovecot ready.\r\n", Service{Name: "pop3", Info: "Dovecot ready."}},
		{"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", Service{Name: "imap", Info: "OK [CAPABILITY IMAP4rev1] Dovecot ready."}},
		{"+PONG\r\n", Service{Name: "redis"}},
		{"-NOAUTH Authentication required.\r\n", Service{Name: "redis", Info: "NOAUTH Authentication required."}},
		{"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n", Service{Name: "http", Product: "nginx", Version: "1.22.1", Info: "HTTP 200"}},
		{"HTTP/1.0 400 Bad Request\r\n\r\n", Service{Name: "http", Info: "HTTP 400"}},
		{"RFB 003.008\n", Service{Name: "vnc", Info: "protocol 003.008"}},
		{"J\x00\x00\x00\x0a8.0.35\x00\x08\x00\x00\x00", Service{Name: "mysql", Product: "MySQL", Version: "8.0.35"}},
		{"\x1a\x00\x00\x00\x0a10.11.6-MariaDB\x00", Service{Name: "mysql", Product: "MariaDB", Version: "10.11.6-MariaDB"}},
	} {
		got, ok := ParseTCP([]byte(tc.in))
		if !ok {
			t.Errorf("ParseTCP(%q): not recognised", tc.in)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseTCP(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, in := range []string{"", "hello", "2200 x", "\x00\x00\x00\x00\x0a"} {
		if s, ok := ParseTCP([]byte(in)); ok {
			t.Errorf("ParseTCP(%q) = %+v, want not recognised", in, s)
		}
	}
}

func TestServiceString(t *testing.T) {
	s := Service{Name: "http", Product: "nginx", Version: "1.22.1", Info: "HTTP 200", Tunnel: "ssl"}
	if got := s.String(); got != "ssl/http nginx 1.22.1 (HTTP 200)" {
		t.Errorf("String = %q", got)
	}
}
