package cli

import (
	"context"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/portkit/ports/internal/tui"
)

// BenchmarkTopRefresh is one refresh of ports top: a snapshot of this
// machine's sockets, taken in by the model and drawn at 120x40. Run it
// with many sockets open (go run ./bench/sockhold) to see the cost of
// each part with -cpuprofile.
func BenchmarkTopRefresh(b *testing.B) {
	src := newTopSource("")
	ctx := context.Background()
	snap, err := src.Snapshot(ctx)
	if err != nil {
		b.Skipf("cannot list sockets: %v", err)
	}
	m := tui.New(tui.Config{Source: src})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	b.ReportAllocs()
	lookups := src.poller.Stats().Lookups
	b.ResetTimer()
	for b.Loop() {
		msg := m.Init()() // a refresh: the snapshot message
		m.Update(msg)
		_ = m.View()
	}
	b.ReportMetric(float64(len(snap.Sockets)), "sockets")
	// Walks of /proc for sockets not seen before: 0 on a quiet machine.
	b.ReportMetric(float64(src.poller.Stats().Lookups-lookups)/float64(b.N), "lookups/op")
}
