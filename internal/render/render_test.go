package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type row struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

func writeRows(t *testing.T, f Format, rows []row) string {
	t.Helper()
	var b bytes.Buffer
	s := NewStream(&b, f, func(tw io.Writer, r row) error {
		_, err := fmt.Fprintf(tw, "%d\t%s\n", r.N, r.Text)
		return err
	})
	s.Header("N\tTEXT")
	for _, r := range rows {
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Len() != len(rows) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(rows))
	}
	return b.String()
}

func TestStream(t *testing.T) {
	rows := []row{{1, "a<b>"}, {22, "c"}}
	tests := []struct {
		format Format
		rows   []row
		want   string
	}{
		{Table, rows, "N   TEXT\n1   a<b>\n22  c\n"},
		{JSONL, rows, "{\"n\":1,\"text\":\"a<b>\"}\n{\"n\":22,\"text\":\"c\"}\n"},
		{JSON, rows, "[\n  {\n    \"n\": 1,\n    \"text\": \"a<b>\"\n  },\n  {\n    \"n\": 22,\n    \"text\": \"c\"\n  }\n]\n"},
		{JSON, nil, "[]\n"},
		{JSONL, nil, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%d", tt.format, len(tt.rows)), func(t *testing.T) {
			got := writeRows(t, tt.format, tt.rows)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if tt.format == JSON {
				var back []row
				if err := json.Unmarshal([]byte(got), &back); err != nil {
					t.Fatalf("not a JSON array: %v", err)
				}
				if len(back) != len(tt.rows) {
					t.Errorf("read back %d rows, want %d", len(back), len(tt.rows))
				}
			}
		})
	}
}

func TestFormatSet(t *testing.T) {
	for in, want := range map[string]Format{"table": Table, "JSON": JSON, "jsonl": JSONL, "ndjson": JSONL} {
		var f Format
		if err := f.Set(in); err != nil || f != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, f, err, want)
		}
	}
	var f Format
	if err := f.Set("xml"); err == nil {
		t.Error(`Set("xml") succeeded`)
	}
}
