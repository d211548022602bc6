// Command sockhold holds many idle TCP connections open on loopback, so
// that benchmarks of socket listings (bench/socktable.sh) have a
// realistic number of sockets to list.
//
// Usage:
//
//	sockhold [-sockets N] [-procs P] [-addrs K] [-6]
//
// It makes N/2 connections to itself, each two established sockets (the
// client and the accepted server), spread over P worker processes (by
// default as few as the open-file limit allows, with at most 8,000
// connections, 16,000 descriptors, each). Each worker listens on a few
// loopback ports (127.0.0.1 to 127.0.0.K, and ::1 with -6; the kernel
// picks the ports), connects to them, accepts, and closes its listeners,
// so that only the N established sockets remain. Nothing but those
// loopback listeners is ever dialled. To go beyond the ephemeral port
// range, no listener takes more than 10,000 connections (or half the
// range), since every connection to one address:port needs its own
// source port.
//
// When every socket is established, sockhold prints "ready N" on stdout.
// It then holds them until its stdin reaches end of file or it gets
// SIGTERM, SIGINT or SIGHUP, and exits once every worker has closed its
// sockets. The sockets linger 0, so they leave no TIME_WAIT behind.
// Workers also die with sockhold (Linux: parent-death signal) and when
// their stdin, a pipe from sockhold, closes. Run it with stdin on a pipe
// (a bash coproc, or `sleep infinity | sockhold`): with stdin on
// /dev/null it stops at once.
//
// Exit status: 0 after a clean stop, 1 if setting up failed or a worker
// died, 2 for a usage error.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: sockhold [-sockets N] [-procs P] [-addrs K] [-6]

Holds N established TCP sockets (N/2 connections to itself) on loopback,
in P worker processes, prints "ready N" on stdout once they are all
established, and holds them until stdin closes or a signal arrives.

Flags:
`

// stopTimeout is how long sockhold waits for its workers to close their
// sockets and exit before it kills them.
const stopTimeout = 20 * time.Second

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sockhold", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	var (
		sockets, procs, naddrs int
		v6                     bool
		worker                 string
	)
	fs.IntVar(&sockets, "sockets", 50000, "established sockets to hold, two per connection (odd `N` rounds up)")
	fs.IntVar(&procs, "procs", 0, "worker processes (`P`; 0: as few as the open-file limit allows)")
	fs.IntVar(&naddrs, "addrs", 1, "listen on 127.0.0.1 to 127.0.0.`K` in turn (Linux routes all of 127/8 to lo)")
	fs.BoolVar(&v6, "6", false, "also listen on ::1")
	fs.StringVar(&worker, "worker", "", "internal: run as a worker holding `ADDR=CONNS,...`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sockhold: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if worker != "" {
		return runWorker(worker, stdin, stdout, stderr)
	}
	addrs, err := loopbackAddrs(naddrs, v6)
	if err != nil {
		fmt.Fprintf(stderr, "sockhold: %v\n", err)
		return 2
	}
	_, hard, err := raiseNoFile()
	if err != nil {
		fmt.Fprintf(stderr, "sockhold: %v\n", err)
		return 1
	}
	lo, hi := ephemeralRange()
	lim := limits{ConnsPerProc: connsPerProc(hard), ConnsPerListener: connsPerListener(lo, hi)}
	plan, err := makePlan((sockets+1)/2, procs, addrs, lim)
	if err != nil {
		fmt.Fprintf(stderr, "sockhold: %v\n", err)
		return 2
	}
	return runParent(plan, stdin, stdout, stderr)
}

// ephemeralRange returns the range of ports the kernel picks source
// ports from: Linux's ip_local_port_range, else IANA's 49152-65535.
func ephemeralRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && lo <= hi {
				return lo, hi
			}
		}
	}
	return 49152, 65535
}

type workerProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	ready chan error    // one value: nil once it printed "ready"
	done  chan struct{} // closed when it has exited
	err   error         // cmd.Wait's result, once done is closed
}

// runParent starts a worker for each element of plan, waits until all are
// ready, prints "ready N", holds until stdin closes or a signal arrives,
// then stops the workers.
func runParent(plan [][]listenerPlan, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(stdinClosed)
	}()
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "sockhold: %v\n", err)
		return 1
	}

	start := time.Now()
	var workers []*workerProc
	defer func() { stopWorkers(workers) }()
	want := 0
	for _, ls := range plan {
		for _, l := range ls {
			want += 2 * l.Conns
		}
		w, err := startWorker(exe, formatWorker(ls), stderr)
		if err != nil {
			fmt.Fprintf(stderr, "sockhold: starting a worker: %v\n", err)
			return 1
		}
		workers = append(workers, w)
	}
	for i, w := range workers {
		select {
		case err := <-w.ready:
			if err != nil {
				fmt.Fprintf(stderr, "sockhold: worker %d (pid %d, %s): %v\n", i, w.cmd.Process.Pid, formatWorker(plan[i]), err)
				return 1
			}
		case <-ctx.Done():
			fmt.Fprintln(stderr, "sockhold: interrupted while setting up")
			return 1
		case <-stdinClosed:
			fmt.Fprintln(stderr, "sockhold: stdin closed while setting up")
			return 1
		}
	}
	pids := make([]string, len(workers))
	for i, w := range workers {
		pids[i] = strconv.Itoa(w.cmd.Process.Pid)
	}
	fmt.Fprintf(stderr, "sockhold: %d sockets established in %v by %d workers (pids %s)\n",
		want, time.Since(start).Round(time.Millisecond), len(workers), strings.Join(pids, " "))
	if _, err := fmt.Fprintf(stdout, "ready %d\n", want); err != nil {
		fmt.Fprintf(stderr, "sockhold: %v\n", err)
		return 1
	}

	// Hold until told to stop, or until a worker dies.
	died := make(chan int, len(workers))
	for i, w := range workers {
		go func() {
			<-w.done
			died <- i
		}()
	}
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	case i := <-died:
		w := workers[i]
		fmt.Fprintf(stderr, "sockhold: worker %d (pid %d) exited: %v\n", i, w.cmd.Process.Pid, errOrStatus(w.err))
		return 1
	}
	return 0
}

// startWorker starts exe as a worker for spec, with its stdin and stdout
// on pipes and its stderr on stderr.
func startWorker(exe, spec string, stderr io.Writer) (*workerProc, error) {
	cmd := exec.Command(exe, "-worker", spec)
	cmd.Stderr = stderr
	setParentDeathSignal(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &workerProc{cmd: cmd, in: in, ready: make(chan error, 1), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		switch {
		case !sc.Scan():
			w.ready <- errors.New("exited before it was ready")
		case !strings.HasPrefix(sc.Text(), "ready "):
			w.ready <- fmt.Errorf("printed %q, not ready", sc.Text())
		default:
			w.ready <- nil
		}
		io.Copy(io.Discard, out)
		w.err = cmd.Wait()
		close(w.done)
	}()
	return w, nil
}

// stopWorkers closes each worker's stdin, which tells it to close its
// sockets and exit, and waits for them; it kills any that take longer
// than stopTimeout.
func stopWorkers(workers []*workerProc) {
	for _, w := range workers {
		w.in.Close()
	}
	deadline := time.NewTimer(stopTimeout)
	defer deadline.Stop()
	for _, w := range workers {
		select {
		case <-w.done:
		case <-deadline.C:
			w.cmd.Process.Kill()
			<-w.done
		}
	}
}

func errOrStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// runWorker holds the connections spec describes (see parseWorker),
// prints "ready N" on stdout, and holds them until stdin closes or
// SIGTERM arrives. It ignores SIGINT and SIGHUP, which reach the whole
// process group from a terminal: sockhold stops it by closing its stdin.
func runWorker(spec string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "sockhold worker %d: %v\n", os.Getpid(), err)
		return 1
	}
	plans, err := parseWorker(spec)
	if err != nil {
		return fail(err)
	}
	signal.Ignore(os.Interrupt, syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, stdin)
		cancel()
	}()

	cur, _, err := raiseNoFile()
	if err != nil {
		return fail(err)
	}
	need := uint64(fdReserve)
	for _, p := range plans {
		need += 2 * uint64(p.Conns)
	}
	if need > cur {
		return fail(fmt.Errorf("needs %d open files, but RLIMIT_NOFILE is %d", need, cur))
	}
	h, err := hold(ctx, plans)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	if _, err := fmt.Fprintf(stdout, "ready %d\n", h.Sockets()); err != nil {
		return fail(err)
	}
	<-ctx.Done()
	return 0
}
