package cli

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSPAConfigFileKinds: access.conf (knockd --spa -c), the key file
// (knock --spa --key-file) and the digest file (knockd --digest-file)
// must be regular files: a FIFO, /dev/zero or a directory is refused
// with one line naming it and exit 2, without blocking or reading on.
func TestSPAConfigFileKinds(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE_DIRECTORY", filepath.Join(dir, "state"))
	t.Setenv(envSPAKey, "")
	t.Setenv(envSPAHMAC, "")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	k := base64.StdEncoding.EncodeToString(make([]byte, 32))
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", k, k)), 0o600)
	for _, f := range []struct{ path, kind string }{
		{fifo, "a named pipe"},
		{"/dev/zero", "a character device"},
		{dir, "a directory"},
	} {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"knockd", "--spa", "-c", f.path}, f.path + ": not a regular file (" + f.kind + ")"},
			{[]string{"knock", "--spa", "-A", "tcp/22", "-s", "--key-file", f.path, "127.0.0.1"}, "--key-file " + f.path + ": not a regular file (" + f.kind + ")"},
			{[]string{"knockd", "--spa", "-c", access, "--listen", "127.0.0.1:0", "--digest-file", f.path}, "digest file " + f.path + ": not a regular file (" + f.kind + ")"},
		} {
			code, _, stderr := run(t, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("ports %q: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
			}
		}
	}
}
