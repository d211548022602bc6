// Package scan finds the state of ports on hosts: TCP connect scans
// ([ConnectScan]), TCP SYN scans from raw sockets ([SYNScan], Linux) and
// UDP scans with protocol probes ([UDPScan], Linux), and identifies the
// services on open ports ([Identify]). The SYN scan is this project's core, so its packet building, reply
// parsing, SipHash cookie and probe permutation are written here rather
// than taken from a packet library: they are a few hundred lines that
// must not allocate, and the scan needs nothing else. Scans stream their
// results as an iter.Seq2, so that a break stops them; they retry probes
// that got no answer, can be rate limited, and adapt their timeouts to the
// round-trip times they measure.
//
// On Linux the connect scan makes its connects itself, on non-blocking
// sockets watched by epoll, one event loop per CPU (up to 4), rather than
// one goroutine and one net.Dialer per connect: that engine is part of
// the core too (a scan of all ports makes 65,535 connects, and the
// dialer's goroutines, timers and poller cost more CPU than the kernel's
// own work). Other systems use net.Dialer. Every scan opens its sockets
// through one hook, Options.OpenIn (another network namespace, say).
//
// [Run] puts a whole scan together as a [Plan] says: host discovery
// (Plan.Discover, a hook), the TCP engine, then UDP, then service
// detection, yielding each [Host] as soon as it is done; package
// scan/report turns hosts into nmap's XML, greppable and JSON-lines
// outputs. A [Checkpoint] lets an interrupted SYN scan continue.
//
// Scans send traffic to the addresses they are given and nowhere else.
package scan

import (
	"errors"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/portkit/ports"
	sprobe "github.com/portkit/ports/scan/probe"
)

// State is what a scan concluded about a port, with nmap's meanings.
type State uint8

// Port states. The zero State, StateUnknown, comes only with an error.
const (
	StateUnknown      State = iota // no conclusion; the probe failed with an error
	StateOpen                      // something accepts connections (TCP) or answered (UDP)
	StateClosed                    // reachable, but nothing listens: RST or ICMP port unreachable
	StateFiltered                  // no answer after every retry, or an ICMP unreachable error
	StateOpenFiltered              // no answer, which for UDP may mean open or filtered
)

// String returns nmap's name for the state: "open", "closed", "filtered",
// "open|filtered" or "unknown".
func (s State) String() string {
	switch s {
	case StateUnknown:
		return "unknown"
	case StateOpen:
		return "open"
	case StateClosed:
		return "closed"
	case StateFiltered:
		return "filtered"
	case StateOpenFiltered:
		return "open|filtered"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reasons, in nmap's words, for a port's state.
const (
	ReasonSynAck      = "syn-ack"      // the handshake completed (connect scan) or a SYN-ACK came back
	ReasonConnRefused = "conn-refused" // connect(2) failed with ECONNREFUSED: a RST came back
	ReasonNoResponse  = "no-response"  // nothing came back, after every retry
)

// Result is the outcome of probing one port of one host.
type Result struct {
	Addr   netip.Addr  // the target, as given to the scan
	Port   ports.Port  // the port probed
	Proto  ports.Proto // ports.ProtoTCP for a connect scan
	State  State
	Reason string        // why State was concluded: one of the Reason constants
	RTT    time.Duration // time the answering probe took; 0 when nothing answered
	Tries  int           // probes sent for this port, 1 if the first one was answered
	TTL    uint8         // TTL or hop limit of the answer (SYN scan); 0 when unknown

	// ICMP is the ICMP or ICMPv6 error that made the port closed or
	// filtered (SYN and UDP scans); zero when none did.
	ICMP ICMPInfo

	// Service is what the answer told of the service: a UDP reply that
	// the port's probe recognised, or service detection. Zero otherwise.
	Service sprobe.Service
}

// ICMPInfo is an ICMP or ICMPv6 error about a probe: who sent it (the
// target, or a router or firewall on the way) and its type and code.
type ICMPInfo struct {
	From       netip.Addr
	V6         bool // ICMPv6
	Type, Code uint8
}

// IsZero reports whether i is no ICMP error.
func (i ICMPInfo) IsZero() bool { return i == ICMPInfo{} }

// String describes the error as "ICMP type 3 code 13 from 192.0.2.1"
// ("ICMPv6 type 1 code 1 ...").
func (i ICMPInfo) String() string {
	s := "ICMP"
	if i.V6 {
		s = "ICMPv6"
	}
	s += " type " + strconv.Itoa(int(i.Type)) + " code " + strconv.Itoa(int(i.Code))
	if i.From.IsValid() {
		s += " from " + i.From.String()
	}
	return s
}

// AddrPort returns the target address and port as a netip.AddrPort.
func (r Result) AddrPort() netip.AddrPort { return netip.AddrPortFrom(r.Addr, uint16(r.Port)) }

// ProbeError reports a probe that failed in a way that says nothing about
// the port, such as a local firewall refusing the connection (EPERM) or
// file descriptors that stayed exhausted. Unwrap gives the underlying
// error, so errors.Is(err, syscall.EPERM) works.
type ProbeError struct {
	Op    string         // "connect"
	Proto ports.Proto    // the protocol of the probe
	Addr  netip.AddrPort // the target address and port
	Err   error          // what went wrong
}

func (e *ProbeError) Error() string {
	return "scan: " + e.Op + " " + e.Proto.String() + " " + e.Addr.String() + ": " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *ProbeError) Unwrap() error { return e.Err }

// ReasonBroadcast is the reason of a target the scans skip because it is
// the broadcast address of a directly connected network: probing it
// would reach every host of the link, or none (the kernel refuses to
// send there without SO_BROADCAST).
const ReasonBroadcast = "broadcast"

// HostError is yielded, with a Result naming only the host (Port 0,
// StateFiltered, Reason set), when a scan ends a whole target at once
// instead of probing (the rest of) its ports: a broadcast address, no
// route to it, or an ICMP host or network unreachable (or a neighbour
// that did not answer ARP or NDP) before the host answered anything.
// The scan goes on with the other targets; the host's ports get no
// Result of their own.
type HostError struct {
	Addr   netip.Addr
	Reason string // ReasonBroadcast, ReasonNetUnreach, ReasonHostUnreach, or another Reason
	ICMP   ICMPInfo
	Err    error // the system's error that said so, if any
}

func (e *HostError) Error() string {
	s := "scan: " + e.Addr.String() + ": " + e.Describe()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Describe says in a few words why the host was not scanned: "skipped:
// broadcast address", "no route", "host unreachable (ICMP type 3 code 1
// from 192.0.2.1)".
func (e *HostError) Describe() string {
	var s string
	switch e.Reason {
	case ReasonBroadcast:
		return "skipped: broadcast address"
	case ReasonNetUnreach:
		s = "no route"
		if !e.ICMP.IsZero() {
			s = "network unreachable"
		}
	case ReasonHostUnreach, ReasonAddrUnreach:
		s = "host unreachable"
	case ReasonNoRoute:
		s = "no route"
	default:
		s = "unreachable (" + e.Reason + ")"
	}
	if !e.ICMP.IsZero() {
		s += " (" + e.ICMP.String() + ")"
	}
	return s
}

// Unwrap returns e.Err.
func (e *HostError) Unwrap() error { return e.Err }

// hostErrReason is the reason of an error by which the system says a
// whole host cannot be reached (no route, no neighbour, a broadcast
// address), or "".
func hostErrReason(err error) string {
	if r := unreachReason(err); r != "" {
		return r
	}
	if errors.Is(err, syscall.EACCES) {
		// connect(2) or send to a broadcast address without SO_BROADCAST.
		return ReasonBroadcast
	}
	return ""
}
