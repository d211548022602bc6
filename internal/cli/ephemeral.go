package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/socktable"
)

func newEphemeralCmd() *cobra.Command {
	var (
		ff    formatFlags
		top   int
		warn  float64
		netns string
	)
	cmd := &cobra.Command{
		Use:   "ephemeral",
		Short: "Show the ephemeral port range and how much of it is in use",
		Long: `Show this machine's ephemeral port range, from which the kernel picks the
local port of an outgoing connection, and how much of it the sockets use
now: per protocol, and per destination (the remote address and port).

A client can hold only as many connections to one destination as the
range has ports, per local address: the kernel needs a distinct local port
for each, and a closed TCP connection keeps its port in TIME-WAIT for a
minute. The destinations are listed most used first (the top -n); a
warning follows for every destination that one local address reaches
with more than --warn percent of the range.

Sockets that share a listener's port (a server's accepted connections)
use no ephemeral port and are not counted. With --netns the sockets are
those of that namespace, but the range is still this namespace's.

--format json writes one object; jsonl writes it on one line.`,
		Example: `  ports ephemeral
  ports ephemeral -n 3 --warn 50
  ports ephemeral --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := ff.get(cmd.Flags())
			if err != nil {
				return err
			}
			if top < 0 {
				return usagef("-n must be 0 or more, not %d", top)
			}
			if !(warn > 0 && warn <= 100) {
				return usagef("--warn %v is not a percentage above 0 and up to 100", warn)
			}
			host, err := hostports.Read()
			if err != nil {
				return err
			}
			ss, err := socktable.Append(cmd.Context(), nil, &socktable.Options{
				LocalPorts: []ports.Range{host.Ephemeral},
				NetNS:      netns,
			})
			if err != nil {
				return err
			}
			rep := ephemeralReport(host, ss, top, warn)
			rep.NetNS = netns
			return writeEphemeral(cmd.OutOrStdout(), format, rep)
		},
	}
	ff.add(cmd.Flags())
	fs := cmd.Flags()
	fs.IntVarP(&top, "count", "n", 10, "list the `N` busiest destinations (0: all)")
	fs.Float64Var(&warn, "warn", 80, "warn when a destination uses more than `PCT` percent of the range")
	fs.StringVar(&netns, "netns", "", "count the sockets of network namespace `NAME|PATH` (Linux)")
	return cmd
}

// destKey is a destination endpoint.
type destKey struct {
	proto  ports.Proto
	remote netip.AddrPort
}

// ephemeralReport counts the sockets ss (whose local ports lie in
// host.Ephemeral) per protocol and per destination.
func ephemeralReport(host hostports.Info, ss []socktable.Socket, top int, warn float64) render.EphemeralV1 {
	size := host.Ephemeral.Len()
	rep := render.EphemeralV1{
		Range: host.Ephemeral.String(), First: uint16(host.Ephemeral.First), Last: uint16(host.Ephemeral.Last),
		Size: size, Source: host.Source, WarnPercent: warn,
		Destinations: []render.EphemeralDestV1{},
	}
	// A listener's port is the listener's, and its accepted connections
	// share it: they take no ephemeral port.
	listening := map[listenKey]bool{}
	for i := range ss {
		if ss[i].IsListener() {
			listening[listenKey{ss[i].Proto, ss[i].Local.Port()}] = true
		}
	}
	type destUse struct {
		sockets, timeWait int
		perLocal          map[netip.Addr]int
	}
	dests := map[destKey]*destUse{}
	type portKey struct {
		proto ports.Proto
		port  uint16
	}
	usedPorts := map[portKey]bool{}
	for i := range ss {
		s := &ss[i]
		if !host.InEphemeral(ports.Port(s.Local.Port())) {
			continue
		}
		if !s.IsListener() && listening[listenKey{s.Proto, s.Local.Port()}] {
			continue
		}
		use := &rep.TCP
		if s.Proto == ports.ProtoUDP {
			use = &rep.UDP
		} else if s.Proto != ports.ProtoTCP {
			continue
		}
		use.Sockets++
		tw := s.State == socktable.StateTimeWait
		if tw {
			use.TimeWait++
		}
		if pk := (portKey{s.Proto, s.Local.Port()}); !usedPorts[pk] {
			usedPorts[pk] = true
			use.Ports++
		}
		if s.IsListener() || !s.HasPeer() {
			continue
		}
		k := destKey{s.Proto, netip.AddrPortFrom(s.Remote.Addr().Unmap(), s.Remote.Port())}
		d := dests[k]
		if d == nil {
			d = &destUse{perLocal: map[netip.Addr]int{}}
			dests[k] = d
		}
		d.sockets++
		if tw {
			d.timeWait++
		}
		d.perLocal[s.Local.Addr().Unmap()]++
	}
	v := newSockView(false)
	var all []render.EphemeralDestV1
	for k, d := range dests {
		e := render.EphemeralDestV1{
			Proto:      k.proto.String(),
			Remote:     render.AddrPortOf(k.remote),
			Service:    v.serviceName(k.proto, k.remote.Port()),
			Sockets:    d.sockets,
			TimeWait:   d.timeWait,
			LocalAddrs: len(d.perLocal),
		}
		var busiest netip.Addr
		for a, n := range d.perLocal {
			if n > e.BusiestSockets || (n == e.BusiestSockets && a.Less(busiest)) {
				busiest, e.BusiestSockets = a, n
			}
		}
		e.Busiest = busiest.String()
		if size > 0 {
			e.Percent = float64(e.BusiestSockets) * 100 / float64(size)
		}
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b render.EphemeralDestV1) int {
		return cmp.Or(
			cmp.Compare(b.BusiestSockets, a.BusiestSockets),
			cmp.Compare(b.Sockets, a.Sockets),
			strings.Compare(a.Proto, b.Proto),
			strings.Compare(a.Remote.Addr, b.Remote.Addr),
			cmp.Compare(a.Remote.Port, b.Remote.Port),
		)
	})
	for _, e := range all {
		if e.Percent > warn {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf(
				"%s/%s: %d sockets from %s use %.1f%% of the ephemeral range (%d ports); new connections to it from that address may fail (EADDRNOTAVAIL)",
				e.Remote, e.Proto, e.BusiestSockets, e.Busiest, e.Percent, size))
		}
	}
	rep.DestinationsTotal = len(all)
	if top > 0 && len(all) > top {
		all = all[:top]
	}
	if all != nil {
		rep.Destinations = all
	}
	return rep
}

func writeEphemeral(w io.Writer, format render.Format, rep render.EphemeralV1) error {
	switch format {
	case render.JSON, render.JSONL:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		if format == render.JSON {
			enc.SetIndent("", "  ")
		}
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "ephemeral range %s (%d ports, from %s)\n", rep.Range, rep.Size, rep.Source)
	if rep.NetNS != "" {
		fmt.Fprintf(w, "sockets of network namespace %s\n", rep.NetNS)
	}
	fmt.Fprintf(w, "tcp: %d sockets on %d ports (%d in TIME-WAIT)\n", rep.TCP.Sockets, rep.TCP.Ports, rep.TCP.TimeWait)
	fmt.Fprintf(w, "udp: %d sockets on %d ports\n", rep.UDP.Sockets, rep.UDP.Ports)
	if len(rep.Destinations) > 0 {
		fmt.Fprintln(w)
		tw := render.NewAligner(w)
		fmt.Fprintln(tw, "PROTO\tDESTINATION\tSERVICE\tSOCKETS\tTIME-WAIT\tFROM\t%RANGE")
		for _, d := range rep.Destinations {
			from := d.Busiest
			if d.LocalAddrs > 1 {
				from = fmt.Sprintf("%s (+%d)", d.Busiest, d.LocalAddrs-1)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%.1f%%\n", d.Proto, d.Remote, orDash(d.Service), d.Sockets, d.TimeWait, from, d.Percent)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if n := rep.DestinationsTotal - len(rep.Destinations); n > 0 {
			fmt.Fprintf(w, "(%d more destinations; -n 0 lists all)\n", n)
		}
	}
	for _, warning := range rep.Warnings {
		fmt.Fprintln(w, "warning: "+warning)
	}
	return nil
}
