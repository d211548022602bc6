package scan

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/portkit/ports"
)

// Options are the settings every scan shares; SYNConfig, ConnectConfig
// and UDPConfig embed them, and a Plan gives its own to each engine it
// runs. Every zero field is a default.
type Options struct {
	// Ports are the ports to scan: those of the engine's protocol (see
	// ports.Set.Ports).
	Ports ports.Set

	// Timeout is how long a probe waits for its answer (the SYN scan: how
	// long it waits for replies after the last probe of a round). 0 means
	// adaptive, per host (SYN: per scan), as TCP computes its
	// retransmission timeout (RFC 6298): srtt + 4*rttvar over the round
	// trips measured, clamped to [MinTimeout, MaxTimeout] (SYN: at least
	// 50ms), and InitialTimeout before the first.
	Timeout time.Duration

	// MaxRetries is how many more times a port still silent is probed; a
	// port silent then is filtered (UDP: open|filtered), "no-response".
	// 0 means the engine's default (SYN 4, connect 3, UDP 3); a negative
	// value means no retries.
	MaxRetries int

	// Rate is the largest number of probes sent per second, retries
	// included. 0 means DefaultSYNRate for the SYN scan and no limit for
	// the others.
	Rate float64

	// Logger receives debug messages about rounds, rates and retries.
	// nil means none.
	Logger *slog.Logger

	// OpenIn, if not nil, is called with each function that opens a
	// socket of the scan and must run it, for instance in another network
	// namespace (the sockets then stay there). nil runs it directly.
	OpenIn func(open func() error) error
}

// check reports the first field that is out of range.
func (o *Options) check() error {
	switch {
	case o.Timeout < 0:
		return fmt.Errorf("scan: negative timeout %v", o.Timeout)
	case !(o.Rate >= 0): // also NaN
		return fmt.Errorf("scan: invalid rate %v", o.Rate)
	}
	return nil
}

// retries resolves MaxRetries, with def the engine's default.
func (o *Options) retries(def int) int {
	switch {
	case o.MaxRetries == 0:
		return def
	case o.MaxRetries < 0:
		return 0
	}
	return o.MaxRetries
}

// interval is the time between two probes at Rate; 0: no limit.
func (o *Options) interval() time.Duration {
	if o.Rate > 0 {
		return max(time.Duration(float64(time.Second)/o.Rate), 1)
	}
	return 0
}

// logger resolves Logger.
func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// open runs fn through OpenIn.
func (o *Options) open(fn func() error) error {
	if o.OpenIn == nil {
		return fn()
	}
	return o.OpenIn(fn)
}
