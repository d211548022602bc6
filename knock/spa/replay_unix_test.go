//go:build unix

package spa

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports/internal/cfgfile"
)

// TestReplayCacheFileKinds: the digest file must be a regular file: a
// FIFO, /dev/zero or a directory is refused, with one line naming it,
// and never read (the FIFO would block, /dev/zero never end).
func TestReplayCacheFileKinds(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "not a regular file (a named pipe)"},
		{"/dev/zero", "not a regular file (a character device)"},
		{dir, "not a regular file (a directory)"},
	} {
		c, err := OpenReplayCache(tc.path, 0)
		if err == nil {
			c.Close()
			t.Errorf("%s: accepted", tc.path)
			continue
		}
		var ce *cfgfile.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.path+": "+tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %q, want one line with %q", tc.path, err, tc.want)
		}
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, ReplayFileLimit+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReplayCache(big, 0); !errors.Is(err, cfgfile.ErrTooLarge) {
		t.Errorf("a file over the limit: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("floor 1\nnot a digest\n"), 0o600)
	if _, err := OpenReplayCache(bad, 0); err == nil || !strings.Contains(err.Error(), bad+":2: ") {
		t.Errorf("a bad line: %v, want it named with its line", err)
	}
}
