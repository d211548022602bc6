//go:build !linux

package mapper

import (
	"errors"
	"net"
)

// readable returns a whole chunk at once: without splice, ReadFrom
// holds nothing but its buffer while it waits.
func readable(*net.TCPConn) (int, error) { return chunk, nil }

const smallReads = false

func readChunk(*net.TCPConn) (*[]byte, int, error) { return nil, 0, errors.ErrUnsupported }
