package spa

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/wire"
)

func sniff(ctx context.Context, s *Server, iface string, port uint16) error {
	expr := fmt.Sprintf("udp dst port %d", port)
	h, err := capture.Open(ctx, iface, &capture.Config{Filter: expr, Snaplen: 2048})
	if err != nil {
		return err
	}
	defer h.Close()
	s.log.Info(fmt.Sprintf("sniffing SPA packets on %s (filter: %s)", iface, expr))
	var p wire.Packet
	dec := wire.Decoder{SkipChecksums: true}
	link := h.LinkType()
	for pkt, err := range h.Packets(ctx) {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if pkt.Direction == capture.DirectionOut {
			continue
		}
		dec.Decode(&p, link, pkt.Data, pkt.Length)
		if !p.Layers.Has(wire.LayerUDP) || p.Truncated || p.IsFragment() {
			continue
		}
		s.HandleTo(p.Payload, netip.AddrPortFrom(p.IP.Src, uint16(p.UDP.SrcPort)), p.IP.Dst)
	}
	return ctx.Err()
}
