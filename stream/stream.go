// Package stream puts the head of each TCP byte stream back together
// from segments that arrive cut small, out of order, repeated or
// overlapping, so that an application message split across segments
// (a TLS ClientHello, an HTTP request's header) can be read whole, at
// the segment that completes it. It does no I/O.
//
// Memory is bounded: each direction keeps at most the first
// [Config.MaxFlowBytes] bytes of its stream (what the dissectors of
// package app look at), and all directions together at most
// [Config.MaxTotalBytes]; past that the oldest directions are dropped.
// Where segments overlap, the bytes that arrived first are kept (a
// retransmission with other contents does not rewrite what was read).
package stream

import "math/bits"

// Defaults of [Config].
const (
	DefaultMaxFlowBytes  = 16 << 10
	DefaultMaxTotalBytes = 32 << 20
	DefaultMaxDirs       = 1 << 16
)

// Config bounds a [Reassembler]. Zero fields take the defaults.
type Config struct {
	// MaxFlowBytes is how much of the start of each direction's stream
	// is kept; bytes beyond it are not. Default 16 KiB.
	MaxFlowBytes int
	// MaxTotalBytes bounds the buffers of all directions together;
	// reaching it drops the oldest directions. Default 32 MiB.
	MaxTotalBytes int
	// MaxDirs bounds the directions followed (one per connection and
	// way, buffered or done); default 65,536.
	MaxDirs int
}

// Key is one direction of a TCP connection, pointer-free for the map.
type Key struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
}

// Reassembler holds the stream heads. The zero value is not usable: see
// [New].
type Reassembler struct {
	maxFlow, maxTotal, maxDirs int
	dirs                       map[Key]*dir
	total                      int // bytes of buffers held
	queue                      []queued
	qhead                      int
	gen                        uint64
	dropped                    int
}

type queued struct {
	k   Key
	gen uint64
}

type dir struct {
	gen    uint64
	start  uint32 // sequence number of the stream's byte 0
	synned bool   // start is from a SYN: no earlier byte exists
	done   bool
	buf    []byte   // bytes 0..len(buf) of the stream, holes zero
	have   []uint64 // a bit per byte of buf received
	contig int      // bytes 0..contig all received
}

// New returns a Reassembler with cfg's bounds (nil: the defaults).
func New(cfg *Config) *Reassembler {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	r := &Reassembler{maxFlow: c.MaxFlowBytes, maxTotal: c.MaxTotalBytes, maxDirs: c.MaxDirs, dirs: map[Key]*dir{}}
	if r.maxFlow <= 0 {
		r.maxFlow = DefaultMaxFlowBytes
	}
	if r.maxTotal <= 0 {
		r.maxTotal = DefaultMaxTotalBytes
	}
	if r.maxDirs <= 0 {
		r.maxDirs = DefaultMaxDirs
	}
	return r
}

// Add takes one segment of direction k: its sequence number, whether it
// is a SYN (whose number precedes the stream's first byte), and its
// payload as captured. It returns the bytes of the stream's start
// received without a gap, and whether this segment made them longer;
// head aliases the Reassembler's buffer and is valid until the next
// call. A direction first seen without its SYN starts at the lowest
// sequence number seen, within MaxFlowBytes.
func (r *Reassembler) Add(k Key, seq uint32, syn bool, payload []byte) (head []byte, grew bool) {
	d := r.dirs[k]
	if d == nil {
		if len(r.dirs) >= r.maxDirs {
			r.evictOne()
		}
		r.gen++
		d = &dir{gen: r.gen, start: seq}
		if syn {
			d.start, d.synned = seq+1, true
		}
		r.dirs[k] = d
		r.queue = append(r.queue, queued{k, d.gen})
	} else if syn && !d.synned && d.contig == 0 && len(d.buf) == 0 {
		d.start, d.synned = seq+1, true
	}
	if syn {
		seq++
	}
	if d.done || len(payload) == 0 {
		return d.buf[:d.contig], false
	}
	off := int(int32(seq - d.start))
	if off < 0 && !d.synned {
		// An earlier segment of a stream seen mid-way: move what is
		// held up, if the whole still fits.
		shift := -off
		if shift+len(d.buf) > r.maxFlow {
			return d.buf[:d.contig], false
		}
		r.rebase(d, shift)
		off = 0
	}
	if off < 0 {
		payload = payload[min(-off, len(payload)):]
		off = 0
	}
	end := min(off+len(payload), r.maxFlow)
	if off >= end {
		return d.buf[:d.contig], false
	}
	if !r.grow(d, end) {
		return nil, false
	}
	if !anySet(d.have, off, end) {
		// The common case, new bytes only: one copy, whole words of
		// the bitmap at a time.
		copy(d.buf[off:end], payload)
		setRange(d.have, off, end)
	} else {
		for i := off; i < end; i++ {
			if d.have[i>>6]&(1<<(i&63)) == 0 {
				d.buf[i] = payload[i-off]
				d.have[i>>6] |= 1 << (i & 63)
			}
		}
	}
	before := d.contig
	for d.contig < len(d.buf) {
		w := d.have[d.contig>>6] >> (d.contig & 63)
		n := bits.TrailingZeros64(^w)
		if n == 0 {
			break
		}
		d.contig = min(d.contig+n, len(d.buf))
	}
	return d.buf[:d.contig], d.contig > before
}

// grow makes d's buffer n bytes long, within the total bound.
func (r *Reassembler) grow(d *dir, n int) bool {
	if n <= len(d.buf) {
		return true
	}
	words := (n + 63) / 64
	need := n - len(d.buf) + 8*(words-len(d.have))
	for r.total+need > r.maxTotal {
		// d itself may go, if it is the oldest.
		if !r.evictOne() || d.done {
			return false
		}
	}
	d.buf = append(d.buf, make([]byte, n-len(d.buf))...)
	d.have = append(d.have, make([]uint64, words-len(d.have))...)
	r.total += need
	return true
}

func (r *Reassembler) rebase(d *dir, shift int) {
	n := len(d.buf) + shift
	if !r.grow(d, n) {
		return
	}
	copy(d.buf[shift:], d.buf[:n-shift])
	clear(d.buf[:shift])
	old := make([]uint64, len(d.have))
	copy(old, d.have)
	clear(d.have)
	for i := range n - shift {
		if old[i>>6]&(1<<(i&63)) != 0 {
			j := i + shift
			d.have[j>>6] |= 1 << (j & 63)
		}
	}
	d.start -= uint32(shift)
	d.contig = 0
	for d.contig < len(d.buf) && d.have[d.contig>>6]&(1<<(d.contig&63)) != 0 {
		d.contig++
	}
}

// evictOne drops the oldest direction; false if there is none.
func (r *Reassembler) evictOne() bool {
	for r.qhead < len(r.queue) {
		q := r.queue[r.qhead]
		r.qhead++
		if r.qhead > 1024 && r.qhead*2 > len(r.queue) {
			r.queue = append(r.queue[:0], r.queue[r.qhead:]...)
			r.qhead = 0
		}
		if d := r.dirs[q.k]; d != nil && d.gen == q.gen {
			r.free(d)
			d.done = true
			delete(r.dirs, q.k)
			r.dropped++
			return true
		}
	}
	return false
}

func (r *Reassembler) free(d *dir) {
	r.total -= len(d.buf) + 8*len(d.have)
	d.buf, d.have, d.contig = nil, nil, 0
}

// Done says the head of direction k was read: its buffer is freed and
// later segments are not kept (Add returns an empty head).
func (r *Reassembler) Done(k Key) {
	if d := r.dirs[k]; d != nil {
		r.free(d)
		d.done = true
	}
}

// Skip moves the start of direction k's stream n bytes on, past a
// message read (and its body, which need not have come yet): the head
// then begins with the next message, and MaxFlowBytes counts from
// there. Bytes received beyond the old head's contiguous part are
// dropped with it.
func (r *Reassembler) Skip(k Key, n int) {
	d := r.dirs[k]
	if d == nil || d.done || n <= 0 {
		return
	}
	var rest []byte
	if n < d.contig {
		rest = append(rest, d.buf[n:d.contig]...)
	}
	r.free(d)
	d.start += uint32(n)
	d.synned = true // what came before is read
	if len(rest) > 0 {
		r.Add(k, d.start, false, rest)
	}
}

// Head is the start of direction k's stream received without a gap,
// as Add last returned it.
func (r *Reassembler) Head(k Key) []byte {
	if d := r.dirs[k]; d != nil {
		return d.buf[:d.contig]
	}
	return nil
}

// Forget drops direction k (at the connection's end), so that a new
// connection of the same ports starts afresh.
func (r *Reassembler) Forget(k Key) {
	if d := r.dirs[k]; d != nil {
		r.free(d)
		delete(r.dirs, k)
	}
}

// Buffered is the bytes held by all directions, bounded by
// MaxTotalBytes.
func (r *Reassembler) Buffered() int { return r.total }

// Dropped counts the directions dropped to stay within the bounds.
func (r *Reassembler) Dropped() int { return r.dropped }

// rangeMask is the bits of word w that fall in [lo, hi).
func rangeMask(w, lo, hi int) uint64 {
	m := ^uint64(0)
	if w == lo>>6 {
		m &= ^uint64(0) << (lo & 63)
	}
	if w == (hi-1)>>6 {
		m &= ^uint64(0) >> (63 - (hi-1)&63)
	}
	return m
}

// anySet reports whether a bit in [lo, hi) is set.
func anySet(bm []uint64, lo, hi int) bool {
	for w := lo >> 6; w <= (hi-1)>>6; w++ {
		if bm[w]&rangeMask(w, lo, hi) != 0 {
			return true
		}
	}
	return false
}

// setRange sets the bits [lo, hi).
func setRange(bm []uint64, lo, hi int) {
	for w := lo >> 6; w <= (hi-1)>>6; w++ {
		bm[w] |= rangeMask(w, lo, hi)
	}
}
