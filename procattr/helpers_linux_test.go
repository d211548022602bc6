package procattr

import (
	"bufio"
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// named returns a link to python3 called name, so that a process started
// through it has name as its command (comm).
func named(t *testing.T, name string) string {
	t.Helper()
	// Debian's interpreter itself: a python3 found first in the PATH
	// may be a wrapper script (pyenv's), which would be the command.
	py, err := filepath.EvalSymlinks("/usr/bin/python3")
	if err != nil {
		t.Skipf("needs /usr/bin/python3 (Debian package python3): %v", err)
	}
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(py, link); err != nil {
		t.Fatal(err)
	}
	return link
}

var script = func() string {
	p, _ := filepath.Abs("testdata/attr.py")
	return p
}()

// peer is a running testdata/attr.py.
type peer struct {
	PID   int
	Addr  string // the server's port or the client's local address
	lines *bufio.Scanner
	stdin io.WriteCloser
	cmd   *exec.Cmd
}

// startPeer starts cmd (attr.py under some name) and reads its "ready"
// line. It is killed when the test ends.
func startPeer(t *testing.T, cmd *exec.Cmd) *peer {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &peer{lines: bufio.NewScanner(stdout), stdin: stdin, cmd: cmd}
	f := p.line(t)
	if len(f) < 2 || f[0] != "ready" {
		t.Fatalf("%v: said %q, want ready", cmd.Args, f)
	}
	p.PID, _ = strconv.Atoi(f[1])
	if len(f) > 2 {
		p.Addr = f[2]
	}
	return p
}

// line reads the next line of the peer's output, as fields.
func (p *peer) line(t *testing.T) []string {
	t.Helper()
	if !p.lines.Scan() {
		t.Fatalf("%v ended: %v", p.cmd.Args, p.lines.Err())
	}
	return strings.Fields(p.lines.Text())
}

// pyCommand is attr.py with args under the program exe, in the
// namespace run gives (nil: here).
func pyCommand(ctx context.Context, run func(ctx context.Context, name string, args ...string) *exec.Cmd, exe string, args ...string) *exec.Cmd {
	if run == nil {
		run = exec.CommandContext
	}
	return run(ctx, exe, append([]string{script}, args...)...)
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
