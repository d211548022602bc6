//go:build unix

package systemd

import (
	"fmt"
	"os"
	"syscall"
)

// devIno is f's "DEVICE:INODE" in JOURNAL_STREAM's form.
func devIno(f *os.File) (string, bool) {
	fi, err := f.Stat()
	if err != nil {
		return "", false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%d:%d", uint64(st.Dev), uint64(st.Ino)), true
}
