package scan

import "os"

// ephemeralPorts returns the size of the local port range that connect(2)
// picks from, or 16384 (the RFC 6335 dynamic range) if it cannot be read.
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if n := parseRange(string(b)); err == nil && n > 0 {
		return n
	}
	return 16384
}
