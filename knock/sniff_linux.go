package knock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/wire"
)

func sniff(ctx context.Context, s *Server, iface string) error {
	for {
		expr, changed := s.Filter()
		h, err := capture.Open(ctx, iface, &capture.Config{Filter: expr, Snaplen: 256})
		if err != nil {
			return err
		}
		s.log.Info(fmt.Sprintf("listening on %s (filter: %s)", iface, expr))
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-changed:
			case <-cctx.Done():
			}
			cancel()
		}()
		err = readHits(cctx, h, s)
		cancel()
		h.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
}

func readHits(ctx context.Context, h *capture.Handle, s *Server) error {
	var p wire.Packet
	dec := wire.Decoder{SkipChecksums: true}
	link := h.LinkType()
	for pkt, err := range h.Packets(ctx) {
		if err != nil {
			return err
		}
		if pkt.Direction == capture.DirectionOut {
			continue
		}
		if dec.Decode(&p, link, pkt.Data, pkt.Length) != nil && !p.Layers.Has(wire.LayerTCP) && !p.Layers.Has(wire.LayerUDP) {
			continue
		}
		hit := Hit{Time: time.Unix(0, pkt.Timestamp), Src: p.IP.Src, Dst: p.IP.Dst}
		switch {
		case p.Layers.Has(wire.LayerTCP):
			hit.Proto, hit.Port, hit.Flags = ports.ProtoTCP, p.TCP.DstPort, p.TCP.Flags
		case p.Layers.Has(wire.LayerUDP):
			hit.Proto, hit.Port = ports.ProtoUDP, p.UDP.DstPort
		default:
			continue
		}
		s.Handle(hit)
	}
	return ctx.Err()
}
