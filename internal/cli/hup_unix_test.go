//go:build unix

package cli

import (
	"os"
	"syscall"
)

// sendHUP sends SIGHUP to this process.
func sendHUP() error { return syscall.Kill(os.Getpid(), syscall.SIGHUP) }
