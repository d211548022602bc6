//go:build unix

package systemd

import "syscall"

func closeOnExec(fd int) { syscall.CloseOnExec(fd) }
