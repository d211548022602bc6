//go:build !linux && !freebsd && !netbsd && !openbsd && !dragonfly && !darwin && !ios

package main

import "os"

// maxRSS returns 0: this OS gives no peak RSS in os.ProcessState.
func maxRSS(*os.ProcessState) int64 { return 0 }

// rssFloor returns 0; see maxrss_linux.go.
func rssFloor() int64 { return 0 }
