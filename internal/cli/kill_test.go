package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// helperEnv makes the test binary, run again by startListener, listen
// instead of testing.
const helperEnv = "PORTS_CLI_TEST_LISTEN"

// TestHelperListener is not a test: run by startListener with helperEnv
// set, it listens on TCP 127.0.0.1:0 and on UDP at the same port, prints
// the port and blocks until killed.
func TestHelperListener(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for the kill tests")
	}
	for {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		u, err := net.ListenPacket("udp4", l.Addr().String())
		if err != nil {
			l.Close()
			continue // the UDP port is taken: try another
		}
		defer u.Close()
		defer l.Close()
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		select {}
	}
}

// startListener starts a child process that listens on a TCP and a UDP
// port, and returns it with the port. The child is killed when the test
// ends, if it still runs.
func startListener(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperListener$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // fails harmlessly if the test killed it
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	port := strings.TrimSpace(line)
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("helper said %q", line)
	}
	return cmd, port
}

// runStdin runs args in-process like Run, with stdin, and returns the
// error of the command rather than an exit code.
func runStdin(t *testing.T, stdin string, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	_, err = root.ExecuteContextC(context.Background())
	return err, out.String(), errb.String()
}

func TestKillDryRun(t *testing.T) {
	requireSockets(t)
	_, lap := porttest.ListenTCP(t)
	p := strconv.Itoa(int(lap.Port()))
	code, out, stderr := run(t, "kill", "--dry-run", p)
	want := fmt.Sprintf("would send SIGTERM to %s (pid %d, listening on %s/tcp)\n", procName(t), os.Getpid(), lap)
	if code != ExitOK || out != want {
		t.Errorf("kill --dry-run %s: exit %d, stdout %q, want %q (stderr %q)", p, code, out, want, stderr)
	}
	// Without --dry-run, this process is never signalled.
	code, out, stderr = run(t, "kill", "--yes", p)
	if code != ExitOK || out != "" || !strings.Contains(stderr, "this ports process") {
		t.Errorf("kill --yes on our own listener: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// Not a terminal and no --yes: refuse, a usage error.
	err, out, _ := runStdin(t, "y\n", "kill", p)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--yes") || out != "" {
		t.Errorf("kill without --yes and no terminal: error %v, stdout %q; want a usage error naming --yes", err, out)
	}
	// Nothing there.
	code, _, stderr = run(t, "kill", "--dry-run", p+"/udp")
	if code != ExitFailure || stderr != "ports kill: nothing is listening on port "+p+"/udp\n" {
		t.Errorf("kill %s/udp: exit %d, stderr %q", p, code, stderr)
	}
}

func TestKillChild(t *testing.T) {
	requireSockets(t)
	child, p := startListener(t)
	pid := child.Process.Pid
	name := procName(t)

	// One process with two sockets: described once, naming both.
	code, out, stderr := run(t, "kill", "--dry-run", "--signal", "kill", p)
	want := fmt.Sprintf("would send SIGKILL to %s (pid %d, listening on 127.0.0.1:%s/tcp, 127.0.0.1:%s/udp)\n", name, pid, p, p)
	if code != ExitOK || out != want {
		t.Errorf("kill --dry-run: exit %d, stdout %q, want %q (stderr %q)", code, out, want, stderr)
	}

	// On a terminal kill asks; "n" leaves the child alone.
	defer func(f func(any) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(any) bool { return true }
	err, out, stderr := runStdin(t, "n\n", "kill", p)
	question := fmt.Sprintf("Send SIGTERM to %s (pid %d, listening on 127.0.0.1:%s/tcp, 127.0.0.1:%s/udp)? [y/N] ", name, pid, p, p)
	if err != nil || stderr != question || !strings.Contains(out, "left") {
		t.Errorf("kill answered n: error %v, stdout %q, stderr %q; want the question %q", err, out, stderr, question)
	}
	if code, _, _ := run(t, "who", p+"/tcp"); code != ExitOK {
		t.Fatalf("the child is gone after answering n")
	}
	isTerminal = func(any) bool { return false }

	// --yes: signalled once, and it dies of it.
	code, out, stderr = run(t, "kill", "--yes", p)
	if want := fmt.Sprintf("sent SIGTERM to %s (pid %d)\n", name, pid); code != ExitOK || out != want {
		t.Errorf("kill --yes: exit %d, stdout %q, want %q (stderr %q)", code, out, want, stderr)
	}
	err = child.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 || !strings.Contains(ee.String(), "terminated") {
		t.Errorf("child ended with %v, want killed by SIGTERM", err)
	}
	code, _, _ = run(t, "kill", "--yes", p)
	if code != ExitFailure {
		t.Errorf("kill after the child died: exit %d, want %d", code, ExitFailure)
	}
}

func TestParseSignal(t *testing.T) {
	for _, in := range []string{"TERM", "term", "SIGTERM", "sigterm", "15"} {
		s, err := parseSignal(in)
		if err != nil || s.name != "TERM" || s.String() != "SIGTERM" {
			t.Errorf("parseSignal(%q) = %v, %v; want SIGTERM", in, s, err)
		}
	}
	for _, in := range []string{"KILL", "9", "HUP", "INT", "USR1"} {
		if _, err := parseSignal(in); err != nil {
			t.Errorf("parseSignal(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "BOGUS", "SIG", "-1", "0", "999"} {
		if s, err := parseSignal(in); err == nil {
			t.Errorf("parseSignal(%q) = %v, want an error", in, s)
		}
	}
}
