//go:build unix

package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notRegularFiles are configuration paths that are not regular files:
// `serve -c /dev/zero` ran out of memory, a FIFO blocked forever (and
// the read ignored SIGINT and SIGTERM), a directory gave "read /tmp: is a
// directory".
func notRegularFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"/dev/zero": "not a regular file (a character device)",
		fifo:        "not a regular file (a named pipe)",
		dir:         "not a regular file (a directory)",
	}
}

// runQuickly is run, failing the test if the command blocks.
func runQuickly(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := run(t, args...)
		done <- result{code, out, errs}
	}()
	select {
	case r := <-done:
		return r.code, r.stdout, r.stderr
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked", strings.Join(args, " "))
		return 0, "", ""
	}
}

func TestServeConfigNotRegularFile(t *testing.T) {
	for path, want := range notRegularFiles(t) {
		for _, args := range [][]string{{"serve", "-c", path}, {"serve", "-c", path, "--check"}} {
			code, stdout, stderr := runQuickly(t, args...)
			if code != ExitUsage || stdout != "" || stderr != path+": "+want+"\n" {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", strings.Join(args, " "), code, stdout, stderr, path+": "+want)
			}
		}
	}
}

func TestServeUsersFileNotRegularFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "p.toml")
	for path, want := range notRegularFiles(t) {
		os.WriteFile(cfg, []byte("[[rule]]\nname = \"h\"\ntype = \"http\"\nlisten = \"127.0.0.1:3128\"\nusers_file = \""+path+"\"\n"), 0o600)
		code, _, stderr := runQuickly(t, "serve", "-c", cfg, "--check")
		if w := cfg + `:5: rule "h": users_file: ` + path + ": " + want + "\n"; code != ExitUsage || stderr != w {
			t.Errorf("users_file %s: exit %d, stderr %q; want exit 2 and %q", path, code, stderr, w)
		}
	}
}

func TestKnockdConfigNotRegularFile(t *testing.T) {
	for path, want := range notRegularFiles(t) {
		code, _, stderr := runQuickly(t, "knockd", "-c", path, "-i", "lo")
		if w := "ports knockd: " + path + ": " + want + " (see 'ports knockd --help')\n"; code != ExitUsage || stderr != w {
			t.Errorf("knockd -c %s: exit %d, stderr %q; want exit 2 and %q", path, code, stderr, w)
		}
	}
	conf := filepath.Join(t.TempDir(), "knockd.conf")
	for path, want := range notRegularFiles(t) {
		os.WriteFile(conf, []byte("[options]\n\tInterface = lo\n[door]\n\tOne_Time_Sequences = "+path+"\n\tcommand = /bin/true\n"), 0o600)
		code, _, stderr := runQuickly(t, "knockd", "-c", conf, "-i", "lo")
		if w := "ports knockd: " + conf + ":3: section [door]: " + path + ": " + want + " (see 'ports knockd --help')\n"; code != ExitUsage || stderr != w {
			t.Errorf("One_Time_Sequences %s: exit %d, stderr %q; want exit 2 and %q", path, code, stderr, w)
		}
	}
}

// buildPorts builds the ports binary, for the tests that need a real
// process (signals).
func buildPorts(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build ports")
	}
	bin := filepath.Join(t.TempDir(), "ports")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/portkit/ports/cmd/ports").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSignalEndsStartup: SIGINT or SIGTERM sent to `serve` and `knockd`
// at any moment of their start (before, while and after they read their
// configuration) ends the process; a FIFO as the file ends it by itself.
func TestSignalEndsStartup(t *testing.T) {
	bin := buildPorts(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.toml")
	os.WriteFile(rules, []byte("[[rule]]\nname = \"a\"\ntype = \"tcp\"\nlisten = \""+testHost+":0\"\nto = [\"127.0.0.1:9\"]\n"), 0o600)
	knockConf := filepath.Join(dir, "knockd.conf")
	os.WriteFile(knockConf, []byte("[door]\n\tsequence = 7000,8000\n\tcommand = /bin/true\n"), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"serve", "-c", rules},
		{"serve", "-c", rules, "--watch"},
		{"serve", "-c", fifo},
		{"knockd", "-c", knockConf, "-i", "lo"},
		{"knockd", "-c", fifo, "-i", "lo"},
	}
	for _, args := range commands {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			for _, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 30 * time.Millisecond, 200 * time.Millisecond} {
				cmd := exec.Command(bin, args...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(delay)
				cmd.Process.Signal(sig)
				done := make(chan struct{})
				go func() { cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					<-done
					t.Errorf("%s: still running 10s after %v sent %v after start", strings.Join(args, " "), sig, delay)
				}
			}
		}
	}
}
