//go:build !linux

package capture

import "github.com/portkit/ports/pcapfile"

func openOS(iface string, cfg *Config) (osImpl, pcapfile.LinkType, error) {
	return nil, 0, ErrNotImplemented
}
