package systemd

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// IsJournal tells whether w is the stream $JOURNAL_STREAM names
// ("DEVICE:INODE" of the socket systemd connected to standard output or
// error): only then does the journal read a <N> prefix as the line's
// priority rather than as text.
func IsJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	want := os.Getenv("JOURNAL_STREAM")
	if want == "" {
		return false
	}
	got, ok := devIno(f)
	return ok && got == want
}

// Priority is the syslog priority of a level, as journalctl -p reads it:
// error 3, warning 4, info 6, debug 7.
func Priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	default:
		return 7
	}
}

// JournalHandler returns mk(w), whose lines are prefixed with the
// record's priority ("<4>" for a warning) when w is the journal's stream
// ([IsJournal]); otherwise mk(w) unchanged. mk must write each record
// as whole lines, in Write calls made while Handle runs, as slog's text
// handler does. JSON logs need no prefix (journald keeps them as they
// are): pass them through without this.
func JournalHandler(w io.Writer, mk func(io.Writer) slog.Handler) slog.Handler {
	if !IsJournal(w) {
		return mk(w)
	}
	pw := &prioWriter{w: w}
	return &journalHandler{inner: mk(pw), pw: pw}
}

// prioWriter prefixes each line written with the priority of the record
// being handled; journalHandler holds mu while it is.
type prioWriter struct {
	mu   sync.Mutex
	w    io.Writer
	prio string
}

func (p *prioWriter) Write(b []byte) (int, error) {
	var sb strings.Builder
	for line := range strings.Lines(string(b)) {
		sb.WriteString(p.prio)
		sb.WriteString(line)
	}
	if _, err := io.WriteString(p.w, sb.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}

type journalHandler struct {
	inner slog.Handler
	pw    *prioWriter
}

var prioText = [8]string{"<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>"}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.pw.mu.Lock()
	defer h.pw.mu.Unlock()
	h.pw.prio = prioText[Priority(r.Level)]
	return h.inner.Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), pw: h.pw}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), pw: h.pw}
}
