package render

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SocketV1 is one socket in `ports ls`, `ports who` and their JSON.
type SocketV1 struct {
	Proto  string      `json:"proto"` // tcp or udp
	State  string      `json:"state"` // as ss prints it: LISTEN, ESTAB, TIME-WAIT, UNCONN...
	Local  AddrPortV1  `json:"local"`
	Remote *AddrPortV1 `json:"remote"` // null when the socket has no peer
	RecvQ  uint32      `json:"recv_q"`
	SendQ  uint32      `json:"send_q"`
	UID    uint32      `json:"uid"`
	Inode  uint64      `json:"inode"` // 0 where the system has none (not Linux)
	// Service is the registered name of the socket's well-known port:
	// the local port of a listener or of a server's connection, the
	// remote port of a client's connection. ServicePort is that port.
	Service     string `json:"service,omitempty"`
	ServicePort uint16 `json:"service_port"`
	Class       string `json:"class"` // RFC 6335 class of ServicePort
	// Ephemeral is set when the local port lies in this machine's
	// ephemeral range and the socket is not a listener: the kernel most
	// likely picked the port for an outgoing connection.
	Ephemeral bool `json:"ephemeral"`
	// Processes holds the processes that hold the socket: [] when none
	// was found, null when processes were not looked up (--no-procs).
	Processes []ProcessV1 `json:"processes"`
	// ProcsHidden is set when some processes could not be read (another
	// user's, without root): the owner may be among them.
	ProcsHidden bool `json:"procs_hidden"`
	// TCP holds a TCP socket's internals, with `ports ls -i` only.
	TCP *TCPInternalsV1 `json:"tcp,omitempty"`
}

// AddrPortV1 is an IP address and a port. Addr is "0.0.0.0" or "::" for
// a wildcard bind.
type AddrPortV1 struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

// AddrPortOf converts ap.
func AddrPortOf(ap netip.AddrPort) AddrPortV1 {
	return AddrPortV1{Addr: ap.Addr().String(), Port: ap.Port()}
}

// String returns "addr:port", with IPv6 addresses in brackets.
func (a AddrPortV1) String() string { return string(a.appendTo(nil)) }

func (a AddrPortV1) appendTo(b []byte) []byte {
	if strings.Contains(a.Addr, ":") {
		b = append(b, '[')
		b = append(b, a.Addr...)
		b = append(b, ']')
	} else {
		b = append(b, a.Addr...)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(a.Port), 10)
}

// ProcessV1 is a process that holds a socket.
type ProcessV1 struct {
	PID         int      `json:"pid"`
	Name        string   `json:"name"`
	Cmdline     []string `json:"cmdline"` // null when unreadable
	UID         uint32   `json:"uid"`
	User        string   `json:"user"`
	Container   string   `json:"container,omitempty"` // docker, containerd, podman, kubepods; "" on the host
	ContainerID string   `json:"container_id,omitempty"`
}

// ListenerV1 is a socket listening on a port, in `ports info`.
type ListenerV1 struct {
	Proto       string      `json:"proto"`
	Local       AddrPortV1  `json:"local"`
	Processes   []ProcessV1 `json:"processes"`
	ProcsHidden bool        `json:"procs_hidden"`
}

// SocketHeader is the header row of the socket table; procs adds the
// PROCESS column.
func SocketHeader(procs bool) string {
	h := "PROTO\tSTATE\tLOCAL\tPEER\tSERVICE\tCLASS"
	if procs {
		h += "\tPROCESS"
	}
	return h
}

// SocketRow is one row of the socket table, without the newline. A local
// port in the ephemeral range is marked with a trailing "*" (see
// EphemeralLegend).
func SocketRow(s SocketV1, procs bool) string {
	return string(AppendSocketRow(nil, s, procs))
}

// AppendSocketRow appends SocketRow(s, procs) to b.
func AppendSocketRow(b []byte, s SocketV1, procs bool) []byte {
	b = append(b, s.Proto...)
	b = append(b, '\t')
	b = append(b, s.State...)
	b = append(b, '\t')
	b = s.Local.appendTo(b)
	if s.Ephemeral {
		b = append(b, '*')
	}
	b = append(b, '\t')
	if s.Remote != nil {
		b = s.Remote.appendTo(b)
	} else {
		b = append(b, '*')
	}
	b = append(b, '\t')
	if s.Service == "" {
		b = append(b, '-')
	} else {
		b = append(b, s.Service...)
	}
	b = append(b, '\t')
	b = append(b, s.Class...)
	if procs {
		b = append(b, '\t')
		b = append(b, ProcessesCell(s.Processes, s.ProcsHidden)...)
	}
	return b
}

// EphemeralLegend explains the "*" that SocketRow puts after a local port
// in the ephemeral range rng ("32768-60999").
func EphemeralLegend(rng string) string {
	return "* local port in this machine's ephemeral range " + rng + ": picked by the kernel, most likely for an outgoing connection"
}

// ProcessesCell is the PROCESS column: "name/pid" joined by ",", "(needs
// root)" when the processes could not be read, "-" when there is none.
func ProcessesCell(ps []ProcessV1, hidden bool) string {
	if len(ps) == 0 {
		if hidden {
			return "(needs root)"
		}
		return "-"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s/%d", p.Name, p.PID)
	}
	return strings.Join(parts, ",")
}

// EphemeralV1 is `ports ephemeral --format json`: the ephemeral port
// range and how much of it the sockets use.
type EphemeralV1 struct {
	Range  string         `json:"range"` // "32768-60999"
	First  uint16         `json:"first"`
	Last   uint16         `json:"last"`
	Size   int            `json:"size"`   // ports in the range
	Source string         `json:"source"` // where the range was read
	NetNS  string         `json:"netns,omitempty"`
	TCP    EphemeralUseV1 `json:"tcp"`
	UDP    EphemeralUseV1 `json:"udp"`
	// WarnPercent is the share of the range above which a destination
	// gets a warning.
	WarnPercent float64 `json:"warn_percent"`
	// Destinations are the busiest destinations, most used first, at most
	// the number asked for; DestinationsTotal counts them all.
	Destinations      []EphemeralDestV1 `json:"destinations"`
	DestinationsTotal int               `json:"destinations_total"`
	Warnings          []string          `json:"warnings,omitempty"`
}

// EphemeralUseV1 counts one protocol's sockets whose local port lies in
// the ephemeral range (listeners' accepted connections, which share the
// listener's port, are not counted).
type EphemeralUseV1 struct {
	Sockets  int `json:"sockets"`
	Ports    int `json:"ports"`     // distinct local ports among them
	TimeWait int `json:"time_wait"` // sockets in TIME-WAIT (TCP)
}

// EphemeralDestV1 is one destination endpoint and the ephemeral ports
// used to reach it.
type EphemeralDestV1 struct {
	Proto    string     `json:"proto"`
	Remote   AddrPortV1 `json:"remote"`
	Service  string     `json:"service,omitempty"`
	Sockets  int        `json:"sockets"`   // sockets to it, TIME-WAIT included
	TimeWait int        `json:"time_wait"` // of which in TIME-WAIT
	// LocalAddrs is the number of local addresses connecting from.
	// The range limits each (local address, destination) pair, so
	// Busiest is the local address with the most sockets, BusiestSockets
	// its count and Percent that count as a share of the range.
	LocalAddrs     int     `json:"local_addrs"`
	Busiest        string  `json:"busiest_local_addr"`
	BusiestSockets int     `json:"busiest_sockets"`
	Percent        float64 `json:"percent"`
}
