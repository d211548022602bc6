package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/socktable"
)

func newWhoCmd() *cobra.Command {
	var (
		ff    formatFlags
		all   bool
		netns string
	)
	cmd := &cobra.Command{
		Use:   "who PORT[/PROTO]",
		Short: "Tell which processes hold a port",
		Long: `Tell who holds PORT on this machine: the sockets listening on it (TCP
LISTEN, bound UDP) and their processes. --all adds the connections that
use the port at either end. PORT is a port number or a service name, and
may be a port set as in ls --port; /tcp or /udp keeps one protocol.

When nothing listens on the port (and, with --all, no connection uses
it), who prints one line on stderr and exits 1, so that scripts can test
"ports who 8080". The output is ls's: the same table, JSON and JSONL.`,
		Example: `  ports who 8080
  ports who 53/udp
  ports who --all https`,
		Args: onePort,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := ff.get(cmd.Flags())
			if err != nil {
				return err
			}
			pf, proto, err := parsePortArg(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			q := &sockQuery{
				opts: socktable.Options{Protos: protosOf(proto), NetNS: netns, Processes: true},
				port: pf,
			}
			if !all {
				q.opts.States = listenerStates
				q.listenOnly = true
			} else {
				q.matchRemote = true
			}
			ss, err := q.list(ctx)
			if err != nil {
				return err
			}
			v := newSockView(true)
			v.learnListeners(ss)
			// Listeners first, then the connections.
			var socks []render.SocketV1
			for _, wantListener := range []bool{true, false} {
				for i := range ss {
					if ss[i].IsListener() == wantListener {
						socks = append(socks, v.socketV1(&ss[i]))
					}
				}
			}
			if len(socks) == 0 {
				if format != render.Table {
					if err := writeSockets(cmd.OutOrStdout(), format, nil, true, v); err != nil {
						return err
					}
				}
				if all {
					return fmt.Errorf("nothing is listening on port %s and no connection uses it", args[0])
				}
				return nothingListening(args[0])
			}
			return writeSockets(cmd.OutOrStdout(), format, socks, true, v)
		},
	}
	ff.add(cmd.Flags())
	cmd.Flags().BoolVarP(&all, "all", "a", false, "add the connections on the port (local or remote)")
	cmd.Flags().StringVar(&netns, "netns", "", "look in network namespace `NAME|PATH` (Linux)")
	return cmd
}
