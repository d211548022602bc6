//go:build !unix

package systemd

// closeOnExec: no descriptors are passed outside Unix.
func closeOnExec(int) {}
