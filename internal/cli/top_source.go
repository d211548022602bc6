package cli

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/tui"
	"github.com/portkit/ports/socktable"
)

// procResync is how often topSource looks up every socket's processes
// again, to catch sockets that changed hands (a fork, an exited parent).
const procResync = 30 * time.Second

// maxPortFilter is the largest number of port ranges topSource asks the
// kernel to filter on when it looks up new sockets' processes; with more
// it lists every socket.
const maxPortFilter = 64

// topSource takes the snapshots of `ports top`. Every refresh costs one
// dump of the sockets and one of the TCP counters (two netlink dumps on
// Linux, no /proc reading). Processes come from a cache by inode: only
// sockets not seen before are looked up, with a listing of just their
// ports, and every procResync the cache starts afresh.
type topSource struct {
	netns string
	view  *sockView

	buf      []socktable.Socket
	counters map[uint64][2]uint64 // inode -> bytes acked, received
	// noCounters is set once the counters turn out to be unsupported
	// here; note says so in the view.
	noCounters bool
	note       string

	procs    map[uint64]procEntry // inode -> its processes
	procsAt  time.Time            // when procs was last emptied
	lookedUp map[uint64]bool      // scratch: the inodes being looked up
	now      func() time.Time
}

// procEntry is what the last lookup found for an inode.
type procEntry struct {
	procs  []socktable.Process
	hidden bool
}

func newTopSource(netns string) *topSource {
	return &topSource{
		netns:    netns,
		view:     newSockView(true),
		counters: map[uint64][2]uint64{},
		procs:    map[uint64]procEntry{},
		lookedUp: map[uint64]bool{},
		now:      time.Now,
	}
}

// Snapshot lists the sockets, reads their counters and converts them.
func (t *topSource) Snapshot(ctx context.Context) (*tui.Snapshot, error) {
	socks, err := socktable.Append(ctx, t.buf[:0], &socktable.Options{NetNS: t.netns})
	if err != nil {
		return nil, err
	}
	t.buf = socks
	counted := t.readCounters(ctx)
	snap := &tui.Snapshot{Time: t.now(), Counters: counted, CountersNote: t.note}
	t.attachProcs(ctx, socks)

	v := t.view
	if host, err := hostports.Read(); err == nil {
		v.host, v.hostOK = host, true
		snap.Ephemeral = host.Ephemeral
	}
	clear(v.listening)
	v.learnListeners(socks)
	out := make([]tui.Socket, len(socks))
	for i := range socks {
		s := &socks[i]
		sp := v.servicePort(s)
		o := &out[i]
		*o = tui.Socket{
			Socket:      *s,
			ServicePort: sp,
			Service:     v.serviceName(s.Proto, sp),
			Class:       ports.Port(sp).Class().String(),
			Ephemeral:   v.hostOK && !s.IsListener() && v.host.InEphemeral(ports.Port(s.Local.Port())) && !v.listening[listenKey{s.Proto, s.Local.Port()}],
		}
		if e, ok := t.procs[s.Inode]; ok && s.Inode != 0 {
			o.Procs, o.ProcsHidden = e.procs, e.hidden
		}
		if c, ok := t.counters[s.Inode]; ok && counted && s.Proto == ports.ProtoTCP && s.Inode != 0 {
			o.HasCounters, o.BytesAcked, o.BytesReceived = true, c[0], c[1]
		}
	}
	snap.Sockets = out
	return snap, nil
}

// readCounters reads the TCP byte counters into t.counters, and reports
// whether it could.
func (t *topSource) readCounters(ctx context.Context) bool {
	if t.noCounters {
		return false
	}
	clear(t.counters)
	for c, err := range socktable.Counters(ctx, &socktable.Options{NetNS: t.netns}) {
		if errors.Is(err, errors.ErrUnsupported) {
			t.noCounters = true
			t.note = "no throughput: the kernel's TCP counters cannot be read on " + runtime.GOOS
			if runtime.GOOS == "linux" {
				t.note = "no throughput: netlink sock_diag is refused here"
			}
			return false
		}
		if err != nil {
			t.note = "no throughput: " + err.Error()
			return false
		}
		if c.Inode != 0 {
			t.counters[c.Inode] = [2]uint64{c.BytesAcked, c.BytesReceived}
		}
	}
	t.note = ""
	return true
}

// attachProcs makes sure t.procs knows every socket of socks: the
// sockets it has not seen are looked up, in one listing with processes
// restricted to their local ports.
func (t *topSource) attachProcs(ctx context.Context, socks []socktable.Socket) {
	now := t.now()
	if now.Sub(t.procsAt) >= procResync || len(t.procs) > 2*len(socks)+1024 {
		clear(t.procs)
		t.procsAt = now
	}
	var set ports.Set
	clear(t.lookedUp)
	for i := range socks {
		ino := socks[i].Inode
		if ino == 0 {
			continue // TIME-WAIT and the like: no process holds them
		}
		if _, ok := t.procs[ino]; ok || t.lookedUp[ino] {
			continue
		}
		t.lookedUp[ino] = true
		p := ports.Port(socks[i].Local.Port())
		set.Add(ports.ProtoAny, ports.Range{First: p, Last: p})
	}
	if len(t.lookedUp) == 0 {
		return
	}
	opts := socktable.Options{NetNS: t.netns, Processes: true}
	if rs := set.Ranges(ports.ProtoAny); len(rs) <= maxPortFilter {
		opts.LocalPorts = rs
	}
	found, err := socktable.Append(ctx, nil, &opts)
	if err != nil {
		return // try again at the next refresh
	}
	for i := range found {
		if ino := found[i].Inode; ino != 0 {
			t.procs[ino] = procEntry{found[i].Procs, found[i].ProcsHidden}
		}
	}
	for ino := range t.lookedUp {
		if _, ok := t.procs[ino]; !ok {
			t.procs[ino] = procEntry{} // closed since, or no process holds it
		}
	}
}
