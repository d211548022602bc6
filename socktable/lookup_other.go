//go:build !linux

package socktable

import (
	"context"
	"net/netip"

	"github.com/portkit/ports"
)

type finderImpl struct{}

func openFinder(string) (*finderImpl, error) { return nil, ErrNotImplemented }

func (*finderImpl) find(ports.Proto, netip.AddrPort, netip.AddrPort) (Socket, error) {
	return Socket{}, ErrNotImplemented
}

func (*finderImpl) close() error { return nil }

// WalkSocketInodes returns ErrNotImplemented here: no /proc.
func WalkSocketInodes(context.Context, []int, func(pid int, inode uint64)) error {
	return ErrNotImplemented
}

// ReadProcess returns ErrNotImplemented here.
func ReadProcess(int) (Process, error) { return Process{}, ErrNotImplemented }

// OpenFDTable returns ErrNotImplemented here: no /proc.
func OpenFDTable(int) (*FDTable, error) { return nil, ErrNotImplemented }

// SocketAt reports no file here.
func (*FDTable) SocketAt(int) (uint64, bool) { return 0, false }

// Files returns ErrNotImplemented here.
func (*FDTable) Files(func(fd int, socket uint64) bool) error { return ErrNotImplemented }

// Close does nothing here.
func (*FDTable) Close() error { return nil }

// AppendPIDs returns ErrNotImplemented here.
func AppendPIDs(dst []int) ([]int, error) { return dst, ErrNotImplemented }
