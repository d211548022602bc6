package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/hostports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/internal/tui"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/socktable"
)

// minTopInterval is the shortest --interval of top: each refresh dumps
// every socket and its counters.
const minTopInterval = 100 * time.Millisecond

func newTopCmd() *cobra.Command {
	var (
		interval  = intervalFlag{name: "interval", min: minTopInterval}
		netns     string
		listening bool
		tcp, udp  bool
		v4, v6    bool
		filter    string
		sigArg    string
	)
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch the machine's ports live, in a full-screen view",
		Long: `Show this machine's ports live, the way htop shows processes: listening
ports grouped by the process that holds them, with their service names and
classes, and the connections under each, with the peer, the state and the
throughput per socket and per process. Above the table: the totals per
state, and how much of the ephemeral port range is in use, as a bar.

Throughput (RX/s received, TX/s sent and acknowledged, in bytes per
second) comes from the kernel's TCP counters (Linux: tcp_info through
sock_diag), so no packet capture is needed; UDP sockets have none, and
other systems show none.

Keys (? shows them all): ↑ ↓ pgup pgdn move; / filters by port, process,
address or state as you type (enter keeps the filter, esc clears it);
< and > pick the sort column, r reverses it; l toggles listening only and
all states; t, u, 4 and 6 show TCP, UDP, IPv4 or IPv6 only, or both again;
enter opens the details of a socket or process (its 'ports info', command
line, user and other sockets); k sends --signal to the process that
listens on the selected port, after asking; q quits.

The view refreshes every --interval (2s by default). It needs a terminal:
to read the sockets from a script, use 'ports ls --watch', or 'ports ls -a
--format jsonl --watch' for one JSON line per listing.`,
		Example: `  ports top
  ports top -l --interval 5s
  ports top --filter nginx
  sudo ports top --netns blue`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			every, err := interval.get()
			if err != nil {
				return err
			}
			sig, err := topSignal(sigArg, cmd.Flags().Changed("signal"))
			if err != nil {
				return err
			}
			in, out := cmd.InOrStdin(), cmd.OutOrStdout()
			switch {
			case !isTerminal(out):
				return usagef("stdout is not a terminal, and top draws a full-screen view: to read the sockets from a pipe use 'ports ls --watch', or 'ports ls -a --format jsonl --watch' for one JSON line per listing")
			case !isTerminal(in):
				return usagef("stdin is not a terminal to read keys from: run top in a terminal, or use 'ports ls --watch' (or --format jsonl) without one")
			}
			ctx := cmd.Context()
			// cmd/ports collects garbage less often for its short runs;
			// top runs for hours, so it keeps the default (GOGC=100)
			// and a smaller heap.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(100)
			}
			// Fail before the screen changes if sockets cannot be listed
			// (an unknown --netns, an unsupported system).
			if _, err := socktable.Append(ctx, nil, &socktable.Options{NetNS: netns, States: listenerStates}); err != nil {
				return err
			}
			cfg := tui.Config{
				Source:   newTopSource(netns),
				Context:  ctx,
				Interval: every,
				Signal:   sig.String(),
				Kill:     func(pid int) error { return killForTop(pid, sig) },
				Info: func(ctx context.Context, proto ports.Proto, port uint16) (string, error) {
					return topInfo(ctx, netns, proto, port)
				},
				ListenOnly: listening,
				Filter:     filter,
			}
			if netns != "" {
				cfg.Title = "netns " + netns
			}
			if tcp != udp {
				cfg.Proto = ports.ProtoUDP
				if tcp {
					cfg.Proto = ports.ProtoTCP
				}
			}
			if v4 != v6 {
				cfg.Family = 6
				if v4 {
					cfg.Family = 4
				}
			}
			// 30 frames a second at most (bubbletea's default is 60): a
			// key still shows at once, and an idle screen wakes half as
			// often. Signals are cmd/ports's: SIGINT and SIGTERM end ctx,
			// which ends the program. (bubbletea's own handler would get
			// them too, and v1.3 can hang on its way out when both do.)
			p := tea.NewProgram(tui.New(cfg), tea.WithAltScreen(), tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithFPS(30), tea.WithoutSignalHandler())
			if _, err := p.Run(); err != nil {
				if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
					return nil // interrupted: the normal way out, as for ls --watch
				}
				return err
			}
			return nil
		},
	}
	fs := cmd.Flags()
	interval.add(fs, tui.DefaultInterval.String(), "refresh every `INTERVAL` (500ms, 5s, or a number of seconds)")
	fs.StringVar(&netns, "netns", "", "show the sockets of network namespace `NAME|PATH` (Linux)")
	fs.BoolVarP(&listening, "listening", "l", false, "start with listening sockets only (the l key toggles)")
	fs.BoolVarP(&tcp, "tcp", "t", false, "start with TCP sockets only")
	fs.BoolVarP(&udp, "udp", "u", false, "start with UDP sockets only")
	fs.BoolVarP(&v4, "ipv4", "4", false, "start with IPv4 sockets only")
	fs.BoolVarP(&v6, "ipv6", "6", false, "start with IPv6 sockets only")
	fs.StringVar(&filter, "filter", "", "start with this filter `TEXT` (port, process, address or state)")
	fs.StringVarP(&sigArg, "signal", "s", "TERM", "the signal the k key sends: a `NAME` (TERM, KILL, HUP, INT...) or number")
	return cmd
}

// topSignal parses --signal. Where the default TERM cannot be sent
// (Windows sends only KILL), an unchanged default becomes KILL.
func topSignal(arg string, changed bool) (signal, error) {
	sig, err := parseSignal(arg)
	if err != nil && !changed {
		return parseSignal("KILL")
	}
	return sig, err
}

// killForTop signals pid for the k key of top.
func killForTop(pid int, sig signal) error {
	if pid == os.Getpid() {
		return errors.New("that is this ports process")
	}
	return sendSignal(pid, sig)
}

// topInfo is the text of `ports info PORT/PROTO` for the detail pane,
// with the listeners of network namespace netns.
func topInfo(ctx context.Context, netns string, proto ports.Proto, port uint16) (string, error) {
	reg := registry.Default()
	q, err := resolveQuery(reg, fmt.Sprintf("%d/%s", port, proto))
	if err != nil {
		return "", err
	}
	host, hostErr := hostports.Read()
	lq := &sockQuery{
		opts: socktable.Options{
			Protos: []ports.Proto{proto}, States: listenerStates, NetNS: netns, Processes: true,
			LocalPorts: []ports.Range{{First: ports.Port(port), Last: ports.Port(port)}},
		},
		listenOnly: true,
	}
	listening, _ := lq.list(ctx) // a bonus, as in ports info
	var b bytes.Buffer
	out := render.NewStream(&b, render.Table, writeInfoTable)
	for _, info := range buildInfos(reg, q, host, hostErr, false) {
		addListening(&info, q.proto, listening)
		if err := out.Write(info); err != nil {
			return "", err
		}
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}
