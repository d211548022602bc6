package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// connHelperEnv makes the test binary, run again, an echo server
// ("server") or a client of one ("client ADDR") instead of testing.
const connHelperEnv = "PORTS_CLI_TEST_CONN"

// TestHelperConn is not a test: run by startConnHelper. As a server it
// listens on 127.0.0.1:0, prints the address and echoes every
// connection. As a client it dials ADDR twice, prints both connections'
// "LOCAL PEER", then for each line "N" on stdin sends "ping\n" on
// connection N (1 or 2) and prints "N ok" or "N error: ...".
func TestHelperConn(t *testing.T) {
	mode := os.Getenv(connHelperEnv)
	if mode == "" {
		t.Skip("helper process for the kill --conn tests")
	}
	if mode == "server" {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		fmt.Println(l.Addr())
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(3)
			}
			go io.Copy(c, c)
		}
	}
	addr := strings.TrimPrefix(mode, "client ")
	var conns [2]net.Conn
	for i := range conns {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		conns[i] = c
		fmt.Println(c.LocalAddr(), c.RemoteAddr())
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		n := sc.Text()
		c := conns[0]
		if n == "2" {
			c = conns[1]
		}
		_, err := c.Write([]byte("ping\n"))
		if err == nil {
			_, err = bufio.NewReader(c).ReadString('\n')
		}
		if err != nil {
			fmt.Println(n, "error:", err)
		} else {
			fmt.Println(n, "ok")
		}
	}
	os.Exit(0)
}

// connHelper is a running helper process.
type connHelper struct {
	cmd    *exec.Cmd
	stdin  io.Writer
	out    *bufio.Reader
	exited chan struct{}
}

func startConnHelper(t *testing.T, mode string) *connHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperConn$", "-test.count=1")
	cmd.Env = append(os.Environ(), connHelperEnv+"="+mode)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &connHelper{cmd: cmd, stdin: stdin, out: bufio.NewReader(out), exited: make(chan struct{})}
	go func() { cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-h.exited })
	return h
}

func (h *connHelper) line(t *testing.T) string {
	t.Helper()
	l, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	return strings.TrimSpace(l)
}

// alive reports whether the helper still runs.
func (h *connHelper) alive() bool {
	select {
	case <-h.exited:
		return false
	default:
		return h.cmd.Process.Signal(syscall.Signal(0)) == nil
	}
}

// TestIntegrationKillConn: of two connections between the same two
// processes, `ports kill --conn` closes the one named; the other still
// carries data, both processes live, and ss (the oracle) lists only the
// survivor. `ports ls -a --port P --kill` then closes the survivor.
func TestIntegrationKillConn(t *testing.T) {
	srv := startConnHelper(t, "server")
	addr := srv.line(t)
	cl := startConnHelper(t, "client "+addr)
	first, second := strings.Fields(cl.line(t)), strings.Fields(cl.line(t))
	if len(first) != 2 || len(second) != 2 {
		t.Fatalf("client said %q and %q", first, second)
	}

	err, stdout, stderr := runStdin(t, "", "kill", "--conn", "-y", first[0], first[1])
	if err != nil && strings.Contains(err.Error(), "CONFIG_INET_DIAG_DESTROY") {
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("the refusal is more than one line: %q", err)
		}
		t.Skipf("kernel without SOCK_DESTROY: %v", err)
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("needs CAP_NET_ADMIN: %v", err)
		}
		t.Fatalf("kill --conn: %v\n%s%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "closed tcp "+first[0]+" -> "+first[1]) {
		t.Errorf("kill --conn said %q", stdout)
	}
	fmt.Fprintln(cl.stdin, "1")
	if got := cl.line(t); !strings.HasPrefix(got, "1 error:") {
		t.Errorf("the closed connection: %q, want an error", got)
	}
	fmt.Fprintln(cl.stdin, "2")
	if got := cl.line(t); got != "2 ok" {
		t.Errorf("the other connection: %q, want 2 ok", got)
	}
	if !srv.alive() || !cl.alive() {
		t.Errorf("a process died: server alive %v, client alive %v", srv.alive(), cl.alive())
	}
	ss := func(src, dst string) string {
		out, err := exec.Command("ss", "-tnH", "state", "established", "src", src, "dst", dst).CombinedOutput()
		if err != nil {
			t.Fatalf("ss: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if _, err := exec.LookPath("ss"); err == nil {
		if out := ss(first[0], first[1]); out != "" {
			t.Errorf("ss still lists the closed connection: %s", out)
		}
		if out := ss(second[0], second[1]); out == "" {
			t.Errorf("ss does not list the surviving connection")
		}
	}

	// The same one again: it is gone.
	if err, _, _ := runStdin(t, "", "kill", "--conn", "-y", first[0], first[1]); err == nil || !strings.Contains(err.Error(), "no connection") {
		t.Errorf("kill --conn of a closed connection: %v", err)
	}
	// Without --yes on a pipe: refused, nothing closed.
	if err, _, _ := runStdin(t, "", "kill", "--conn", second[0], second[1]); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("kill --conn without --yes on a pipe: %v", err)
	}
	// ls --kill --dry-run names it and closes nothing; then --kill -y closes it.
	port := second[0][strings.LastIndex(second[0], ":")+1:]
	err, stdout, _ = runStdin(t, "", "ls", "-a", "-t", "--port", port, "--kill", "--dry-run")
	if err != nil || !strings.Contains(stdout, "would close tcp "+second[0]+" -> "+second[1]) {
		t.Errorf("ls --kill --dry-run: %v: %q", err, stdout)
	}
	fmt.Fprintln(cl.stdin, "2")
	if got := cl.line(t); got != "2 ok" {
		t.Errorf("after --dry-run: %q, want 2 ok", got)
	}
	err, stdout, stderr = runStdin(t, "", "ls", "-a", "-t", "--port", port, "--kill", "-y")
	// Both ends are listed (the server's has the port as its peer's):
	// whichever comes second was reset by the first.
	if err != nil || !strings.Contains(stdout, "closed tcp "+second[0]+" -> "+second[1]) && !strings.Contains(stdout, "closed tcp "+second[1]+" -> "+second[0]) {
		t.Errorf("ls --kill -y: %v: %q %q", err, stdout, stderr)
	}
	fmt.Fprintln(cl.stdin, "2")
	if got := cl.line(t); !strings.HasPrefix(got, "2 error:") {
		t.Errorf("after ls --kill: %q, want an error", got)
	}
	if !srv.alive() || !cl.alive() {
		t.Errorf("a process died: server alive %v, client alive %v", srv.alive(), cl.alive())
	}
}

// TestIntegrationKillConnUnsupported checks the refusal of a kernel
// without CONFIG_INET_DIAG_DESTROY: one line saying so, exit 1. Where the
// kernel has it the refusal cannot be provoked, and the test skips.
func TestIntegrationKillConnUnsupported(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code, stdout, stderr := run(t, "kill", "--conn", "-y", c.LocalAddr().String(), c.RemoteAddr().String())
	if code == ExitOK && strings.Contains(stdout, "closed") {
		t.Skip("this kernel has CONFIG_INET_DIAG_DESTROY (the connection was closed): its refusal cannot be provoked here")
	}
	if code != ExitFailure || !strings.Contains(stderr, "CONFIG_INET_DIAG_DESTROY") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line naming CONFIG_INET_DIAG_DESTROY", code, stdout, stderr)
	}
}
