package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   \t\n ", nil},
		{"true", []string{"true"}},
		{"getent services 443", []string{"getent", "services", "443"}},
		{"  a \t b\n", []string{"a", "b"}},
		{`ports info --format json 443`, []string{"ports", "info", "--format", "json", "443"}},
		{`--format=json`, []string{"--format=json"}},
		// Single quotes are literal, backslashes included.
		{`a 'b c' d`, []string{"a", "b c", "d"}},
		{`'a\b'`, []string{`a\b`}},
		{`'a"b'`, []string{`a"b`}},
		// Double quotes: backslash escapes only " and \.
		{`"b c"`, []string{"b c"}},
		{`"a\"b"`, []string{`a"b`}},
		{`"a\\b"`, []string{`a\b`}},
		{`"a\nb"`, []string{`a\nb`}},
		{`"it's"`, []string{"it's"}},
		// Backslash outside quotes.
		{`a\ b`, []string{"a b"}},
		{`\'`, []string{"'"}},
		{`\|`, []string{"|"}},
		// Pieces join; empty quotes give an empty word.
		{`a'b c'"d"e`, []string{"ab cde"}},
		{`''`, []string{""}},
		{`a "" b`, []string{"a", "", "b"}},
		{`'it'\''s'`, []string{"it's"}},
		// Quoted metacharacters and things the shell would expand are literal.
		{`tcpdump -r x.pcap 'tcp and (port 80 or port 443)'`, []string{"tcpdump", "-r", "x.pcap", "tcp and (port 80 or port 443)"}},
		{`sh -c 'echo $HOME; exit 3'`, []string{"sh", "-c", "echo $HOME; exit 3"}},
		{`ls *.go ~`, []string{"ls", "*.go", "~"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := splitArgs(tt.in)
			if err != nil {
				t.Fatalf("splitArgs(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("splitArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitArgsErrors(t *testing.T) {
	tests := []struct {
		in   string
		off  int
		want string // in the message
	}{
		{`a 'b`, 2, "unterminated ' quote"},
		{`a "b`, 2, `unterminated " quote`},
		{`"a\"`, 0, `unterminated " quote`},
		{`a\`, 1, "trailing backslash"},
		{`ports info 443 | jq .`, 15, `unquoted '|'`},
		{`a > out`, 2, `unquoted '>'`},
		{`a; b`, 1, `unquoted ';'`},
		{`a && b`, 2, `unquoted '&'`},
		{`echo $HOME`, 5, `unquoted '$'`},
		{"echo `id`", 5, "unquoted '`'"},
		{`f (x)`, 2, `unquoted '('`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := splitArgs(tt.in)
			var se *syntaxError
			if !errors.As(err, &se) {
				t.Fatalf("splitArgs(%q) = %q, %v; want a *syntaxError", tt.in, got, err)
			}
			if se.Off != tt.off || se.In != tt.in || !strings.Contains(se.Msg, tt.want) {
				t.Errorf("splitArgs(%q) error = %+v, want offset %d and message containing %q", tt.in, se, tt.off, tt.want)
			}
		})
	}
}

// joinArgs output must split back into the same argv.
func TestJoinArgsRoundTrip(t *testing.T) {
	tests := [][]string{
		{"true"},
		{"getent", "services", "443"},
		{"a b", "", "it's", `back\slash`, `"q"`, "tab\there", "x|y", "$HOME", "(p)", "--format=json"},
	}
	for _, argv := range tests {
		s := joinArgs(argv)
		got, err := splitArgs(s)
		if err != nil || !slices.Equal(got, argv) {
			t.Errorf("splitArgs(joinArgs(%q)) = splitArgs(%q) = %q, %v", argv, s, got, err)
		}
	}
	if got, want := joinArgs([]string{"ports", "info", "--format", "json", "443"}), "ports info --format json 443"; got != want {
		t.Errorf("joinArgs plain words = %q, want %q", got, want)
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    spec
		wantErr string
	}{
		{in: "getent=getent services 443", want: spec{"getent", []string{"getent", "services", "443"}}},
		{in: "ports-json=ports info --format=json 443", want: spec{"ports-json", []string{"ports", "info", "--format=json", "443"}}},
		{in: "n=env A=1 true", want: spec{"n", []string{"env", "A=1", "true"}}},
		{in: "getent services 443", wantErr: "want NAME=CMD"},
		{in: "=true", wantErr: "want NAME=CMD"},
		{in: "ports info --format=json", wantErr: "missing NAME= prefix"},
		{in: "a|b=true", wantErr: "missing NAME= prefix"},
		{in: "n=", wantErr: "empty CMD"},
		{in: "n=  ", wantErr: "empty CMD"},
		{in: "n='x", wantErr: "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSpec(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseSpec(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.want.Name || !slices.Equal(got.Argv, tt.want.Argv) {
				t.Errorf("parseSpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}
