// Package hostports reports this machine's own view of ports: the
// ephemeral port range the kernel assigns to sockets that do not bind a
// port themselves, the first port a process may bind without privileges,
// and which ports are free to bind right now.
//
// The values come from:
//
//   - Linux: /proc/sys/net/ipv4/ip_local_port_range (which also governs
//     IPv6) and /proc/sys/net/ipv4/ip_unprivileged_port_start. Both are
//     per network namespace: the values are those of the namespace of the
//     calling thread.
//   - macOS (darwin): the sysctls net.inet.ip.portrange.first and .last;
//     since macOS 10.14 (Mojave) no port needs privileges to bind on the
//     wildcard address.
//   - FreeBSD: the sysctls net.inet.ip.portrange.first, .last and
//     .reservedhigh (per vnet jail).
//   - Windows: the documented defaults, 49152-65535 and no privileged
//     ports; there is no documented API to read a range changed with
//     netsh, so [Info.Source] says so.
//   - Elsewhere: [ErrNotImplemented].
//
// Nothing is cached: the values can change at run time, and reading them
// is cheap, so every call reads them again. [Free] needs no OS support
// beyond the net package.
package hostports

import (
	"errors"
	"fmt"

	"github.com/portkit/ports"
)

// ErrNotImplemented is returned on operating systems where this package
// cannot read the port configuration. It wraps [errors.ErrUnsupported].
var ErrNotImplemented = fmt.Errorf("hostports: not implemented on this operating system: %w", errors.ErrUnsupported)

// Info is the port configuration of this host.
type Info struct {
	// Ephemeral is the range from which the kernel picks a local port for
	// a socket that connects, sends or listens without binding one (the
	// "local", "dynamic" or "ephemeral" range).
	Ephemeral ports.Range

	// UnprivilegedStart is the lowest port that a process without
	// privileges (root, CAP_NET_BIND_SERVICE on Linux) may bind. Ports
	// 1 to UnprivilegedStart-1 need privileges; 0 means that no port does.
	UnprivilegedStart ports.Port

	// Source says, for people, where the values came from, such as
	// "/proc/sys/net/ipv4" or "sysctl net.inet.ip.portrange", and notes
	// when they are documented defaults rather than read from the system.
	Source string
}

// NeedsPrivilege reports whether binding p needs privileges according to
// i. Port 0 never does: it asks the kernel for an ephemeral port.
// NeedsPrivilege does not look at the privileges of the calling process.
func (i Info) NeedsPrivilege(p ports.Port) bool {
	return p != 0 && p < i.UnprivilegedStart
}

// InEphemeral reports whether p lies in the ephemeral range of i, where a
// listener may collide with the local port of an outgoing connection.
func (i Info) InEphemeral(p ports.Port) bool {
	return i.Ephemeral.Contains(p)
}

// Read returns the port configuration of this host, read afresh.
// It fails if either value cannot be read; see [EphemeralRange] and
// [UnprivilegedStart] for the details of each.
func Read() (Info, error) {
	return read(newOSImpl())
}

// EphemeralRange returns the range of local ports the kernel assigns to
// sockets that do not bind a port themselves.
//
// On Linux it reads /proc/sys/net/ipv4/ip_local_port_range, in the
// network namespace of the calling thread (the process's, unless the
// goroutine is locked to a thread moved with setns); the range applies to
// IPv6 too, and ports listed in ip_local_reserved_ports are not taken out
// of it. On macOS and FreeBSD it reads the sysctls
// net.inet.ip.portrange.first and .last (a first above last, which
// makes those kernels count down, is returned as the same range in
// increasing order). On Windows it returns 49152-65535, the default since
// Windows Vista, which an administrator may have changed with
// "netsh int ipv4 set dynamicport" (separately for TCP and UDP, and for
// IPv4 and IPv6); no documented API reads the configured value. Other
// systems return [ErrNotImplemented].
//
// Errors from reading a file keep their cause, so
// errors.Is(err, fs.ErrNotExist) and errors.Is(err, fs.ErrPermission)
// work; malformed contents give an error that wraps a *[ports.ParseError]
// and names the file.
func EphemeralRange() (ports.Range, error) {
	return newOSImpl().ephemeralRange()
}

// UnprivilegedStart returns the lowest port that a process without
// privileges may bind; see [Info.UnprivilegedStart].
//
// On Linux it reads /proc/sys/net/ipv4/ip_unprivileged_port_start (the
// default is 1024; 0 makes every port unprivileged), in the network
// namespace of the calling thread; on kernels before 4.11, which lack the
// file, it returns the fixed 1024. On FreeBSD it returns the sysctl
// net.inet.ip.portrange.reservedhigh plus one, or 65535 if reservedhigh is
// 65535 or more (then in fact no port is unprivileged); a non-zero
// net.inet.ip.portrange.reservedlow, which frees the ports below it,
// cannot be expressed and is ignored. On macOS it returns 0: since macOS
// 10.14 (Mojave) a process needs no privileges to bind any port on the
// wildcard address, although binding a port below 1024 on a specific
// address still does. On Windows it returns 0: there are no privileged
// ports. Other systems return [ErrNotImplemented].
func UnprivilegedStart() (ports.Port, error) {
	return newOSImpl().unprivilegedStart()
}

// osImpl reads the port configuration of one operating system. Each
// per-OS file provides newOSImpl; tests construct implementations
// directly.
type osImpl interface {
	ephemeralRange() (ports.Range, error)
	unprivilegedStart() (ports.Port, error)
	source() string
}

func read(impl osImpl) (Info, error) {
	eph, err := impl.ephemeralRange()
	if err != nil {
		return Info{}, err
	}
	start, err := impl.unprivilegedStart()
	if err != nil {
		return Info{}, err
	}
	return Info{Ephemeral: eph, UnprivilegedStart: start, Source: impl.source()}, nil
}
