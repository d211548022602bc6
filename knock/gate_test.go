package knock_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock"
)

func dialFrom(t *testing.T, src string, proto ports.Proto, port ports.Port) {
	t.Helper()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String()
	if proto == ports.ProtoUDP {
		c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(src+":0")), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(to)))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0})
		c.Close()
		return
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src + ":0")), Timeout: 5 * time.Second}
	c, err := d.Dial("tcp4", to)
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return // the gate reset it before Dial returned
		}
		t.Fatal(err)
	}
	c.Close()
}

// TestGate: before the knock Allow is false; after it, true for the
// knocking address only, and only for the window. Knocks are sent with
// the real client (Send with Connect), over loopback, without root.
func TestGate(t *testing.T) {
	p := porttest.FreePorts(t, 3)
	seq := knock.Sequence{{Port: p[0], Proto: ports.ProtoTCP}, {Port: p[1], Proto: ports.ProtoUDP}, {Port: p[2], Proto: ports.ProtoTCP}}
	clock := porttest.NewClock(time.Unix(1_800_000_000, 0))
	var logs porttest.LogBuffer
	g, err := knock.NewGate(knock.GateConfig{Sequence: seq, Window: 30 * time.Second,
		Listen: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := porttest.Go(t, g.Run)
	porttest.WaitFor(t, "the gate to listen", func() bool { return strings.Contains(logs.String(), "gate listening") })
	knocker := netip.MustParseAddr("127.0.0.1")
	other := netip.MustParseAddr("127.0.0.2")
	if g.Allow(knocker) || g.Allow(other) {
		t.Fatal("allowed before any knock")
	}

	// Wrong order from another address: stage 1, then a reset. Each
	// knock is sent once the gate has seen the one before: the gate reads
	// each port with its own goroutine, so it cannot order knocks sent
	// back to back (see the Gate documentation).
	dialFrom(t, "127.0.0.2", ports.ProtoTCP, p[0])
	porttest.WaitFor(t, "stage 1", func() bool { return strings.Contains(logs.String(), "127.0.0.2: gate: Stage 1") })
	dialFrom(t, "127.0.0.2", ports.ProtoTCP, p[2])
	porttest.WaitFor(t, "the reset", func() bool { return strings.Contains(logs.String(), "127.0.0.2: gate: sequence reset") })

	for i, k := range seq {
		if err := knock.Send(ctx, "127.0.0.1", knock.Sequence{k}, &knock.SendConfig{Connect: true}); err != nil {
			t.Fatal(err)
		}
		stage := fmt.Sprintf("127.0.0.1: gate: Stage %d", i+1)
		porttest.WaitFor(t, stage, func() bool { return strings.Contains(logs.String(), stage) })
	}
	porttest.WaitFor(t, "the knock to complete", func() bool { return g.Allow(knocker) })
	if g.Allow(other) {
		t.Error("an address that did not complete the sequence is allowed")
	}
	clock.Advance(29 * time.Second)
	if !g.Allow(knocker) {
		t.Error("not allowed within the window")
	}
	clock.Advance(time.Second)
	if g.Allow(knocker) {
		t.Error("still allowed after the window")
	}
}

func TestGateConfig(t *testing.T) {
	if _, err := knock.NewGate(knock.GateConfig{}); err == nil {
		t.Error("a gate without a sequence was accepted")
	}
}

// TestAllowlist: an address is allowed from Add until its end,
// exclusive, in its plain and IPv4-mapped forms; others never are.
func TestAllowlist(t *testing.T) {
	clock := porttest.NewClock(time.Unix(1_800_000_000, 0))
	l := knock.NewAllowlist(clock.Now)
	a := netip.MustParseAddr("192.0.2.1")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	b := netip.MustParseAddr("2001:db8::1")
	if l.Allow(a) {
		t.Fatal("allowed before Add")
	}
	l.Add(mapped, clock.Now().Add(10*time.Second))
	l.Add(b, clock.Now().Add(5*time.Second))
	for _, addr := range []netip.Addr{a, mapped, b} {
		if !l.Allow(addr) {
			t.Errorf("%v not allowed within its window", addr)
		}
	}
	if l.Allow(netip.MustParseAddr("192.0.2.2")) {
		t.Error("an address never added is allowed")
	}
	clock.Advance(5 * time.Second)
	if l.Allow(b) {
		t.Error("allowed at the end of its window")
	}
	l.Prune(clock.Now())
	if !l.Allow(a) {
		t.Error("Prune dropped a window that has not ended")
	}
	l.Add(a, clock.Now().Add(time.Second)) // replaces the longer window
	clock.Advance(time.Second)
	if l.Allow(a) {
		t.Error("the earlier, longer window survived a new Add")
	}
}
