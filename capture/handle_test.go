package capture

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// fakeImpl is an osImpl without a kernel: packets come from a channel,
// and a read deadline in the past wakes a blocked next.
type fakeImpl struct {
	pkts chan []byte

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed and replaced when the deadline changes
	closed   chan struct{}
	counts   Stats // handed out and reset by stats
}

func newFake() *fakeImpl {
	return &fakeImpl{pkts: make(chan []byte, 16), wake: make(chan struct{}), closed: make(chan struct{})}
}

func (f *fakeImpl) next(p *Packet) error {
	for {
		f.mu.Lock()
		past := !f.deadline.IsZero() && !f.deadline.After(time.Now())
		wake := f.wake
		f.mu.Unlock()
		if past {
			return os.ErrDeadlineExceeded
		}
		select {
		case b := <-f.pkts:
			*p = Packet{Data: b, CaptureLength: len(b), Length: len(b), Direction: DirectionIn}
			return nil
		case <-wake:
		case <-f.closed:
			return net.ErrClosed
		}
	}
}

func (f *fakeImpl) setReadDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline = t
	close(f.wake)
	f.wake = make(chan struct{})
	return nil
}

func (f *fakeImpl) stats() (Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.counts
	f.counts = Stats{}
	return s, nil
}

func (f *fakeImpl) setFilter(expr string) error { return nil }

func (f *fakeImpl) close() error {
	close(f.closed)
	return nil
}

func (f *fakeImpl) count(received, dropped uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts.Received += received
	f.counts.Dropped += dropped
}

func newFakeHandle() (*Handle, *fakeImpl) {
	f := newFake()
	return &Handle{impl: f, iface: "fake0", snaplen: DefaultSnaplen}, f
}

// drain runs Packets on another goroutine and returns the error that
// ends it, failing the test if that takes more than a few seconds.
func drain(t *testing.T, h *Handle, ctx context.Context, started chan<- struct{}) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		if started != nil {
			close(started)
		}
		// Report after the loop, when the iteration has finished.
		last := errors.New("ended without an error")
		for _, err := range h.Packets(ctx) {
			if err != nil {
				last = err
			}
		}
		done <- last
	}()
	return done
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Packets did not end")
		return nil
	}
}

func TestPacketsCancel(t *testing.T) {
	h, f := newFakeHandle()
	ctx, cancel := context.WithCancel(context.Background())
	f.pkts <- []byte("one")
	var got []string
	for p, err := range h.Packets(ctx) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			break
		}
		got = append(got, string(p.Data))
		cancel() // while no read is blocked; the next one must not block
	}
	if len(got) != 1 || got[0] != "one" {
		t.Errorf("got %q, want [one]", got)
	}

	// Cancelled while blocked.
	ctx, cancel = context.WithCancel(context.Background())
	started := make(chan struct{})
	done := drain(t, h, ctx, started)
	<-started
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}

	// Already done.
	if err := waitErr(t, drain(t, h, ctx, nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}

	// Timed out.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := waitErr(t, drain(t, h, ctx, nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want context.DeadlineExceeded", err)
	}

	// The deadline is cleared for the next iteration.
	f.pkts <- []byte("two")
	for p, err := range h.Packets(context.Background()) {
		if err != nil || string(p.Data) != "two" {
			t.Errorf("got %q, %v; want two", p.Data, err)
		}
		break
	}
}

func TestPacketsBusy(t *testing.T) {
	h, _ := newFakeHandle()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	done := drain(t, h, ctx, started)
	<-started
	for !h.reading.Load() {
		time.Sleep(time.Millisecond)
	}
	for _, err := range h.Packets(context.Background()) {
		if !errors.Is(err, ErrBusy) {
			t.Errorf("second iteration: %v, want ErrBusy", err)
		}
	}
	cancel()
	waitErr(t, done)
}

func TestCloseEndsPackets(t *testing.T) {
	h, f := newFakeHandle()
	started := make(chan struct{})
	done := drain(t, h, context.Background(), started)
	<-started
	f.count(5, 1)
	time.Sleep(10 * time.Millisecond)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, done); !errors.Is(err, net.ErrClosed) {
		t.Errorf("error %v, want net.ErrClosed", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Close kept the final counts.
	st, err := h.Stats()
	if err != nil || st != (Stats{Received: 5, Dropped: 1}) {
		t.Errorf("Stats after Close = %+v, %v; want {5 1}", st, err)
	}
}

func TestStatsAccumulate(t *testing.T) {
	h, f := newFakeHandle()
	f.count(3, 0)
	if st, _ := h.Stats(); st != (Stats{Received: 3}) {
		t.Errorf("Stats = %+v, want {3 0}", st)
	}
	f.count(4, 2)
	if st, _ := h.Stats(); st != (Stats{Received: 7, Dropped: 2}) {
		t.Errorf("Stats = %+v, want {7 2}", st)
	}
	if st, _ := h.Stats(); st != (Stats{Received: 7, Dropped: 2}) {
		t.Errorf("Stats = %+v, want {7 2}", st)
	}
}

func TestDirectionString(t *testing.T) {
	for d, want := range map[Direction]string{DirectionUnknown: "unknown", DirectionIn: "in", DirectionOut: "out", 9: "unknown"} {
		if got := d.String(); got != want {
			t.Errorf("Direction(%d).String() = %q, want %q", d, got, want)
		}
	}
}
