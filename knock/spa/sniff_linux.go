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
	if s.cfg.SniffICMP {
		expr += " or icmp"
	}
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
		if p.Truncated || p.IsFragment() {
			continue
		}
		if p.Layers.Has(wire.LayerICMPv4) {
			// fwknop -P icmp: the packet is the data of an ICMP message
			// (an echo reply unless --icmp-type says otherwise), not an
			// error. An ordinary ping's data is not base64: ignored
			// without a line.
			if s.cfg.SniffICMP && !p.ICMPv4.Type.IsError() && len(p.Payload) >= minPacket && isB64(string(p.Payload)) {
				s.HandleTo(p.Payload, netip.AddrPortFrom(p.IP.Src, 0), p.IP.Dst)
			}
			continue
		}
		if !p.Layers.Has(wire.LayerUDP) {
			continue
		}
		s.HandleTo(p.Payload, netip.AddrPortFrom(p.IP.Src, uint16(p.UDP.SrcPort)), p.IP.Dst)
	}
	return ctx.Err()
}
