package porttest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// LookTool returns the path of the program name, looking in the PATH and
// then in /usr/sbin and /sbin, or skips the test, naming the Debian
// package pkg that provides it.
func LookTool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := lookSbin(name)
	if err != nil {
		t.Skipf("needs %s (Debian package %s)", name, pkg)
	}
	return path
}

// Exists reports whether path exists: the condition of a WaitFor for a
// file that a program under test creates.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Start runs name with args inside h's network namespace until the test
// ends, when it is killed and waited for (before the namespaces go). The
// program's standard output and error go to the returned buffer. It
// fails the test if the program cannot be started.
func (h *Host) Start(t testing.TB, name string, args ...string) *LogBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, name, args...)
	out := &LogBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("porttest: start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return out
}

// Curl runs curl -sS with args on the host (its proxy variables cleared,
// so only the proxies args name are used; the test skips without curl,
// Debian package curl) and returns its standard output and exit code. A
// non-zero exit is logged with curl's message, not failed: tests check
// for the codes they expect.
func Curl(t testing.TB, args ...string) (string, int) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl (Debian package curl)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "15", "--noproxy", ""}, args...)...)
	cmd.Env = append(os.Environ(), "ALL_PROXY=", "all_proxy=", "http_proxy=", "HTTPS_PROXY=", "https_proxy=", "NO_PROXY=", "no_proxy=")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("porttest: curl: %v", err)
	}
	if err != nil {
		t.Logf("curl %v: exit %d: %s", args, ee.ExitCode(), strings.TrimSpace(errb.String()))
		return out.String(), ee.ExitCode()
	}
	return out.String(), 0
}
