//go:build !unix && !windows

package cli

import (
	"errors"
	"fmt"
	"runtime"
)

// signals are the signals kill knows by name.
var signals = []signal{{15, "TERM"}, {9, "KILL"}}

// numericSignalsOK allows signal numbers without a name in signals.
const numericSignalsOK = false

func checkSignal(signal) error { return nil }

func sendSignal(int, signal) error {
	return fmt.Errorf("signalling processes is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
