//go:build !linux

package exposure

// ReadNetwork reads the interfaces and default routes; only Linux has it.
func ReadNetwork() (*Network, error) { return nil, ErrNotImplemented }
