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

// topSource takes the snapshots of `ports top`. Every refresh costs one
// dump of the sockets and one of the TCP counters (two netlink dumps on
// Linux); processes come from a socktable.Poller, which walks /proc only
// for sockets it has not seen before.
type topSource struct {
	netns  string
	view   *sockView
	poller socktable.Poller

	counters map[uint64][2]uint64 // inode -> bytes acked, received
	// noCounters is set once the counters turn out to be unsupported
	// here; note says so in the view.
	noCounters bool
	note       string
	now        func() time.Time
}

func newTopSource(netns string) *topSource {
	return &topSource{
		netns:    netns,
		view:     newSockView(true),
		poller:   socktable.Poller{Options: socktable.Options{NetNS: netns, Processes: true}},
		counters: map[uint64][2]uint64{},
		now:      time.Now,
	}
}

// Snapshot lists the sockets, reads their counters and converts them.
func (t *topSource) Snapshot(ctx context.Context) (*tui.Snapshot, error) {
	socks, err := t.poller.Poll(ctx)
	if err != nil {
		return nil, err
	}
	counted := t.readCounters(ctx)
	snap := &tui.Snapshot{Time: t.now(), Counters: counted, CountersNote: t.note}

	v := t.view
	if host, err := hostports.Read(); err == nil {
		v.host, v.hostOK = host, true
		snap.Ephemeral = host.Ephemeral
	}
	v.listening = listenSet{}
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
			Ephemeral:   v.ephemeral(s),
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
