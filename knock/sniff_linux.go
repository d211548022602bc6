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

// sniff reads knocks on iface until ctx is done. A new configuration
// changes the socket's filter in place (as knockd's pcap_setfilter does),
// so no knock is lost while the doors change.
func sniff(ctx context.Context, s *Server, iface string) error {
	expr, changed := s.Filter()
	h, err := capture.Open(ctx, iface, &capture.Config{Filter: expr, Snaplen: 256})
	if err != nil {
		return err
	}
	defer h.Close()
	s.log.Info(fmt.Sprintf("listening on %s (filter: %s)", iface, expr))
	if s.listening != nil {
		s.listening(iface)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		for {
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			expr, changed = s.Filter()
			if err := h.SetFilter(expr); err != nil {
				cancel(err)
				return
			}
			s.log.Info(fmt.Sprintf("listening on %s (filter: %s)", iface, expr))
		}
	}()
	err = readHits(ctx, h, s)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // the new filter did not compile
	}
	return err
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
