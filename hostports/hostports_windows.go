package hostports

import "github.com/portkit/ports"

func newOSImpl() osImpl { return windowsImpl{} }

// windowsImpl returns documented defaults: no pure-Go, documented API
// reads the dynamic port range (netsh and Get-NetTCPSetting use WMI and
// undocumented NSI calls).
type windowsImpl struct{}

func (windowsImpl) ephemeralRange() (ports.Range, error) {
	return ports.ClassDynamic.Range(), nil
}

func (windowsImpl) unprivilegedStart() (ports.Port, error) { return 0, nil }

func (windowsImpl) source() string {
	return "default: 49152-65535 unless changed with netsh int ipv4 set dynamicport; no privileged ports"
}
