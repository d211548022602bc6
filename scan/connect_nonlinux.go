//go:build !linux

package scan

// ephemeralPorts returns 16384, the size of the RFC 6335 dynamic range
// that most systems pick local ports from.
func ephemeralPorts() int { return 16384 }
