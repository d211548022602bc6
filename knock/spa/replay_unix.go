//go:build unix

package spa

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// lockFile opens (creating it) and locks the file beside a digest file,
// so that two caches never share one file: each would miss the other's
// packets, and a compaction by one would lose the other's appends.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("digest file lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("digest file %s is in use by another SPA server (%s is locked): give each its own digest file", path[:len(path)-len(".lock")], path)
		}
		return nil, fmt.Errorf("digest file lock %s: %w", path, err)
	}
	return f, nil
}
