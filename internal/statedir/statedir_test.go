package statedir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirOrder(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/srv/a:/srv/b")
	t.Setenv("XDG_STATE_HOME", "/x")
	t.Setenv("HOME", "/h")
	if d, err := Dir(); err != nil || d != "/srv/a" {
		t.Errorf("with $STATE_DIRECTORY: %q, %v; want the first of its list", d, err)
	}
	t.Setenv("STATE_DIRECTORY", "")
	want := "/x/ports"
	if os.Geteuid() == 0 {
		want = "/var/lib/ports"
	}
	if d, err := Dir(); err != nil || d != want {
		t.Errorf("without $STATE_DIRECTORY: %q, %v; want %q", d, err, want)
	}
}

func TestFileCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	t.Setenv("STATE_DIRECTORY", dir)
	p, err := File("spa.digest")
	if err != nil || p != filepath.Join(dir, "spa.digest") {
		t.Fatalf("File: %q, %v", p, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v, %v; want a directory with mode 0700", st, err)
	}
}
