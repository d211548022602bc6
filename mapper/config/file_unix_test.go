//go:build unix

package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/mapper/config"
)

// badFiles are paths that are not regular files: reading any of them as
// configuration used to run out of memory (/dev/zero) or block forever
// (a FIFO with no writer).
func badFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"/dev/zero": "not a regular file (a character device)",
		fifo:        "not a regular file (a named pipe)",
		sub:         "not a regular file (a directory)",
	}
}

// loadQuickly runs config.Load, failing the test if it blocks.
func loadQuickly(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := config.Load(path); done <- err }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Load(%s) blocked", path)
		return nil
	}
}

func TestLoadRuleFileNotRegular(t *testing.T) {
	for path, want := range badFiles(t) {
		err := loadQuickly(t, path)
		var ce *config.Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || !errors.Is(err, cfgfile.ErrNotRegular) {
			t.Errorf("Load(%s) = %v, want one not-regular problem", path, err)
			continue
		}
		if got := ce.Problems[0].String(); got != path+": "+want {
			t.Errorf("Load(%s): %q, want %q", path, got, path+": "+want)
		}
	}
}

func TestLoadRuleFileTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.toml")
	// A comment line longer than the limit: valid TOML, so only the
	// size check refuses it.
	if err := os.WriteFile(p, []byte("#"+strings.Repeat("x", config.MaxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := loadQuickly(t, p)
	if !errors.Is(err, cfgfile.ErrTooLarge) || err.Error() != p+": larger than the limit of 4 MiB" {
		t.Fatalf("Load = %v", err)
	}
}

func TestLoadUsersFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	for path, want := range badFiles(t) {
		cfg := filepath.Join(dir, "p.toml")
		if err := os.WriteFile(cfg, []byte(`[[rule]]
name = "h"
type = "http"
listen = "127.0.0.1:3128"
users_file = "`+path+`"
`), 0o600); err != nil {
			t.Fatal(err)
		}
		err := loadQuickly(t, cfg)
		var ce *config.Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || !errors.Is(err, cfgfile.ErrNotRegular) {
			t.Errorf("users_file %s: Load = %v, want one not-regular problem", path, err)
			continue
		}
		if got, w := ce.Problems[0].String(), cfg+`:5: rule "h": users_file: `+path+": "+want; got != w {
			t.Errorf("users_file %s: %q, want %q", path, got, w)
		}
	}
}
