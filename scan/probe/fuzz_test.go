package probe

import (
	"testing"
	"unicode/utf8"
)

// FuzzUDPMatch feeds every probe's parser arbitrary replies: it must not
// panic, and hints must be short printable text.
func FuzzUDPMatch(f *testing.F) {
	for _, p := range UDPProbes() {
		f.Add(p.Payload())
	}
	f.Add([]byte{0x70, 0x72, 0x80, 0, 0, 1, 0, 1, 0xc0, 0x0c, 0xc0, 0x0c}) // a DNS compression loop
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})                      // a huge BER length
	f.Add([]byte("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range UDPProbes() {
			s, ok := p.Match(b)
			if !ok && !s.IsZero() {
				t.Errorf("%s: no match but %+v", p.Name, s)
			}
			checkService(t, s)
		}
	})
}

// FuzzParseTCP does the same for the TCP banner and reply parser.
func FuzzParseTCP(f *testing.F) {
	for _, s := range []string{"SSH-2.0-x", "220 ftp", "+OK", "* OK", "+PONG", "-ERR", "RFB 003.008",
		"HTTP/1.1 200 OK\r\n\r\n", "\x05\x00\x00\x00\x0a1\x00", "\x05\x00\x00\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ok := ParseTCP(b)
		if !ok && !s.IsZero() {
			t.Errorf("no match but %+v", s)
		}
		checkService(t, s)
	})
}

func checkService(t *testing.T, s Service) {
	for _, f := range []string{s.Name, s.Product, s.Version, s.Info} {
		if len(f) > 400 || !utf8.ValidString(f) {
			t.Errorf("field %q is too long or not UTF-8", f)
		}
		for _, c := range f {
			if c < 0x20 {
				t.Errorf("field %q holds a control character", f)
			}
		}
	}
}
