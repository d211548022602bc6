// Package socktable lists this machine's TCP and UDP sockets, IPv4 and
// IPv6, with the processes that own them: what `ss -tulpn`, `netstat
// -tanp` and `lsof -i` show, as a library.
//
// Sources, per OS:
//
//   - Linux: netlink sock_diag (inet_diag), with the state mask and port
//     filters done in the kernel; /proc/net/{tcp,tcp6,udp,udp6} when
//     netlink is refused. Owning processes come from /proc/PID/fd, read
//     only when asked and only for the sockets that matched.
//   - macOS: the net.inet.tcp.pcblist_n and net.inet.udp.pcblist_n
//     sysctls (the owning pid is the socket's last user, so_last_pid).
//   - Windows: GetExtendedTcpTable and GetExtendedUdpTable.
//   - Elsewhere: ErrNotImplemented.
//
// Options also filter by address prefix (AddrFilter, as ss's src and
// dst), which Linux's kernel applies during the dump. Ends streams
// sockets' ends as the kernel reports them (Linux), and Details and
// Counters read TCP internals.
package socktable

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"runtime"
	"strings"

	"github.com/portkit/ports"
)

// ErrNotImplemented is returned where this package cannot list sockets.
// It wraps errors.ErrUnsupported.
var ErrNotImplemented = fmt.Errorf("socktable: listing sockets is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// State is a socket's TCP state. The values are Linux's (include/net/tcp_states.h),
// which the other systems' states are mapped onto. A UDP socket is
// Established when connected and Close ("UNCONN") when only bound.
type State uint8

// TCP states.
const (
	StateUnknown     State = 0
	StateEstablished State = 1
	StateSynSent     State = 2
	StateSynRecv     State = 3
	StateFinWait1    State = 4
	StateFinWait2    State = 5
	StateTimeWait    State = 6
	StateClose       State = 7
	StateCloseWait   State = 8
	StateLastAck     State = 9
	StateListen      State = 10
	StateClosing     State = 11
	StateNewSynRecv  State = 12
	numStates              = 13
)

// stateNames are ss's names for the states.
var stateNames = [numStates]string{
	"UNKNOWN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
	"UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV",
}

// String returns the state as ss prints it: "LISTEN", "ESTAB",
// "TIME-WAIT", "UNCONN"...
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("STATE(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseState parses a state name as ss prints it or as ss's filters
// spell it, in any case: "listen", "estab" or "established",
// "time-wait", "unconn" or "close"...
func ParseState(name string) (State, error) {
	n := strings.ToUpper(strings.ReplaceAll(name, "_", "-"))
	switch n {
	case "ESTABLISHED":
		return StateEstablished, nil
	case "CLOSE", "CLOSED":
		return StateClose, nil
	case "LISTENING":
		return StateListen, nil
	}
	for i, s := range stateNames {
		if i > 0 && s == n {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown socket state %q; want one of listen, estab, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, unconn, close-wait, last-ack, closing", name)
}

// States is a set of states, as a bit mask (1<<State).
type States uint32

// AllStates holds every state.
const AllStates States = 1<<numStates - 1

// StatesOf returns the set holding ss.
func StatesOf(ss ...State) States {
	var m States
	for _, s := range ss {
		m |= 1 << s
	}
	return m
}

// The state groups ParseStates takes besides the states' names.
const (
	// Connected is every state but LISTEN and UNCONN: a socket with a
	// peer, or becoming or ceasing to be one (ss's "connected").
	Connected States = AllStates &^ (1<<StateListen | 1<<StateClose | 1<<StateUnknown)
	// Synchronized is Connected without SYN-SENT: the handshake has
	// reached the other side (ss's "synchronized").
	Synchronized States = Connected &^ (1 << StateSynSent)
)

// ParseStates parses a comma-separated list of states (ParseState's
// names) and state groups: "all", "connected" and "synchronized", as ss's
// state filter spells them. The result is their union.
func ParseStates(list string) (States, error) {
	var m States
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		switch strings.ToLower(name) {
		case "all":
			m |= AllStates
			continue
		case "connected":
			m |= Connected
			continue
		case "synchronized":
			m |= Synchronized
			continue
		}
		s, err := ParseState(name)
		if err != nil {
			return 0, err
		}
		m |= StatesOf(s)
	}
	return m, nil
}

// Has reports whether m holds s.
func (m States) Has(s State) bool { return m&(1<<s) != 0 }

// Socket is one socket.
type Socket struct {
	Proto  ports.Proto    // ProtoTCP or ProtoUDP
	Local  netip.AddrPort // the local address and port; the address is unspecified (0.0.0.0, ::) for a wildcard bind
	Remote netip.AddrPort // the peer; the zero AddrPort's address is unspecified when there is none
	State  State
	RecvQ  uint32 // bytes not yet read (for a listener: connections waiting in accept)
	SendQ  uint32 // bytes not yet acknowledged (for a listener: the accept backlog)
	UID    uint32 // the owner's user id
	Inode  uint64 // the socket's inode (Linux), which /proc/PID/fd links name
	// Cookie is the kernel's id of the socket (Linux sock_diag), which
	// the socket's end event (Ends) carries too; 0 where unknown.
	Cookie uint64
	// Procs are the processes holding the socket, when listing was asked
	// for them. Several processes can share one socket (after fork, or
	// with SO_REUSEPORT each has its own socket on one port).
	Procs []Process
	// ProcsHidden is set when Procs was asked for but some processes
	// could not be read (another user's, without root): the owner may be
	// among them.
	ProcsHidden bool
}

// IsListener reports whether s is a TCP socket in LISTEN or a bound,
// unconnected UDP socket (UNCONN): what `ss -tul` lists.
func (s *Socket) IsListener() bool {
	switch s.Proto {
	case ports.ProtoTCP:
		return s.State == StateListen
	case ports.ProtoUDP:
		return s.State == StateClose
	}
	return false
}

// HasPeer reports whether s has a remote endpoint. A socket without one
// has the zero Remote or an unspecified address with port 0.
func (s *Socket) HasPeer() bool {
	return s.Remote.Port() != 0 || (s.Remote.Addr().IsValid() && !s.Remote.Addr().IsUnspecified())
}

// ServerPort returns the port of s's server side, its well-known side:
// the local port of a listener or of a socket without a peer; otherwise
// the one ports.ServerPort picks from the local and remote ports with
// the evidence given.
func (s *Socket) ServerPort(evidence ...func(ports.Port) bool) ports.Port {
	lp := ports.Port(s.Local.Port())
	if s.IsListener() || !s.HasPeer() {
		return lp
	}
	return ports.ServerPort(lp, ports.Port(s.Remote.Port()), evidence...)
}

// Is6 reports whether the socket is IPv6 (an IPv4-mapped local address
// counts as IPv6: the socket is an AF_INET6 one).
func (s *Socket) Is6() bool { return s.Local.Addr().Is6() }

// Process is a process that holds a socket. Fields that could not be read
// are empty: on Windows a process this user may not open has only its PID;
// on macOS a process that has exited keeps only its PID.
type Process struct {
	PID     int
	Name    string   // the command name (comm)
	Cmdline []string // the arguments; nil if unreadable (a zombie, or a kernel thread)
	UID     uint32
	User    string // the user name, or the uid in decimal if it has no name
	// Container names the container runtime the process runs under,
	// from its cgroup: "docker", "containerd", "podman" or "kubepods";
	// "" on the host. ContainerID is the container's id where the cgroup
	// path gives it.
	Container   string
	ContainerID string
}

// Options selects sockets. The zero value lists every TCP and UDP socket,
// IPv4 and IPv6, in every state, without processes, in the caller's
// network namespace.
type Options struct {
	Protos []ports.Proto // ProtoTCP and/or ProtoUDP; empty: both
	// Family is 4 or 6 for IPv4 or IPv6 sockets only; 0 for both.
	Family int
	// States keeps only sockets in these states; 0 keeps all. For UDP,
	// StateClose is a bound socket and StateEstablished a connected one.
	States States
	// LocalPorts keeps only sockets whose local port is in one of the
	// ranges; nil keeps all. RemotePorts does the same for the peer's
	// port. A socket must match both when both are set.
	LocalPorts  []ports.Range
	RemotePorts []ports.Range
	// LocalAddrs keeps only sockets whose local end passes one of the
	// filters (address prefix and port, as ss's `src`); nil keeps all.
	// RemoteAddrs does the same for the peer (ss's `dst`). They combine
	// with each other and with the port lists by AND. On Linux the kernel
	// applies them (inet_diag bytecode) where it can.
	LocalAddrs  []AddrFilter
	RemoteAddrs []AddrFilter
	// Processes asks for the owning processes (Socket.Procs). It costs a
	// walk of /proc on Linux.
	Processes bool
	// NetNS lists the sockets of another network namespace (Linux): a
	// name from `ip netns` (/var/run/netns/NAME) or a path such as
	// /proc/PID/ns/net. "" is the caller's namespace.
	NetNS string
}

// List yields the sockets that opts selects (nil selects all). When
// Processes is set the sockets are gathered first, then given their
// processes; otherwise they stream from the kernel as it answers. An
// error ends the sequence.
func List(ctx context.Context, opts *Options) iter.Seq2[Socket, error] {
	if opts == nil {
		opts = &Options{}
	}
	return listOS(ctx, opts)
}

// Append appends the sockets that opts selects to dst.
func Append(ctx context.Context, dst []Socket, opts *Options) ([]Socket, error) {
	for s, err := range List(ctx, opts) {
		if err != nil {
			return dst, err
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// match reports whether s passes the filters of o that a source could not
// apply itself.
func (o *Options) match(s *Socket) bool {
	if len(o.Protos) > 0 && !containsProto(o.Protos, s.Proto) {
		return false
	}
	if o.Family == 4 && s.Is6() || o.Family == 6 && !s.Is6() {
		return false
	}
	if o.States != 0 && !o.States.Has(s.State) {
		return false
	}
	if o.LocalPorts != nil && !inRanges(o.LocalPorts, ports.Port(s.Local.Port())) {
		return false
	}
	if o.RemotePorts != nil && !inRanges(o.RemotePorts, ports.Port(s.Remote.Port())) {
		return false
	}
	return matchAny(o.LocalAddrs, s.Local) && matchAny(o.RemoteAddrs, s.Remote)
}

func containsProto(ps []ports.Proto, p ports.Proto) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

func inRanges(rs []ports.Range, p ports.Port) bool {
	for _, r := range rs {
		if r.Contains(p) {
			return true
		}
	}
	return false
}

// NetNSError is the failure to list the sockets of a network namespace
// (Options.NetNS): it does not exist, is not a namespace, or cannot be
// entered. Its text names the namespace as the user gave it.
type NetNSError struct {
	Name string // as given: a name under /var/run/netns or a path
	Err  error
}

func (e *NetNSError) Error() string { return fmt.Sprintf("network namespace %q: %v", e.Name, e.Err) }

func (e *NetNSError) Unwrap() error { return e.Err }
