package ports_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portkit/ports"
)

// wantParseError checks that err is a *ports.ParseError for input, with
// the given Pos (unless pos < 0) and a message that quotes the input and
// holds msg.
func wantParseError(t *testing.T, err error, what, input string, pos int, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one at %d (%q)", pos, msg)
	}
	var pe *ports.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ports.ParseError", err, err)
	}
	if pe.Input != input {
		t.Errorf("ParseError.Input = %q, want %q", pe.Input, input)
	}
	if what != "" && pe.What != what {
		t.Errorf("ParseError.What = %q, want %q", pe.What, what)
	}
	if pos != -1 && pe.Pos != pos {
		t.Errorf("ParseError.Pos = %d, want %d (error %q)", pe.Pos, pos, err)
	}
	if pe.Pos < -1 || pe.Pos > len(input) {
		t.Errorf("ParseError.Pos = %d, outside the input [-1, %d]", pe.Pos, len(input))
	}
	if !strings.Contains(err.Error(), strconv.Quote(input)) {
		t.Errorf("error %q does not quote the input %s", err, strconv.Quote(input))
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not say %q", err, msg)
	}
}

func TestParseProto(t *testing.T) {
	tests := []struct {
		in      string
		want    ports.Proto
		wantErr bool
	}{
		{"tcp", ports.ProtoTCP, false},
		{"TCP", ports.ProtoTCP, false},
		{"Udp", ports.ProtoUDP, false},
		{"sctp", ports.ProtoSCTP, false},
		{"DCCP", ports.ProtoDCCP, false},
		{"any", ports.ProtoAny, false},
		{"ANY", ports.ProtoAny, false},
		{"", ports.ProtoAny, false}, // the IANA CSV's empty protocol column
		{"icmp", 0, true},
		{"tcp ", 0, true},
		{" tcp", 0, true},
		{"6", 0, true}, // numbers are not names
		{"t", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ports.ParseProto(tt.in)
			if tt.wantErr {
				wantParseError(t, err, "protocol", tt.in, -1, "want tcp")
				return
			}
			if err != nil {
				t.Fatalf("ParseProto(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseProto(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestProtoString(t *testing.T) {
	tests := []struct {
		p    ports.Proto
		want string
	}{
		{ports.ProtoAny, "any"},
		{ports.ProtoTCP, "tcp"},
		{ports.ProtoUDP, "udp"},
		{ports.ProtoSCTP, "sctp"},
		{ports.ProtoDCCP, "dccp"},
		{1, "proto(1)"},
		{255, "proto(255)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("Proto(%d).String() = %q, want %q", uint8(tt.p), got, tt.want)
			}
			b, err := tt.p.MarshalText()
			if err != nil || string(b) != tt.want {
				t.Errorf("MarshalText = %q, %v; want %q, nil", b, err, tt.want)
			}
		})
	}
	// Every named protocol survives a text round trip.
	for _, p := range append([]ports.Proto{ports.ProtoAny}, ports.Protos[:]...) {
		b, _ := p.MarshalText()
		var q ports.Proto = 99
		if err := q.UnmarshalText(b); err != nil || q != p {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, q, err, p)
		}
	}
	var q ports.Proto = ports.ProtoUDP
	if err := q.UnmarshalText([]byte("proto(1)")); err == nil {
		t.Errorf("UnmarshalText(proto(1)) succeeded")
	}
	if q != ports.ProtoUDP {
		t.Errorf("failed UnmarshalText changed the value to %v", q)
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in      string
		want    ports.Port
		wantPos int // -1: no error
		wantMsg string
	}{
		{"0", 0, -1, ""},
		{"1", 1, -1, ""},
		{"80", 80, -1, ""},
		{"65535", 65535, -1, ""},
		{"080", 80, -1, ""},        // leading zeros are decimal, not octal
		{"0065535", 65535, -1, ""}, // and do not count towards the limit
		{"", 0, 0, "missing port number"},
		{"65536", 0, 0, "above 65535"},
		{"99999999999999999999999", 0, 0, "above 65535"}, // no overflow
		{"-1", 0, 0, "not a port number"},
		{"+80", 0, 0, "not a port number"},
		{" 80", 0, 0, "not a port number"},
		{"80 ", 0, 2, "not a port number"},
		{"8x", 0, 1, "not a port number"},
		{"0x50", 0, 1, "not a port number"},
		{"٨٠", 0, 0, "not a port number"}, // Arabic-Indic digits
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ports.ParsePort(tt.in)
			if tt.wantPos >= 0 {
				wantParseError(t, err, "port", tt.in, tt.wantPos, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatalf("ParsePort(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParsePort(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    ports.Range
		wantPos int // -1: no error
		wantMsg string
	}{
		{"80", ports.Range{80, 80}, -1, ""},
		{"0", ports.Range{0, 0}, -1, ""},
		{"1-1024", ports.Range{1, 1024}, -1, ""},
		{"0-65535", ports.Range{0, 65535}, -1, ""},
		{"5-5", ports.Range{5, 5}, -1, ""}, // String gives "5"
		{"10-5", ports.Range{}, 3, "end is below start"},
		{"", ports.Range{}, 0, "missing port number"},
		{"-", ports.Range{}, 0, "missing port number"}, // nmap's "-" is ParseSet's, not ParseRange's
		{"-5", ports.Range{}, 0, "missing port number"},
		{"5-", ports.Range{}, 2, "missing port number"},
		{"1-2-3", ports.Range{}, 3, "not a port number"},
		{"a-1", ports.Range{}, 0, "not a port number"},
		{"1-b", ports.Range{}, 2, "not a port number"},
		{"1-65536", ports.Range{}, 2, "above 65535"},
		{"1 - 2", ports.Range{}, 1, "not a port number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ports.ParseRange(tt.in)
			if tt.wantPos >= 0 {
				wantParseError(t, err, "", tt.in, tt.wantPos, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatalf("ParseRange(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRange(%q) (-want +got):\n%s", tt.in, diff)
			}
			if again, err := ports.ParseRange(got.String()); err != nil || again != got {
				t.Errorf("ParseRange(%q).String() = %q, which re-parses as %v, %v", tt.in, got, again, err)
			}
		})
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		r       ports.Range
		wantLen int
		wantStr string
		in, out []ports.Port
	}{
		{ports.Range{80, 80}, 1, "80", []ports.Port{80}, []ports.Port{79, 81}},
		{ports.Range{0, 65535}, 65536, "0-65535", []ports.Port{0, 65535}, nil},
		{ports.Range{1, 1024}, 1024, "1-1024", []ports.Port{1, 512, 1024}, []ports.Port{0, 1025, 65535}},
	}
	for _, tt := range tests {
		t.Run(tt.wantStr, func(t *testing.T) {
			if got := tt.r.Len(); got != tt.wantLen {
				t.Errorf("Len() = %d, want %d", got, tt.wantLen)
			}
			if got := tt.r.String(); got != tt.wantStr {
				t.Errorf("String() = %q, want %q", got, tt.wantStr)
			}
			for _, p := range tt.in {
				if !tt.r.Contains(p) {
					t.Errorf("Contains(%d) = false, want true", p)
				}
			}
			for _, p := range tt.out {
				if tt.r.Contains(p) {
					t.Errorf("Contains(%d) = true, want false", p)
				}
			}
		})
	}
}

func TestPortClass(t *testing.T) {
	tests := []struct {
		p    ports.Port
		want ports.Class
	}{
		{0, ports.ClassSystem},
		{1, ports.ClassSystem},
		{1023, ports.ClassSystem},
		{1024, ports.ClassUser},
		{49151, ports.ClassUser},
		{49152, ports.ClassDynamic},
		{65535, ports.ClassDynamic},
	}
	for _, tt := range tests {
		t.Run(tt.p.String(), func(t *testing.T) {
			got := tt.p.Class()
			if got != tt.want {
				t.Errorf("Port(%d).Class() = %v, want %v", tt.p, got, tt.want)
			}
			if !got.Range().Contains(tt.p) {
				t.Errorf("Port(%d).Class().Range() = %v does not hold the port", tt.p, got.Range())
			}
		})
	}
}

func TestClass(t *testing.T) {
	tests := []struct {
		c         ports.Class
		wantStr   string
		wantAlias string
		wantRange ports.Range
	}{
		{ports.ClassSystem, "system", "well-known", ports.Range{0, 1023}},
		{ports.ClassUser, "user", "registered", ports.Range{1024, 49151}},
		{ports.ClassDynamic, "dynamic", "private", ports.Range{49152, 65535}},
	}
	next := 0 // the classes tile 0-65535 in order
	for _, tt := range tests {
		t.Run(tt.wantStr, func(t *testing.T) {
			if got := tt.c.String(); got != tt.wantStr {
				t.Errorf("String() = %q, want %q", got, tt.wantStr)
			}
			if got := tt.c.Alias(); got != tt.wantAlias {
				t.Errorf("Alias() = %q, want %q", got, tt.wantAlias)
			}
			if diff := cmp.Diff(tt.wantRange, tt.c.Range()); diff != "" {
				t.Errorf("Range() (-want +got):\n%s", diff)
			}
			if b, err := tt.c.MarshalText(); err != nil || string(b) != tt.wantStr {
				t.Errorf("MarshalText() = %q, %v; want %q", b, err, tt.wantStr)
			}
			r := tt.c.Range()
			if int(r.First) != next {
				t.Errorf("Range().First = %d, want %d (classes must tile the port space)", r.First, next)
			}
			next = int(r.Last) + 1
			if r.First.Class() != tt.c || r.Last.Class() != tt.c {
				t.Errorf("the ends of %v are not of class %v", r, tt.c)
			}
		})
	}
	if next != 65536 {
		t.Errorf("the classes end at %d, want 65535", next-1)
	}
	if got := ports.Class(7).String(); got != "class(7)" {
		t.Errorf("Class(7).String() = %q, want class(7)", got)
	}
	if got := ports.Class(7).Alias(); got != "class(7)" {
		t.Errorf("Class(7).Alias() = %q, want class(7)", got)
	}
}

func TestParseErrorUnwrap(t *testing.T) {
	inner := errors.New("inner")
	err := error(&ports.ParseError{What: "port", Input: "x", Msg: "bad", Err: inner})
	if !errors.Is(err, inner) {
		t.Errorf("errors.Is(%v, inner) = false", err)
	}
	tests := []struct {
		e    ports.ParseError
		want string
	}{
		{ports.ParseError{What: "port", Input: "8x", Pos: 1, Msg: "not a port number"}, `invalid port "8x" at position 2: not a port number`},
		{ports.ParseError{What: "port", Input: "", Pos: -1, Msg: "missing port number"}, `invalid port "": missing port number`},
		{ports.ParseError{What: "port", Input: "x", Pos: 0, Msg: "not a port number"}, `invalid port "x" at position 1: not a port number`},
		{ports.ParseError{What: "endpoint", Input: "h", Pos: 1, Msg: "missing port"}, `invalid endpoint "h" at position 2: missing port`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.e.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseRange checks ParseRange against strconv (the oracle: a range is
// one or two decimal numbers of at most 65535 joined by the first '-') and
// that String re-parses to the same Range.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"80", "0", "65535", "65536", // limits
		"1-1024", "0-65535", "5-5", "10-5", // ranges, and one reversed
		"", "-", "-5", "5-", "1-2-3", "--", // missing and extra parts
		"080", "00000000000000000080", // leading zeros
		"+80", " 80", "8 0", "0x50", "1_000", // what strconv.Atoi or ParseInt(0) might take
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ports.ParseRange(s)

		// Oracle.
		a, b, isRange := strings.Cut(s, "-")
		if !isRange {
			b = a
		}
		first, errA := strconv.ParseUint(a, 10, 16)
		last, errB := strconv.ParseUint(b, 10, 16)
		oracleOK := errA == nil && errB == nil && first <= last

		if oracleOK != (err == nil) {
			t.Fatalf("ParseRange(%q) = %v, %v; oracle says ok=%v", s, r, err, oracleOK)
		}
		if err != nil {
			var pe *ports.ParseError
			if !errors.As(err, &pe) || pe.Input != s || pe.Pos < 0 || pe.Pos > len(s) {
				t.Fatalf("ParseRange(%q) error %#v: not a ParseError for the input with a position in it", s, err)
			}
			return
		}
		if want := (ports.Range{ports.Port(first), ports.Port(last)}); r != want {
			t.Fatalf("ParseRange(%q) = %v, oracle %v", s, r, want)
		}
		r2, err := ports.ParseRange(r.String())
		if err != nil || r2 != r {
			t.Fatalf("ParseRange(%q) = %v; re-parsing %q gave %v, %v", s, r, r.String(), r2, err)
		}
	})
}
