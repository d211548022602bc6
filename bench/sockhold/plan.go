package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

const (
	// maxConnsPerProc caps the connections one process holds: each is two
	// file descriptors (client and accepted server), so 8,000 is 16,000
	// fds, under the 20,000-file limit that the benchmark machines have.
	maxConnsPerProc = 8000

	// fdReserve is the descriptors a worker needs besides its
	// connections: stdin/stdout/stderr, the poller, signal pipes and the
	// listeners.
	fdReserve = 64

	// maxConnsPerListener caps the connections to one listener, that is to
	// one destination address:port. Connections to one destination need
	// distinct source ports, all from the ephemeral range (28,232 ports by
	// default on Linux), which other programs use too; see
	// connsPerListener.
	maxConnsPerListener = 10000
)

// limits are what a plan must respect.
type limits struct {
	ConnsPerProc     int // connections one process may hold (2 fds each)
	ConnsPerListener int // connections to one listener (one destination)
}

// listenerPlan is one listener a worker opens on Addr (port chosen by the
// kernel), and how many connections the worker makes to it.
type listenerPlan struct {
	Addr  netip.Addr
	Conns int
}

// connsPerProc returns how many connections one process may hold when its
// RLIMIT_NOFILE hard limit is nofile: at most maxConnsPerProc, and no more
// than the limit allows after fdReserve.
func connsPerProc(nofile uint64) int {
	if nofile <= fdReserve+2 {
		return 0
	}
	return int(min(uint64(maxConnsPerProc), (nofile-fdReserve)/2))
}

// connsPerListener returns how many connections may go to one listener
// when the ephemeral port range is lo..hi: at most maxConnsPerListener,
// and at most half the range, so other programs and the kernel's random
// port search keep room. It is at least 1.
func connsPerListener(lo, hi int) int {
	n := (hi - lo + 1) / 2
	return max(1, min(maxConnsPerListener, n))
}

// makePlan splits conns connections over procs worker processes (0: as
// few as lim allows), as evenly as possible, and each worker's share over
// its listeners. Listeners take their address from addrs in turn, across
// all workers, and every worker has at least enough listeners that every
// address in addrs is used (as long as there are connections for them).
// All addrs must be loopback addresses.
func makePlan(conns, procs int, addrs []netip.Addr, lim limits) ([][]listenerPlan, error) {
	switch {
	case conns < 1:
		return nil, fmt.Errorf("need at least 1 connection, have %d", conns)
	case procs < 0:
		return nil, fmt.Errorf("need -procs >= 0, have %d", procs)
	case len(addrs) == 0:
		return nil, errors.New("no listen addresses")
	case lim.ConnsPerProc < 1 || lim.ConnsPerListener < 1:
		return nil, fmt.Errorf("limits too low: %d connections per process, %d per listener", lim.ConnsPerProc, lim.ConnsPerListener)
	}
	for _, a := range addrs {
		if !a.IsLoopback() {
			return nil, fmt.Errorf("%v is not a loopback address", a)
		}
	}
	need := ceilDiv(conns, lim.ConnsPerProc)
	if procs == 0 {
		procs = need
	}
	if procs < need {
		return nil, fmt.Errorf("%d connections need at least %d processes of at most %d connections each; -procs is %d", conns, need, lim.ConnsPerProc, procs)
	}
	if procs > conns {
		return nil, fmt.Errorf("-procs %d is more than the %d connections to share out", procs, conns)
	}
	minListeners := ceilDiv(len(addrs), procs)
	plan := make([][]listenerPlan, procs)
	next := 0 // index in addrs of the next listener's address
	for i := range plan {
		c := share(conns, procs, i)
		n := min(c, max(ceilDiv(c, lim.ConnsPerListener), minListeners))
		for j := range n {
			plan[i] = append(plan[i], listenerPlan{Addr: addrs[next], Conns: share(c, n, j)})
			next = (next + 1) % len(addrs)
		}
	}
	return plan, nil
}

// share returns part i of n when total is split as evenly as possible,
// the first total%n parts one larger.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// loopbackAddrs returns 127.0.0.1 to 127.0.0.n, then ::1 if v6.
func loopbackAddrs(n int, v6 bool) ([]netip.Addr, error) {
	if n < 0 || n > 254 {
		return nil, fmt.Errorf("need 0 <= -addrs <= 254, have %d", n)
	}
	var addrs []netip.Addr
	for i := 1; i <= n; i++ {
		addrs = append(addrs, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	if v6 {
		addrs = append(addrs, netip.IPv6Loopback())
	}
	if len(addrs) == 0 {
		return nil, errors.New("no listen addresses: need -addrs >= 1 or -6")
	}
	return addrs, nil
}

// formatWorker encodes one worker's listeners for its -worker flag, as
// comma-separated ADDR=CONNS.
func formatWorker(ls []listenerPlan) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Addr.String() + "=" + strconv.Itoa(l.Conns)
	}
	return strings.Join(parts, ",")
}

// parseWorker decodes formatWorker's output. Every address must be a
// loopback address and every count positive.
func parseWorker(s string) ([]listenerPlan, error) {
	if s == "" {
		return nil, errors.New("empty worker plan")
	}
	var ls []listenerPlan
	for part := range strings.SplitSeq(s, ",") {
		as, cs, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("worker plan %q: %q is not ADDR=CONNS", s, part)
		}
		a, err := netip.ParseAddr(as)
		if err != nil {
			return nil, fmt.Errorf("worker plan %q: %w", s, err)
		}
		if !a.IsLoopback() || a.Zone() != "" {
			return nil, fmt.Errorf("worker plan %q: %v is not a loopback address", s, a)
		}
		c, err := strconv.Atoi(cs)
		if err != nil || c < 1 {
			return nil, fmt.Errorf("worker plan %q: %q is not a positive count", s, cs)
		}
		ls = append(ls, listenerPlan{Addr: a, Conns: c})
	}
	return ls, nil
}
