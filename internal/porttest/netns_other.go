//go:build !linux

package porttest

import (
	"errors"
	"fmt"
)

// NewPair skips on these systems, so no Host exists to call this.
func (h *Host) do(fn func() error) error {
	return fmt.Errorf("porttest: network namespaces: %w", errors.ErrUnsupported)
}
