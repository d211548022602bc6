package knock

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/wire"
)

// sniff reads knocks on iface until ctx is done. A new configuration
// changes the socket's filter in place (as knockd's pcap_setfilter does),
// so no knock is lost while the doors change. If the kernel refuses the
// new filter, the socket takes every TCP and UDP packet instead (the
// Machine still ignores what is not a knock): a reload never leaves
// knockd deaf, nor ends it.
func sniff(ctx context.Context, s *Server, iface string) error {
	expr, changed := s.Filter()
	h, err := capture.Open(ctx, iface, &capture.Config{Filter: expr, Snaplen: 256})
	if errors.Is(err, syscall.ENOMEM) || errors.Is(err, filter.ErrProgramTooLong) {
		s.log.Error(fmt.Sprintf("%s: the kernel refused the filter (%v): taking every TCP and UDP packet instead", iface, err))
		expr = fallbackFilter
		h, err = capture.Open(ctx, iface, &capture.Config{Filter: expr, Snaplen: 256})
	}
	if err != nil {
		return err
	}
	defer h.Close()
	s.log.Info(fmt.Sprintf("listening on %s (filter: %s)", iface, shortFilter(expr)))
	if s.listening != nil {
		s.listening(iface)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		cur := expr // the filter in place
		for {
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			expr, changed = s.Filter()
			err := h.SetFilter(expr)
			switch {
			case err == nil:
				cur = expr
			case cur == fallbackFilter:
				s.log.Error(fmt.Sprintf("%s: the kernel refused the new filter (%v): still taking every TCP and UDP packet", iface, err))
				continue
			default:
				s.log.Error(fmt.Sprintf("%s: the kernel refused the new filter (%v): taking every TCP and UDP packet instead", iface, err))
				if err := h.SetFilter(fallbackFilter); err != nil {
					s.log.Error(fmt.Sprintf("%s: %v: keeping the old filter, which may miss the new doors' knocks", iface, err))
					continue
				}
				cur = fallbackFilter
			}
			s.log.Info(fmt.Sprintf("listening on %s (filter: %s)", iface, shortFilter(cur)))
		}
	}()
	return readHits(ctx, h, s)
}

// fallbackFilter is the filter used when the kernel refuses the doors'.
const fallbackFilter = "tcp or udp"

// shortFilter is expr for a log line: cut after 200 bytes.
func shortFilter(expr string) string {
	if len(expr) <= 200 {
		return expr
	}
	return fmt.Sprintf("%s ... (%d bytes)", expr[:200], len(expr))
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
