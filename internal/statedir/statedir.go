// Package statedir finds the directory where ports keeps what must
// survive a restart (the SPA digest caches):
//
//  1. $STATE_DIRECTORY, as systemd's StateDirectory= sets it (the first
//     one if it lists several);
//  2. /var/lib/ports when running as root;
//  3. $XDG_STATE_HOME/ports, if XDG_STATE_HOME is an absolute path;
//  4. ~/.local/state/ports ($HOME).
package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNone is returned when no rule above gives a directory.
var ErrNone = errors.New("no state directory: set $STATE_DIRECTORY or $HOME, or name the file")

// Dir returns the state directory, without creating it.
func Dir() (string, error) {
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		return d, nil
	}
	if os.Geteuid() == 0 {
		return "/var/lib/ports", nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "ports"), nil
	}
	if h := os.Getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "ports"), nil
	}
	return "", ErrNone
}

// File returns the path of name in the state directory, creating the
// directory (mode 0700) if it is missing.
func File(name string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("state directory %s: %w", d, errors.Unwrap(err))
	}
	return filepath.Join(d, name), nil
}
