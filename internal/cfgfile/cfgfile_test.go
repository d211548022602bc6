package cfgfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReadRegular(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.conf")
	if err := os.WriteFile(p, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p, 0)
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("Read = %q, %v", got, err)
	}
}

func TestReadTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 2049), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Read(p, 2048)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit of 2 KiB") || !strings.HasPrefix(err.Error(), p+": ") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Read(p, 2049); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
}

func TestReadNotRegular(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{dir: "a directory"}
	if runtime.GOOS != "windows" {
		cases["/dev/zero"] = "a character device"
		cases[mkfifo(t, filepath.Join(dir, "fifo"))] = "a named pipe"
	}
	for path, want := range cases {
		done := make(chan error, 1)
		go func() { _, err := Read(path, 0); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), want) {
				t.Errorf("Read(%s) = %v, want not a regular file (%s)", path, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Read(%s) blocked", path)
		}
	}
}

func TestReadMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope")
	_, err := Read(p, 0)
	if !errors.Is(err, os.ErrNotExist) || err.Error() != p+": no such file or directory" {
		t.Fatalf("err = %v", err)
	}
}

func TestProblems(t *testing.T) {
	ps := Problems{{File: "a.conf", Line: 3, Msg: "bad key"}, {File: "a.conf", Msg: "no rules"}}
	if got, want := ps.Error(), "a.conf:3: bad key (and 1 more problem)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := ps[1].String(), "a.conf: no rules"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("loading: %w", ps)
	if got := ProblemsOf(wrapped); len(got) != 2 || got[0] != ps[0] {
		t.Errorf("ProblemsOf(wrapped) = %v, want %v", got, ps)
	}
	if got := ProblemsOf(&Error{Path: "a.conf", Err: ErrTooLarge}); got != nil {
		t.Errorf("ProblemsOf(a read error) = %v, want nil", got)
	}
}
