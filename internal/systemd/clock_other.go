//go:build !unix

package systemd

// monotonicUsec: no systemd here, so no MONOTONIC_USEC.
func monotonicUsec() (uint64, bool) { return 0, false }
