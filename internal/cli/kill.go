package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portkit/ports/socktable"
)

// signal is a signal that kill can send: its number on this system and
// its name without "SIG".
type signal struct {
	num  int
	name string
}

func (s signal) String() string { return "SIG" + s.name }

func newKillCmd() *cobra.Command {
	var (
		sigArg string
		dryRun bool
		yes    bool
		netns  string
		conn   bool
	)
	cmd := &cobra.Command{
		Use:   "kill PORT[/PROTO] | kill --conn LOCAL PEER",
		Short: "Signal the processes listening on a port",
		Long: `Send a signal (TERM unless --signal says otherwise) to the processes that
listen on PORT: those holding a TCP socket in LISTEN or a bound UDP
socket on it. Processes merely connected to the port, as clients or as a
server's accepted connections elsewhere, are never signalled. A process
holding several sockets on the port is signalled once. PORT is as in
"ports who".

kill asks before each process when stdin is a terminal; --yes skips the
question. When stdin is not a terminal kill refuses (exit 2) unless --yes
or --dry-run is given. --dry-run says what would be signalled.

Another user's processes need root to be seen, and to be signalled. On
Windows only --signal KILL is supported.

--conn LOCAL PEER closes one connection instead, leaving its process
alone: the TCP or connected UDP socket from LOCAL to PEER (ADDR:PORT
each, IPv6 in brackets) is destroyed through the kernel's sock_diag
SOCK_DESTROY, as ss -K does; a TCP peer gets a reset and the process
sees ECONNABORTED. The questions are asked as for a process. It needs
root (CAP_NET_ADMIN) and a Linux kernel built with
CONFIG_INET_DIAG_DESTROY; without it, kill says so and exits 1.`,
		Example: `  ports kill 8080
  ports kill --dry-run 3000
  ports kill -y --signal KILL 5432/tcp
  ports kill --conn 10.0.0.5:44312 10.0.0.9:5432`,
		Args: func(cmd *cobra.Command, args []string) error {
			if conn {
				return connArgs(args)
			}
			return onePort(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if conn {
				if cmd.Flags().Changed("signal") {
					return usagef("--signal does not apply to --conn: a connection is closed, not signalled")
				}
				return killConn(cmd, args, netns, yes, dryRun)
			}
			sig, err := parseSignal(sigArg)
			if err != nil {
				return err
			}
			pf, proto, err := parsePortArg(args[0])
			if err != nil {
				return err
			}
			in := cmd.InOrStdin()
			ask := !yes && !dryRun
			if ask && !isTerminal(in) {
				return usagef("stdin is not a terminal to ask on: pass --yes to signal without asking, or --dry-run")
			}
			q := &sockQuery{
				opts:       socktable.Options{Protos: protosOf(proto), States: listenerStates, NetNS: netns, Processes: true},
				port:       pf,
				listenOnly: true,
			}
			ss, err := q.list(cmd.Context())
			if err != nil {
				return err
			}
			if len(ss) == 0 {
				return nothingListening(args[0])
			}
			targets, hidden := killTargets(ss)
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if len(targets) == 0 {
				if hidden {
					return fmt.Errorf("port %s is held by processes this user cannot see; run as root", args[0])
				}
				return fmt.Errorf("no process holds the sockets listening on port %s (a kernel socket, or a process in another PID namespace?)", args[0])
			}
			if hidden {
				fmt.Fprintf(stderr, "ports kill: some processes on port %s could not be seen (needs root); they are not signalled\n", args[0])
			}
			answers := bufio.NewReader(in)
			failed := 0
			for _, t := range targets {
				if dryRun {
					fmt.Fprintf(stdout, "would send %v to %s\n", sig, t.describe())
					continue
				}
				if t.pid == os.Getpid() {
					fmt.Fprintf(stderr, "ports kill: skipping %s: that is this ports process\n", t.describe())
					continue
				}
				if ask {
					ok, err := confirm(stderr, answers, fmt.Sprintf("Send %v to %s? [y/N] ", sig, t.describe()))
					if err != nil {
						return err
					}
					if !ok {
						fmt.Fprintf(stdout, "left %s (pid %d) alone\n", t.name, t.pid)
						continue
					}
				}
				if err := sendSignal(t.pid, sig); err != nil {
					fmt.Fprintf(stderr, "ports kill: %s (pid %d): %v\n", t.name, t.pid, err)
					failed++
					continue
				}
				fmt.Fprintf(stdout, "sent %v to %s (pid %d)\n", sig, t.name, t.pid)
			}
			if failed > 0 {
				return errSilent
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&sigArg, "signal", "s", "TERM", "the signal: a `NAME` (TERM, KILL, HUP, INT...) or number")
	fs.BoolVar(&dryRun, "dry-run", false, "only say what would be signalled")
	fs.BoolVarP(&yes, "yes", "y", false, "do not ask before signalling")
	fs.StringVar(&netns, "netns", "", "look in network namespace `NAME|PATH` (Linux)")
	fs.BoolVar(&conn, "conn", false, "close the one connection LOCAL PEER (sock_diag destroy, as ss -K), not a process")
	return cmd
}

// killTarget is one process to signal and the sockets it listens on.
type killTarget struct {
	pid   int
	name  string
	where []string // "0.0.0.0:80/tcp"
}

func (t killTarget) describe() string {
	return fmt.Sprintf("%s (pid %d, listening on %s)", t.name, t.pid, strings.Join(t.where, ", "))
}

// killTargets gathers the processes of the listeners ss, each once, in
// the order first seen; hidden reports that some could not be read.
func killTargets(ss []socktable.Socket) (targets []killTarget, hidden bool) {
	index := map[int]int{}
	for i := range ss {
		s := &ss[i]
		hidden = hidden || s.ProcsHidden
		for _, p := range s.Procs {
			j, ok := index[p.PID]
			if !ok {
				j = len(targets)
				index[p.PID] = j
				targets = append(targets, killTarget{pid: p.PID, name: p.Name})
			}
			w := addrProto(s)
			if t := &targets[j]; !contains(t.where, w) {
				t.where = append(t.where, w)
			}
		}
	}
	return targets, hidden
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// confirm asks question on w and reads a line from r: y or yes is a yes.
func confirm(w io.Writer, r *bufio.Reader, question string) (bool, error) {
	fmt.Fprint(w, question)
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(w)
		if err == io.EOF {
			return false, nil
		}
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// parseSignal parses --signal: a name with or without SIG, in any case,
// or a number.
func parseSignal(arg string) (signal, error) {
	name := strings.ToUpper(strings.TrimSpace(arg))
	name = strings.TrimPrefix(name, "SIG")
	if n, err := strconv.Atoi(name); err == nil {
		for _, s := range signals {
			if s.num == n {
				return s, checkSignal(s)
			}
		}
		if n > 0 && n < 128 && numericSignalsOK {
			return signal{num: n, name: strconv.Itoa(n)}, nil
		}
		return signal{}, usagef("--signal %q: %s", arg, signalHelp())
	}
	for _, s := range signals {
		if s.name == name {
			return s, checkSignal(s)
		}
	}
	return signal{}, usagef("--signal %q is not a signal: %s", arg, signalHelp())
}

func signalHelp() string {
	names := make([]string, len(signals))
	for i, s := range signals {
		names[i] = s.name
	}
	return "want " + strings.Join(names, ", ") + " or a signal number from 1 to 127"
}
