package hostports

import "github.com/portkit/ports"

func newOSImpl() osImpl { return freebsdImpl{} }

type freebsdImpl struct{}

func (freebsdImpl) ephemeralRange() (ports.Range, error) { return sysctlEphemeral() }

// unprivilegedStart is reservedhigh+1: ports reservedlow-reservedhigh
// need PRIV_NETINET_RESERVEDPORT.
func (freebsdImpl) unprivilegedStart() (ports.Port, error) {
	high, err := sysctlUint32(sysctlPortRange + ".reservedhigh")
	if err != nil {
		return 0, err
	}
	if high >= uint32(ports.MaxPort) {
		return ports.MaxPort, nil
	}
	return ports.Port(high + 1), nil
}

func (freebsdImpl) source() string { return "sysctl " + sysctlPortRange }
