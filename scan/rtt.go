package scan

import (
	"sync"
	"time"
)

// rttEstimator is a smoothed round-trip time and its variation, kept as
// TCP keeps them for its retransmission timer (RFC 6298 section 2). The
// connect scan has one per host, the SYN scan one per scan. The zero
// value has no sample yet.
type rttEstimator struct {
	mu     sync.Mutex
	srtt   time.Duration // 0: no sample yet
	rttvar time.Duration
	n      int // samples
}

// sample adds a measured round trip.
func (e *rttEstimator) sample(rtt time.Duration) {
	rtt = max(rtt, 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if e.srtt == 0 {
		e.srtt, e.rttvar = rtt, rtt/2
		return
	}
	d := e.srtt - rtt
	if d < 0 {
		d = -d
	}
	e.rttvar = (3*e.rttvar + d) / 4
	e.srtt = (7*e.srtt + rtt) / 8
}

// rto returns srtt + 4*rttvar clamped to [lo, MaxTimeout], or
// InitialTimeout before the first sample.
func (e *rttEstimator) rto(lo time.Duration) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srtt == 0 {
		return InitialTimeout
	}
	return min(max(e.srtt+4*e.rttvar, lo), MaxTimeout)
}

// empty reports whether no round trip has been measured yet.
func (e *rttEstimator) empty() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srtt == 0
}

// stats returns the estimate as RTTStats, with Timeout clamped to
// [MinTimeout, MaxTimeout].
func (e *rttEstimator) stats() RTTStats {
	e.mu.Lock()
	srtt, rttvar, n := e.srtt, e.rttvar, e.n
	e.mu.Unlock()
	return RTTStats{SRTT: srtt, RTTVar: rttvar, Timeout: e.rto(MinTimeout), Samples: n}
}
