//go:build unix

package hostports

import (
	"errors"
	"syscall"
)

// bindBusy reports whether a bind error means the port is not free:
// in use, or privileged (EACCES).
func bindBusy(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EACCES)
}
