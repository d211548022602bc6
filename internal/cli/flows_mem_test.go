package cli

import (
	"encoding/json"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/wire"
)

// heapProbe is the output of the flows view: at its first write, when
// the table is sorted and being written, it measures the heap in use.
type heapProbe struct {
	inuse uint64
}

func (h *heapProbe) Write(p []byte) (int, error) {
	if h.inuse == 0 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		h.inuse = m.HeapInuse
	}
	return len(p), nil
}

// flowsHeapPerFlow feeds n synthetic TCP connections (a SYN and a
// SYN-ACK each, from distinct clients, a microsecond apart, so that none
// goes idle) to the flows table view and returns the heap the command
// holds per flow, as runtime.MemStats counts it after a collection: the
// larger of what it holds once all are in and what it holds while it
// writes the table.
func flowsHeapPerFlow(tb testing.TB, n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out := &heapProbe{}
	fl := newFlowLister(out, render.Table, flowOrders["start"], 0, 2*time.Minute)
	var p wire.Packet
	p.Layers = wire.LayerSet(0).Add(wire.LayerEthernet).Add(wire.LayerIPv4).Add(wire.LayerTCP)
	p.IP.Version = 4
	p.IP.Dst = netip.AddrFrom4([4]byte{198, 18, 0, 1})
	p.WireLen = 74
	ts := int64(1_700_000_000_000_000_000)
	for i := range n {
		p.IP.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		p.TCP.SrcPort, p.TCP.DstPort = ports.Port(40000+i%20000), 443
		p.TCP.Flags, p.TCP.Seq = wire.TCPSyn, uint32(i)
		if err := fl.add(&p, ts); err != nil {
			tb.Fatal(err)
		}
		p.IP.Src, p.IP.Dst = p.IP.Dst, p.IP.Src
		p.TCP.SrcPort, p.TCP.DstPort = p.TCP.DstPort, p.TCP.SrcPort
		p.TCP.Flags = wire.TCPSyn | wire.TCPAck
		if err := fl.add(&p, ts+500); err != nil {
			tb.Fatal(err)
		}
		p.IP.Src, p.IP.Dst = p.IP.Dst, p.IP.Src
		ts += 1000
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if err := fl.finish(); err != nil {
		tb.Fatal(err)
	}
	return float64(max(after.HeapInuse, out.inuse)-before.HeapInuse) / float64(n)
}

// TestFlowsMemoryPerFlow: ports flows holds under 300 bytes per flow, with
// 1M flows.
func TestFlowsMemoryPerFlow(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("1M flows: not in -short or -race runs")
	}
	const n = 1_000_000
	if got := flowsHeapPerFlow(t, n); got >= 300 {
		t.Errorf("%.0f bytes per flow with %d flows; want under 300", got, n)
	} else {
		t.Logf("%.0f bytes per flow with %d flows", got, n)
	}
}

// BenchmarkFlowsMemory reports the heap per flow (bytes/flow) of the
// flows table view holding 1M flows.
func BenchmarkFlowsMemory(b *testing.B) {
	for range b.N {
		b.ReportMetric(flowsHeapPerFlow(b, 1_000_000), "bytes/flow")
	}
}

// TestFlowsLimitKeepsTheBest: with -n, the store is trimmed to the best
// flows now and then (past 4N+1024); what it prints is still the N
// largest of all, in order.
func TestFlowsLimitKeepsTheBest(t *testing.T) {
	var out strings.Builder
	fl := newFlowLister(&out, render.JSON, flowOrders["bytes"], 3, time.Second)
	var p wire.Packet
	p.Layers = wire.LayerSet(0).Add(wire.LayerEthernet).Add(wire.LayerIPv4).Add(wire.LayerUDP)
	p.IP.Version = 4
	p.IP.Dst = netip.AddrFrom4([4]byte{198, 18, 0, 1})
	p.UDP.DstPort = 53
	ts := int64(1_700_000_000_000_000_000)
	const n = 5000
	for i := range n {
		p.IP.Src = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		p.UDP.SrcPort = 40000
		// Flow i has (i*7919)%n+1 bytes: a permutation, the largest
		// n, n-1, n-2 scattered through the capture.
		p.WireLen = (i*7919)%n + 1
		if err := fl.add(&p, ts); err != nil {
			t.Fatal(err)
		}
		ts += int64(10 * time.Millisecond) // flows finish as they go idle
	}
	if err := fl.finish(); err != nil {
		t.Fatal(err)
	}
	var flows []render.FlowV1
	if err := json.Unmarshal([]byte(out.String()), &flows); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, f := range flows {
		got = append(got, f.BytesOut+f.BytesIn)
	}
	if want := []uint64{n, n - 1, n - 2}; !slices.Equal(got, want) {
		t.Errorf("bytes of the flows listed: %v, want %v", got, want)
	}
}
