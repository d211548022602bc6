//go:build !unix

package spa

import "os"

// lockFile opens the file beside a digest file; without flock, two
// caches sharing a file are not detected.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
