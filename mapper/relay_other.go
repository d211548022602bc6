//go:build !linux

package mapper

import (
	"errors"
	"syscall"
)

// readable returns a whole chunk at once: without splice, ReadFrom
// holds nothing but its buffer while it waits.
func readable(syscall.RawConn) (int, error) { return chunk, nil }

const smallReads = false

type chunkReader struct{ rc syscall.RawConn }

func (*chunkReader) read() (*[]byte, int, error) { return nil, 0, errors.ErrUnsupported }
