package cli

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/render"
)

func newFreeCmd() *cobra.Command {
	var (
		ff       formatFlags
		n        int
		rangeArg string
		tcp, udp bool
		bindArg  string
	)
	cmd := &cobra.Command{
		Use:   "free",
		Short: "Find ports that are free to bind right now",
		Long: `Find N ports that are free right now, checked by binding each one.

By default the ports come from 1024-65535 outside this machine's ephemeral
range (where the kernel could hand the port to an outgoing connection
before your server binds it), in random order so that two callers rarely
get the same port. A port is free for TCP unless --udp is given; with both
--tcp and --udp it must be free for both. The check binds the wildcard
address (both IPv4 and IPv6) unless --bind names one.`,
		Example: `  ports free
  ports free -n 3 --range 8000-8999
  ports free --udp --bind 127.0.0.1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := ff.get(cmd.Flags())
			if err != nil {
				return err
			}
			if n < 1 {
				return usagef("-n must be at least 1, not %d", n)
			}
			cfg := hostports.FreeConfig{}
			if rangeArg != "" {
				if cfg.Range, err = ports.ParseRange(rangeArg); err != nil {
					return usagef("--range: %v", err)
				}
				if cfg.Range.First == 0 {
					return usagef("--range %s: port 0 asks the kernel for any port; start at 1", rangeArg)
				}
			}
			if tcp || !udp {
				cfg.Proto = append(cfg.Proto, ports.ProtoTCP)
			}
			if udp {
				cfg.Proto = append(cfg.Proto, ports.ProtoUDP)
			}
			if bindArg != "" {
				if cfg.Addr, err = netip.ParseAddr(bindArg); err != nil {
					return usagef("--bind %q is not an IP address", bindArg)
				}
			}
			var protos []string
			for _, p := range cfg.Proto {
				protos = append(protos, p.String())
			}
			addr := "*" // both wildcards, 0.0.0.0 and ::
			if cfg.Addr.IsValid() {
				addr = cfg.Addr.String()
			}
			out := render.NewStream(cmd.OutOrStdout(), format, func(tw io.Writer, f render.FreePortV1) error {
				_, err := fmt.Fprintln(tw, f.Port)
				return err
			})
			got := 0
			for p, err := range hostports.Free(cmd.Context(), cfg) {
				if err != nil {
					out.Close()
					return err
				}
				if err := out.Write(render.FreePortV1{Port: uint16(p), Protocols: protos, Addr: addr}); err != nil {
					return err
				}
				if got++; got == n {
					break
				}
			}
			if err := out.Close(); err != nil {
				return err
			}
			if err := cmd.Context().Err(); err != nil {
				return err
			}
			if got < n {
				return fmt.Errorf("found only %d free port(s) of the %d asked for", got, n)
			}
			return nil
		},
	}
	ff.add(cmd.Flags())
	fs := cmd.Flags()
	fs.IntVarP(&n, "count", "n", 1, "how many ports to find")
	fs.StringVar(&rangeArg, "range", "", "look in the range A-B (default: 1024-65535 outside the ephemeral range)")
	fs.BoolVar(&tcp, "tcp", false, "free for TCP (the default)")
	fs.BoolVar(&udp, "udp", false, "free for UDP (with --tcp: for both)")
	fs.StringVar(&bindArg, "bind", "", "check on this address instead of the wildcard")
	return cmd
}
