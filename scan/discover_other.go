//go:build !linux

package scan

// open fails: discovery with raw sockets is Linux's; the connects of the
// unprivileged discovery work everywhere.
func (d *discoverer) open() error { return errNoRaw }
