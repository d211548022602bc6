package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// TestIntegrationKnockdBadReloadKeepsDoors: a SIGHUP reload of a
// knockd.conf that is too big, a FIFO (which blocked the reload forever),
// /dev/zero (which ran the process out of memory), a directory, names a
// bad One_Time_Sequences file, or has a syntax error, is refused and
// logged with the reason; the old door still opens for the real knock
// client.
func TestIntegrationKnockdBadReloadKeepsDoors(t *testing.T) {
	knock := porttest.LookTool(t, "knock", "knockd")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	conf := filepath.Join(dir, "knockd.conf")
	opened := filepath.Join(dir, "open "+p.A.Addr4.String())
	good := fmt.Sprintf("[openSSH]\n\tSequence      = 7000,8000:udp,9000\n\tStart_Command = /usr/bin/touch \"%s/open %%IP%%\"\n", dir)
	os.WriteFile(conf, []byte(good), 0o600)
	stderr, waitUntil := startInNetns(t, p.B, "knockd", "-c", conf, "-i", p.B.Link)
	waitUntil("knockd to listen", func() bool { return strings.Contains(stderr.String(), "listening on "+p.B.Link+" (filter:") })
	knockOpens := func(what string) {
		t.Helper()
		os.Remove(opened)
		if out, err := p.A.Command(t.Context(), knock, p.B.Addr4.String(), "7000", "8000:udp", "9000").CombinedOutput(); err != nil {
			t.Fatalf("knock: %v: %s", err, out)
		}
		waitUntil(what+": the door to open", func() bool { return porttest.Exists(opened) })
	}
	knockOpens("before")

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		make func() error
		why  string
	}{
		{"too big", func() error { return os.WriteFile(conf, []byte("#"+strings.Repeat("x", 4<<20)+"\n"), 0o600) }, conf + ": larger than the limit of 4 MiB"},
		{"a FIFO", func() error { return os.Symlink(fifo, conf) }, conf + ": not a regular file (a named pipe)"},
		{"/dev/zero", func() error { return os.Symlink("/dev/zero", conf) }, conf + ": not a regular file (a character device)"},
		{"a directory", func() error { return os.Mkdir(conf, 0o700) }, conf + ": not a regular file (a directory)"},
		{"One_Time_Sequences a FIFO", func() error {
			return os.WriteFile(conf, []byte("[otp]\n\tOne_Time_Sequences = "+fifo+"\n\tStart_Command = /bin/true\n"), 0o600)
		}, conf + ":1: section [otp]: " + fifo + ": not a regular file (a named pipe)"},
		{"a syntax error", func() error { return os.WriteFile(conf, []byte(good+"\tSequence = 7000:sctp\n"), 0o600) }, conf + ":4:"},
	}
	for _, b := range bad {
		mark := len(stderr.String())
		os.RemoveAll(conf)
		if err := b.make(); err != nil {
			t.Fatal(err)
		}
		if err := sendHUP(); err != nil {
			t.Skipf("SIGHUP: %v", err)
		}
		waitUntil(b.name+": the refused reload", func() bool {
			for _, l := range strings.Split(stderr.String()[mark:], "\n") {
				if strings.Contains(l, "keeping the old configuration") && strings.Contains(l, b.why) {
					return true
				}
			}
			return false
		})
		knockOpens(b.name)
	}
	if strings.Contains(stderr.String(), "reloaded the configuration") {
		t.Errorf("a bad file was taken; knockd said:\n%s", stderr)
	}
}
