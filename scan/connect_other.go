//go:build !unix

package scan

// fdLimit returns 1024: the system has no RLIMIT_NOFILE.
func fdLimit() int { return 1024 }
