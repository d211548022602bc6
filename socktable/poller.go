package socktable

import (
	"context"
	"time"

	"github.com/portkit/ports"
)

// DefaultResync is how often a Poller looks up every socket's processes
// again when Poller.Resync is 0.
const DefaultResync = 30 * time.Second

// maxLookupPorts is the largest number of port ranges a Poller asks the
// kernel to filter on when it looks up new sockets' processes; with more
// it lists every socket.
const maxLookupPorts = 64

// Poller lists sockets again and again, as a live view does (ports top,
// ls --watch), at a fraction of List's cost with processes: it reuses its
// buffer, and takes processes from a cache by socket inode, so only the
// sockets it has not seen before are looked up (a walk of /proc on
// Linux), and a poll that finds the inodes of the last one walks
// nothing. The cache starts afresh every Resync, to follow sockets that
// changed hands (after a fork, or when a parent exits).
//
// The zero Poller lists every socket without processes. A Poller is not
// safe for concurrent use.
type Poller struct {
	// Options selects the sockets, as for List. With Processes set, the
	// sockets' processes come from the cache.
	Options Options
	// Resync is how often the process cache starts afresh; 0 means
	// DefaultResync.
	Resync time.Duration

	scratch  []Socket
	listOpts Options             // Options without Processes
	prev     []uint64            // the inodes of the last poll whose sockets all got their processes, in order
	procs    map[uint64]procInfo // inode -> its processes
	procsAt  time.Time           // when procs was last emptied
	lookup   map[uint64]bool     // scratch: the inodes being looked up
	stats    PollStats
	now      func() time.Time // time.Now; tests move it
}

// procInfo is what the last lookup found for an inode.
type procInfo struct {
	procs  []Process
	hidden bool
}

// PollStats counts what a Poller did.
type PollStats struct {
	Polls   int // listings made
	Lookups int // listings with processes, made for sockets not seen before
	Resyncs int // times the process cache started afresh after the first poll
}

// Stats returns what p did so far.
func (p *Poller) Stats() PollStats { return p.stats }

// Poll lists the sockets. The slice aliases the Poller's buffer: it is
// valid until the next Poll. With Options.Processes, the sockets' Procs
// are shared with the cache and with other polls' results: never modify
// them. A socket whose processes could not be looked up (the lookup
// failed, or the socket closed in between) has none; a failed lookup is
// tried again at the next poll.
func (p *Poller) Poll(ctx context.Context) ([]Socket, error) {
	// In the Poller, so that it does not escape to the heap each poll.
	p.listOpts = p.Options
	p.listOpts.Processes = false
	socks, err := Append(ctx, p.scratch[:0], &p.listOpts)
	p.scratch = socks[:0]
	if err != nil {
		return nil, err
	}
	p.stats.Polls++
	if p.Options.Processes {
		p.attach(ctx, socks)
	}
	return socks, nil
}

// attach gives socks their processes from the cache, looking up first
// the ones it does not hold, in one listing restricted to their ports.
func (p *Poller) attach(ctx context.Context, socks []Socket) {
	if p.procs == nil {
		p.procs, p.lookup = map[uint64]procInfo{}, map[uint64]bool{}
	}
	now := p.clock()
	if now.Sub(p.procsAt) >= p.resync() || len(p.procs) > 2*len(socks)+1024 {
		if !p.procsAt.IsZero() {
			p.stats.Resyncs++
		}
		clear(p.procs)
		p.procsAt = now
		p.prev = p.prev[:0]
	}
	if !sameInodes(p.prev, socks) && p.lookUp(ctx, socks) {
		p.prev = p.prev[:0]
		for i := range socks {
			p.prev = append(p.prev, socks[i].Inode)
		}
	}
	for i := range socks {
		s := &socks[i]
		if e, ok := p.procs[s.Inode]; ok && s.Inode != 0 {
			s.Procs, s.ProcsHidden = e.procs, e.hidden
		}
	}
}

// lookUp finds the processes of the sockets of socks the cache does not
// hold, and reports whether it could.
func (p *Poller) lookUp(ctx context.Context, socks []Socket) bool {
	var set ports.Set
	clear(p.lookup)
	for i := range socks {
		ino := socks[i].Inode
		if ino == 0 {
			continue // TIME-WAIT and the like: no process holds them
		}
		if _, ok := p.procs[ino]; ok || p.lookup[ino] {
			continue
		}
		p.lookup[ino] = true
		lp := ports.Port(socks[i].Local.Port())
		set.Add(ports.ProtoAny, ports.Range{First: lp, Last: lp})
	}
	if len(p.lookup) == 0 {
		return true
	}
	// Not Options.States nor RemotePorts: a new socket may have moved on
	// (SYN-RECV to ESTAB) since it was listed.
	opts := Options{NetNS: p.Options.NetNS, Protos: p.Options.Protos, Family: p.Options.Family, Processes: true}
	if rs := set.Ranges(ports.ProtoAny); len(rs) <= maxLookupPorts {
		opts.LocalPorts = rs
	}
	p.stats.Lookups++
	var failed bool
	for s, err := range List(ctx, &opts) {
		if err != nil {
			failed = true
			break
		}
		if s.Inode != 0 && p.lookup[s.Inode] {
			p.procs[s.Inode] = procInfo{s.Procs, s.ProcsHidden}
		}
	}
	if failed {
		return false
	}
	for ino := range p.lookup {
		if _, ok := p.procs[ino]; !ok {
			p.procs[ino] = procInfo{} // closed since, or no process holds it
		}
	}
	return true
}

// sameInodes reports whether socks has the inodes prev holds, in order.
func sameInodes(prev []uint64, socks []Socket) bool {
	if len(prev) != len(socks) {
		return false
	}
	for i := range socks {
		if socks[i].Inode != prev[i] {
			return false
		}
	}
	return true
}

func (p *Poller) resync() time.Duration {
	if p.Resync > 0 {
		return p.Resync
	}
	return DefaultResync
}

func (p *Poller) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}
