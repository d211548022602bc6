package cli

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports/internal/porttest"
)

// manyDoors writes a knockd.conf of n doors, each a sequence of
// three scattered ports from seed (TCP, UDP, TCP); the last door touches
// dir/NAME-%IP%. It returns the last door's sequence as knock(1) takes
// it.
func manyDoors(t *testing.T, n int, conf, dir, name string, seed uint32) []string {
	t.Helper()
	var b strings.Builder
	next := func() int { seed = seed*1103515245 + 12345; return 1024 + int(seed>>8)%64000 }
	var last []string
	for i := range n {
		k1, k2, k3 := next(), next(), next()
		fmt.Fprintf(&b, "[door%d]\n\tSequence = %d,%d:udp,%d\n", i, k1, k2, k3)
		if i == n-1 {
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
	seq := manyDoors(t, 1000, conf, dir, "first", 1)
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

	seq = manyDoors(t, 1000, conf, dir, "second", 2)
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

// TestIntegrationKnockdFilterRefused: when the kernel refuses the doors'
// filter (B's optmem_max is 2 KiB, too small for 20 doors' 269
// instructions), knockd says so and takes every TCP and UDP packet
// instead, at start and on SIGHUP, and the last door opens each time. A
// refused filter used to end knockd at a reload.
func TestIntegrationKnockdFilterRefused(t *testing.T) {
	knockCmd := porttest.LookTool(t, "knock", "knockd")
	p := porttest.NewPair(t, nil)
	if out, err := p.B.Command(context.Background(), "sysctl", "-q", "-w", "net.core.optmem_max=2048").CombinedOutput(); err != nil {
		t.Skipf("sysctl net.core.optmem_max in the namespace: %v: %s", err, out)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "knockd.conf")
	knock := func(seq []string) {
		t.Helper()
		out, err := p.A.Command(context.Background(), knockCmd, append([]string{p.B.Addr4.String()}, seq...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("knock %v: %v: %s", seq, err, out)
		}
	}
	seq := manyDoors(t, 20, conf, dir, "first", 1)
	stderr, waitUntil := startInNetns(t, p.B, "knockd", "-c", conf, "-i", p.B.Link)
	waitUntil("knockd to listen", func() bool {
		return strings.Contains(stderr.String(), "listening on "+p.B.Link+" (filter: tcp or udp)")
	})
	if !strings.Contains(stderr.String(), "the kernel refused the filter") {
		t.Fatalf("no line says that the filter was refused:\n%s", stderr.String())
	}
	knock(seq)
	waitUntil("the last door to open", func() bool { return porttest.Exists(filepath.Join(dir, "first-"+p.A.Addr4.String())) })

	seq = manyDoors(t, 20, conf, dir, "second", 2)
	if err := sendHUP(); err != nil {
		t.Skipf("SIGHUP: %v", err)
	}
	waitUntil("the reload and its filter", func() bool {
		s := stderr.String()
		i := strings.Index(s, "reloaded the configuration: 20 doors")
		return i >= 0 && strings.Contains(s[i:], "refused the new filter") && strings.Contains(s[i:], "taking every TCP and UDP packet")
	})
	knock(seq)
	waitUntil("the new last door to open", func() bool { return porttest.Exists(filepath.Join(dir, "second-"+p.A.Addr4.String())) })
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

// spoofUDP sends n UDP datagrams to dst:port from random 10.0.0.0/8
// sources, through a raw socket of the calling namespace.
func spoofUDP(dst netip.Addr, port, n int) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	to := &syscall.SockaddrInet4{Addr: dst.As4()}
	rng := rand.New(rand.NewPCG(3, 4))
	pkt := make([]byte, 29)
	for range n {
		// IPv4 (the kernel fills in the length, ID and checksum), then
		// UDP without a checksum, with one zero byte as knock(1) sends.
		copy(pkt, []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0})
		pkt[12], pkt[13], pkt[14], pkt[15] = 10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1+rng.IntN(254))
		d := dst.As4()
		copy(pkt[16:20], d[:])
		binary.BigEndian.PutUint16(pkt[20:], uint16(40000+rng.IntN(20000)))
		binary.BigEndian.PutUint16(pkt[22:], uint16(port))
		binary.BigEndian.PutUint16(pkt[24:], 9)
		pkt[26], pkt[27], pkt[28] = 0, 0, 0
		if err := syscall.Sendto(fd, pkt, 0, to); err != nil {
			return err
		}
	}
	return nil
}

// TestIntegrationKnockdFloodLogsBounded: 20,000 spoofed first knocks
// from random sources make `ports knockd` write a few lines and then a
// count of those left out (it wrote one line per knock: 94,000 in the
// flood that was reported), and knockd's own knock client still opens the
// door, with its line.
func TestIntegrationKnockdFloodLogsBounded(t *testing.T) {
	knockCmd := porttest.LookTool(t, "knock", "knockd")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	conf := filepath.Join(dir, "knockd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[open]\n\tSequence = 7000:udp,8000,9000\n\tStart_Command = /usr/bin/touch %s/open-%%IP%%\n", dir)), 0o600)
	stderr, waitUntil := startInNetns(t, p.B, "knockd", "-c", conf, "-i", p.B.Link)
	waitUntil("knockd to listen", func() bool { return strings.Contains(stderr.String(), "listening on "+p.B.Link) })
	const n = 20_000
	if err := p.A.Do(func() error { return spoofUDP(p.B.Addr4, 7000, n) }); err != nil {
		t.Fatalf("spoofing: %v", err)
	}
	waitUntil("the flood to be seen", func() bool { return strings.Contains(stderr.String(), ": open: Stage 1") })
	if out, err := p.A.Command(context.Background(), knockCmd, p.B.Addr4.String(), "7000:udp", "8000", "9000").CombinedOutput(); err != nil {
		t.Fatalf("knock: %v: %s", err, out)
	}
	a := p.A.Addr4.String()
	waitUntil("the door to open", func() bool { return porttest.Exists(filepath.Join(dir, "open-"+a)) })
	waitUntil("its line", func() bool { return strings.Contains(stderr.String(), a+": open: OPEN SESAME") })
	// The count comes with the next line of the kind, or at the latest
	// at the periodic flush.
	waitUntil("the count of lines left out", func() bool { return strings.Contains(stderr.String(), "suppressed ") })
	s := stderr.String()
	if lines := strings.Count(s, "\n"); lines > 200 {
		t.Errorf("%d log lines for %d knocks; the first ones:\n%.3000s", lines, n, s)
	}
	t.Logf("%d log lines for %d spoofed knocks", strings.Count(s, "\n"), n)
}
