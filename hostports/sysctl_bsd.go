//go:build darwin || freebsd

package hostports

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
)

// sysctlPortRange is the sysctl prefix that macOS and FreeBSD share.
const sysctlPortRange = "net.inet.ip.portrange"

// sysctlEphemeral reads net.inet.ip.portrange.first and .last. Both
// kernels count down when first is above last; the range is the same.
func sysctlEphemeral() (ports.Range, error) {
	first, err := sysctlPort(sysctlPortRange + ".first")
	if err != nil {
		return ports.Range{}, err
	}
	last, err := sysctlPort(sysctlPortRange + ".last")
	if err != nil {
		return ports.Range{}, err
	}
	return ports.Range{First: min(first, last), Last: max(first, last)}, nil
}

// sysctlUint32 reads an integer sysctl.
func sysctlUint32(name string) (uint32, error) {
	v, err := unix.SysctlUint32(name)
	if err != nil {
		return 0, fmt.Errorf("hostports: sysctl %s: %w", name, err)
	}
	return v, nil
}

// sysctlPort reads an integer sysctl that holds a port.
func sysctlPort(name string) (ports.Port, error) {
	v, err := sysctlUint32(name)
	if err != nil {
		return 0, err
	}
	if v > uint32(ports.MaxPort) {
		return 0, fmt.Errorf("hostports: sysctl %s: value %d is not a port", name, v)
	}
	return ports.Port(v), nil
}
