//go:build !linux

package scan

import "context"

// ephemeralPorts returns 16384, the size of the RFC 6335 dynamic range
// that most systems pick local ports from.
func ephemeralPorts() int { return 16384 }

// runNative returns false: other systems make their connects with
// net.Dialer, in run.
func (s *connectScanner) runNative(ctx context.Context, out chan<- item) bool { return false }
