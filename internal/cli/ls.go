package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/socktable"
)

// defaultWatch is the interval of a bare --watch.
const defaultWatch = 2 * time.Second

func newLsCmd() *cobra.Command {
	var (
		ff       formatFlags
		all      bool
		portArg  string
		stateArg string
		procArg  string
		pid      int
		tcp, udp bool
		v4, v6   bool
		netns    string
		noProcs  bool
		watch    = intervalFlag{name: "watch"}
		info     bool
		kill     killFlags
		local    []string
		peer     []string
		events   bool
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List sockets and the processes that hold them",
		Long: `List this machine's sockets with their processes, like ss -tulpn.

By default ls lists what is listening: TCP sockets in LISTEN and bound,
unconnected UDP sockets (UNCONN), as ss -tul does. -a lists every socket in
every state; --state picks states (a comma list of listen, estab, syn-sent,
syn-recv, fin-wait-1, fin-wait-2, time-wait, unconn, close-wait, last-ack,
closing, or "connected" for all but listen and unconn) and implies -a.

--port takes a port set: 80,443,8000-8100,http,T:22,U:53. Listeners match
on their local port; with -a or --state a socket matches when its local
OR its remote port is in the set, so "-a --port 443" also shows this
machine's outgoing HTTPS connections.

SERVICE names the well-known side of each socket: the local port of a
listener or of a server's connection, the remote port of a client's. A
local port followed by "*" lies in this machine's ephemeral range (the
kernel picked it for an outgoing connection). Finding processes means
reading /proc; --no-procs skips that (the fast path, like ss -tan).
Another user's processes need root: their sockets show "(needs root)".

--local and --peer keep sockets whose local end, or peer, lies in a CIDR
prefix or is an address, each optionally with :PORT or :FIRST-LAST
(127.0.0.0/8, ::1, 10.0.0.1:443, [fd00::]/8:8000-8100, :22), as ss's src
and dst expressions do. Each may be given several times: a socket must
match one --local and one --peer. An IPv4 prefix also matches IPv4-mapped
addresses of IPv6 sockets. --peer implies -a (a listener has no peer).
The kernel applies them, with --port's local ports and the states, while
it dumps the sockets.

--events streams each TCP and UDP socket's end as the kernel reports it
(as ss -E does), until Ctrl-C: its addresses, the state it ended in, the
kernel's byte counters of a TCP socket (bytes_acked with the SYN and FIN
sent, bytes_received with the FIN received, as ss -i shows them) and,
for a socket listed before it ended (ls lists them once a second
meanwhile), how long it lived at least and its processes. --port,
--local, --peer, -t, -u, -4, -6 and --netns filter the ends; it needs
root (CAP_NET_ADMIN). --format jsonl writes one JSON line per end.

--watch[=INTERVAL] (note the '=') lists again every INTERVAL, 2s by
default, until interrupted; Ctrl-C ends it with exit 0. On a terminal it
redraws the screen; otherwise each table follows the last after a blank
line, --format json writes one array per listing and --format jsonl one
line per listing (the listing's array).

An empty listing is not an error: ls prints the header alone (an empty
array in JSON) and exits 0, as ss does.`,
		Example: `  ports ls
  ports ls -a --port https
  ports ls --state time-wait --no-procs
  ports ls --peer 10.0.0.0/8 --local :22
  ports ls --proc nginx --json
  ports ls --watch=5s -t`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.Flags().Changed("watch") && watch.raw == defaultWatch.String() {
				if _, err := parseInterval(watch.name, args[0], watch.min); err == nil {
					return usagef("unexpected argument %q: write --watch=%s, with '='", args[0], args[0])
				}
			}
			return noArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			format, err := ff.get(fs)
			if err != nil {
				return err
			}
			q := &sockQuery{opts: socktable.Options{NetNS: netns, Processes: !noProcs}}
			if tcp != udp {
				if tcp {
					q.opts.Protos = []ports.Proto{ports.ProtoTCP}
				} else {
					q.opts.Protos = []ports.Proto{ports.ProtoUDP}
				}
			}
			if v4 != v6 {
				if v4 {
					q.opts.Family = 4
				} else {
					q.opts.Family = 6
				}
			}
			if q.opts.LocalAddrs, err = parseAddrFilters("--local", local); err != nil {
				return err
			}
			if q.opts.RemoteAddrs, err = parseAddrFilters("--peer", peer); err != nil {
				return err
			}
			if len(peer) > 0 {
				all = true
			}
			if stateArg != "" {
				if q.opts.States, err = parseStates(stateArg); err != nil {
					return err
				}
				all = true
			}
			if !all {
				q.opts.States = listenerStates
				q.listenOnly = true
			}
			if portArg != "" {
				if q.port, err = parsePortFilter(portArg); err != nil {
					return err
				}
				q.matchRemote = all
			}
			if procArg != "" {
				if noProcs {
					return usagef("--proc needs the processes; drop --no-procs")
				}
				q.procName = strings.ToLower(procArg)
			}
			if fs.Changed("pid") {
				if noProcs {
					return usagef("--pid needs the processes; drop --no-procs")
				}
				if pid < 1 {
					return usagef("--pid %d is not a process id", pid)
				}
				q.pid = pid
			}
			var every time.Duration
			if fs.Changed("watch") {
				if every, err = watch.get(); err != nil {
					return err
				}
			}
			if events {
				switch {
				case every != 0 || info || kill.kill || q.procName != "" || q.pid != 0 || stateArg != "":
					return usagef("--events does not go with --watch, -i, --kill, --proc, --pid or --state")
				case format == render.JSON:
					return usagef("--events is a stream: use --format jsonl (one line per end) or table")
				}
				q.listenOnly = false
				return lsEvents(cmd.Context(), cmd.OutOrStdout(), q, format, !noProcs)
			}
			if kill.kill {
				return kill.run(cmd, q, every)
			}
			l := &lsRun{q: q, format: format, procs: !noProcs, info: info, w: cmd.OutOrStdout()}
			if every == 0 {
				return l.once(cmd.Context())
			}
			return l.watch(cmd.Context(), every)
		},
	}
	ff.add(cmd.Flags())
	fs := cmd.Flags()
	fs.BoolVarP(&all, "all", "a", false, "all sockets in all states, not only listeners")
	fs.StringVar(&portArg, "port", "", "only these ports: a port `SET` such as 80,443,8000-8100,http (with -a: local or remote)")
	fs.StringVar(&stateArg, "state", "", "only these `STATES`, comma separated: listen, estab, time-wait, unconn...; implies -a")
	fs.StringArrayVar(&local, "local", nil, "only sockets whose local end is in `CIDR|ADDR[:PORT]` (repeatable: any of them)")
	fs.StringArrayVar(&peer, "peer", nil, "only sockets whose peer is in `CIDR|ADDR[:PORT]` (repeatable: any of them; implies -a)")
	fs.StringVar(&procArg, "proc", "", "only sockets of processes whose name contains `NAME` (any case)")
	fs.IntVar(&pid, "pid", 0, "only sockets of process `N`")
	fs.BoolVarP(&tcp, "tcp", "t", false, "TCP sockets only")
	fs.BoolVarP(&udp, "udp", "u", false, "UDP sockets only")
	fs.BoolVarP(&v4, "ipv4", "4", false, "IPv4 sockets only (with -6: both)")
	fs.BoolVarP(&v6, "ipv6", "6", false, "IPv6 sockets only (with -4: both)")
	fs.StringVar(&netns, "netns", "", "list the sockets of network namespace `NAME|PATH` (Linux)")
	fs.BoolVar(&noProcs, "no-procs", false, "do not look for processes (faster)")
	watch.add(fs, "", "list again every `INTERVAL` until interrupted (bare --watch: 2s)").NoOptDefVal = defaultWatch.String()
	kill.add(fs)
	fs.BoolVar(&events, "events", false, "stream each TCP/UDP socket's end as the kernel reports it (ss -E), until interrupted")
	fs.BoolVarP(&info, "info", "i", false, "show TCP internals, as ss -tin -o -m: rtt, cwnd, bytes, retransmits, rates, timers, memory")
	return cmd
}

// parseStates parses --state: socktable.ParseStates's list of states
// and groups.
func parseStates(arg string) (socktable.States, error) {
	m, err := socktable.ParseStates(arg)
	if err != nil {
		return 0, usagef("--state: %v", err)
	}
	return m, nil
}

// parseAddrFilters parses the values of flag, each a
// socktable.ParseAddrFilter filter.
func parseAddrFilters(flag string, args []string) ([]socktable.AddrFilter, error) {
	var fs []socktable.AddrFilter
	for _, a := range args {
		f, err := socktable.ParseAddrFilter(a)
		if err != nil {
			return nil, usagef("%s: %v", flag, err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// lsRun lists sockets once or again and again.
type lsRun struct {
	q      *sockQuery
	format render.Format
	procs  bool
	info   bool // -i: TCP internals
	w      io.Writer
}

// listing is one listing of ls: its sockets, sorted, their TCP
// internals with -i, and the view that converts them.
type listing struct {
	socks []socktable.Socket
	in    *lsInternals
	v     *sockView
}

// gather lists the sockets.
func (l *lsRun) gather(ctx context.Context) (*listing, error) {
	// The listeners tell a server's connections from a client's; ask for
	// them while the main listing runs, unless it holds them all. A
	// failure only makes SERVICE guess from the port numbers.
	var listeners []socktable.Socket
	done := make(chan struct{})
	if l.q.listenOnly || l.q.holdsListeners() {
		close(done)
	} else {
		go func() {
			defer close(done)
			listeners, _ = socktable.Append(ctx, nil, &socktable.Options{States: listenerStates, NetNS: l.q.opts.NetNS, Protos: l.q.opts.Protos})
		}()
	}
	var (
		ss        []socktable.Socket
		internals *lsInternals
		err       error
	)
	if l.info && !l.procs {
		ss, internals, err = l.listInternals(ctx)
	} else {
		internals = l.startInternals(ctx)
		ss, err = l.q.list(ctx)
	}
	<-done
	if err == nil {
		err = internals.wait()
	}
	if err != nil {
		return nil, err
	}
	v := newSockView(l.procs)
	v.learnListeners(ss)
	v.learnListeners(listeners)
	return &listing{socks: ss, in: internals, v: v}, nil
}

// snapshot lists the sockets and converts them.
func (l *lsRun) snapshot(ctx context.Context) ([]render.SocketV1, *sockView, error) {
	li, err := l.gather(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := li.v.convert(li.socks)
	if err := li.in.attach(li.socks, out); err != nil {
		return nil, nil, err
	}
	return out, li.v, nil
}

func (l *lsRun) once(ctx context.Context) error {
	if l.format == render.Table {
		li, err := l.gather(ctx)
		if err != nil {
			return err
		}
		return l.writeTable(li)
	}
	socks, v, err := l.snapshot(ctx)
	if err != nil {
		return err
	}
	return writeSockets(l.w, l.format, socks, l.procs, v)
}

// writeTable writes li as a table, straight from its sockets.
func (l *lsRun) writeTable(li *listing) error {
	t := &socketTable{v: li.v, procs: l.procs, socks: li.socks}
	if li.in != nil {
		t.detail = func(b []byte, i int) []byte { return li.in.line(b, li.socks, i) }
	}
	return t.write(l.w)
}

// holdsListeners reports whether q's listing holds every listener that
// a listing of listeners alone (with q's protocols) would: it has their
// states, and no filter that could leave one out.
func (q *sockQuery) holdsListeners() bool {
	o := &q.opts
	return (o.States == 0 || o.States&listenerStates == listenerStates) && o.Family == 0 &&
		o.LocalPorts == nil && o.RemotePorts == nil && o.LocalAddrs == nil && o.RemoteAddrs == nil &&
		q.port == nil && q.procName == "" && q.pid == 0
}

// writeSockets writes a listing: a table with a header (and the legend
// for ephemeral ports when one is marked), a JSON array, or JSON lines.
func writeSockets(w io.Writer, format render.Format, socks []render.SocketV1, procs bool, v *sockView) error {
	var row []byte
	out := render.NewStream(w, format, func(tw io.Writer, s render.SocketV1) error {
		row = append(render.AppendSocketRow(row[:0], s, procs), '\n')
		if s.TCP != nil {
			row = append(render.AppendTCPInternals(row, s.TCP), '\n')
		}
		_, err := tw.Write(row)
		return err
	})
	out.Header(render.SocketHeader(procs))
	marked := false
	for _, s := range socks {
		if err := out.Write(s); err != nil {
			return err
		}
		marked = marked || s.Ephemeral
	}
	if err := out.Close(); err != nil {
		return err
	}
	if format == render.Table && marked {
		_, err := fmt.Fprintln(w, render.EphemeralLegend(v.host.Ephemeral.String()))
		return err
	}
	return nil
}

// watch lists every interval until ctx ends, which is the normal way out
// (Ctrl-C): it then returns nil.
func (l *lsRun) watch(ctx context.Context, every time.Duration) error {
	tty := isTerminal(l.w)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 0; ; n++ {
		var (
			socks []render.SocketV1
			li    *listing
			err   error
		)
		if l.format == render.Table {
			li, err = l.gather(ctx)
		} else {
			socks, _, err = l.snapshot(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case l.format == render.JSONL:
			// One line per listing: the listing's array.
			enc := json.NewEncoder(l.w)
			enc.SetEscapeHTML(false)
			if socks == nil {
				socks = []render.SocketV1{}
			}
			err = enc.Encode(socks)
		case tty && l.format == render.Table:
			fmt.Fprintf(l.w, "\x1b[H\x1b[2J%s  every %v, Ctrl-C to stop\n\n", time.Now().Format(time.TimeOnly), every)
			err = l.writeTable(li)
		case l.format == render.Table:
			// The time of each listing, as on a terminal, so that a
			// log of a --watch says when a socket came or went.
			if n > 0 {
				fmt.Fprintln(l.w)
			}
			fmt.Fprintf(l.w, "%s\n", time.Now().Format(time.DateTime))
			err = l.writeTable(li)
		default:
			err = writeSockets(l.w, l.format, socks, l.procs, nil)
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// isTerminal reports whether w is a terminal. It is a variable so that
// tests can pretend.
var isTerminal = func(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
