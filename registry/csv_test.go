package registry

import (
	"encoding/csv"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portkit/ports"
)

// readAllCSV reads every record of data with csvReader, allowing up to
// maxFields fields a record.
func readAllCSV(data string, maxFields int) ([][]string, error) {
	r := csvReader{data: data, line: 1}
	dst := make([]string, maxFields)
	var out [][]string
	for {
		n, err := r.next(dst)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, append([]string(nil), dst[:n]...))
	}
}

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		{"empty input", "", nil},
		{"one record", "a,b,c\n", [][]string{{"a", "b", "c"}}},
		{"no final newline", "a,b", [][]string{{"a", "b"}}},
		{"two records", "a,b\nc,d\n", [][]string{{"a", "b"}, {"c", "d"}}},
		{"empty fields", ",a,,\n", [][]string{{"", "a", "", ""}}},
		{"only a comma", ",", [][]string{{"", ""}}},
		{"quoted", `"a","b c"` + "\n", [][]string{{"a", "b c"}}},
		{"quoted comma", `"a,b",c`, [][]string{{"a,b", "c"}}},
		{"empty quoted", `"",x`, [][]string{{"", "x"}}},
		{"doubled quote", `"a""b",c`, [][]string{{`a"b`, "c"}}},
		{"only a doubled quote", `""""`, [][]string{{`"`}}},
		{"doubled quotes at the ends", `"""a"""`, [][]string{{`"a"`}}},
		{"several doubled quotes", `"a""b""c"`, [][]string{{`a"b"c`}}},
		{"newline in quotes", "\"a\nb\",c\nd,e\n", [][]string{{"a\nb", "c"}, {"d", "e"}}},
		{"newline and doubled quote", "\"x\n\"\"y\"\"\n\"\n", [][]string{{"x\n\"y\"\n"}}},
		{"CRLF", "a,b\r\nc,d\r\n", [][]string{{"a", "b"}, {"c", "d"}}},
		{"CRLF after quoted", "\"a\"\r\n\"b\"\r\n", [][]string{{"a"}, {"b"}}},
		{"CRLF kept in quotes", "\"a\r\nb\"\r\n", [][]string{{"a\r\nb"}}},
		{"CR at the end", "a,b\r", [][]string{{"a", "b"}}},
		{"blank line", "a\n\nb\n", [][]string{{"a"}, {""}, {"b"}}}, // Parse skips it
		{"spaces kept", " a , b ", [][]string{{" a ", " b "}}},
		{"UTF-8", "é,ü\n", [][]string{{"é", "ü"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllCSV(tt.in, 8)
			if err != nil {
				t.Fatalf("read %q: %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("read %q (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestCSVReaderErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		max      int
		wantLine int
		wantMsg  string
	}{
		{"unclosed quote", `a,"b`, 8, 1, "quoted field not closed"},
		{"unclosed quote on a later line", "x\ny\n\"a\nb", 8, 3, "quoted field not closed"},
		{"bare quote", `a,b"c`, 8, 1, `bare " in unquoted field`},
		{"bare quote on line 3", "x\ny\na\"b\n", 8, 3, `bare " in unquoted field`},
		{"bare quote after a quoted newline", "\"x\ny\"\na\"\n", 8, 3, `bare " in unquoted field`},
		{"text after quoted", `"a"b`, 8, 1, `unexpected 'b' after quoted field`},
		{"space after quoted", `"a" ,b`, 8, 1, `unexpected ' ' after quoted field`},
		{"text after quoted newline", "\"a\nb\"c", 8, 2, `unexpected 'c' after quoted field`},
		{"CR alone after quoted", "\"a\"\rb", 8, 1, `unexpected '\r' after quoted field`},
		{"too many fields", "a,b,c,d\n", 2, 1, "more than 2 fields"},
		// One field too many, the last on its line: the reader has read
		// the newline after it before it counts the fields.
		{"one field too many", "a,b,c\n", 2, 1, "more than 2 fields"},
		{"one field too many on line 2", "a\nb,c,d\n", 2, 2, "more than 2 fields"},
		{"one field too many at the end", "a\nb,c,d", 2, 2, "more than 2 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAllCSV(tt.in, tt.max)
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("read %q: error %v, want a *CSVError", tt.in, err)
			}
			if ce.Line != tt.wantLine || ce.Msg != tt.wantMsg {
				t.Errorf("read %q: error at line %d %q, want line %d %q", tt.in, ce.Line, ce.Msg, tt.wantLine, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "registry csv: line ") {
				t.Errorf("error %q lacks the prefix", err)
			}
		})
	}
}

var headerLine = strings.Join(header[:], ",") + "\n"

func TestParse(t *testing.T) {
	data := headerLine +
		"echo,7,tcp,Echo,[Jon_Postel],[Jon_Postel],,,,,,\n" +
		"\n" + // blank lines are skipped
		`x-multi,1000-1002,UDP,"line one` + "\n" + `line ""two""",,,2020-01-01,2021-02-03,[RFC1],SC,yes,note` + "\n" +
		"dnssd-only,,,DNS-SD name,,,,,,,,\n"
	reg, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{Name: "echo", Ports: ports.Range{First: 7, Last: 7}, HasPort: true, Proto: ports.ProtoTCP, Description: "Echo", Assignee: "[Jon_Postel]", Contact: "[Jon_Postel]"},
		{Name: "x-multi", Ports: ports.Range{First: 1000, Last: 1002}, HasPort: true, Proto: ports.ProtoUDP, Description: "line one\nline \"two\"",
			Registered: "2020-01-01", Modified: "2021-02-03", Reference: "[RFC1]", ServiceCode: "SC", Unauthorized: "yes", Notes: "note"},
		{Name: "dnssd-only", Description: "DNS-SD name"},
	}
	var got []Record
	for rec := range reg.All() {
		got = append(got, *rec)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	// The indexes of a parsed registry work too.
	if n := names(reg.Port(ports.ProtoUDP, 1001)); !cmp.Equal(n, []string{"x-multi"}) {
		t.Errorf("Port(udp, 1001) = %v", n)
	}
	if !reg.Registered(ports.ProtoTCP, 7) || reg.Registered(ports.ProtoUDP, 7) {
		t.Errorf("Registered disagrees with the records")
	}
	if n := names(reg.Name("DNSSD-ONLY")); !cmp.Equal(n, []string{"dnssd-only"}) {
		t.Errorf("Name(DNSSD-ONLY) = %v", n)
	}

	// CRLF line ends read the same.
	reg2, err := Parse(strings.ReplaceAll(data, "\n", "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if reg2.Len() != 3 || reg2.Record(0).Contact != "[Jon_Postel]" || reg2.Record(2).Notes != "" {
		t.Errorf("CRLF: got %d records, first %+v", reg2.Len(), *reg2.Record(0))
	}
}

func TestParseErrors(t *testing.T) {
	rec := "echo,7,tcp,Echo,,,,,,,,\n"
	tests := []struct {
		name     string
		in       string
		wantLine int
		wantMsg  string
	}{
		{"empty", "", 1, "not the IANA service-names-port-numbers header"},
		{"wrong header", strings.Replace(headerLine, "Port Number", "Port", 1) + rec, 1, "not the IANA service-names-port-numbers header"},
		{"short header", "Service Name,Port Number\n" + rec, 1, "not the IANA service-names-port-numbers header"},
		{"long header", strings.TrimSuffix(headerLine, "\n") + ",extra\n" + rec, 1, "more than 12 fields"},
		{"too few fields", headerLine + rec + "a,1,tcp\n", 3, "3 fields, want 12"},
		{"too many fields", headerLine + "a,1,tcp,,,,,,,,,,x,y\n", 2, "more than 12 fields"},
		{"one field too many", headerLine + "a,1,tcp,,,,,,,,,,x\n", 2, "more than 12 fields"},
		{"after a multi-line field", headerLine + "a,1,tcp,\"x\ny\nz\",,,,,,,,\nb,2\n", 5, "2 fields, want 12"},
		{"bad port", headerLine + "a,http,tcp,,,,,,,,,\n", 2, `invalid port "http" at position 1: not a port number`},
		{"port too big", headerLine + rec + "a,70000,tcp,,,,,,,,,\n", 3, `invalid port "70000" at position 1: port number above 65535`},
		{"reversed range", headerLine + "a,10-5,tcp,,,,,,,,,\n", 2, "end is below start"},
		{"bad protocol", headerLine + "a,1,icmp,,,,,,,,,\n", 2, `invalid protocol "icmp"`},
		{"unclosed quote", headerLine + rec + "a,1,tcp,\"x\n", 3, "quoted field not closed"},
		{"bare quote", headerLine + "a,1,tcp,x\"y,,,,,,,,\n", 2, `bare " in unquoted field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := Parse(tt.in)
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("Parse: error %v, want a *CSVError", err)
			}
			if reg != nil {
				t.Errorf("Parse returned a registry with its error")
			}
			if ce.Line != tt.wantLine || !strings.Contains(ce.Msg, tt.wantMsg) {
				t.Errorf("Parse: error at line %d %q, want line %d with %q", ce.Line, ce.Msg, tt.wantLine, tt.wantMsg)
			}
		})
	}
}

// FuzzCSV compares csvReader with encoding/csv (LazyQuotes false,
// FieldsPerRecord -1). The two read RFC 4180 alike, and differ in these
// documented ways, which the comparison steps around:
//
//   - encoding/csv skips empty lines ("\n", "\r\n", and a "\r" at the end
//     of the input); csvReader returns them as a record of one empty field,
//     which Parse skips. Such records are left out of the comparison.
//   - encoding/csv turns "\r\n" into "\n" everywhere, inside quoted fields
//     too; csvReader keeps a quoted "\r\n" as it is.
//   - csvReader drops a "\r" at the end of every unquoted field, also before
//     a comma ("a\r,b" reads as "a", "b"), where encoding/csv keeps it; and
//     it rejects a "\r" after a closing quote at the end of the input, which
//     encoding/csv drops.
//
// So inputs with a '\r' are compared only when they have no '"' and every
// '\r' ends a line or the input. On the rest, both must agree on success
// and, when they succeed, on every record.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n", "a,b", ",", "\n", "a\n\nb", // plain and blank lines
		`"a,b",c`, `"a""b"`, `""`, `""""`, `"""`, `"a`, // quoting
		"\"a\nb\",c\n", "\"x\n\"\"y\"\"\n\"\n", // newlines in quotes
		`a"b`, `"a"b`, `"a" `, ` "a"`, // bare and stray quotes
		"a,b\r\nc\r\n", "a\r", "a\r,b", "\"a\r\nb\"", "\"a\"\r", "\r\n\r\n", "\r", // CR
		"é,\xff\n", "\x00,\x00", // bytes
		headerLine + "echo,7,tcp,Echo,[Jon_Postel],[Jon_Postel],,,,,,\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if strings.Contains(in, "\r") {
			if strings.Contains(in, `"`) {
				return
			}
			for i := 0; i < len(in); i++ {
				if in[i] == '\r' && i+1 < len(in) && in[i+1] != '\n' {
					return
				}
			}
		}

		cr := csv.NewReader(strings.NewReader(in))
		cr.FieldsPerRecord = -1
		want, wantErr := cr.ReadAll()

		r := csvReader{data: in, line: 1}
		dst := make([]string, len(in)+1) // room for any record
		var got [][]string
		var gotErr error
		for {
			start := r.pos
			n, err := r.next(dst)
			if err != nil {
				gotErr = err
				break
			}
			if n == 0 {
				break
			}
			if rest := in[start:]; strings.HasPrefix(rest, "\n") || strings.HasPrefix(rest, "\r\n") || rest == "\r" {
				// A blank line, which encoding/csv skips.
				if n != 1 || dst[0] != "" {
					t.Fatalf("blank line at %d read as %q", start, dst[:n])
				}
				continue
			}
			got = append(got, append([]string(nil), dst[:n]...))
		}

		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("input %q: encoding/csv error %v, csvReader error %v", in, wantErr, gotErr)
		}
		if wantErr != nil {
			return
		}
		if diff := cmp.Diff(want, got, cmpEmpty); diff != "" {
			t.Fatalf("input %q (-encoding/csv +csvReader):\n%s", in, diff)
		}
	})
}

var cmpEmpty = cmp.Comparer(func(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !cmp.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
})
