package proxyproto_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/proxyproto"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func read(s string) (*proxyproto.Header, string, error) {
	br := bufio.NewReader(strings.NewReader(s))
	h, err := proxyproto.Read(br)
	rest, _ := io.ReadAll(br)
	return h, string(rest), err
}

func hdrCmp() cmp.Option {
	return cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })
}

func TestReadV1(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *proxyproto.Header
	}{
		{"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /",
			&proxyproto.Header{Version: 1, Proto: ports.ProtoTCP, Src: ap("192.168.0.1:56324"), Dst: ap("192.168.0.11:443")}},
		{"PROXY TCP6 2001:db8::1 ::1 65535 0\r\nGET /",
			&proxyproto.Header{Version: 1, Proto: ports.ProtoTCP, Src: ap("[2001:db8::1]:65535"), Dst: ap("[::1]:0")}},
		{"PROXY UNKNOWN\r\nGET /", &proxyproto.Header{Version: 1}},
		{"PROXY UNKNOWN ffff:f...f:ffff 65535 65535\r\nGET /", &proxyproto.Header{Version: 1}},
	} {
		h, rest, err := read(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, h, hdrCmp()); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
		if rest != "GET /" {
			t.Errorf("%q: left %q in the reader", tc.in, rest)
		}
	}
}

func TestReadErrors(t *testing.T) {
	long := "PROXY TCP6 " + strings.Repeat("f", 100) + "\r\n"
	for _, tc := range []struct {
		in   string
		is   error
		want string
	}{
		{"GET / HTTP/1.1\r\n", proxyproto.ErrNoHeader, "no PROXY protocol header"},
		{"PROXZ TCP4\r\n", proxyproto.ErrNoHeader, ""},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", proxyproto.ErrMalformed, "does not end with CRLF"},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", proxyproto.ErrMalformed, "has 6 fields"},
		{"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", proxyproto.ErrMalformed, "fields"},
		{"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", proxyproto.ErrMalformed, `destination address "::1" does not match TCP4`},
		{"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", proxyproto.ErrMalformed, `source address "1.2.3.4" does not match TCP6`},
		{"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", proxyproto.ErrMalformed, `source address "1.2.3.256" is not an IP address`},
		{"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", proxyproto.ErrMalformed, "is not an IP address"},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", proxyproto.ErrMalformed, `source port "65536"`},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n", proxyproto.ErrMalformed, "leading zero"},
		{"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", proxyproto.ErrMalformed, `protocol "UDP4"`},
		{long, proxyproto.ErrMalformed, "longer than 107 bytes"},
		{"PROXY TCP4 1.2.3.4", io.ErrUnexpectedEOF, "cut short"},
		{"PRO", io.ErrUnexpectedEOF, "cut short"},
		{"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01\x02", io.ErrUnexpectedEOF, "cut short"},
		{"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x00", proxyproto.ErrMalformed, "version nibble is 3"},
		{"\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x00", proxyproto.ErrMalformed, "command 2"},
		{"\r\n\r\n\x00\r\nQUIT\n\x21\x13\x00\x00", proxyproto.ErrMalformed, "transport 3"},
		{"\r\n\r\n\x00\r\nQUIT\n\x21\x41\x00\x00", proxyproto.ErrMalformed, "address family 4"},
		{"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04", proxyproto.ErrMalformed, "too short for the 12 bytes"},
		{"\r\n\r\n\x00\r\nQUIT\n\x21\x31\x00\x00", proxyproto.ErrUnsupported, "AF_UNIX addresses are not supported"},
		{"\r\n\r\n\x00\r\nQUIT\n\x21\x00\x00\x04\x01\x00\x05x", proxyproto.ErrMalformed, "TLV type 0x01 at offset 16 has length 5"},
		{"\r\n\r\n\x00\r\nQUIT\n\x21\x00\x00\x02\x01\x00", proxyproto.ErrMalformed, "TLV at offset 16 cut short"},
		{"\r\n\r\n\x00\r\nQUIX\n", proxyproto.ErrNoHeader, ""},
	} {
		_, _, err := read(tc.in)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %v containing %q", tc.in, err, tc.is, tc.want)
		}
	}
	// No header: nothing is consumed.
	_, rest, _ := read("SSH-2.0-x\r\n")
	if rest != "SSH-2.0-x\r\n" {
		t.Errorf("no header: left %q", rest)
	}
}

// haproxyV2 is a v2 header as haproxy's spec lays it out: PROXY, TCP over
// IPv4, 10.0.0.1:1234 -> 10.0.0.2:443, one PP2_TYPE_AUTHORITY TLV.
const haproxyV2 = "0d0a0d0a000d0a515549540a" + "21" + "11" + "0013" +
	"0a000001" + "0a000002" + "04d2" + "01bb" + "02" + "0004" + "61626364"

func TestReadV2(t *testing.T) {
	b, _ := hex.DecodeString(haproxyV2)
	h, rest, err := read(string(b) + "payload")
	if err != nil {
		t.Fatal(err)
	}
	want := &proxyproto.Header{Version: 2, Proto: ports.ProtoTCP, Src: ap("10.0.0.1:1234"), Dst: ap("10.0.0.2:443"),
		TLVs: []proxyproto.TLV{{Type: 0x02, Value: []byte("abcd")}}}
	if diff := cmp.Diff(want, h, hdrCmp()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rest != "payload" {
		t.Errorf("left %q", rest)
	}
	out, err := h.AppendV2(nil)
	if err != nil || !bytes.Equal(out, b) {
		t.Errorf("AppendV2 = %x, %v; want %s", out, err, haproxyV2)
	}
	// LOCAL with AF_UNSPEC.
	h, _, err = read("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
	if err != nil || !h.Local || h.Src.IsValid() || h.Proto != ports.ProtoAny {
		t.Errorf("LOCAL: %+v, %v", h, err)
	}
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		h      proxyproto.Header
		v1     string
		v1err  string
		v2err  string
		family byte
	}{
		{h: proxyproto.Header{Proto: ports.ProtoTCP, Src: ap("1.2.3.4:5"), Dst: ap("6.7.8.9:10")}, v1: "PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n", family: 0x11},
		{h: proxyproto.Header{Proto: ports.ProtoTCP, Src: ap("[::ffff:1.2.3.4]:5"), Dst: ap("6.7.8.9:10")}, v1: "PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n", family: 0x11},
		{h: proxyproto.Header{Proto: ports.ProtoTCP, Src: ap("[fe80::1%eth0]:5"), Dst: ap("[::1]:10")}, v1: "PROXY TCP6 fe80::1 ::1 5 10\r\n", family: 0x21},
		{h: proxyproto.Header{Proto: ports.ProtoUDP, Src: ap("1.2.3.4:5"), Dst: ap("6.7.8.9:10")}, v1err: "v1 cannot carry udp", family: 0x12},
		{h: proxyproto.Header{Local: true}, v1: "PROXY UNKNOWN\r\n", family: 0x00},
		{h: proxyproto.Header{Proto: ports.ProtoTCP, Src: ap("1.2.3.4:5"), Dst: ap("[2001:db8::1]:10")}, v1err: "different address families", v2err: "different address families"},
		{h: proxyproto.Header{Proto: ports.ProtoTCP, Src: ap("1.2.3.4:5")}, v1err: "both be set", v2err: "both be set"},
		{h: proxyproto.Header{Proto: ports.ProtoSCTP, Src: ap("1.2.3.4:5"), Dst: ap("6.7.8.9:10")}, v1err: "cannot carry sctp", v2err: "cannot carry sctp"},
		{h: proxyproto.Header{TLVs: []proxyproto.TLV{{1, make([]byte, 70000)}}}, v1err: "TLVs", v2err: "exceeds 65535"},
	} {
		b, err := tc.h.AppendV1([]byte("x"))
		if tc.v1err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.v1err) {
				t.Errorf("AppendV1(%+v) = %v, want %q", tc.h, err, tc.v1err)
			}
		} else if err != nil || string(b) != "x"+tc.v1 {
			t.Errorf("AppendV1(%+v) = %q, %v; want %q", tc.h, b, err, tc.v1)
		}
		b, err = tc.h.AppendV2(nil)
		if tc.v2err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.v2err) {
				t.Errorf("AppendV2(%+v) = %v, want %q", tc.h, err, tc.v2err)
			}
			continue
		}
		if err != nil || b[13] != tc.family {
			t.Errorf("AppendV2(%+v) = %x, %v; want family byte %02x", tc.h, b, err, tc.family)
		}
	}
}

// FuzzRead checks that Read never panics, consumes only the header, and
// that parse -> append -> parse gives the same header.
func FuzzRead(f *testing.F) {
	b, _ := hex.DecodeString(haproxyV2)
	for _, s := range []string{
		"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nrest",
		"PROXY TCP6 ::ffff:1.2.3.4 2001:db8::1 1 2\r\n",
		"PROXY UNKNOWN junk\r\n",
		"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00",
		"\r\n\r\n\x00\r\nQUIT\n\x21\x22\x00\x24" + strings.Repeat("\x01", 36),
		"\r\n\r\n\x00\r\nQUIT\n\x21\x31\x00\x00",
		string(b) + "after",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReader(bytes.NewReader(in))
		h, err := proxyproto.Read(br)
		if err != nil {
			if errors.Is(err, proxyproto.ErrNoHeader) && br.Buffered() != len(in) && len(in) < 4096 {
				t.Fatalf("ErrNoHeader consumed input")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		rest, _ := io.ReadAll(br)
		used := len(in) - len(rest)
		if h.Version == 1 && used > proxyproto.MaxV1Len || used > proxyproto.MaxV2Len {
			t.Fatalf("header of %d bytes", used)
		}
		if !bytes.Equal(rest, in[used:]) {
			t.Fatal("bytes after the header were changed")
		}
		var out []byte
		if h.Version == 1 {
			out, err = h.AppendV1(nil)
		} else {
			out, err = h.AppendV2(nil)
		}
		if err != nil {
			t.Fatalf("append %+v: %v", h, err)
		}
		h2, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(out)))
		if err != nil {
			t.Fatalf("reparse %q: %v", out, err)
		}
		if diff := cmp.Diff(h, h2, hdrCmp()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
