//go:build unix

package scan

import "syscall"

// fdLimit returns the soft RLIMIT_NOFILE, or 1024 if it cannot be read.
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(uint64(rl.Cur), 1<<20))
}
