// Package ratelog is a slog handler that limits how often lines of one
// kind are written, so that a flood (of spoofed knocks, refused clients,
// bad packets) cannot fill the disk or drown the lines that matter.
//
// A line's kind is its "kind" attribute when it has one (on the record
// or from WithAttrs), else its level and message with every run of
// digits and hexadecimal letters next to digits (addresses, ports,
// counts) blanked: "198.18.0.7: open: Stage 1" and "10.1.2.3: open:
// Stage 2" are one kind. Each kind has a token bucket: Burst lines at
// once, then Rate lines a second. The lines over it are counted, and one
// line says how many were left out, such as
//
//	suppressed 1234 lines like "198.18.0.7: open: Stage 1" in the last 12s
//
// when the kind is next let through, or at the next flush: Flush, called
// every FlushInterval by Run and on any line written after that long.
//
// At most MaxKinds kinds are tracked; lines of further kinds share one
// bucket until idle kinds are forgotten at a flush.
package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults for Config.
const (
	DefaultBurst         = 10
	DefaultRate          = 3 // lines a second, per kind
	DefaultMaxKinds      = 256
	DefaultFlushInterval = 10 * time.Second
)

// KindKey is the attribute that names a line's kind.
const KindKey = "kind"

// Config configures New. The zero value means the defaults.
type Config struct {
	Burst         int     // lines of a kind written at once before the rate applies
	Rate          float64 // lines of a kind a second, after the burst
	MaxKinds      int     // kinds tracked at once
	FlushInterval time.Duration
	Now           func() time.Time // nil means time.Now; tests replace it
	// Exempt, if not nil, names the lines that are never limited: a
	// server's access lines (one per connection served), which other
	// bounds (connection limits) already keep in proportion to the work
	// done, and which an admin counts on finding.
	Exempt func(r slog.Record) bool
}

// Handler is the rate-limiting handler. Handlers derived from it by
// WithAttrs and WithGroup share its buckets.
type Handler struct {
	next slog.Handler
	kind string // from WithAttrs
	st   *state
}

type state struct {
	cfg       Config
	mu        sync.Mutex
	kinds     map[string]*bucket
	other     *bucket // lines of kinds past MaxKinds
	lastFlush time.Time
}

type bucket struct {
	tokens     float64
	last       time.Time
	suppressed int
	since      time.Time    // of the first line suppressed
	sample     string       // its message
	level      slog.Level   // the highest level suppressed
	via        slog.Handler // where the summary goes
}

// New returns a handler that passes the lines within the limits of cfg
// (nil means the defaults) to next.
func New(next slog.Handler, cfg *Config) *Handler {
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.MaxKinds <= 0 {
		c.MaxKinds = DefaultMaxKinds
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	st := &state{cfg: c, kinds: make(map[string]*bucket), lastFlush: c.Now()}
	return &Handler{next: next, st: st}
}

// Enabled reports whether next handles level l.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// WithAttrs returns a handler whose lines carry attrs; a "kind" among
// them names their kind.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	for _, a := range attrs {
		if a.Key == KindKey {
			n.kind = a.Value.String()
		}
	}
	n.next = h.next.WithAttrs(attrs)
	return &n
}

// WithGroup returns a handler for a group, sharing h's buckets.
func (h *Handler) WithGroup(name string) slog.Handler {
	n := *h
	n.next = h.next.WithGroup(name)
	return &n
}

type summary struct {
	via slog.Handler
	r   slog.Record
}

// Handle writes r if its kind is within its limit, after the line
// saying how many of the kind were left out before, if any.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if h.st.cfg.Exempt != nil && h.st.cfg.Exempt(r) {
		return h.next.Handle(ctx, r)
	}
	key := h.kind
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == KindKey {
			key = a.Value.String()
			return false
		}
		return true
	})
	if key == "" {
		key = r.Level.String() + " " + blankNumbers(r.Message)
	}
	st := h.st
	st.mu.Lock()
	now := st.cfg.Now()
	var out []summary
	if now.Sub(st.lastFlush) >= st.cfg.FlushInterval {
		out = st.flush(now)
	}
	b := st.kinds[key]
	if b == nil {
		if len(st.kinds) < st.cfg.MaxKinds {
			b = &bucket{tokens: float64(st.cfg.Burst), last: now}
			st.kinds[key] = b
		} else {
			if st.other == nil {
				st.other = &bucket{tokens: float64(st.cfg.Burst), last: now}
			}
			b = st.other
		}
	}
	st.refill(b, now)
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
		if b.suppressed > 0 {
			out = append(out, b.summary(now))
		}
	} else {
		if b.suppressed == 0 {
			b.since, b.sample, b.level = now, r.Message, r.Level
		}
		b.suppressed++
		b.level = max(b.level, r.Level)
		b.via = h.next
	}
	st.mu.Unlock()
	for _, s := range out {
		s.via.Handle(ctx, s.r)
	}
	if !allowed {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// Flush writes the lines saying how many lines were left out, for every
// kind that had some, and forgets idle kinds.
func (h *Handler) Flush(ctx context.Context) {
	h.st.mu.Lock()
	out := h.st.flush(h.st.cfg.Now())
	h.st.mu.Unlock()
	for _, s := range out {
		s.via.Handle(ctx, s.r)
	}
}

// Run calls Flush every FlushInterval until ctx ends, and once more then.
func (h *Handler) Run(ctx context.Context) {
	t := time.NewTicker(h.st.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.Flush(ctx)
		case <-ctx.Done():
			h.Flush(context.WithoutCancel(ctx))
			return
		}
	}
}

func (st *state) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(st.cfg.Burst), b.tokens+d.Seconds()*st.cfg.Rate)
	}
	b.last = now
}

func (st *state) flush(now time.Time) []summary {
	st.lastFlush = now
	var out []summary
	for k, b := range st.kinds {
		if b.suppressed > 0 {
			out = append(out, b.summary(now))
			continue
		}
		if st.refill(b, now); b.tokens >= float64(st.cfg.Burst) {
			delete(st.kinds, k) // idle: as good as new
		}
	}
	if b := st.other; b != nil && b.suppressed > 0 {
		out = append(out, b.summary(now))
	}
	return out
}

// summary returns the line for the lines b left out, and resets b's
// count.
func (b *bucket) summary(now time.Time) summary {
	msg := fmt.Sprintf("suppressed %d lines like %q in the last %v", b.suppressed, b.sample, now.Sub(b.since).Round(time.Second))
	s := summary{via: b.via, r: slog.NewRecord(now, b.level, msg, 0)}
	b.suppressed, b.sample, b.via = 0, "", nil
	return s
}

// blankNumbers replaces each run of digits, with the hexadecimal
// letters, dots and colons around them (an address, a port, a count),
// by "#".
func blankNumbers(s string) string {
	isNum := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':'
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isNum(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j, digit := i, false
		for j < len(s) && isNum(s[j]) {
			digit = digit || s[j] >= '0' && s[j] <= '9'
			j++
		}
		if digit {
			b.WriteByte('#')
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}
