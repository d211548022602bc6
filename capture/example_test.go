package capture_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/pcapfile"
)

// Capture DNS traffic on eth0 into a pcap file until interrupted, like
// tcpdump -i eth0 -w dns.pcap udp port 53.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	h, err := capture.Open(ctx, "eth0", &capture.Config{Filter: "udp port 53"})
	if err != nil {
		slog.Error("open", "err", err) // errors.Is(err, os.ErrPermission): needs CAP_NET_RAW
		return
	}
	defer h.Close()

	f, err := os.Create("dns.pcap")
	if err != nil {
		slog.Error("create", "err", err)
		return
	}
	defer f.Close()
	w := pcapfile.NewWriter(f, h.LinkType(), uint32(h.Snaplen()), true)
	for p, err := range h.Packets(ctx) {
		if err != nil {
			break // ctx.Err() after the interrupt
		}
		// p.Data is valid only until the next iteration; WritePacket
		// copies it.
		if err := w.WritePacket(p.Timestamp, p.Data, p.Length); err != nil {
			slog.Error("write", "err", err)
			break
		}
	}
	w.Flush()
	st, _ := h.Stats()
	fmt.Fprintf(os.Stderr, "%d packets received by filter, %d dropped by kernel\n", st.Received, st.Dropped)
}
