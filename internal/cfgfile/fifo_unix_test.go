//go:build unix

package cfgfile

import (
	"syscall"
	"testing"
)

func mkfifo(t *testing.T, path string) string {
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
