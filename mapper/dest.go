package mapper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// dests picks destinations round-robin, skipping those whose last dial
// failed until their down time passed or a health check found them up.
type dests struct {
	addrs    []string
	downTime time.Duration

	mu        sync.Mutex
	next      int
	downUntil []time.Time
}

func newDests(addrs []string, downTime time.Duration) *dests {
	return &dests{addrs: addrs, downTime: downTime, downUntil: make([]time.Time, len(addrs))}
}

// order returns the indexes to try for one dial: the up destinations
// from the round-robin position on, then the down ones (better a retry
// than no service when all look down).
func (d *dests) order() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	n := len(d.addrs)
	up := make([]int, 0, n)
	var down []int
	for i := range n {
		j := (d.next + i) % n
		if now.Before(d.downUntil[j]) {
			down = append(down, j)
		} else {
			up = append(up, j)
		}
	}
	d.next = (d.next + 1) % n
	return append(up, down...)
}

func (d *dests) mark(i int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok {
		d.downUntil[i] = time.Time{}
	} else {
		d.downUntil[i] = time.Now().Add(d.downTime)
	}
}

// downList returns the indexes currently marked down.
func (d *dests) downList() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	var out []int
	for i, t := range d.downUntil {
		if now.Before(t) {
			out = append(out, i)
		}
	}
	return out
}

// DialError is the failure to reach any destination of a mapping.
type DialError struct {
	Errs []error // one per destination tried
}

func (e *DialError) Error() string {
	if len(e.Errs) == 1 {
		return e.Errs[0].Error()
	}
	return fmt.Sprintf("all %d destinations failed: %v", len(e.Errs), errors.Join(e.Errs...))
}

func (e *DialError) Unwrap() []error { return e.Errs }

// dial connects to the next destination that answers, marking the ones
// that fail as down. It returns the connection and the destination used.
func (d *dests) dial(ctx context.Context, dialer func(ctx context.Context, network, addr string) (net.Conn, error), network string) (net.Conn, string, error) {
	var errs []error
	for _, i := range d.order() {
		c, err := dialer(ctx, network, d.addrs[i])
		if err == nil {
			d.mark(i, true)
			return c, d.addrs[i], nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		d.mark(i, false)
		errs = append(errs, err)
	}
	return nil, "", &DialError{Errs: errs}
}

// healthLoop re-dials down TCP destinations every interval and marks
// those that answer as up, until ctx ends.
func (d *dests) healthLoop(ctx context.Context, interval time.Duration, dialer func(ctx context.Context, network, addr string) (net.Conn, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, i := range d.downList() {
			cctx, cancel := context.WithTimeout(ctx, interval)
			c, err := dialer(cctx, "tcp", d.addrs[i])
			cancel()
			if err == nil {
				c.Close()
				d.mark(i, true)
			}
		}
	}
}
