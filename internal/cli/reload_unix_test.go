//go:build unix

package cli

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// replaceFile puts a new file at path in one rename, so that --watch
// never sees it half written; make creates it at the temporary path.
func replaceFile(t *testing.T, path string, make func(tmp string) error) {
	t.Helper()
	tmp := path + ".new"
	os.RemoveAll(tmp)
	if err := make(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func writeTo(data []byte) func(string) error {
	return func(p string) error { return os.WriteFile(p, data, 0o644) }
}

// TestServeBadReloadKeepsRules: a reload of a file that is too deep (a
// 30,000-deep one took the running server down), too big, a FIFO, a
// directory, unreadable TOML or a wrong rule, whether by --watch or by
// SIGHUP, is refused and logged, and the running rule keeps serving, its
// connections too.
func TestServeBadReloadKeepsRules(t *testing.T) {
	echo := echoServer(t)
	listen := net.JoinHostPort(testHost, strconv.Itoa(freePort(t)))
	good := fmt.Sprintf("[[rule]]\nname = \"web\"\ntype = \"tcp\"\nlisten = %q\nto = [%q]\n", listen, echo)
	cfg := filepath.Join(t.TempDir(), "ports.toml")
	if err := os.WriteFile(cfg, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	s := runBG(t, "serve", "-c", cfg, "--watch", "--watch-interval", "50ms")
	waitFor(t, "the rule", func() bool { return dialable(listen) })
	long, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	if err := echoOnce(long, "before"); err != nil {
		t.Fatal(err)
	}
	deep := good + "x = " + strings.Repeat("{a = ", 30000) + "1" + strings.Repeat("}", 30000) + "\n"
	bad := []struct {
		name string
		make func(string) error
		why  string // in the log line
	}{
		{"30,000 deep", writeTo([]byte(deep)), cfg + ":6: nested 30003 deep, the limit is 32"},
		{"too big", writeTo([]byte("#" + strings.Repeat("x", 4<<20) + "\n")), cfg + ": larger than the limit of 4 MiB"},
		{"a FIFO", func(p string) error { return syscall.Mkfifo(p, 0o644) }, cfg + ": not a regular file (a named pipe)"},
		{"not TOML", writeTo([]byte(good + "to = [\n")), cfg + ":"},
		{"a wrong rule", writeTo([]byte(good + "[[rule]]\nname = \"b\"\n")), cfg + `:6: rule \"b\": type: missing`},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o755) }, cfg + ": not a regular file (a directory)"},
	}
	// logged reports whether the log since mark has a refused reload by
	// trigger that gives why.
	logged := func(mark int, trigger, why string) bool {
		for _, l := range strings.Split(s.stderr.String()[mark:], "\n") {
			if strings.Contains(l, "reload failed; the old rules keep running") && strings.Contains(l, trigger) && strings.Contains(l, why) {
				return true
			}
		}
		return false
	}
	for _, b := range bad {
		mark := len(s.stderr.String())
		if b.name == "a directory" {
			os.Remove(cfg) // nothing can be renamed over a directory, nor a directory over a file
		}
		replaceFile(t, cfg, b.make)
		waitFor(t, b.name+": the refused reload by --watch", func() bool { return logged(mark, `trigger="file changed"`, b.why) })
		if err := sendHUP(); err != nil {
			t.Skipf("SIGHUP: %v", err)
		}
		waitFor(t, b.name+": the refused reload by SIGHUP", func() bool { return logged(mark, "trigger=SIGHUP", b.why) })
		if !dialable(listen) {
			t.Fatalf("%s: the rule stopped serving; log:\n%s", b.name, s.stderr)
		}
		if err := echoOnce(long, b.name); err != nil {
			t.Fatalf("%s: the running connection broke: %v", b.name, err)
		}
	}
	os.RemoveAll(cfg)
	if strings.Contains(s.stderr.String(), "rule stopped") {
		t.Errorf("a refused reload stopped a rule; log:\n%s", s.stderr)
	}
	// A good file again is taken.
	replaceFile(t, cfg, writeTo([]byte(good+"idle_timeout = \"1m\"\n")))
	waitFor(t, "the good reload", func() bool { return strings.Contains(s.stderr.String(), "msg=reloaded") })
	if code := s.stop(t); code != 0 {
		t.Errorf("serve exited %d:\n%s", code, s.stderr)
	}
}
