// Package tui is the model of `ports top`: a full-screen, live view of
// the machine's sockets, as a bubbletea program. Listening ports are
// grouped by process, with the connections under each, their peers,
// states and throughput, totals per state and the use of the ephemeral
// range.
//
// The model gets its sockets from a Source and does nothing else with
// the system: killing, and the text of `ports info`, are functions the
// caller passes in Config. So the whole of Update and View runs in tests
// without a terminal or a kernel, on snapshots the test makes up.
package tui

import (
	"context"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/socktable"
)

// DefaultInterval is the refresh interval when Config.Interval is 0.
const DefaultInterval = 2 * time.Second

// Socket is one socket as the view shows it: socktable's socket (whose
// IsListener and HasPeer the view uses) with what the caller worked out
// about it (its service) and its byte counters. Its Procs are shared
// between snapshots: never modified.
type Socket struct {
	socktable.Socket
	// ServicePort is the socket's well-known side: the local port of a
	// listener or of a server's connection, the remote port of a
	// client's. Service is its registered name ("" for none), Class its
	// RFC 6335 class ("system", "user", "dynamic").
	ServicePort uint16
	Service     string
	Class       string
	// Ephemeral is set when the local port lies in the ephemeral range
	// and was picked by the kernel (the socket is no listener's).
	Ephemeral bool
	// HasCounters is set when BytesAcked and BytesReceived were read
	// (TCP sockets with a tcp_info, on Linux).
	HasCounters   bool
	BytesAcked    uint64 // sent and acknowledged by the peer
	BytesReceived uint64
}

// Snapshot is the machine's sockets at one moment.
type Snapshot struct {
	// Time is when the counters were read; it must carry a monotonic
	// clock reading (time.Now), which rates are computed from.
	Time    time.Time
	Sockets []Socket
	// Ephemeral is the ephemeral port range; the zero Range when unknown.
	Ephemeral ports.Range
	// Counters is set when the TCP byte counters were read; otherwise the
	// view shows no throughput. CountersNote says why not, when that is
	// worth saying.
	Counters     bool
	CountersNote string
}

// Source takes snapshots. Snapshot is called from a goroutine of the
// program, never twice at once.
type Source interface {
	Snapshot(ctx context.Context) (*Snapshot, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (*Snapshot, error)

// Snapshot calls f.
func (f SourceFunc) Snapshot(ctx context.Context) (*Snapshot, error) { return f(ctx) }

// Config configures a Model. Source is required; zero values of the other
// fields are documented defaults.
type Config struct {
	Source Source
	// Context ends pending refreshes when done; nil means
	// context.Background.
	Context context.Context
	// Interval is the time between refreshes; 0 means DefaultInterval.
	Interval time.Duration
	// Title is added to the title line, e.g. "netns blue".
	Title string
	// Kill signals a process for the `k` key, after the user confirmed;
	// nil disables the key. Signal names the signal in the question
	// ("SIGTERM"); "" means "a signal".
	Kill   func(pid int) error
	Signal string
	// Info returns the text of `ports info` for a port, for the detail
	// pane; nil leaves that section out. It runs in a goroutine.
	Info func(ctx context.Context, proto ports.Proto, port uint16) (string, error)
	// The initial toggles: ListenOnly shows listening sockets only;
	// Proto is ProtoTCP or ProtoUDP for one protocol only (anything else:
	// both); Family is 4 or 6 for one family only (anything else: both).
	ListenOnly bool
	Proto      ports.Proto
	Family     int
	// Filter is the initial filter text.
	Filter string
}
