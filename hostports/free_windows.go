package hostports

import (
	"errors"

	"golang.org/x/sys/windows"
)

// bindBusy reports whether a bind error means the port is not free: in
// use, or forbidden (WSAEACCES, as for a port in an excluded range or
// held with SO_EXCLUSIVEADDRUSE).
func bindBusy(err error) bool {
	return errors.Is(err, windows.WSAEADDRINUSE) || errors.Is(err, windows.WSAEACCES)
}
