//go:build unix

package cfgfile

import (
	"os"
	"syscall"
)

// openNonblock opens path read-only without blocking: opening a FIFO
// with no writer would otherwise wait forever. Reads of a regular file
// ignore O_NONBLOCK.
func openNonblock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
