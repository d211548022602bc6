package hostports

import "github.com/portkit/ports"

func newOSImpl() osImpl { return darwinImpl{} }

type darwinImpl struct{}

func (darwinImpl) ephemeralRange() (ports.Range, error) { return sysctlEphemeral() }

// unprivilegedStart is 0: since macOS 10.14 (Mojave) binding any port on
// the wildcard address needs no privileges. Go has needed macOS 10.15
// or later since Go 1.21, so there is no older system to check for.
func (darwinImpl) unprivilegedStart() (ports.Port, error) { return 0, nil }

func (darwinImpl) source() string {
	return "sysctl " + sysctlPortRange + "; no privileged ports on the wildcard address since macOS 10.14"
}
