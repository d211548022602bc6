package control_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/mapper"
	"github.com/portkit/ports/mapper/control"
)

func nameServer(t *testing.T, name string) string {
	t.Helper()
	l, ap := porttest.ListenTCP(t)
	porttest.Serve(l, func(c net.Conn) {
		fmt.Fprintln(c, name)
		io.Copy(io.Discard, c)
	})
	return ap.String()
}

func who(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func start(t *testing.T) (*mapper.Server, string, string, string) {
	t.Helper()
	a, b := nameServer(t, "A"), nameServer(t, "B")
	srv := mapper.New(nil)
	t.Cleanup(func() { srv.Close() })
	if err := srv.Apply([]mapper.Rule{{Name: "web", Type: mapper.TCP, Listen: "127.88.0.3:0", To: []string{a, b + " weight=2"}}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "control.sock")
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Serve(ctx, ln, srv, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, path, a, b
}

func TestStatusAndDrain(t *testing.T) {
	srv, path, a, b := start(t)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	addr := srv.Addrs("web")[0].String()
	who(t, addr)
	ctx := context.Background()
	// The relay counts bytes once its write returns, which may be after
	// the client read them: wait for the count the test then checks.
	var resp *control.Response
	porttest.WaitFor(t, "the bytes of the connection counted", func() bool {
		var err error
		resp, err = control.Do(ctx, path, control.Request{Op: "status"})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Rules) == 1 && resp.Rules[0].Down > 0
	})
	if len(resp.Rules) != 1 || resp.Rules[0].Name != "web" || len(resp.Rules[0].Dests) != 2 {
		t.Fatalf("status %+v", resp)
	}
	r := resp.Rules[0]
	if d := r.Dests[1]; d.Addr != b || d.Weight != 2 || !d.Up || d.Drained {
		t.Errorf("B's status %+v", d)
	}
	if r.Down == 0 {
		t.Errorf("no bytes counted after a connection: %+v", r)
	}

	if _, err := control.Do(ctx, path, control.Request{Op: "drain", Rule: "web", Dest: b, Drain: true}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if got := who(t, addr); got != "A" {
			t.Fatalf("with B drained a connection reached %s", got)
		}
	}
	resp, _ = control.Do(ctx, path, control.Request{Op: "status"})
	if d := resp.Rules[0].Dests[1]; !d.Drained {
		t.Errorf("B not shown drained: %+v", d)
	}
	if _, err := control.Do(ctx, path, control.Request{Op: "drain", Rule: "web", Dest: b, Drain: false}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 6 {
		seen[who(t, addr)]++
	}
	if seen["B"] != 4 {
		t.Errorf("after putting B back (weight 2): %v, want 4 of 6 on B", seen)
	}
	_, err := control.Do(ctx, path, control.Request{Op: "drain", Rule: "web", Dest: "127.0.0.1:1", Drain: true})
	if err == nil || !strings.Contains(err.Error(), "no such destination") || !strings.Contains(err.Error(), a) {
		t.Errorf("drain of an unknown destination: %v", err)
	}
	if _, err := control.Do(ctx, path, control.Request{Op: "drain", Rule: "nope", Dest: b}); err == nil || !strings.Contains(err.Error(), "no such rule") {
		t.Errorf("drain of an unknown rule: %v", err)
	}
	if _, err := control.Do(ctx, path, control.Request{Op: "reboot"}); err == nil || !strings.Contains(err.Error(), "unknown op") {
		t.Errorf("an unknown op: %v", err)
	}
}

// TestIntegrationNotOwner: another user can neither open the socket
// (mode 0600) nor, with the mode opened up, be answered (SO_PEERCRED).
func TestIntegrationNotOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a client as another user (uid 65534)")
	}
	// The system's python3: one under root's home (pyenv) is not
	// reachable by another user.
	py := "/usr/bin/python3"
	if !porttest.Exists(py) {
		t.Skip("needs /usr/bin/python3 (Debian package python3)")
	}
	_, path, _, _ := start(t)
	// The test's directories (t.TempDir makes them 0700) let the other
	// user reach the socket, so that only its mode and the peer check
	// stand in the way.
	for d := filepath.Dir(path); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	client := func() (string, error) {
		cmd := exec.Command(py, "-c", `import socket,sys
s=socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"op":"status"}\n')
except BrokenPipeError:
    pass  # the server answered a refusal first and closed
print(s.makefile().readline().strip())`, path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := client()
	if err == nil || !strings.Contains(out, "PermissionError") {
		t.Errorf("uid 65534 opened the 0600 socket: %v: %s", err, out)
	}
	os.Chmod(path, 0o666)
	out, err = client()
	if err != nil || !strings.Contains(out, "not the server's owner") || strings.Contains(out, `"rules"`) {
		t.Errorf("uid 65534 through a 0666 socket: %v: %s", err, out)
	}
}
