package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portkit/ports"
	"github.com/portkit/ports/socktable"
)

// connArgs checks the arguments of kill --conn: LOCAL and PEER.
func connArgs(args []string) error {
	switch len(args) {
	case 0, 1:
		return usagef("--conn takes LOCAL PEER: two ADDR:PORT endpoints, such as 127.0.0.1:5000 127.0.0.1:43210")
	case 2:
		return nil
	}
	return usagef("unexpected argument %q: --conn takes LOCAL PEER", args[2])
}

// parseEndpoint parses one side of --conn.
func parseEndpoint(what, arg string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(arg)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, usagef("%s %q is not ADDR:PORT with a literal address and a port (IPv6 in brackets: [::1]:80)", what, arg)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// killConn is kill --conn LOCAL PEER.
func killConn(cmd *cobra.Command, args []string, netns string, yes, dryRun bool) error {
	local, err := parseEndpoint("LOCAL", args[0])
	if err != nil {
		return err
	}
	peer, err := parseEndpoint("PEER", args[1])
	if err != nil {
		return err
	}
	opts := socktable.Options{NetNS: netns, Processes: true,
		States: socktable.AllStates &^ socktable.StatesOf(socktable.StateListen, socktable.StateClose)}
	all, err := socktable.Append(cmd.Context(), nil, &opts)
	if err != nil {
		return err
	}
	var match []socktable.Socket
	for _, s := range all {
		if unmapAP(s.Local) == local && unmapAP(s.Remote) == peer {
			match = append(match, s)
		}
	}
	if len(match) == 0 {
		return fmt.Errorf("no connection from %s to %s", args[0], args[1])
	}
	return destroySockets(cmd, match, netns, yes, dryRun)
}

// gone reports whether s has left the socket table (or only lingers,
// closed, on its way out): the kernel refuses to destroy a socket that
// its peer's destruction is closing.
func gone(ctx context.Context, s *socktable.Socket, netns string) bool {
	opts := socktable.Options{NetNS: netns, Protos: []ports.Proto{s.Proto},
		LocalPorts:  []ports.Range{{First: ports.Port(s.Local.Port()), Last: ports.Port(s.Local.Port())}},
		RemotePorts: []ports.Range{{First: ports.Port(s.Remote.Port()), Last: ports.Port(s.Remote.Port())}}}
	for x, err := range socktable.List(ctx, &opts) {
		if err != nil {
			return false
		}
		if x.Local == s.Local && x.Remote == s.Remote && x.State != socktable.StateClose {
			return false
		}
	}
	return true
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// describeConn says which socket is meant: "tcp 127.0.0.1:5000 ->
// 127.0.0.1:43210 (ESTAB, curl/123)".
func describeConn(s *socktable.Socket) string {
	return fmt.Sprintf("%v %v -> %v (%v, %s)", s.Proto, unmapAP(s.Local), unmapAP(s.Remote), s.State, procsCell(s))
}

func procsCell(s *socktable.Socket) string {
	if len(s.Procs) == 0 {
		if s.ProcsHidden {
			return "process needs root to see"
		}
		return "no process"
	}
	names := make([]string, len(s.Procs))
	for i, p := range s.Procs {
		names[i] = fmt.Sprintf("%s/%d", p.Name, p.PID)
	}
	return strings.Join(names, ",")
}

// destroySockets closes socks with the confirmation rules of kill: ask
// on a terminal unless yes, refuse a stdin that is not one unless yes or
// dryRun. A kernel that cannot destroy sockets ends it at the first, with
// the one line that says so.
func destroySockets(cmd *cobra.Command, socks []socktable.Socket, netns string, yes, dryRun bool) error {
	in := cmd.InOrStdin()
	ask := !yes && !dryRun
	if ask && !isTerminal(in) {
		return usagef("stdin is not a terminal to ask on: pass --yes to close without asking, or --dry-run")
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	answers := bufio.NewReader(in)
	failed := 0
	for i := range socks {
		s := &socks[i]
		what := describeConn(s)
		if dryRun {
			fmt.Fprintf(stdout, "would close %s\n", what)
			continue
		}
		if ask {
			ok, err := confirm(stderr, answers, fmt.Sprintf("Close %s? [y/N] ", what))
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintf(stdout, "left %s alone\n", what)
				continue
			}
		}
		err := socktable.Destroy(cmd.Context(), *s, &socktable.Options{NetNS: netns})
		switch {
		case errors.Is(err, socktable.ErrDestroyUnsupported):
			return err
		case errors.Is(err, socktable.ErrNoSocket) || err != nil && !errors.Is(err, os.ErrPermission) && gone(cmd.Context(), s, netns):
			// Gone since the listing: closed by its process, or the
			// peer of one closed here (both ends of a loopback
			// connection are listed). What was asked holds.
			fmt.Fprintf(stdout, "already closed: %s\n", what)
			continue
		case err != nil:
			fmt.Fprintf(stderr, "ports kill: %s: %v\n", what, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "closed %s\n", what)
	}
	if failed > 0 {
		return errSilent
	}
	return nil
}

// killFlags are ls's --kill, --yes and --dry-run.
type killFlags struct {
	kill, yes, dryRun bool
}

func (k *killFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&k.kill, "kill", false, "close every connection listed (sock_diag destroy, as ss -K); needs a filter")
	fs.BoolVarP(&k.yes, "yes", "y", false, "with --kill: do not ask before closing")
	fs.BoolVar(&k.dryRun, "dry-run", false, "with --kill: only say what would be closed")
}

// run is ls --kill: it closes the connections q lists (never a
// listener or a bound UDP socket), asking as kill does.
func (k *killFlags) run(cmd *cobra.Command, q *sockQuery, every time.Duration) error {
	fs := cmd.Flags()
	switch {
	case every != 0:
		return usagef("--kill and --watch do not go together")
	case q.listenOnly:
		return usagef("--kill closes connections: add -a or --state, with a filter")
	case q.port == nil && q.procName == "" && q.pid == 0 && !fs.Changed("state") && q.opts.LocalAddrs == nil && q.opts.RemoteAddrs == nil:
		return usagef("--kill needs a filter (--port, --state, --local, --peer, --proc or --pid): it would close every connection of the machine")
	}
	if !k.yes && !k.dryRun && !isTerminal(cmd.InOrStdin()) {
		return usagef("stdin is not a terminal to ask on: pass --yes to close without asking, or --dry-run")
	}
	q.opts.Processes = true
	ss, err := q.list(cmd.Context())
	if err != nil {
		return err
	}
	conns := ss[:0]
	for i := range ss {
		if !ss[i].IsListener() && ss[i].HasPeer() {
			conns = append(conns, ss[i])
		}
	}
	if len(conns) == 0 {
		return fmt.Errorf("no connection matches")
	}
	return destroySockets(cmd, conns, q.opts.NetNS, k.yes, k.dryRun)
}
