package mapper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// dests picks destinations round-robin, skipping those whose last dial
// failed until their down time passed or a health check found them up.
type dests struct {
	addrs    []string
	downTime time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	next      int
	downUntil []time.Time
	// down says which destinations were logged as down: one line
	// when a destination goes down (the mapping fails over), one when
	// it answers again, however many dials fail in between.
	down []bool
}

func newDests(addrs []string, downTime time.Duration, log *slog.Logger) *dests {
	return &dests{addrs: addrs, downTime: downTime, log: log, downUntil: make([]time.Time, len(addrs)), down: make([]bool, len(addrs))}
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

// mark records the outcome of a dial of destination i (by a client's
// connection, or by the health check when check), and logs a change.
func (d *dests) mark(i int, ok, check bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok {
		d.downUntil[i] = time.Time{}
		if d.down[i] {
			d.down[i] = false
			by := "a connection"
			if check {
				by = "the health check"
			}
			d.log.Info("destination up again", "dest", d.addrs[i], "found_by", by)
		}
		return
	}
	d.downUntil[i] = time.Now().Add(d.downTime)
	if !d.down[i] {
		d.down[i] = true
		args := []any{"dest", d.addrs[i], "retry_after", d.downTime}
		if len(d.addrs) > 1 {
			args = append(args, "note", "failing over to the other destinations")
		}
		if err != nil {
			args = append(args, "err", err.Error())
		}
		d.log.Warn("destination down", args...)
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
			d.mark(i, true, false, nil)
			return c, d.addrs[i], nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		d.mark(i, false, false, err)
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
				d.mark(i, true, true, nil)
			}
		}
	}
}
