package scan

import (
	"context"
	"sync"
	"time"

	"github.com/portkit/ports"
)

// The SYN scan's send path: a round of probes, paced, in batches.

// sendRound sends a SYN for every pending pair from position from on. In
// an A/B round the second half of the positions goes at a quarter of
// the rate. It returns when the last probe went out.
func (s *synScanner) sendRound(ctx context.Context, round int, from uint64, ab bool) (time.Time, error) {
	split := s.order.len
	if ab {
		split = max(s.order.len/2, 1)
		s.ab.begin(split)
	}
	rate := s.rate
	lport := s.lports[round%len(s.lports)]
	maxBatch := int(min(max(rate/1000, 1), 64))
	// Sending on a fast link costs mostly the kernel's time, so that
	// several goroutines (threads) send batches at once; the pacing stays
	// here. Four of them even on 2 CPUs: each spends nearly all its time
	// in sendmmsg, and the runtime lets another run while one is in the
	// kernel (a namespace scan of 65,535 ports on 2 CPUs: 0.35-0.39 s
	// with 2, 0.29-0.34 s with 4, no better with 8 or 16).
	workers := 1
	if rate >= 50000 {
		workers = 4
	}
	type job struct {
		segs []outSeg
		buf  []byte
	}
	free := make(chan *job, 2*workers)
	for range 2 * workers {
		free <- &job{segs: make([]outSeg, 0, 64), buf: make([]byte, 0, 64*24)}
	}
	work := make(chan *job)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range work {
				s.sendBatch(ctx, j.segs)
				j.segs, j.buf = j.segs[:0], j.buf[:0]
				free <- j
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	cur := <-free
	next := time.Now()
	roundStart, roundSent := next, 0
	flush := func() error {
		if len(cur.segs) == 0 {
			return nil
		}
		now := time.Now()
		if d := next.Sub(now); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		} else if d < -10*time.Millisecond {
			next = now // do not burst to catch up after a stall
		}
		us := uint32(time.Since(s.start).Microseconds())
		for _, o := range cur.segs {
			pos, _ := s.order.position(o.idx)
			s.sendTimes[pos/timeSlot].Store(us)
		}
		next = next.Add(time.Duration(float64(len(cur.segs)) / rate * float64(time.Second)))
		select {
		case work <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		cur = <-free
		return nil
	}
	for j := from; j < s.order.len; j++ {
		if j == split && ab {
			if err := flush(); err != nil {
				return time.Now(), err
			}
			rate = s.baseRate() / 4
			maxBatch = int(min(max(rate/1000, 1), 64))
		}
		idx := s.order.at(j)
		if s.state.get(idx) != probePending {
			continue
		}
		h, p := idx/s.np, s.plist[idx%s.np]
		if round == 0 {
			s.tarpit.probed[h]++
		}
		if ab {
			s.ab.sent(j < split)
		}
		dst, src := s.hosts[h], s.srcs[h]
		off := len(cur.buf)
		cur.buf = appendSYN(cur.buf, src, dst, lport, uint16(p), s.key.cookie(src, dst, lport, uint16(p)))
		cur.segs = append(cur.segs, outSeg{src: src, dst: dst, seg: cur.buf[off:], idx: idx})
		roundSent++
		if len(cur.segs) >= maxBatch {
			if err := flush(); err != nil {
				return time.Now(), err
			}
			s.next.Store(j + 1)
		}
	}
	if err := flush(); err != nil {
		return time.Now(), err
	}
	close(work)
	wg.Wait()
	work = make(chan *job) // for the deferred close
	if d := time.Since(roundStart); roundSent >= 1000 && !ab {
		s.achieved = float64(roundSent) / d.Seconds()
	}
	s.next.Store(0)
	if err := ctx.Err(); err != nil {
		return time.Now(), err
	}
	return time.Now(), nil
}

// sendBatch sends the SYNs of batch, deciding those the system refuses.
func (s *synScanner) sendBatch(ctx context.Context, b []outSeg) {
	for len(b) > 0 {
		n, err := s.io.send(b)
		s.sent.Add(uint64(n))
		b = b[n:]
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.sendFailed(ctx, b[0], err)
			b = b[1:]
		}
	}
}

// sendFailed decides the pair whose SYN the system refused to send.
func (s *synScanner) sendFailed(ctx context.Context, o outSeg, err error) {
	if !s.state.finish(o.idx, probeDone) {
		return
	}
	s.pending.Add(-1)
	r := Result{Addr: o.dst, Port: s.plist[o.idx%s.np], Proto: ports.ProtoTCP, Tries: int(s.round.Load()) + 1}
	var perr error
	switch reason := unreachReason(err); reason {
	case "":
		perr = &ProbeError{Op: "send SYN", Proto: ports.ProtoTCP, Addr: r.AddrPort(), Err: err}
	default:
		// The system cannot reach the host at all: its other ports
		// would fail the same way.
		r.State, r.Reason = StateFiltered, reason
		s.emit(ctx, synItem{r: r})
		s.finishHost(ctx, int(o.idx/s.np), &HostError{Addr: o.dst, Reason: reason, Err: err})
		return
	}
	s.emit(ctx, synItem{r: r, err: perr})
}
