//go:build !linux

package scan

import (
	"errors"
	"fmt"
	"runtime"
)

// errSYNUnsupported is the error of a SYN scan where raw sockets are not
// implemented.
var errSYNUnsupported = fmt.Errorf("scan: the SYN scan is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// SYNAvailable reports whether the process may open the raw sockets a
// SYN scan needs; here it may not: the error wraps errors.ErrUnsupported.
func SYNAvailable() error { return errSYNUnsupported }

func openSYNIO([2]bool, int) (synIO, error) { return nil, errSYNUnsupported }
