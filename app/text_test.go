package app

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// textWant is what a line decodes to, as strings.
type textWant struct {
	Kind                           Kind
	Guessed                        bool
	Line, Tag, Command, Arg, Reply string
	Code                           int
	Response                       bool
	DataAddr                       string
	MessageLen                     int
}

func textGot(s *StreamHead) textWant {
	w := textWant{Kind: s.Kind, Guessed: s.Guessed, Line: string(s.Line), Tag: string(s.Tag), Command: string(s.Command),
		Arg: string(s.Arg), Reply: string(s.Reply), Code: s.Code, Response: s.Response, MessageLen: s.MessageLen()}
	if s.DataAddr.IsValid() || s.DataAddr.Port() != 0 {
		w.DataAddr = s.DataAddr.String()
	}
	return w
}

// TestTextLines: the lines of FTP, SMTP, POP3 and IMAP (from RFC 959,
// 2428, 5321, 1939 and 3501's examples, and vsftpd's, Postfix's and
// Dovecot's greetings) recognised by content, with their fields.
func TestTextLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want textWant
	}{
		{"220 (vsFTPd 3.0.3)\r\n", textWant{Kind: KindFTP, Line: "220 (vsFTPd 3.0.3)", Code: 220, Arg: "(vsFTPd 3.0.3)", Response: true, MessageLen: 20}},
		{"220 mail.a.test ESMTP Postfix (Debian/GNU)\r\n", textWant{Kind: KindSMTP, Line: "220 mail.a.test ESMTP Postfix (Debian/GNU)", Code: 220, Arg: "mail.a.test ESMTP Postfix (Debian/GNU)", Response: true, MessageLen: 44}},
		{"220 ready\r\n", textWant{Kind: KindFTP, Guessed: true, Line: "220 ready", Code: 220, Arg: "ready", Response: true, MessageLen: 11}},
		{"220-Welcome\r\n220 ready\r\n220 ", textWant{Kind: KindFTP, Guessed: true, Line: "220-Welcome", Code: 220, Arg: "Welcome", Response: true, MessageLen: 24}},
		{"USER anonymous\r\n", textWant{Kind: KindFTP, Guessed: true, Line: "USER anonymous", Command: "USER", Arg: "anonymous", MessageLen: 16}},
		{"EPSV\r\n", textWant{Kind: KindFTP, Line: "EPSV", Command: "EPSV", MessageLen: 6}},
		{"PORT 127,0,0,1,156,64\r\n", textWant{Kind: KindFTP, Line: "PORT 127,0,0,1,156,64", Command: "PORT", Arg: "127,0,0,1,156,64", DataAddr: "127.0.0.1:40000", MessageLen: 23}},
		{"EPRT |1|132.235.1.2|6275|\r\n", textWant{Kind: KindFTP, Line: "EPRT |1|132.235.1.2|6275|", Command: "EPRT", Arg: "|1|132.235.1.2|6275|", DataAddr: "132.235.1.2:6275", MessageLen: 27}},
		{"EPRT |2|1080::8:800:200C:417A|5282|\r\n", textWant{Kind: KindFTP, Line: "EPRT |2|1080::8:800:200C:417A|5282|", Command: "EPRT", Arg: "|2|1080::8:800:200C:417A|5282|", DataAddr: "[1080::8:800:200c:417a]:5282", MessageLen: 37}},
		{"227 Entering Passive Mode (127,0,0,1,195,80).\r\n", textWant{Kind: KindFTP, Line: "227 Entering Passive Mode (127,0,0,1,195,80).", Code: 227, Arg: "Entering Passive Mode (127,0,0,1,195,80).", Response: true, Guessed: true, DataAddr: "127.0.0.1:50000", MessageLen: 47}},
		{"229 Entering Extended Passive Mode (|||6446|)\r\n", textWant{Kind: KindFTP, Guessed: true, Line: "229 Entering Extended Passive Mode (|||6446|)", Code: 229, Arg: "Entering Extended Passive Mode (|||6446|)", Response: true, DataAddr: "invalid AddrPort", MessageLen: 47}},
		{"EHLO client.a.test\r\n", textWant{Kind: KindSMTP, Line: "EHLO client.a.test", Command: "EHLO", Arg: "client.a.test", MessageLen: 20}},
		{"MAIL FROM:<a@a.test>\r\nRCPT TO:<b@a.test>\r\n", textWant{Kind: KindSMTP, Line: "MAIL FROM:<a@a.test>", Command: "MAIL", Arg: "FROM:<a@a.test>", MessageLen: 42}},
		{"+OK Dovecot ready.\r\n", textWant{Kind: KindPOP3, Line: "+OK Dovecot ready.", Reply: "+OK", Arg: "Dovecot ready.", Response: true, MessageLen: 20}},
		{"-ERR\r\n", textWant{Kind: KindPOP3, Line: "-ERR", Reply: "-ERR", Response: true, MessageLen: 6}},
		{"CAPA\r\n", textWant{Kind: KindPOP3, Line: "CAPA", Command: "CAPA", MessageLen: 6}},
		{"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", textWant{Kind: KindIMAP, Line: "* OK [CAPABILITY IMAP4rev1] Dovecot ready.", Tag: "*", Reply: "OK", Arg: "[CAPABILITY IMAP4rev1] Dovecot ready.", Response: true, MessageLen: 44}},
		{"a001 LOGIN SMITH SESAME\r\n", textWant{Kind: KindIMAP, Line: "a001 LOGIN SMITH SESAME", Tag: "a001", Command: "LOGIN", Arg: "SMITH SESAME", MessageLen: 25}},
		{"A142 OK [READ-WRITE] SELECT completed\r\n", textWant{Kind: KindIMAP, Line: "A142 OK [READ-WRITE] SELECT completed", Tag: "A142", Reply: "OK", Arg: "[READ-WRITE] SELECT completed", Response: true, MessageLen: 39}},
		{"* 172 EXISTS\r\n", textWant{Kind: KindIMAP, Line: "* 172 EXISTS", Tag: "*", Command: "EXISTS", Arg: "172 EXISTS", Response: true, MessageLen: 14}},
	} {
		var s StreamHead
		if err := s.Decode([]byte(tc.in)); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, textGot(&s)); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}

// TestTextNotThis: lines no text protocol starts with, and beginnings
// that wait for more.
func TestTextNotThis(t *testing.T) {
	for _, in := range []string{"hello world\r\n", "600 yes\r\n", "2200 x\r\n", "a1 FROB x\r\n", "* frob\r\n", "\x00\x01\n", "USER\x01x\r\n"} {
		var s StreamHead
		if err := s.Decode([]byte(in)); err != ErrNotThis {
			t.Errorf("%q: %v (%v), want ErrNotThis", in, err, s.Kind)
		}
	}
	for _, in := range []string{"220 (vsFT", "USER anon", "PRI * HTTP/2.0\r\n", "+OK"} {
		var s StreamHead
		if err := s.Decode([]byte(in)); err != ErrShort {
			t.Errorf("%q: %v, want ErrShort", in, err)
		}
	}
	var s StreamHead
	if err := s.Decode([]byte(h2Preface + "\x00\x00\x12\x04")); err != nil || s.Kind != KindHTTP2 || s.MessageLen() != 24 {
		t.Errorf("preface: %v %v %d", err, s.Kind, s.MessageLen())
	}
}

// TestTextKnown: a direction known to be SMTP reads a mail's lines as
// its text; a guessed greeting is settled by the port.
func TestTextKnown(t *testing.T) {
	var s StreamHead
	if err := s.DecodeAs([]byte("Subject: hi\r\n"), KindSMTP); err != nil || s.Kind != KindSMTP || s.Command != nil || string(s.Line) != "Subject: hi" {
		t.Errorf("body line: %v %+v", err, textGot(&s))
	}
	if err := s.DecodeAs([]byte("\x16\x03\x01\x02\x00\x01\n"), KindSMTP); err != ErrNotThis {
		t.Errorf("TLS after STARTTLS: %v", err)
	}
	if err := s.Decode([]byte("220 ready\r\n")); err != nil {
		t.Fatal(err)
	}
	s.PreferPort(25, 40000)
	if s.Kind != KindSMTP || s.Guessed {
		t.Errorf("220 on port 25: %v guessed %v", s.Kind, s.Guessed)
	}
	if err := s.Decode([]byte("USER a\r\n")); err != nil {
		t.Fatal(err)
	}
	s.PreferPort(40000, 110)
	if s.Kind != KindPOP3 {
		t.Errorf("USER to port 110: %v", s.Kind)
	}
	want := "POP3: USER a"
	if got := string(s.AppendSummary(nil)); got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	_ = netip.Addr{}
}

// TestAppendFTPSMTP: tcpdump's FTP and SMTP text: the first line
// whatever it says, the name alone for what is not a printable line,
// the cut mark where the capture ends inside the line.
func TestAppendFTPSMTP(t *testing.T) {
	for _, tc := range []struct {
		in     string
		length int
		want   string
	}{
		{"220 hi\r\n", 8, "FTP: 220 hi"},
		{"USER x\r\nPASS y\r\n", 16, "FTP: USER x"},
		{"\x16\x03\x01", 3, "FTP"},
		{"220 h", 8, "FTP [|ftp]"},
		{"220 hi", 6, "FTP: 220 hi [|ftp]"},
	} {
		if got := string(AppendFTP(nil, []byte(tc.in), tc.length)); got != tc.want {
			t.Errorf("AppendFTP(%q, %d) = %q, want %q", tc.in, tc.length, got, tc.want)
		}
	}
	if got := string(AppendSMTP(nil, []byte("EHLO a\r\n"), 8)); got != "SMTP: EHLO a" {
		t.Errorf("AppendSMTP: %q", got)
	}
}

// TestTextNoAllocs: decoding the lines, their data addresses included
// (but EPRT's IPv6), and printing them allocate nothing.
func TestTextNoAllocs(t *testing.T) {
	lines := [][]byte{[]byte("227 Entering Passive Mode (127,0,0,1,195,80).\r\n"), []byte("EPRT |1|132.235.1.2|6275|\r\n"),
		[]byte("229 Entering Extended Passive Mode (|||6446|)\r\n"), []byte("a001 LOGIN SMITH SESAME\r\n"), []byte("+OK ready\r\n"),
		[]byte("MAIL FROM:<a@a.test>\r\n"), []byte(h2Preface)}
	var s StreamHead
	b := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		for _, l := range lines {
			if s.Decode(l) == nil {
				b = s.AppendSummary(b[:0])
			}
			b = AppendFTP(b[:0], l, len(l))
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzTextLine: any bytes, by content and as each text protocol: no
// panic, fields inside the input, the length read within it.
func FuzzTextLine(f *testing.F) {
	for _, s := range []string{"220 (vsFTPd 3.0.3)\r\n", "227 Entering Passive Mode (127,0,0,1,195,80).\r\n", "229 (|||6446|)\r\n",
		"229 (|||\r\n", "EPRT |2|::1|5|\r\n", "EPRT ||||\r\n", "PORT 1,2,3,4,5\r\n", "* 1 FETCH (FLAGS)\r\n", "+ go\r\n", "a1 OK\r\n",
		"+OK\r\n", "-ERR x\r\n", "MAIL FROM:<>\r\n", h2Preface, "220-a\n220 b\n"} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		var s StreamHead
		known := []Kind{KindNone, KindFTP, KindSMTP, KindPOP3, KindIMAP}[int(k)%5]
		if err := s.DecodeAs(data, known); err != nil {
			return
		}
		if n := s.MessageLen(); n > len(data) || n < 0 {
			t.Fatalf("message length %d of %d bytes", n, len(data))
		}
		if s.Kind.IsText() && len(s.Line) > maxLine {
			t.Fatalf("line of %d", len(s.Line))
		}
		s.AppendSummary(nil)
		AppendFTP(nil, data, len(data)+int(k)%3)
	})
}
