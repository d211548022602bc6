package knock

import (
	"net/netip"
	"sync"
	"time"
)

// Allowlist is a set of source addresses, each allowed until a time of
// its own: the state behind the Allow of a [Gate] and of package spa's
// Gate. Addresses are kept unmapped (::ffff:a.b.c.d is a.b.c.d). It is
// safe for concurrent use.
type Allowlist struct {
	now func() time.Time

	mu    sync.Mutex
	until map[netip.Addr]time.Time // address -> end of its window
}

// NewAllowlist returns an empty list that reads the time from now; nil
// means time.Now.
func NewAllowlist(now func() time.Time) *Allowlist {
	if now == nil {
		now = time.Now
	}
	return &Allowlist{now: now, until: make(map[netip.Addr]time.Time)}
}

// Add allows addr until the time end (exclusive), replacing any earlier
// window of addr.
func (l *Allowlist) Add(addr netip.Addr, end time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until[addr.Unmap()] = end
}

// Allow reports whether addr is allowed now, forgetting it if its window
// has ended.
func (l *Allowlist) Allow(addr netip.Addr) bool {
	addr = addr.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	end, ok := l.until[addr]
	if !ok {
		return false
	}
	if !l.now().Before(end) {
		delete(l.until, addr)
		return false
	}
	return true
}

// Prune forgets the addresses whose window has ended by now, so that
// the list does not grow with sources that never come back.
func (l *Allowlist) Prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for a, end := range l.until {
		if !now.Before(end) {
			delete(l.until, a)
		}
	}
}
