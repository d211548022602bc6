package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// thousandDoors writes a knockd.conf of 1000 doors, each a sequence of
// three scattered ports from seed (TCP, UDP, TCP); the last door touches
// dir/NAME-%IP%. It returns the last door's sequence as knock(1) takes
// it.
func thousandDoors(t *testing.T, conf, dir, name string, seed uint32) []string {
	t.Helper()
	var b strings.Builder
	next := func() int { seed = seed*1103515245 + 12345; return 1024 + int(seed>>8)%64000 }
	var last []string
	for i := range 1000 {
		k1, k2, k3 := next(), next(), next()
		fmt.Fprintf(&b, "[door%d]\n\tSequence = %d,%d:udp,%d\n", i, k1, k2, k3)
		if i == 999 {
			fmt.Fprintf(&b, "\tStart_Command = /usr/bin/touch %s/%s-%%IP%%\n", dir, name)
			last = []string{fmt.Sprint(k1), fmt.Sprintf("%d:udp", k2), fmt.Sprint(k3)}
		}
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return last
}

// TestIntegrationKnockdThousandDoors: `ports knockd` with 1000 doors
// starts, the real knock client (Debian's knockd package) opens the
// last door, SIGHUP brings in 1000 other doors, and the new last door
// opens. The kernel must take the doors' own filter: B's optmem_max is
// set to 20 KiB, the default of kernels before 6.9, with which 50 doors
// failed at start ("setsockopt: cannot allocate memory") and 100 did not
// compile (5,594 instructions, the limit is 4096).
func TestIntegrationKnockdThousandDoors(t *testing.T) {
	knockCmd := porttest.LookTool(t, "knock", "knockd")
	p := porttest.NewPair(t, nil)
	if out, err := p.B.Command(context.Background(), "sysctl", "-q", "-w", "net.core.optmem_max=20480").CombinedOutput(); err != nil {
		t.Skipf("sysctl net.core.optmem_max in the namespace: %v: %s", err, out)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "knockd.conf")
	seq := thousandDoors(t, conf, dir, "first", 1)
	stderr, waitUntil := startInNetns(t, p.B, "knockd", "-c", conf, "-i", p.B.Link)
	waitUntil("knockd to listen", func() bool { return strings.Contains(stderr.String(), "listening on "+p.B.Link) })
	knock := func(seq []string) {
		t.Helper()
		out, err := p.A.Command(context.Background(), knockCmd, append([]string{p.B.Addr4.String()}, seq...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("knock %v: %v: %s", seq, err, out)
		}
	}
	knock(seq)
	waitUntil("the last door to open", func() bool { return porttest.Exists(filepath.Join(dir, "first-"+p.A.Addr4.String())) })

	seq = thousandDoors(t, conf, dir, "second", 2)
	if err := sendHUP(); err != nil {
		t.Skipf("SIGHUP: %v", err)
	}
	waitUntil("the reload and its filter", func() bool {
		s := stderr.String()
		i := strings.Index(s, "reloaded the configuration: 1000 doors")
		return i >= 0 && strings.Contains(s[i:], "listening on "+p.B.Link)
	})
	knock(seq)
	waitUntil("the new last door to open", func() bool { return porttest.Exists(filepath.Join(dir, "second-"+p.A.Addr4.String())) })
	if s := stderr.String(); strings.Contains(s, "refused") {
		t.Errorf("the kernel refused the doors' filter:\n%s", s)
	}
}

// TestKnockdNoDoors: a knockd.conf with no door is refused at start,
// saying so (it ran, watching for nothing).
func TestKnockdNoDoors(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "knockd.conf")
	if err := os.WriteFile(conf, []byte("[options]\n\tInterface = pt-none0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr lockedBuffer
	code := Run(t.Context(), []string{"knockd", "-c", conf}, &stdout, &stderr)
	if want := conf + ": no doors: no section besides [options], so no knock would open anything"; code != 2 || !strings.Contains(stderr.String(), want) {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), want)
	}
}
