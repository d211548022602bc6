//go:build unix

package knock

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/cfgfile"
)

// notRegular are paths that are not regular files: read as knockd.conf or
// as a One_Time_Sequences file they used to run out of memory
// (/dev/zero) or block forever (a FIFO with no writer).
func notRegular(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"/dev/zero": "not a regular file (a character device)",
		fifo:        "not a regular file (a named pipe)",
		dir:         "not a regular file (a directory)",
	}
}

func loadConfigQuickly(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := LoadConfig(path); done <- err }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("LoadConfig(%s) blocked", path)
		return nil
	}
}

func TestLoadConfigNotRegular(t *testing.T) {
	for path, want := range notRegular(t) {
		err := loadConfigQuickly(t, path)
		if !errors.Is(err, cfgfile.ErrNotRegular) || err.Error() != path+": "+want {
			t.Errorf("LoadConfig(%s) = %v, want %q", path, err, path+": "+want)
		}
	}
}

func TestLoadConfigOneTimeSequencesNotRegular(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "knockd.conf")
	for path, want := range notRegular(t) {
		if err := os.WriteFile(conf, []byte("[options]\n\tInterface = lo\n[door]\n\tOne_Time_Sequences = "+path+"\n\tcommand = /bin/true\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := loadConfigQuickly(t, conf)
		if w := conf + ":3: section [door]: " + path + ": " + want; !errors.Is(err, cfgfile.ErrNotRegular) || err.Error() != w {
			t.Errorf("One_Time_Sequences = %s: LoadConfig = %v, want %q", path, err, w)
		}
	}
}
