//go:build !unix

package systemd

import "os"

// devIno: there is no journal outside Unix.
func devIno(*os.File) (string, bool) { return "", false }
