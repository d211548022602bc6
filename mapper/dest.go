package mapper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DestinationObserver is an optional method set of an Observer: the
// health of a mapping's destinations, for a gauge. DestinationUp is
// called for every destination when its rule starts, then on each
// change; DestinationsGone when the rule stops. They must not block.
type DestinationObserver interface {
	DestinationUp(rule, dest string, up bool)
	DestinationsGone(rule string)
}

// ErrAllDown is the failure of a connection to a mapping whose
// destinations the health checks all found down: the client is refused
// at once (a TCP reset, or 503 for an http check) rather than made to
// wait for dials that would fail.
var ErrAllDown = errors.New("every destination is down")

// ErrDestsFull is the failure of a connection to a mapping whose
// destinations that are up all have their max_conns: the client is
// refused at once.
var ErrDestsFull = errors.New("every destination up is at its max_conns")

// dests picks a mapping's destinations by its Balance among those up
// and under their max_conns, and counts each one's connections.
//
// Without a health check, a destination whose dial failed is skipped
// for downTime and re-dialled by healthLoop; when all are down, all are
// tried (better a retry than no service).
//
// With a health check, up and down follow haproxy's counter: health
// runs from 0 to rise+fall-1 and a destination is up while health is at
// least rise. A failed check or a failed dial (passive) takes one step
// down, or to 0 (down) from rise; a passed check one step up, and to
// rise+fall-1 (fully up) on reaching rise. A destination starts up at
// rise, so the first failure takes a dead one out at once, and a fully
// up one needs fall failures in a row; a down one comes back after rise
// passed checks. Down destinations get no clients.
type dests struct {
	rule     string
	addrs    []string // HOST:PORT of each, without options
	weight   []int
	cap      []int // max_conns of each; 0: none
	balance  Balance
	downTime time.Duration
	log      *slog.Logger
	obs      DestinationObserver // nil: none

	checked    bool
	rise, fall int

	mu      sync.Mutex
	next    int
	stopped bool // the rule stopped: no more events for the observer
	st      []destState
}

type destState struct {
	downUntil time.Time // without a check: skipped until then
	down      bool      // as logged and observed
	health    int       // with a check: haproxy's counter
	drained   bool      // by Server.Drain: no new connections
	active    int       // connections (UDP sessions) to it now
	cur       int       // smooth weighted round-robin's current weight
}

// newDests makes the destinations to of rule rt (its To, a route's or
// its DefaultTo).
func newDests(rt *running, to []string) *dests {
	r := &rt.rule
	d := &dests{rule: r.Name, balance: r.Balance, downTime: orDefault(r.DownTime, DefaultDownTime), log: rt.log,
		st: make([]destState, len(to))}
	for _, s := range to {
		ds, _ := ParseDest(s) // checked by Validate
		d.addrs = append(d.addrs, ds.Addr)
		d.weight = append(d.weight, ds.Weight)
		d.cap = append(d.cap, ds.MaxConns)
	}
	if o, ok := rt.s.obs.(DestinationObserver); ok {
		d.obs = o
	}
	if r.Type == TCP && r.Check != CheckNone {
		d.checked = true
		d.rise, d.fall = cmp.Or(r.Rise, DefaultRise), cmp.Or(r.Fall, DefaultFall)
		for i := range d.st {
			d.st[i].health = d.rise
		}
	}
	if d.obs != nil {
		for _, a := range d.addrs {
			d.obs.DestinationUp(d.rule, a, true)
		}
	}
	return d
}

func (d *dests) addr(i int) string { return d.addrs[i] }

// stop ends the observer's events and removes the rule's destinations
// from it.
func (d *dests) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.stopped = true
	if d.obs != nil {
		d.obs.DestinationsGone(d.rule)
	}
}

// pick chooses the destinations to try for one connection of client,
// best first, and counts a connection on the first (the caller moves it
// with moved, or gives it back with release): the one the balance
// picks among those up with room, then the others up with room in the
// balance's order (a failover), then, without a check, the ones down
// (better a retry than no service). It returns ErrAllDown when a check
// found every destination down, ErrDestsFull when those up are full.
func (d *dests) pick(client netip.Addr) ([]int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	n := len(d.addrs)
	order := make([]int, 0, n)
	var down []int
	full := false
	for i := range n {
		s := &d.st[i]
		switch {
		case s.drained:
		case d.checked && s.down:
		case !d.checked && now.Before(s.downUntil):
			down = append(down, i)
		case d.cap[i] > 0 && s.active >= d.cap[i]:
			full = true
		default:
			order = append(order, i)
		}
	}
	switch {
	case len(order) == 0 && len(down) == 0 && full:
		return nil, ErrDestsFull
	case len(order) == 0 && len(down) == 0:
		return nil, ErrAllDown
	case len(order) > 1:
		d.sort(order, client)
	}
	order = append(order, down...)
	d.st[order[0]].active++
	return order, nil
}

// sort puts the candidates in the balance's order. d.mu is held.
func (d *dests) sort(order []int, client netip.Addr) {
	switch d.balance {
	case RoundRobin:
		// Smooth weighted round-robin (nginx's): each candidate gains
		// its weight, the richest wins and pays the total; over a
		// cycle each gets its share, interleaved. The rest fail over in
		// index order after the winner.
		total, best := 0, 0
		for k, i := range order {
			d.st[i].cur += d.weight[i]
			total += d.weight[i]
			if d.st[i].cur > d.st[order[best]].cur {
				best = k
			}
		}
		d.st[order[best]].cur -= total
		rotate(order, best)
	case LeastConn:
		// Fewest connections per weight (a*wb < b*wa), ties taken in
		// turn so that equal loads still spread.
		start := d.next % len(order)
		d.next++
		rotate(order, start)
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Compare(d.st[a].active*d.weight[b], d.st[b].active*d.weight[a])
		})
	case Source:
		score := make(map[int]float64, len(order))
		for _, i := range order {
			score[i] = rendezvous(client, d.addrs[i], d.weight[i])
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
	case First: // index order already
	}
}

// rotate makes order start at k, keeping the cyclic order.
func rotate(order []int, k int) {
	if k == 0 {
		return
	}
	tmp := append(append(make([]int, 0, len(order)), order[k:]...), order[:k]...)
	copy(order, tmp)
}

// moved moves the connection pick counted from one destination to
// another (a failover after a failed dial).
func (d *dests) moved(from, to int) {
	if from == to {
		return
	}
	d.mu.Lock()
	d.st[from].active--
	d.st[to].active++
	d.mu.Unlock()
}

// release gives back a connection counted on destination i.
func (d *dests) release(i int) {
	d.mu.Lock()
	d.st[i].active--
	d.mu.Unlock()
}

// mark records the outcome of a dial of destination i (by a client's
// connection, or by the health check when check), and logs a change.
func (d *dests) mark(i int, ok, check bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &d.st[i]
	if d.checked {
		switch {
		case ok && !check: // a dial that worked says little of an HTTP or TLS check
			return
		case ok:
			if s.health < d.rise+d.fall-1 {
				s.health++
				if s.health >= d.rise {
					s.health = d.rise + d.fall - 1
				}
			}
			if s.down && s.health >= d.rise {
				d.setDown(i, false, check, nil)
			}
		default:
			if s.health > d.rise {
				s.health--
			} else {
				s.health = 0
				if !s.down {
					d.setDown(i, true, check, err)
				}
			}
		}
		return
	}
	if ok {
		s.downUntil = time.Time{}
		if s.down {
			d.setDown(i, false, check, nil)
		}
		return
	}
	s.downUntil = time.Now().Add(d.downTime)
	if !s.down {
		d.setDown(i, true, check, err)
	}
}

// setDown changes the state of destination i, logging it once and
// telling the observer. d.mu is held.
func (d *dests) setDown(i int, down, check bool, err error) {
	d.st[i].down = down
	if d.stopped {
		return
	}
	if d.obs != nil {
		d.obs.DestinationUp(d.rule, d.addrs[i], !down)
	}
	by := "a connection"
	if check {
		by = "the health check"
	}
	if !down {
		d.log.Info("destination up again", "dest", d.addrs[i], "found_by", by)
		return
	}
	args := []any{"dest", d.addrs[i], "found_by", by}
	if !d.checked {
		args = append(args, "retry_after", d.downTime)
	}
	switch up := d.upCount(); {
	case up > 0:
		args = append(args, "note", "failing over to the other destinations")
	case d.checked:
		args = append(args, "note", "every destination is down: clients are refused")
	}
	if err != nil {
		args = append(args, "err", err.Error())
	}
	d.log.Warn("destination down", args...)
}

// upCount counts the destinations not down. d.mu is held.
func (d *dests) upCount() int {
	n := 0
	for _, s := range d.st {
		if !s.down {
			n++
		}
	}
	return n
}

// downList returns the indexes currently skipped after a failed dial
// (without a check).
func (d *dests) downList() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	var out []int
	for i, s := range d.st {
		if now.Before(s.downUntil) {
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

// dial connects client to the destination the balance picks, failing
// over to the others that answer, and marking the ones that fail. It
// returns the connection and the destination's index, whose count the
// caller gives back with release once the connection ends; or
// ErrAllDown or ErrDestsFull when no destination may be tried.
func (d *dests) dial(ctx context.Context, dialer func(ctx context.Context, network, addr string) (net.Conn, error), network string, client netip.Addr) (net.Conn, int, error) {
	order, err := d.pick(client)
	if err != nil {
		return nil, -1, err
	}
	var errs []error
	for _, i := range order {
		c, err := dialer(ctx, network, d.addrs[i])
		if err == nil {
			d.moved(order[0], i)
			d.mark(i, true, false, nil)
			return c, i, nil
		}
		if ctx.Err() != nil {
			d.release(order[0])
			return nil, -1, ctx.Err()
		}
		d.mark(i, false, false, err)
		errs = append(errs, err)
	}
	d.release(order[0])
	return nil, -1, &DialError{Errs: errs}
}

// healthLoop re-dials down TCP destinations every interval and marks
// those that answer as up, until ctx ends (rules without a check).
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
