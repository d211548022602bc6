package cli

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	ossignal "os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
)

// TestRunHelper runs the command line in PORTS_CLI_HELPER_ARGS (unit-separator
// separated) in a process of its own, under limits its parent set with
// prlimit; it does nothing in a normal run.
func TestRunHelper(t *testing.T) {
	args := os.Getenv("PORTS_CLI_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process of the RLIMIT_NOFILE tests")
	}
	ctx, stop := ossignal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Run(ctx, strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
}

// underNoFile runs `ports ARGS...` in a helper process whose
// RLIMIT_NOFILE is nofile (soft and hard, set by prlimit), and returns
// its standard error as it grows. The process is interrupted when the
// test ends.
func underNoFile(t *testing.T, nofile int, args ...string) *lockedBuf {
	t.Helper()
	prlimit := needTool(t, "prlimit")
	n := strconv.Itoa(nofile)
	cmd := exec.Command(prlimit, "--nofile="+n+":"+n, "--", os.Args[0], "-test.run=^TestRunHelper$", "-test.v=false")
	cmd.Env = append(os.Environ(), "PORTS_CLI_HELPER_ARGS="+strings.Join(args, "\x1f"))
	stderr := &lockedBuf{}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			io.WriteString(stderr, sc.Text()+"\n")
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		<-done
		cmd.Wait()
	})
	return stderr
}

// TestMapDefaultMaxConnsFitsFDLimit: under RLIMIT_NOFILE 200, `ports
// map` without --max-conns takes 75 connections at once (2 descriptors
// each after a reserve) and refuses the others cleanly, instead of the
// default 10,000 that made accept fail with "too many open files"
// (EMFILE) at about 95.
func TestMapDefaultMaxConnsFitsFDLimit(t *testing.T) {
	echo := porttest.ServeTCP(t, func(c net.Conn) { io.Copy(io.Discard, c) }).String()
	lst := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	stderr := underNoFile(t, 200, "map", lst, echo)
	waitFor(t, "the mapping", func() bool { return strings.Contains(stderr.String(), "rule started") })
	if !strings.Contains(stderr.String(), "max_conns=75") {
		t.Errorf("start line does not say max_conns=75:\n%s", stderr)
	}
	// The clients send nothing: no byte to splice, so each connection
	// holds exactly its two sockets in the mapping (the race detector
	// keeps Go's splice pipes from being reused, which would add more).
	const clients = 120
	var conns []net.Conn
	for i := range clients {
		c, err := net.Dial("tcp", lst)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(stderr.String(), "reason=max_conns") < clients-75 {
		if time.Now().After(deadline) {
			t.Fatalf("no %d max_conns refusals:\n%s", clients-75, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The refused were closed before their refusal was logged; the
	// others are held open. (All read at once: a read past its
	// deadline fails without looking.)
	var open atomic.Int64
	var wg sync.WaitGroup
	deadline = time.Now().Add(300 * time.Millisecond)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(deadline)
			if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
				open.Add(1)
			}
		}()
	}
	wg.Wait()
	if open.Load() != 75 {
		t.Errorf("%d connections held open, want 75", open.Load())
	}
	if s := stderr.String(); strings.Contains(s, "too many open files") || !strings.Contains(s, "reason=max_conns") {
		t.Errorf("want max_conns refusals and no EMFILE:\n%s", s)
	}
}

// TestMapMaxConnsTooBigWarns: an explicit --max-conns that cannot fit
// in RLIMIT_NOFILE is kept but warned about at start.
func TestMapMaxConnsTooBigWarns(t *testing.T) {
	lst := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	stderr := underNoFile(t, 200, "map", lst, "127.0.0.1:9", "--max-conns", "5000")
	waitFor(t, "the warning", func() bool {
		return strings.Contains(stderr.String(), "max_conns does not fit the file descriptor limit")
	})
	for _, want := range []string{"max_conns=5000", "fd_limit=200", "fit=75"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("warning lacks %s:\n%s", want, stderr)
		}
	}
}
