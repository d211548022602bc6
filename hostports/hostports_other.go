//go:build !linux && !darwin && !freebsd && !windows

package hostports

import "github.com/portkit/ports"

func newOSImpl() osImpl { return otherImpl{} }

type otherImpl struct{}

func (otherImpl) ephemeralRange() (ports.Range, error)   { return ports.Range{}, ErrNotImplemented }
func (otherImpl) unprivilegedStart() (ports.Port, error) { return 0, ErrNotImplemented }
func (otherImpl) source() string                         { return "" }
