package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/wire"
)

// appFrame builds an Ethernet frame of a UDP datagram or a TCP segment
// (PSH ACK) between the given ports, over IPv4 or IPv6.
func appFrame(t *testing.T, v6, tcp bool, sport, dport ports.Port, payload []byte) []byte {
	t.Helper()
	layer := wire.LayerUDP
	if tcp {
		layer = wire.LayerTCP
	}
	return ipFrame(t, v6, func(p *wire.Packet) {
		if tcp {
			p.TCP = wire.TCP{SrcPort: sport, DstPort: dport, Seq: 1000, Ack: 2000, Flags: wire.TCPPsh | wire.TCPAck, Window: 512}
			p.TCP.Options.Raw = []byte{}
		} else {
			p.UDP = wire.UDP{SrcPort: sport, DstPort: dport}
		}
	}, layer, payload)
}

// dnsMessages are DNS messages of every kind ports prints: built by
// dnsmessage (queries and answers of the common types, compressed) and
// by hand (what dnsmessage will not build: bad pointers, loops, bit
// labels, odd flags and counts).
func dnsMessages(t *testing.T) [][]byte {
	t.Helper()
	name := dnsmessage.MustNewName("www.example.test.")
	alias := dnsmessage.MustNewName("edge-1.cdn.example.test.")
	rh := func(n dnsmessage.Name, typ dnsmessage.Type, class dnsmessage.Class) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: n, Type: typ, Class: class, TTL: 300}
	}
	build := func(h dnsmessage.Header, q []dnsmessage.Question, an, ns, ar func(b *dnsmessage.Builder) error) []byte {
		b := dnsmessage.NewBuilder(nil, h)
		b.EnableCompression()
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(b.StartQuestions())
		for _, x := range q {
			must(b.Question(x))
		}
		for i, sec := range []func(b *dnsmessage.Builder) error{an, ns, ar} {
			switch i {
			case 0:
				must(b.StartAnswers())
			case 1:
				must(b.StartAuthorities())
			case 2:
				must(b.StartAdditionals())
			}
			if sec != nil {
				must(sec(&b))
			}
		}
		m, err := b.Finish()
		must(err)
		return m
	}
	in := dnsmessage.ClassINET
	qA := []dnsmessage.Question{{Name: name, Type: dnsmessage.TypeA, Class: in}}
	opt := func(b *dnsmessage.Builder) error {
		var rh dnsmessage.ResourceHeader
		if err := rh.SetEDNS0(1232, dnsmessage.RCodeSuccess, true); err != nil {
			return err
		}
		return b.OPTResource(rh, dnsmessage.OPTResource{})
	}
	answers := func(b *dnsmessage.Builder) error {
		for _, err := range []error{
			b.CNAMEResource(rh(name, dnsmessage.TypeCNAME, in), dnsmessage.CNAMEResource{CNAME: alias}),
			b.AResource(rh(alias, dnsmessage.TypeA, in), dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}}),
			b.AResource(rh(alias, dnsmessage.TypeA, in), dnsmessage.AResource{A: [4]byte{192, 0, 2, 2}}),
			b.AAAAResource(rh(alias, dnsmessage.TypeAAAA, in), dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("2001:db8::53").As16()}),
			b.MXResource(rh(name, dnsmessage.TypeMX, in), dnsmessage.MXResource{Pref: 10, MX: alias}),
			b.NSResource(rh(name, dnsmessage.TypeNS, in), dnsmessage.NSResource{NS: alias}),
			b.PTRResource(rh(name, dnsmessage.TypePTR, in), dnsmessage.PTRResource{PTR: alias}),
			b.TXTResource(rh(name, dnsmessage.TypeTXT, in), dnsmessage.TXTResource{TXT: []string{"v=spf1 -all", "two words", "\x01ctl\xffhigh"}}),
			b.SRVResource(rh(name, dnsmessage.TypeSRV, in), dnsmessage.SRVResource{Priority: 1, Weight: 2, Port: 5060, Target: alias}),
			b.SOAResource(rh(name, dnsmessage.TypeSOA, in), dnsmessage.SOAResource{NS: alias, MBox: name, Serial: 7, Refresh: 1, Retry: 2, Expire: 3, MinTTL: 4}),
			b.UnknownResource(rh(name, 65, in), dnsmessage.UnknownResource{Type: 65, Data: []byte{0, 1, 0}}),
			b.AResource(rh(alias, dnsmessage.TypeA, dnsmessage.Class(3)), dnsmessage.AResource{A: [4]byte{10, 1, 2, 3}}),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	}
	msgs := [][]byte{
		build(dnsmessage.Header{ID: 22836, RecursionDesired: true}, qA, nil, nil, opt),
		build(dnsmessage.Header{ID: 1, RecursionDesired: true, CheckingDisabled: true}, []dnsmessage.Question{
			{Name: name, Type: dnsmessage.TypeAAAA, Class: in}, {Name: alias, Type: dnsmessage.TypeMX, Class: dnsmessage.Class(3)},
			{Name: name, Type: 65, Class: dnsmessage.Class(254)}, {Name: name, Type: 32769, Class: dnsmessage.ClassANY},
		}, nil, nil, nil),
		build(dnsmessage.Header{ID: 22836, Response: true, Authoritative: true, RecursionDesired: true}, qA, answers, nil, opt),
		build(dnsmessage.Header{ID: 9, Response: true, RecursionAvailable: true, RCode: dnsmessage.RCodeNameError, Truncated: true, AuthenticData: true}, qA, nil,
			func(b *dnsmessage.Builder) error {
				return b.SOAResource(rh(name, dnsmessage.TypeSOA, in), dnsmessage.SOAResource{NS: alias, MBox: name, Serial: 1})
			}, nil),
		build(dnsmessage.Header{ID: 65535, Response: true, OpCode: 4, RCode: dnsmessage.RCodeRefused}, nil, nil, nil, nil),
		build(dnsmessage.Header{ID: 7, OpCode: 1}, qA, answers, nil, nil),
		build(dnsmessage.Header{ID: 7, OpCode: 5, Authoritative: true, RCode: 3}, qA, nil, nil, nil),
		build(dnsmessage.Header{ID: 8, Response: true}, []dnsmessage.Question{{Name: name, Type: dnsmessage.TypeA, Class: in}, {Name: alias, Type: dnsmessage.TypeA, Class: in}}, answers, nil, nil),
	}
	hdr := func(id, flags, qd, an, ns, ar uint16) []byte {
		return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(
			binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, id), flags), qd), an), ns), ar)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	qname := []byte("\x03www\x07example\x04test\x00")
	a1 := []byte("\x00\x01\x00\x01")
	msgs = append(msgs,
		// A pointer forward, a pointer to itself, a loop.
		cat(hdr(1, 0x8180, 1, 1, 0, 0), qname, a1, []byte("\xc0\x30\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04")),
		cat(hdr(2, 0x0100, 1, 0, 0, 0), []byte("\xc0\x0c"), a1),
		cat(hdr(3, 0x8180, 1, 1, 0, 0), qname, a1, []byte("\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x02\xc0\x2b")),
		// Label types tcpdump refuses or prints: 0x80, EDNS0 0x42, a
		// bit label.
		cat(hdr(4, 0x0100, 1, 0, 0, 0), []byte("\x03www\x81x\x00"), a1),
		cat(hdr(5, 0x0100, 1, 0, 0, 0), []byte("\x03www\x42x\x00"), a1),
		cat(hdr(6, 0x0100, 1, 0, 0, 0), []byte("\x41\x0c\xab\xc0\x00"), a1),
		// Odd bits in a query, an empty name, no question, 2 answers
		// announced and 1 present, a name with a dot and a space.
		cat(hdr(7, 0x07cf, 1, 0, 0, 0), []byte("\x00"), a1),
		cat(hdr(8, 0x0100, 0, 2, 1, 0)),
		cat(hdr(9, 0x8180, 1, 2, 0, 0), qname, a1, []byte("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04")),
		cat(hdr(10, 0x0100, 1, 0, 0, 0), []byte("\x05a.b c\x04test\x00"), a1),
		// Shorter than a header; A6, URI and UNSPECA records.
		hdr(11, 0, 1, 0, 0, 0)[:7],
		cat(hdr(12, 0x8180, 1, 3, 0, 0), qname, a1,
			[]byte("\xc0\x0c\x00\x26\x00\x01\x00\x00\x00\x3c\x00\x0d\x40\x20\x01\x0d\xb8\x00\x00\x00\x00\x03cdn\xc0\x0c"),
			[]byte("\xc0\x0c\x01\x00\x00\x01\x00\x00\x00\x3c\x00\x0e\x00\x0a\x00\x01https://a.t/"),
			[]byte("\xc0\x0c\x00\x68\x00\x01\x00\x00\x00\x3c\x00\x03a\x01b")),
		// An OPT record among the answers, with options; an extended
		// rcode (BADVERS) from the additional OPT.
		cat(hdr(13, 0x8180, 1, 1, 0, 0), qname, a1, []byte("\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x0c\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08")),
		cat(hdr(14, 0x8180, 1, 0, 0, 1), qname, a1, []byte("\x00\x00\x29\x04\xd0\x01\x00\x00\x00\x00\x00")),
	)
	return msgs
}

// httpPayloads are TCP payloads on an HTTP port: request and status
// lines tcpdump shows, and what it does not.
var httpPayloads = []string{
	"GET / HTTP/1.1\r\nHost: a.test\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
	"POST /wp-comments-post.php HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc",
	"HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nContent-Type: text/html\r\n\r\n<html>",
	"HTTP/1.0 404 File not found\n\n",
	"get /lower HTTP/1.0\r\n\r\n",
	"PATCH /x HTTP/1.1\r\n\r\n",
	"PROPFIND /dav HTTP/1.1\r\n\r\n",
	"RPC_CONNECT x:1 HTTP/1.1\r\n\r\n",
	"<html><body>a body's continuation</body></html>\r\n",
	"GET /\x01 HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\rX\r\n",
	"GET / HTTP/1.1",
	"GET\t/tab\tHTTP/1.1\r\n",
	"HTTP/1.1 20 OK\r\n",
	"HTTP/1.1 2000 OK\r\n",
	"ICY 200 OK\r\n",
	"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
	"GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\n\r\n",
	strings.Repeat("X", 130) + " 200 OK\r\n",
}

// TestDecodeDNSAndHTTPAsTcpdump: DNS over UDP, TCP and mDNS, and HTTP
// request and status lines, in crafted frames of every kind and cut by
// the capture at several points, line by line as tcpdump prints them.
func TestDecodeDNSAndHTTPAsTcpdump(t *testing.T) {
	var frames []frameSpec
	add := func(f []byte, payload int) {
		frames = append(frames, frameSpec{data: f})
		hdr := len(f) - payload
		for _, cut := range []int{1, 2, 3, 12, 13, 20, 31, payload / 2, payload - 1} {
			if cut > 0 && cut < payload {
				frames = append(frames, frameSpec{data: f, capLen: hdr + cut})
			}
		}
	}
	for i, m := range dnsMessages(t) {
		v6 := i%3 == 1
		add(appFrame(t, v6, false, 40000+ports.Port(i), 53, m), len(m))
		add(appFrame(t, v6, false, 53, 40000, m), len(m))
		add(appFrame(t, v6, false, 5353, 5353, m), len(m))
		tcp := binary.BigEndian.AppendUint16(nil, uint16(len(m)))
		add(appFrame(t, v6, true, 40000, 53, append(tcp, m...)), len(m)+2)
		// A wrong length prefix; DNS's port before NTP's, mDNS's
		// before NTP's and before HTTP's.
		frames = append(frames, frameSpec{data: appFrame(t, v6, true, 53, 40000, append([]byte{0, 1}, m...))})
		frames = append(frames, frameSpec{data: appFrame(t, v6, false, 123, 53, m)})
		frames = append(frames, frameSpec{data: appFrame(t, v6, false, 123, 5353, m)})
		frames = append(frames, frameSpec{data: appFrame(t, v6, true, 80, 53, append(tcp, m...))})
	}
	frames = append(frames, frameSpec{data: appFrame(t, false, true, 53, 40000, []byte{0})})
	for i, h := range httpPayloads {
		v6 := i%2 == 1
		add(appFrame(t, v6, true, 80, 40000+ports.Port(i), []byte(h)), len(h))
		add(appFrame(t, v6, true, 40000, 8080, []byte(h)), len(h))
		// 8088 is not HTTP's to tcpdump. (A port tcpdump tests
		// before HTTP's, SMTP's, gets its printer, which ports does
		// not have: TestDecodeEveryCaptureAsTcpdump allows for it.)
		frames = append(frames, frameSpec{data: appFrame(t, v6, true, 40000, 8088, []byte(h))})
	}
	file := writeFrames(t, "app.pcap", pcapfile.LinkTypeEthernet, frames)
	got, want := decodeOut(t, file), tcpdumpOut(t, file)
	diffLines(t, file, got, want)
	if n := countApp(want); n < 300 {
		t.Errorf("only %d lines with tcpdump's DNS or HTTP text", n)
	}
}

var appTextRE = regexp.MustCompile(`: HTTP|\(\d+\)$|\[\|domain\]|\(invalid\)$`)

func countApp(lines []string) int {
	n := 0
	for _, l := range lines {
		if appTextRE.MatchString(l) {
			n++
		}
	}
	return n
}

// TestDecodeMutatedDNSAsTcpdump: 3,000 DNS messages of dnsMessages with
// one to four bytes changed anywhere (header, names, pointers, counts,
// record data) and a fifth cut by the capture, over UDP, mDNS and TCP,
// the same each run: every line is tcpdump's.
func TestDecodeMutatedDNSAsTcpdump(t *testing.T) {
	msgs := dnsMessages(t)
	rng := rand.New(rand.NewPCG(14, 22))
	var frames []frameSpec
	for i := range 3000 {
		m := bytes.Clone(msgs[rng.IntN(len(msgs))])
		for range 1 + rng.IntN(4) {
			if len(m) > 0 {
				m[rng.IntN(len(m))] = byte(rng.IntN(256))
			}
		}
		var f []byte
		switch i % 3 {
		case 0:
			f = appFrame(t, false, false, 40000, 53, m)
		case 1:
			f = appFrame(t, true, false, 5353, 5353, m)
		case 2:
			f = appFrame(t, false, true, 53, 40000, append(binary.BigEndian.AppendUint16(nil, uint16(len(m))), m...))
		}
		fs := frameSpec{data: f}
		if rng.IntN(5) == 0 {
			fs.capLen = len(f) - 1 - rng.IntN(len(m))
		}
		frames = append(frames, fs)
	}
	file := writeFrames(t, "dns_mutated.pcap", pcapfile.LinkTypeEthernet, frames)
	got, want := decodeOut(t, file), tcpdumpOut(t, file)
	if len(got) != len(want) {
		t.Fatalf("%d lines, tcpdump %d", len(got), len(want))
	}
	bad := 0
	for i := range want {
		if g := portServiceRE.ReplaceAllString(got[i], "$1"); g != want[i] {
			if bad++; bad <= 20 {
				t.Errorf("packet %d:\n ours    %s\n tcpdump %s", i+1, g, want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d lines differ", bad, len(want))
	}
}

// goClientHello is the first flight of crypto/tls's client for SNI
// a.test and ALPN h2, http/1.1: a real ClientHello.
func goClientHello(t *testing.T) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		tc := tls.Client(c, &tls.Config{ServerName: "a.test", NextProtos: []string{"h2", "http/1.1"}})
		tc.Handshake() // fails when s closes; only its first write matters
		c.Close()
	}()
	buf := make([]byte, 64<<10)
	n, err := io.ReadAtLeast(s, buf, 5)
	if err != nil {
		t.Fatal(err)
	}
	for need := 5 + int(binary.BigEndian.Uint16(buf[3:])); n < need; {
		m, err := s.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	return buf[:n]
}

// TestDecodeShuffledOneByteSegments: a ClientHello to port 443, an
// HTTP request to port 8088 and an SSH banner to 2222, each cut into 1-byte segments shuffled,
// some sent twice, in a capture the test writes: every line is
// tcpdump's, and the summary comes once, on the segment that brings
// the last missing byte.
func TestDecodeShuffledOneByteSegments(t *testing.T) {
	hello := goClientHello(t)
	req := []byte("GET /index.html HTTP/1.1\r\nHost: a.test\r\nUser-Agent: t\r\n\r\n")
	rng := rand.New(rand.NewPCG(3, 4))
	var frames []frameSpec
	type want struct {
		frame   int
		summary string
	}
	var wants []want
	for _, c := range []struct {
		port    ports.Port
		msg     []byte
		summary string
	}{
		{443, hello, ": TLS ClientHello SNI a.test ALPN h2,http/1.1"},
		{8088, req, ": HTTP GET /index.html Host: a.test"},
		{2222, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"), ": SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},
	} {
		seg := func(flags wire.TCPFlags, seq uint32, payload []byte) []byte {
			return ipFrame(t, false, func(p *wire.Packet) {
				p.TCP = wire.TCP{SrcPort: 40000, DstPort: c.port, Seq: seq, Ack: 1, Flags: flags, Window: 512}
				p.TCP.Options.Raw = []byte{}
			}, wire.LayerTCP, payload)
		}
		frames = append(frames, frameSpec{data: seg(wire.TCPSyn, 999, nil)})
		order := rng.Perm(len(c.msg))
		order = append(order, order[:len(order)/4]...) // repeats, after
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		seen := map[int]bool{}
		for _, i := range order {
			frames = append(frames, frameSpec{data: seg(wire.TCPAck|wire.TCPPsh, 1000+uint32(i), c.msg[i:i+1])})
			seen[i] = true
			if len(seen) == len(c.msg) && (len(wants) == 0 || wants[len(wants)-1].summary != c.summary) {
				wants = append(wants, want{len(frames) - 1, c.summary})
			}
		}
	}
	file := writeFrames(t, "shuffled.pcap", pcapfile.LinkTypeEthernet, frames)
	got := decodeOut(t, file)
	diffLines(t, file, got, tcpdumpOut(t, file))
	for _, w := range wants {
		n := 0
		for i, l := range got {
			if strings.Contains(l, w.summary) {
				n++
				if i != w.frame || !strings.HasSuffix(l, ", length 1"+w.summary) {
					t.Errorf("summary on packet %d, want %d: %s", i+1, w.frame+1, l)
				}
			}
		}
		if n != 1 {
			t.Errorf("%q on %d lines, want 1", w.summary, n)
		}
	}
	if len(wants) != 3 {
		t.Fatalf("wants %v", wants)
	}
}

// TestDecodeAppJSONAsTshark: on every test capture with DNS or HTTP,
// the app object of ports decode --format jsonl has, for the same
// packet, tshark's dns.qry.name, dns.a, dns.aaaa, http.request.method,
// http.request.uri, http.host and http.response.code.
func TestDecodeAppJSONAsTshark(t *testing.T) {
	tshark := porttestTool(t, "tshark")
	files, _ := filepath.Glob("../../testdata/pcaps/*.pcap*")
	compared := 0
	for _, file := range files {
		compared += appAsTshark(t, tshark, file)
	}
	if compared < 36 { // every DNS and HTTP message of the test captures
		t.Errorf("compared %d packets", compared)
	}
}

// appAsTshark compares, on every DNS and HTTP packet tshark finds in
// file, its dns.qry.name, dns.a, dns.aaaa, http.request.method,
// http.request.uri, http.host, http.response.code, dns.cname,
// dns.mx.mail_exchange and dns.mx.preference with the app
// object of ports decode --format jsonl for the same packet, and
// returns the number of packets compared.
func appAsTshark(t *testing.T, tshark, file string) int {
	t.Helper()
	compared := 0
	// Without body reassembly tshark shows a response on the
	// segment with its header, as ports does.
	out, err := exec.Command(tshark, "-n", "-o", "http.desegment_body:FALSE", "-r", file, "-Y", "dns || http.request || http.response", "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "dns.qry.name", "-e", "dns.a", "-e", "dns.aaaa", "-e", "http.request.method", "-e", "http.request.uri",
		"-e", "http.host", "-e", "http.response.code", "-e", "dns.cname", "-e", "dns.mx.mail_exchange", "-e", "dns.mx.preference").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return 0
	}
	code, js, _ := run(t, "decode", "--format", "jsonl", file)
	if code != ExitOK {
		return 0 // a capture decode refuses in part (mixed link types)
	}
	apps := map[int]*render.AppV1{}
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.PacketV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		apps[v.N] = v.App
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		n, _ := strconv.Atoi(f[0])
		a := apps[n]
		if a == nil {
			t.Errorf("%s packet %d: no app object; tshark %s", filepath.Base(file), n, l)
			continue
		}
		var got [7]string
		got[0] = f[0]
		if len(a.Questions) > 0 {
			got[1] = strings.TrimSuffix(a.Questions[0].Name, ".")
		}
		var v4, v6, cname, mx, pref []string
		for _, rr := range slices.Concat(a.Answers, a.Authority, a.Additional) {
			switch rr.Type {
			case "A":
				v4 = append(v4, rr.Data)
			case "AAAA":
				v6 = append(v6, rr.Data)
			case "CNAME":
				cname = append(cname, strings.TrimSuffix(rr.Data, "."))
			case "MX":
				p, name, _ := strings.Cut(rr.Data, " ")
				pref, mx = append(pref, p), append(mx, strings.TrimSuffix(name, "."))
			}
		}
		got[2], got[3] = strings.Join(v4, ","), strings.Join(v6, ",")
		got[4], got[5], got[6] = a.Method, a.URI, a.Host
		status := ""
		if a.Status != 0 {
			status = strconv.Itoa(a.Status)
		}
		if g := strings.Join(append(got[:], status, strings.Join(cname, ","), strings.Join(mx, ","), strings.Join(pref, ",")), "|"); g != l {
			t.Errorf("%s packet %d:\n ours   %s\n tshark %s", filepath.Base(file), n, g, l)
		}
		compared++
	}
	return compared
}

func porttestTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s", name)
	}
	return path
}
