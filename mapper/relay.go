package mapper

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// chunk is how many bytes one splice-capable copy call moves at most
// before the relay meters them. Go's splice path moves at most 1 MiB per
// splice(2) call anyway.
const chunk = 1 << 20

// Default timeouts of a relay (see [RelayConfig]).
const (
	DefaultIdleTimeout = 5 * time.Minute
	DefaultFinTimeout  = 30 * time.Second
)

// RelayConfig configures [Relay]. The zero value is usable.
type RelayConfig struct {
	// IdleTimeout ends the relay when no byte moved either way for this
	// long. 0 means DefaultIdleTimeout; negative means none.
	IdleTimeout time.Duration
	// FinTimeout ends the relay this long after one side half-closed
	// (sent FIN) if the other has not finished too. 0 means
	// DefaultFinTimeout; negative means none.
	FinTimeout time.Duration
	// Pending are bytes already read from the client (for example past a
	// PROXY protocol or CONNECT header); they are written upstream first.
	Pending []byte
	// Progress, if not nil, is called after every chunk with the bytes
	// moved client→upstream (up) or upstream→client (down). It may be
	// called from two goroutines at once.
	Progress func(up, down int64)
}

// Reason says why a relay ended.
type Reason string

// Reasons a relay ends.
const (
	ReasonDone       Reason = "done"        // both sides finished (FIN each way)
	ReasonIdle       Reason = "idle"        // IdleTimeout without traffic
	ReasonFinTimeout Reason = "fin-timeout" // one side half-closed and the other did not follow in time
	ReasonReset      Reason = "reset"       // a read or write failed (reset, broken pipe, ...)
	ReasonCanceled   Reason = "canceled"    // the context ended
)

// Stats are what one relayed connection did.
type Stats struct {
	Up       int64 // bytes client → upstream (Pending included)
	Down     int64 // bytes upstream → client
	Duration time.Duration
	Reason   Reason
	Err      error // the first I/O error, when Reason is ReasonReset
}

// Relay copies bytes both ways between client and upstream until both
// directions have ended, then closes both connections. It copies between
// the bare *net.TCPConn values: on Linux small transfers are read and
// written through a pooled buffer, and bulk ones are moved by the
// kernel's splice(2) without copying them through user space; metering
// happens between chunks of at most 1 MiB. When one side sends
// FIN, Relay half-closes the other (CloseWrite) and gives the remaining
// direction FinTimeout to finish; a reset on one side is passed on as a
// reset. A canceled ctx ends the relay at once.
func Relay(ctx context.Context, client, upstream *net.TCPConn, cfg *RelayConfig) Stats {
	if cfg == nil {
		cfg = &RelayConfig{}
	}
	return runRelay(ctx, client, upstream, cfg, func(r *relay, up bool) int64 {
		if up {
			return r.copy(upstream, client, true)
		}
		return r.copy(client, upstream, false)
	})
}

// runRelay is the relay both Relay and relayStream run: the pending
// bytes written first, then move in each direction (up: client to
// upstream), until both end or ctx is canceled.
func runRelay(ctx context.Context, client, upstream streamConn, cfg *RelayConfig, move func(r *relay, up bool) int64) Stats {
	r := &relay{
		idle:  orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		fin:   orDefault(cfg.FinTimeout, DefaultFinTimeout),
		prog:  cfg.Progress,
		start: time.Now(),
	}
	r.last.Store(r.start.UnixNano())
	stop := context.AfterFunc(ctx, func() {
		r.setReason(ReasonCanceled, nil)
		client.Close()
		upstream.Close()
	})
	defer stop()

	var st Stats
	if len(cfg.Pending) > 0 {
		if r.idle > 0 {
			upstream.SetWriteDeadline(time.Now().Add(r.idle))
		}
		n, err := upstream.Write(cfg.Pending)
		upstream.SetWriteDeadline(time.Time{})
		st.Up += int64(n)
		if r.prog != nil {
			r.prog(int64(n), 0)
		}
		if err != nil {
			r.setReason(ReasonReset, err)
			client.Close()
			upstream.Close()
			st.Duration = time.Since(r.start)
			st.Reason, st.Err = r.result()
			return st
		}
	}
	var wg sync.WaitGroup
	var down int64
	wg.Add(1)
	goWorker(func() {
		defer wg.Done()
		down = move(r, false)
	})
	st.Up += move(r, true)
	wg.Wait()
	client.Close()
	upstream.Close()
	st.Down = down
	st.Duration = time.Since(r.start)
	st.Reason, st.Err = r.result()
	return st
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

type relay struct {
	idle, fin time.Duration
	prog      func(up, down int64)
	start     time.Time
	last      atomic.Int64 // unix nanoseconds of the last byte moved

	mu       sync.Mutex
	finAt    time.Time // zero until one direction finished
	halfDone int       // directions finished
	reason   Reason
	err      error
}

func (r *relay) setReason(reason Reason, err error) {
	r.mu.Lock()
	if r.reason == "" {
		r.reason, r.err = reason, err
	}
	r.mu.Unlock()
}

func (r *relay) result() (Reason, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reason == "" {
		return ReasonDone, nil
	}
	return r.reason, r.err
}

// deadline sets src's read deadline under the lock, so a half-close on
// the other direction cannot be overwritten by a stale idle deadline.
// The idle deadline counts from the last byte moved either way, so a
// copy need not renew it after every chunk (a timer change each): only
// when it fires and bytes moved since.
func (r *relay) deadline(src net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d time.Time
	if r.idle > 0 {
		d = time.Unix(0, r.last.Load()).Add(r.idle)
	}
	if !r.finAt.IsZero() && (d.IsZero() || r.finAt.Before(d)) {
		d = r.finAt
	}
	src.SetReadDeadline(d)
}

// finished records that the direction reading from src ended cleanly and
// starts the FIN timeout of the other one (other is its source).
func (r *relay) finished(other net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.halfDone++
	if r.halfDone == 1 && r.fin > 0 {
		r.finAt = time.Now().Add(r.fin)
		d := r.finAt
		if r.idle > 0 {
			if id := time.Now().Add(r.idle); id.Before(d) {
				d = id
			}
		}
		other.SetReadDeadline(d)
	}
}

// copy moves src → dst until EOF or an error and returns the bytes
// moved. up says which way it goes, for Progress.
//
// Small transfers (the requests and answers of short connections) go
// through a pooled buffer, taken only once src is readable: one read and
// one write each, where a splice costs an ioctl and two splices through
// a pipe. A read that fills the buffer means a bulk flow, and the copy
// splices from then on, back to reads when a splice moves less than a
// buffer (as haproxy's splice-auto does).
func (r *relay) copy(dst, src *net.TCPConn, up bool) int64 {
	var total int64
	lr := &io.LimitedReader{R: src}
	splicing := !smallReads
	// One RawConn for every wait (SyscallConn allocates one per call).
	rc, err := src.SyscallConn()
	if err != nil {
		r.setReason(ReasonReset, err)
		src.Close()
		dst.Close()
		return 0
	}
	cr := &chunkReader{rc: rc}
	r.deadline(src)
	for {
		var n int64
		var err error
		eof, wrote := false, false // src ended; the error is dst's
		if splicing {
			avail, rerr := readable(rc)
			err = rerr
			if err == nil {
				lr.N = int64(min(avail, chunk))
				// TCPConn.ReadFrom sees an *io.LimitedReader over a
				// *TCPConn and splices (Linux); elsewhere it falls back
				// to a buffered copy.
				n, err = dst.ReadFrom(lr)
				eof = err == nil && lr.N > 0 // EOF from src before the bytes it said it had
				splicing = !smallReads || n >= smallBufSize
			}
		} else {
			bp, m, rerr := cr.read()
			err = rerr
			if m > 0 {
				w, werr := dst.Write((*bp)[:m])
				n = int64(w)
				if werr != nil {
					err, wrote = werr, true
				}
				splicing = m == len(*bp)
			}
			if bp != nil {
				smallBufs.Put(bp)
			}
			if err == io.EOF {
				err, eof = nil, true
			}
		}
		total += n
		if n > 0 {
			r.last.Store(time.Now().UnixNano())
			if r.prog != nil {
				if up {
					r.prog(n, 0)
				} else {
					r.prog(0, n)
				}
			}
		}
		if eof {
			dst.CloseWrite()
			r.finished(dst) // dst is the other direction's source
			return total
		}
		if err == nil {
			continue
		}
		if isTimeout(err) && !wrote {
			if n > 0 {
				r.deadline(src)
				continue
			}
			r.mu.Lock()
			finAt := r.finAt
			r.mu.Unlock()
			now := time.Now()
			if !finAt.IsZero() && !now.Before(finAt) {
				r.setReason(ReasonFinTimeout, nil)
			} else if r.idle > 0 && now.Sub(time.Unix(0, r.last.Load())) < r.idle {
				r.deadline(src)
				continue // bytes moved since the deadline was set: not idle
			} else {
				r.setReason(ReasonIdle, nil)
			}
		} else {
			r.setReason(ReasonReset, err)
			// A reset (or a failed write) is passed on as a reset, not
			// a FIN: the other peer learns the truth, and no socket of
			// ours lingers in TIME_WAIT holding a port.
			src.SetLinger(0)
			dst.SetLinger(0)
		}
		// End both directions: the other copy returns at once.
		src.Close()
		dst.Close()
		return total
	}
}

// smallBufSize is the buffer of a relay's small reads: haproxy's
// default bufsize.
const smallBufSize = 16 << 10

var smallBufs = sync.Pool{New: func() any {
	b := make([]byte, smallBufSize)
	return &b
}}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, syscall.ECONNRESET)
}
