package hostports

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
)

// recorded returns a procImpl over files with the given contents; a nil
// content leaves the file out.
func recorded(localPortRange, unprivStart *string) procImpl {
	m := fstest.MapFS{}
	if localPortRange != nil {
		m[fileLocalPortRange] = &fstest.MapFile{Data: []byte(*localPortRange)}
	}
	if unprivStart != nil {
		m[fileUnprivPortStart] = &fstest.MapFile{Data: []byte(*unprivStart)}
	}
	return procImpl{fsys: m, dir: procDir}
}

func ptr(s string) *string { return &s }

func TestProcEphemeralRange(t *testing.T) {
	const file = "/proc/sys/net/ipv4/ip_local_port_range"
	tests := []struct {
		name    string
		content string
		want    ports.Range
		wantErr string // substrings of the error, after the file name
	}{
		{name: "linux default", content: "32768\t60999\n", want: ports.Range{First: 32768, Last: 60999}},
		{name: "old default", content: "32768\t61000\n", want: ports.Range{First: 32768, Last: 61000}},
		{name: "spaces", content: "  1024   65535  \n", want: ports.Range{First: 1024, Last: 65535}},
		{name: "no newline", content: "49152 65535", want: ports.Range{First: 49152, Last: 65535}},
		{name: "one port", content: "40000\t40000\n", want: ports.Range{First: 40000, Last: 40000}},
		{name: "crlf", content: "1\t2\r\n", want: ports.Range{First: 1, Last: 2}},

		{name: "empty", content: "", wantErr: `invalid port range "": empty, want two ports`},
		{name: "blank", content: " \n", wantErr: `invalid port range "": empty, want two ports`},
		{name: "one number", content: "32768\n", wantErr: `invalid port range "32768" at position 6: missing last port`},
		{name: "three numbers", content: "1 2 3\n", wantErr: `invalid port range "1 2 3" at position 5: more than two ports`},
		{name: "not a number", content: "32768\tabc\n", wantErr: `invalid port range "32768\tabc" at position 7: not a port number`},
		{name: "negative", content: "-1 5\n", wantErr: `invalid port range "-1 5" at position 1: not a port number`},
		{name: "too big", content: "1024 70000\n", wantErr: `invalid port range "1024 70000" at position 6: port number above 65535`},
		{name: "reversed", content: "60999 32768\n", wantErr: `invalid port range "60999 32768" at position 7: last port below first`},
		{name: "dash", content: "32768-60999\n", wantErr: `invalid port range "32768-60999" at position 6: not a port number`},
		{name: "binary", content: "\x00\x01", wantErr: `invalid port range "\x00\x01" at position 1: not a port number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := recorded(&tt.content, ptr("1024\n")).ephemeralRange()
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ephemeralRange() = %v, want error", got)
				}
				want := "hostports: " + file + ": " + tt.wantErr
				if err.Error() != want {
					t.Errorf("error\n got %s\nwant %s", err, want)
				}
				var pe *ports.ParseError
				if !errors.As(err, &pe) {
					t.Errorf("error %v does not wrap *ports.ParseError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ephemeralRange(): %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ephemeralRange() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProcUnprivilegedStart(t *testing.T) {
	const file = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
	tests := []struct {
		name    string
		content *string // nil: no file
		want    ports.Port
		wantErr string
	}{
		{name: "default", content: ptr("1024\n"), want: 1024},
		{name: "all unprivileged", content: ptr("0\n"), want: 0},
		{name: "max", content: ptr("65535\n"), want: 65535},
		{name: "lowered", content: ptr("80"), want: 80},
		{name: "missing file (before Linux 4.11)", content: nil, want: 1024},

		{name: "empty", content: ptr(""), wantErr: `invalid port "": empty, want a port`},
		{name: "two numbers", content: ptr("1024 2048\n"), wantErr: `invalid port "1024 2048" at position 6: more than one port`},
		{name: "too big", content: ptr("65536\n"), wantErr: `invalid port "65536" at position 1: port number above 65535`},
		{name: "not a number", content: ptr("1k\n"), wantErr: `invalid port "1k" at position 2: not a port number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := recorded(ptr("32768\t60999\n"), tt.content).unprivilegedStart()
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("unprivilegedStart() = %v, want error", got)
				}
				want := "hostports: " + file + ": " + tt.wantErr
				if err.Error() != want {
					t.Errorf("error\n got %s\nwant %s", err, want)
				}
				var pe *ports.ParseError
				if !errors.As(err, &pe) {
					t.Errorf("error %v does not wrap *ports.ParseError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unprivilegedStart(): %v", err)
			}
			if got != tt.want {
				t.Errorf("unprivilegedStart() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProcRead(t *testing.T) {
	got, err := read(recorded(ptr("32768\t60999\n"), ptr("1024\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Ephemeral: ports.Range{First: 32768, Last: 60999}, UnprivilegedStart: 1024, Source: procDir}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read() (-want +got):\n%s", diff)
	}
}

func TestProcReadErrors(t *testing.T) {
	t.Run("missing range", func(t *testing.T) {
		_, err := read(recorded(nil, ptr("1024\n")))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("read() error = %v, want fs.ErrNotExist", err)
		}
		want := "hostports: read /proc/sys/net/ipv4/ip_local_port_range: "
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Path != procDir+"/"+fileLocalPortRange {
			t.Errorf("error %v: want *fs.PathError for the full path", err)
		}
	})
	t.Run("permission", func(t *testing.T) {
		m := fstest.MapFS{
			fileLocalPortRange:  &fstest.MapFile{Data: []byte("1 2\n")},
			fileUnprivPortStart: &fstest.MapFile{Data: []byte("1024\n")},
		}
		_, err := read(procImpl{fsys: deny{m, fileUnprivPortStart}, dir: procDir})
		if !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("read() error = %v, want fs.ErrPermission", err)
		}
	})
	t.Run("malformed start", func(t *testing.T) {
		_, err := read(recorded(ptr("1 2\n"), ptr("x\n")))
		var pe *ports.ParseError
		if !errors.As(err, &pe) || pe.Input != "x" {
			t.Fatalf("read() error = %v, want *ports.ParseError for %q", err, "x")
		}
	})
}

// deny is a file system where opening name fails with fs.ErrPermission.
type deny struct {
	fs.FS
	name string
}

func (d deny) Open(name string) (fs.File, error) {
	if name == d.name {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.FS.Open(name)
}
