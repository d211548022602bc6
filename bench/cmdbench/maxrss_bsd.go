//go:build freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"
	"syscall"
)

// maxRSS returns the child's peak resident set in bytes; the BSDs report
// ru_maxrss in KiB.
func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) * 1024
	}
	return 0
}

// rssFloor returns 0: no floor is known here (see maxrss_linux.go).
func rssFloor() int64 { return 0 }
