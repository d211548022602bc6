package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports/internal/porttest"
)

// lines is a handler that records the messages it is given.
type lines struct {
	mu  *sync.Mutex
	out *[]string
}

func newLines() lines { return lines{mu: new(sync.Mutex), out: new([]string)} }

func (l lines) Enabled(context.Context, slog.Level) bool { return true }
func (l lines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l lines) WithGroup(string) slog.Handler            { return l }
func (l lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.out = append(*l.out, r.Message)
	return nil
}

func (l lines) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := *l.out
	*l.out = nil
	return out
}

func setup() (*slog.Logger, *Handler, lines, *porttest.Clock) {
	clock := porttest.NewClock(time.Unix(1_800_000_000, 0))
	out := newLines()
	h := New(out, &Config{Burst: 3, Rate: 1, MaxKinds: 4, FlushInterval: 10 * time.Second, Now: clock.Now})
	return slog.New(h), h, out, clock
}

// TestBurstThenRate: a kind gets Burst lines at once, then Rate a
// second; the next line let through is preceded by the count of those
// left out.
func TestBurstThenRate(t *testing.T) {
	log, _, out, clock := setup()
	for i := range 10 {
		log.Info(fmt.Sprintf("198.18.0.%d: open: Stage 1", i))
	}
	want := []string{"198.18.0.0: open: Stage 1", "198.18.0.1: open: Stage 1", "198.18.0.2: open: Stage 1"}
	if diff := cmp.Diff(want, out.take()); diff != "" {
		t.Fatalf("burst (-want +got):\n%s", diff)
	}
	clock.Advance(500 * time.Millisecond)
	log.Info("10.0.0.1: open: Stage 2") // half a token: left out
	if got := out.take(); got != nil {
		t.Fatalf("over the rate: %q", got)
	}
	clock.Advance(500 * time.Millisecond)
	log.Info("10.0.0.2: open: Stage 1")
	want = []string{`suppressed 8 lines like "198.18.0.3: open: Stage 1" in the last 1s`, "10.0.0.2: open: Stage 1"}
	if diff := cmp.Diff(want, out.take()); diff != "" {
		t.Fatalf("after a second (-want +got):\n%s", diff)
	}
}

// TestKinds: a kind attribute (on the line or the logger) names the
// kind; a flood of one kind leaves the others alone; without one, lines
// that differ only in numbers are one kind, and levels are apart.
func TestKinds(t *testing.T) {
	log, _, out, _ := setup()
	for range 100 {
		log.Info("a", "kind", "flood")
	}
	log.With("kind", "other").Info("b")
	log.Info("c", "kind", "flood")
	log.Warn("1.2.3.4 refused port 80")
	log.Warn("fd00::9 refused port 8080")
	log.Warn("5.6.7.8 refused port 22")
	log.Warn("9.9.9.9 refused port 22") // the fourth of the kind
	log.Error("5.6.7.8 refused port 22")
	want := []string{"a", "a", "a", "b", "1.2.3.4 refused port 80", "fd00::9 refused port 8080", "5.6.7.8 refused port 22", "5.6.7.8 refused port 22"}
	if diff := cmp.Diff(want, out.take()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestFlush: the count of lines left out is written by Flush, or by the
// first line of any kind once FlushInterval has passed, even if the kind
// itself says nothing more.
func TestFlush(t *testing.T) {
	log, h, out, clock := setup()
	for range 5 {
		log.Info("x", "kind", "k")
	}
	out.take()
	h.Flush(context.Background())
	if diff := cmp.Diff([]string{`suppressed 2 lines like "x" in the last 0s`}, out.take()); diff != "" {
		t.Fatalf("Flush (-want +got):\n%s", diff)
	}
	h.Flush(context.Background())
	if got := out.take(); got != nil {
		t.Fatalf("a second Flush: %q", got)
	}
	for range 4 {
		log.Info("y", "kind", "k")
	}
	clock.Advance(10 * time.Second)
	log.Info("z", "kind", "other")
	want := []string{`suppressed 4 lines like "y" in the last 10s`, "z"}
	if diff := cmp.Diff(want, out.take()); diff != "" {
		t.Fatalf("later line (-want +got):\n%s", diff)
	}
}

// TestManyKinds: lines of more kinds than MaxKinds share one bucket, so
// a flood of lines that are all different stays bounded too; idle kinds
// are forgotten at a flush.
func TestManyKinds(t *testing.T) {
	log, h, out, clock := setup()
	for i := range 1000 {
		log.Info(fmt.Sprintf("line %d", i), "kind", fmt.Sprint("k", i))
	}
	if got := out.take(); len(got) != 4+3 {
		t.Fatalf("%d lines for 1000 kinds, want 4 kinds and 3 more: %q", len(got), got)
	}
	clock.Advance(time.Hour)
	h.Flush(context.Background())
	if got := out.take(); len(got) != 1 || !strings.HasPrefix(got[0], "suppressed 993 lines like \"line 7\"") {
		t.Fatalf("flush: %q", got)
	}
	if n := len(h.st.kinds); n != 0 {
		t.Errorf("%d idle kinds kept", n)
	}
}

func TestBlankNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"198.18.0.1: openSSH: Stage 1":    "# openSSH: Stage #",
		"[fd00::1]:7000 bad digest":       "[#]# bad digest",
		"rule stopped":                    "rule stopped",
		"deadbeef face 0xff":              "deadbeef face #xff",
		"conn end after 12.5s, 300 bytes": "conn end after #s, # bytes",
	} {
		if got := blankNumbers(in); got != want {
			t.Errorf("blankNumbers(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExempt: lines Exempt names all pass, however many, and take no
// tokens from the others of their kind.
func TestExempt(t *testing.T) {
	clock := porttest.NewClock(time.Unix(1_800_000_000, 0))
	out := newLines()
	access := func(r slog.Record) bool { return r.Message == "conn end" }
	log := slog.New(New(out, &Config{Burst: 2, Rate: 1, Now: clock.Now, Exempt: access}))
	for range 50 {
		log.Info("conn end", "up", 1)
	}
	for range 5 {
		log.Info("refused", "reason", "max_conns")
	}
	got := out.take()
	if n := strings.Count(strings.Join(got, "\n"), "conn end"); n != 50 {
		t.Errorf("%d of 50 exempt lines written", n)
	}
	if n := strings.Count(strings.Join(got, "\n"), "refused"); n != 2 {
		t.Errorf("%d refusals written, want the burst of 2", n)
	}
}
