//go:build !unix

package cfgfile

import "os"

// openNonblock is os.Open where opening a file cannot block on a pipe.
func openNonblock(path string) (*os.File, error) { return os.Open(path) }
