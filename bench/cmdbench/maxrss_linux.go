package main

import (
	"os"
	"syscall"
)

// maxRSS returns the child's peak resident set in bytes; Linux reports
// ru_maxrss in KiB.
//
// Linux folds the RSS of the image a process replaces at execve into its
// ru_maxrss. Go starts children with vfork, so that image is the runner
// itself: a child's ru_maxrss is never below the runner's own peak.
// rssFloor returns that peak, to tell the two apart.
func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) * 1024
	}
	return 0
}

// rssFloor returns the runner's own peak RSS in bytes.
func rssFloor() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return int64(ru.Maxrss) * 1024
}
