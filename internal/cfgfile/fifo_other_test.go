//go:build !unix

package cfgfile

import "testing"

func mkfifo(t *testing.T, path string) string { t.Skip("no FIFOs here"); return path }
