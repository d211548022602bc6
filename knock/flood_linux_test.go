package knock_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock"
	"github.com/portkit/ports/wire"
)

// TestIntegrationKnockThroughFlood: knockd's own knock client, in
// namespace A, opens a door of our knockd (sniffing in B) in at least 9
// of 10 tries while a flood of spoofed first knocks from random sources
// fills the server's attempts many times over. The flood is fed to the
// server directly (the bulk of it; sending it through the veth would
// only cost CPU), alongside what the sniffer sees; the server tracks at
// most 8192 attempts. Before, the flood took every place and the real
// first knock was refused, silently.
func TestIntegrationKnockThroughFlood(t *testing.T) {
	knockCmd := porttest.LookTool(t, "knock", "knockd")
	p := porttest.NewPair(t, nil)
	cfg, err := knock.ParseConfig(strings.NewReader("[open]\n\tsequence = 7000,8000:udp,9000\n\tseq_timeout = 30\n[marker]\n\tsequence = 7777\n"), "flood.conf")
	if err != nil {
		t.Fatal(err)
	}
	var logs porttest.LogBuffer
	var mu sync.Mutex
	opened := make(map[string]int) // door name and source: opens
	srv, err := knock.NewServer(knock.ServerConfig{
		Config: cfg, MaxAttempts: 8192,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnOpen: func(d knock.Door, src netip.Addr) { mu.Lock(); opened[d.Name+" "+src.String()]++; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sniffing := make(chan error, 1)
	go func() { sniffing <- p.B.Do(func() error { return srv.Sniff(ctx, p.B.Link) }) }()

	// The flood: about 50,000 first knocks a second from random
	// sources, in batches, until the tries are done and 100,000 were
	// sent.
	stop := make(chan struct{})
	floodDone := make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		n := 0
		for {
			select {
			case <-stop:
				if n >= 100_000 {
					floodDone <- n
					return
				}
			default:
			}
			now := time.Now()
			for range 500 {
				src := netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
				srv.Handle(knock.Hit{Time: now, Src: src, Dst: p.B.Addr4, Proto: ports.ProtoTCP, Port: 7000, Flags: wire.TCPSyn})
			}
			n += 500
			time.Sleep(10 * time.Millisecond)
		}
	}()
	count := func(door string) int { mu.Lock(); defer mu.Unlock(); return opened[door+" "+p.A.Addr4.String()] }
	porttest.WaitFor(t, "the flood to fill the table", func() bool { return srv.Dropped() > 0 })
	ok := 0
	for try := range 10 {
		before, marks := count("open"), count("marker")
		// After the sequence, 7777 twice: the first resets what is left
		// of A's attempt, if anything, or opens the marker door, as the
		// second does; the marker says that the sequence was handled.
		out, err := p.A.Command(context.Background(), knockCmd, p.B.Addr4.String(), "7000", "8000:udp", "9000", "7777", "7777").CombinedOutput()
		if err != nil {
			t.Fatalf("knock: %v: %s", err, out)
		}
		porttest.WaitFor(t, "the marker knock", func() bool { return count("marker") > marks })
		if count("open") > before {
			ok++
		} else {
			t.Logf("try %d did not open", try)
		}
	}
	close(stop)
	n := <-floodDone
	cancel()
	if err := <-sniffing; err != nil && ctx.Err() == nil {
		t.Fatalf("sniff: %v", err)
	}
	t.Logf("%d of 10 tries opened through %d spoofed first knocks; %d attempts dropped", ok, n, srv.Dropped())
	if ok < 9 {
		t.Errorf("only %d of 10 tries opened", ok)
	}
	if srv.Dropped() < uint64(n)/2 {
		t.Errorf("%d attempts dropped for %d first knocks into 8192 places: the flood did not fill the table", srv.Dropped(), n)
	}
	srv.Close() // logs the drops not logged yet
	if want := fmt.Sprintf("(%d in all; at most 8192 are tracked)", srv.Dropped()); !strings.Contains(logs.String(), want) {
		t.Errorf("no line says %q; the log:\n%.2000s", want, logs.String())
	}
}
