package app

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// buildDNS builds a message with dnsmessage (an implementation
// independent of ours).
func buildDNS(t testing.TB, h dnsmessage.Header, q []dnsmessage.Question, an []dnsmessage.Resource) []byte {
	t.Helper()
	bld := dnsmessage.NewBuilder(nil, h)
	bld.EnableCompression()
	if err := bld.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	for _, x := range q {
		if err := bld.Question(x); err != nil {
			t.Fatal(err)
		}
	}
	if err := bld.StartAnswers(); err != nil {
		t.Fatal(err)
	}
	for _, r := range an {
		var err error
		switch b := r.Body.(type) {
		case *dnsmessage.AResource:
			err = bld.AResource(r.Header, *b)
		case *dnsmessage.AAAAResource:
			err = bld.AAAAResource(r.Header, *b)
		case *dnsmessage.CNAMEResource:
			err = bld.CNAMEResource(r.Header, *b)
		case *dnsmessage.MXResource:
			err = bld.MXResource(r.Header, *b)
		case *dnsmessage.TXTResource:
			err = bld.TXTResource(r.Header, *b)
		default:
			t.Fatalf("type %T", b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := bld.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sampleReply(t testing.TB) []byte {
	name := dnsmessage.MustNewName("www.example.test.")
	alias := dnsmessage.MustNewName("edge.example.test.")
	rh := func(n dnsmessage.Name, typ dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: n, Type: typ, Class: dnsmessage.ClassINET, TTL: 60}
	}
	return buildDNS(t, dnsmessage.Header{ID: 4660, Response: true, RecursionDesired: true, RecursionAvailable: true},
		[]dnsmessage.Question{{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
		[]dnsmessage.Resource{
			{Header: rh(name, dnsmessage.TypeCNAME), Body: &dnsmessage.CNAMEResource{CNAME: alias}},
			{Header: rh(alias, dnsmessage.TypeA), Body: &dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}}},
			{Header: rh(alias, dnsmessage.TypeAAAA), Body: &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("2001:db8::1").As16()}},
			{Header: rh(alias, dnsmessage.TypeMX), Body: &dnsmessage.MXResource{Pref: 10, MX: name}},
			{Header: rh(alias, dnsmessage.TypeTXT), Body: &dnsmessage.TXTResource{TXT: []string{"v=1", "a b"}}},
		})
}

// TestAppendDNSReply: the reply's text as tcpdump prints it (checked
// against tcpdump by internal/cli's differential tests; here the pieces
// each record type contributes).
func TestAppendDNSReply(t *testing.T) {
	m := sampleReply(t)
	got := string(AppendDNS(nil, m, len(m), DNSOptions{}))
	want := fmt.Sprintf(`4660 5/0/0 CNAME edge.example.test., A 192.0.2.1, AAAA 2001:db8::1, MX www.example.test. 10, TXT "v=1" "a b" (%d)`, len(m))
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Every cut of the capture: no panic, tcpdump's mark, a prefix of
	// the whole line up to where it stops.
	for n := range len(m) {
		line := string(AppendDNS(nil, m[:n], len(m), DNSOptions{}))
		if n >= 12 && !strings.HasSuffix(line, " [|domain]") && !strings.HasSuffix(line, fmt.Sprintf("(%d)", len(m))) {
			t.Errorf("cut at %d: %q", n, line)
		}
	}
}

func TestAppendDNSOverTCP(t *testing.T) {
	m := sampleReply(t)
	seg := append([]byte{byte(len(m) >> 8), byte(len(m))}, m...)
	got := string(AppendDNS(nil, seg, len(seg), DNSOptions{OverTCP: true}))
	if !strings.HasPrefix(got, " 4660 5/0/0 CNAME") {
		t.Errorf("over TCP: %q", got)
	}
	seg[1]++
	if got := string(AppendDNS(nil, seg, len(seg), DNSOptions{OverTCP: true})); got != fmt.Sprintf(" [prefix length(%d) != length(%d)] (invalid)", len(m)+1, len(m)) {
		t.Errorf("bad prefix: %q", got)
	}
}

// TestAppendNoAllocs: the printers append into the caller's buffer
// without allocating.
func TestAppendNoAllocs(t *testing.T) {
	m := sampleReply(t)
	http := []byte("GET /index.html HTTP/1.1\r\nHost: a.test\r\n\r\n")
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(200, func() {
		buf = AppendDNS(buf[:0], m, len(m), DNSOptions{})
		buf = AppendDNS(buf, m[:40], len(m), DNSOptions{MDNS: true})
		buf = AppendHTTP(buf, http, len(http))
	}); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

func TestAppendHTTP(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP: GET / HTTP/1.1"},
		{"get /x HTTP/1.0\n", "HTTP: get /x HTTP/1.0"},
		{"HTTP/1.1 404 Not Found\r\n", "HTTP: HTTP/1.1 404 Not Found"},
		{"PATCH / HTTP/1.1\r\n", "HTTP"}, // not among tcpdump's methods
		{"<html>body</html>", "HTTP"},
		{"GET /\x01 HTTP/1.1\r\n", "HTTP"},
		{"GET / HTTP/1.1", "HTTP: GET / HTTP/1.1 [|http]"},
		{"GET / HTTP/1.1\rX", "HTTP"},
	} {
		if got := string(AppendHTTP(nil, []byte(c.in), len(c.in))); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
	// Cut before the line ends: tcpdump's mark.
	in := "GET /long/path HTTP/1.1\r\n"
	if got := string(AppendHTTP(nil, []byte(in[:10]), len(in))); got != "HTTP [|http]" {
		t.Errorf("cut: %q", got)
	}
}

// FuzzAppendDNS: any bytes, any cut and length: no panic, a bounded
// line, and agreement with dnsmessage on what both read: a message it
// parses whole, captured whole, shows its counts and no mark.
func FuzzAppendDNS(f *testing.F) {
	f.Add(sampleReply(f), uint16(0), false, false)
	f.Add([]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01"), uint16(0), false, false)
	f.Add([]byte("\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"), uint16(3), true, true) // a pointer loop
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, tcp, mdns bool) {
		n := len(data) - int(cut)%(len(data)+1)
		line := AppendDNS(nil, data[:n], len(data), DNSOptions{OverTCP: tcp, MDNS: mdns})
		if len(line) > 64+8*len(data)+8*255 {
			t.Fatalf("line of %d bytes for %d", len(line), len(data))
		}
		if tcp || n != len(data) {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(data)
		if err != nil {
			return
		}
		if _, err := p.AllQuestions(); err != nil {
			return
		}
		if _, err := p.AllAnswers(); err != nil {
			return
		}
		if _, err := p.AllAuthorities(); err != nil {
			return
		}
		if _, err := p.AllAdditionals(); err != nil {
			return
		}
		_ = h
		if bytes.Contains(line, []byte("[|domain]")) && !bytes.Contains(line, []byte("<")) {
			// dnsmessage read every record; tcpdump's reading stops
			// only at names it refuses (shown in <...>) or types whose
			// data it reads beyond the record (A6, URI).
			if !bytes.Contains(line, []byte(" A6")) && !bytes.Contains(line, []byte(" URI")) && !bytes.Contains(line, []byte(" UNSPECA")) {
				t.Errorf("dnsmessage parses it; we cut: %q", line)
			}
		}
	})
}

// FuzzAppendHTTP: no panic; the line is a prefix of the payload's.
func FuzzAppendHTTP(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), uint16(0))
	f.Add([]byte("HTTP/1.1 200 OK\r\n"), uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		n := len(data) - int(cut)%(len(data)+1)
		line := AppendHTTP(nil, data[:n], len(data))
		if s, ok := bytes.CutPrefix(line, []byte("HTTP: ")); ok && !bytes.HasPrefix(data, s) {
			t.Fatalf("%q is not the payload's first line (%q)", line, data)
		}
	})
}

func ExampleAppendDNS() {
	// A query for www.tcpdump.org, type A, recursion desired.
	q := []byte("\x59\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07tcpdump\x03org\x00\x00\x01\x00\x01")
	fmt.Println(string(AppendDNS(nil, q, len(q), DNSOptions{})))
	// Output: 22836+ A? www.tcpdump.org. (33)
}

func ExampleAppendHTTP() {
	req := []byte("GET /index.html HTTP/1.1\r\nHost: a.test\r\n\r\n")
	fmt.Println(string(AppendHTTP(nil, req, len(req))))
	// Output: HTTP: GET /index.html HTTP/1.1
}

// FuzzStreamHead: any stream start, cut anywhere: no panic; a result
// at a cut is the result on the whole or ErrShort; HTTP fields alias
// the data.
func FuzzStreamHead(f *testing.F) {
	f.Add([]byte("GET /index.html HTTP/1.1\r\nHost: a.test\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"))
	f.Add([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
	f.Add([]byte("INVITE sip:b@b.test SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"))
	f.Add(clientHello(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole, part StreamHead
		werr := whole.Decode(data)
		for n := range len(data) {
			err := part.Decode(data[:n])
			if err == nil && werr != nil {
				// A message complete at n stays so: only the HTTP
				// (or SIP) header's end may move (a longer \n\n search).
				if part.Kind != KindHTTP && part.Kind != KindSIP {
					t.Fatalf("complete at %d (%v), not whole: %v", n, part.Kind, werr)
				}
			}
		}
		if werr == nil && whole.Kind == KindHTTP && whole.Host != nil && !bytes.Contains(data, whole.Host) {
			t.Fatalf("host %q not in the data", whole.Host)
		}
		_ = whole.AppendSummary(nil)
	})
}

// clientHello is a ClientHello with SNI a.test and ALPN h2,http/1.1.
func clientHello(t testing.TB) []byte {
	ext := func(typ uint16, body []byte) []byte {
		return append([]byte{byte(typ >> 8), byte(typ), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	sni := append([]byte{0, 9, 0, 0, 6}, "a.test"...)
	alpn := append([]byte{0, 12, 2}, "h2\x08http/1.1"...)
	exts := append(append(ext(0, sni), ext(16, alpn)...), ext(43, []byte{4, 3, 4, 3, 3})...)
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 4, 0x13, 0x01, 0x13, 0x02, 1, 0)
	body = append(body, byte(len(exts)>>8), byte(len(exts)))
	body = append(body, exts...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func TestTLSClientHello(t *testing.T) {
	var h StreamHead
	ch := clientHello(t)
	if err := h.Decode(ch[:len(ch)-1]); err != ErrShort {
		t.Fatalf("cut: %v", err)
	}
	if err := h.Decode(ch); err != nil {
		t.Fatal(err)
	}
	if got := string(h.AppendSummary(nil)); got != "TLS ClientHello SNI a.test ALPN h2,http/1.1" {
		t.Errorf("summary %q", got)
	}
	if v := h.TLS.Versions(nil); len(v) != 2 || v[0] != 0x0304 || h.TLS.NumCiphers != 2 {
		t.Errorf("versions %x, %d ciphers", v, h.TLS.NumCiphers)
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		_ = h.Decode(ch)
		buf = h.AppendSummary(buf[:0])
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestChunkLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		last bool
		err  error
	}{
		{"1a\r\n", 4 + 26 + 2, false, nil},
		{"A;ext=1\r\nxxxxxxxxxx\r\n", 9 + 10 + 2, false, nil},
		{"0\r\n\r\n", 5, true, nil},
		{"1a", 0, false, ErrShort},
		{"zz\r\n", 0, false, ErrNotThis},
	} {
		n, last, err := ChunkLine([]byte(c.in))
		if n != c.n || last != c.last || err != c.err {
			t.Errorf("%q: %d %v %v, want %d %v %v", c.in, n, last, err, c.n, c.last, c.err)
		}
	}
}

// FuzzDNSDecode: any message: no panic; what Decode keeps agrees with
// the header's counts and with the text tcpdump's printer makes of the
// first question.
func FuzzDNSDecode(f *testing.F) {
	f.Add(sampleReply(f))
	f.Add([]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var m DNS
		err := m.Decode(msg)
		if m.NumQ > int(m.QDCount) || m.NumA > int(m.ANCount)+int(m.NSCount)+int(m.ARCount) {
			t.Fatalf("%d questions, %d records for counts %d/%d/%d/%d", m.NumQ, m.NumA, m.QDCount, m.ANCount, m.NSCount, m.ARCount)
		}
		if err == nil && m.NumQ == 1 && m.QDCount == 1 && !m.Header.Response && msg[2]&0x78 == 0 {
			line := string(AppendDNS(nil, msg, len(msg), DNSOptions{}))
			if q := m.Questions[0].Name.String(); isPlainName(q) && !strings.Contains(line, "? "+q) {
				t.Fatalf("question %q not in %q", q, line)
			}
		}
	})
}

// isPlainName: letters, digits, hyphens and dots only (tcpdump and
// dnsmessage escape others differently).
func isPlainName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return s != ""
}

func FuzzChunkLine(f *testing.F) {
	f.Add([]byte("1a;x\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, last, err := ChunkLine(data)
		if err == nil && (n < 3 || last && n != bytes.IndexByte(data, '\n')+3) {
			t.Fatalf("%q: %d %v", data, n, last)
		}
	})
}

// TestStreamHeadNoAllocs: the stream dissectors decode in place: an
// HTTP request and response, an SSH banner, a TLS ClientHello and a
// SIP request each decode (no error) and print their summary
// without allocating; so does DNS.Decode of a reply.
func TestStreamHeadNoAllocs(t *testing.T) {
	reply := sampleReply(t)
	heads := [][]byte{
		[]byte("GET /index.html HTTP/1.1\r\nHost: a.test\r\nUser-Agent: curl/8\r\n\r\n"),
		[]byte("HTTP/1.1 200 OK\r\nServer: t\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n"),
		[]byte("SSH-2.0-OpenSSH_9.2p1\r\n"),
		clientHello(t),
		[]byte("OPTIONS sip:a.test SIP/2.0\r\nVia: SIP/2.0/TCP a.test\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n"),
	}
	var h StreamHead
	for _, d := range heads {
		if err := h.Decode(d); err != nil {
			t.Fatalf("%q: %v", d, err)
		}
	}
	var m DNS
	b := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() {
		for _, d := range heads {
			_ = h.Decode(d)
			b = h.AppendSummary(b[:0])
		}
		_ = m.Decode(reply)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
