package scan

import (
	"sync"
	"sync/atomic"
)

// tarpitMinPorts and tarpitFraction: a host probed on at least
// tarpitMinPorts ports that SYN-ACKs at least tarpitFraction of them,
// and does not RST at least 1/20 of them, is a SYN proxy or tarpit.
const (
	tarpitMinPorts = 100
	tarpitFraction = 0.9
)

// tarpitGuard holds back each host's open ports until the host has
// refused (RST or ICMP error) 1/20 of the ports probed: a SYN proxy or
// tarpit SYN-ACKs every port, and the scan reports it as one
// *TarpitError instead of thousands of open ports (see synScanner).
type tarpitGuard struct {
	opens, refusals []atomic.Int32
	probed          []int32 // sender only

	mu        sync.Mutex
	streaming []bool // the host refused enough: its open ports flow
	held      [][]Result
	conflicts map[uint64]bool // pairs reported with a ConflictError
}

func newTarpitGuard(hosts int) tarpitGuard {
	return tarpitGuard{opens: make([]atomic.Int32, hosts), refusals: make([]atomic.Int32, hosts),
		probed: make([]int32, hosts), streaming: make([]bool, hosts), held: make([][]Result, hosts)}
}

// open takes the open port res of host hi: it reports whether it is held
// back, or else is to be delivered now.
func (g *tarpitGuard) open(hi int32, res Result) (held bool) {
	g.opens[hi].Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.streaming[hi] {
		g.held[hi] = append(g.held[hi], res)
		return true
	}
	return false
}

// refused counts a RST or ICMP error from host hi, which the shard
// probes on about perHost ports. Once it has refused 1/20 of them, it is
// no tarpit: refused returns its held open ports, once, to deliver, and
// the later ones flow.
func (g *tarpitGuard) refused(hi int32, perHost uint64) []Result {
	n := g.refusals[hi].Add(1)
	if int64(n) < max(1, int64(perHost)/20) {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.streaming[hi] {
		return nil
	}
	g.streaming[hi] = true
	held := g.held[hi]
	g.held[hi] = nil
	return held
}

// conflict records that pair idx of host hi got conflicting answers,
// dropping it from the host's held ports (index names a result's pair).
// It reports whether this is the pair's first conflict.
func (g *tarpitGuard) conflict(idx uint64, hi uint64, index func(Result) uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conflicts == nil {
		g.conflicts = map[uint64]bool{}
	}
	if g.conflicts[idx] {
		return false
	}
	g.conflicts[idx] = true
	held := g.held[hi]
	for i, r := range held {
		if index(r) == idx {
			g.held[hi] = append(held[:i:i], held[i+1:]...)
			break
		}
	}
	return true
}

// verdict is called once the scan has ended, for host hi with open
// ports still held: it reports whether the host is a tarpit, and the
// ports and probe count.
func (g *tarpitGuard) verdict(hi int) (held []Result, probed int, tarpit bool) {
	held, probed = g.held[hi], int(g.probed[hi])
	return held, probed, probed >= tarpitMinPorts && float64(len(held)) >= tarpitFraction*float64(probed)
}
