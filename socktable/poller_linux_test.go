package socktable

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// pollerPorts returns n ports that were free, and Options that list only
// TCP listeners on them with their processes, so that other tests'
// sockets (a connection whose local port is one of these) do not reach
// the poller.
func pollerPorts(t *testing.T, n int) ([]ports.Port, Options) {
	t.Helper()
	ps := porttest.FreePorts(t, n)
	opts := Options{Protos: []ports.Proto{ports.ProtoTCP}, Family: 4, States: StatesOf(StateListen), Processes: true}
	for _, p := range ps {
		opts.LocalPorts = append(opts.LocalPorts, ports.Range{First: p, Last: p})
	}
	return ps, opts
}

func listenOn(t *testing.T, p ports.Port) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("listen on port %d, free a moment ago: %v", p, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// polled polls and returns the listeners found, by port, checking that
// each is held by this process.
func polled(t *testing.T, p *Poller) map[uint16]*Socket {
	t.Helper()
	socks, err := p.Poll(context.Background())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	out := map[uint16]*Socket{}
	for i := range socks {
		s := &socks[i]
		if s.State != StateListen {
			continue
		}
		out[s.Local.Port()] = s
		if len(s.Procs) != 1 || s.Procs[0].PID != os.Getpid() {
			t.Errorf("listener %v: processes %+v, want this one (pid %d)", s.Local, s.Procs, os.Getpid())
		}
	}
	return out
}

func TestIntegrationPollerLooksUpOnlyNewSockets(t *testing.T) {
	ps, opts := pollerPorts(t, 3)
	clock := porttest.NewClock(time.Now())
	p := &Poller{Options: opts, now: clock.Now}
	want := func(step string, got map[uint16]*Socket, lookups int, open ...ports.Port) {
		t.Helper()
		if len(got) != len(open) {
			t.Errorf("%s: listeners on %v, want %v", step, keys(got), open)
		}
		for _, o := range open {
			if got[uint16(o)] == nil {
				t.Errorf("%s: no listener on %d (found %v)", step, o, keys(got))
			}
		}
		if st := p.Stats(); st.Lookups != lookups {
			t.Errorf("%s: %d lookups in all (%+v), want %d", step, st.Lookups, st, lookups)
		}
	}

	want("nothing open", polled(t, p), 0)
	a := listenOn(t, ps[0])
	want("a opened", polled(t, p), 1, ps[0])
	want("nothing new", polled(t, p), 1, ps[0])
	b := listenOn(t, ps[1])
	want("b opened", polled(t, p), 2, ps[0], ps[1])
	a.Close()
	want("a closed", polled(t, p), 2, ps[1])
	// A new socket on a's port has a new inode: it is looked up.
	listenOn(t, ps[0])
	want("a reopened", polled(t, p), 3, ps[0], ps[1])
	b.Close()
	listenOn(t, ps[2])
	want("b closed, c opened", polled(t, p), 4, ps[0], ps[2])
	want("nothing new again", polled(t, p), 4, ps[0], ps[2])

	// Past Resync, every socket is looked up again, once.
	clock.Advance(DefaultResync)
	want("resync", polled(t, p), 5, ps[0], ps[2])
	want("after the resync", polled(t, p), 5, ps[0], ps[2])
	if st := p.Stats(); st.Resyncs != 1 || st.Polls != 10 {
		t.Errorf("stats %+v, want 1 resync in 10 polls", st)
	}
}

func TestIntegrationPollerAllocs(t *testing.T) {
	// A poll that finds nothing new allocates nothing beyond the listing
	// itself: the buffer, the cache and the inode list are reused, and
	// the processes are shared, not copied.
	ps, opts := pollerPorts(t, 40)
	for _, port := range ps {
		listenOn(t, port)
	}
	p := &Poller{Options: opts}
	if got := polled(t, p); len(got) != len(ps) {
		t.Fatalf("found %d of %d listeners", len(got), len(ps))
	}
	plain := opts
	plain.Processes = false
	buf, err := Append(context.Background(), nil, &plain)
	if err != nil {
		t.Fatal(err)
	}
	listing := testing.AllocsPerRun(20, func() {
		if buf, err = Append(context.Background(), buf[:0], &plain); err != nil {
			t.Fatal(err)
		}
	})
	poll := testing.AllocsPerRun(20, func() {
		if _, err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	if poll > listing {
		t.Errorf("a poll of %d listeners allocates %v times, the listing alone %v", len(ps), poll, listing)
	}
	if st := p.Stats(); st.Lookups != 1 {
		t.Errorf("%d lookups, want 1 (the first poll's)", st.Lookups)
	}
}

func TestPollerWithoutProcesses(t *testing.T) {
	_, lap := porttest.ListenTCP(t)
	p := &Poller{Options: Options{States: StatesOf(StateListen), LocalPorts: []ports.Range{{First: ports.Port(lap.Port()), Last: ports.Port(lap.Port())}}}}
	for range 2 {
		socks, err := p.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(socks) != 1 || socks[0].Local != lap || socks[0].Procs != nil {
			t.Errorf("Poll = %+v, want the listener %v alone, without processes", socks, lap)
		}
	}
	if st := p.Stats(); st.Lookups != 0 || st.Polls != 2 {
		t.Errorf("stats %+v, want 2 polls and no lookup", st)
	}
}

func keys(m map[uint16]*Socket) []uint16 {
	var out []uint16
	for k := range m {
		out = append(out, k)
	}
	return out
}
