//go:build unix

package mapper

import "syscall"

// fdLimit is the process's soft RLIMIT_NOFILE, or 0 when unknown.
func fdLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return uint64(l.Cur)
}
