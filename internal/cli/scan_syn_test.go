package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	ossignal "os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/scan"
	"github.com/portkit/ports/scan/report"
)

// scanChildEnv holds the JSON argument list of a `ports` run by
// TestScanChild, the test binary standing in for the ports binary.
const scanChildEnv = "PORTS_CLI_TEST_CHILD_ARGS"

// TestScanChild runs the command line in $PORTS_CLI_TEST_CHILD_ARGS and
// exits with its code; without it, it does nothing.
func TestScanChild(t *testing.T) {
	env := os.Getenv(scanChildEnv)
	if env == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(env), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	ctx, stop := ossignal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// childCommand returns a command running `ports args...` (the test
// binary as TestScanChild) through the wrapper argv (such as ip netns
// exec, or bash -c 'ulimit ...'), which ends with the program to run.
func childCommand(t *testing.T, wrap func(name string, args ...string) *exec.Cmd, args ...string) *exec.Cmd {
	t.Helper()
	env, _ := json.Marshal(args)
	cmd := wrap(os.Args[0], "-test.run=^TestScanChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), scanChildEnv+"="+string(env))
	return cmd
}

// scanPair is a namespace pair with n listeners on random ports of
// 1..last on each of B's addresses.
func scanPair(t *testing.T, n, last int) (*porttest.Pair, map[netip.AddrPort]bool) {
	t.Helper()
	p := porttest.NewPair(t, nil)
	open := map[netip.AddrPort]bool{}
	for _, a := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		for k := 0; k < n; {
			ap := netip.AddrPortFrom(a, uint16(1+rand.IntN(last)))
			if open[ap] {
				continue
			}
			l, err := p.B.Listen("tcp", ap.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			open[ap] = true
			k++
		}
	}
	return p, open
}

// checkScanLines compares JSON lines with the listeners: every listener
// open, nothing else open.
func checkScanLines(t *testing.T, out string, open map[netip.AddrPort]bool, family netip.Addr) {
	t.Helper()
	found := 0
	for _, l := range parseScanJSONL(t, out) {
		if l.State != "open" {
			continue
		}
		ap := netip.AddrPortFrom(netip.MustParseAddr(l.Addr), uint16(l.Port))
		if !open[ap] {
			t.Errorf("%v reported open, but nothing listens there", ap)
		}
		found++
	}
	want := 0
	for ap := range open {
		if !family.IsValid() || ap.Addr() == family {
			want++
		}
	}
	if found != want {
		t.Errorf("found %d open ports, want %d", found, want)
	}
}

func TestIntegrationScanSYN(t *testing.T) {
	p, open := scanPair(t, 10, 3000)
	dir := t.TempDir()
	xf := filepath.Join(dir, "o.xml")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := childCommand(t, func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) },
		"scan", "-sS", "-p", "1-3000", "--format", "jsonl", "-oX", xf, p.B.Addr4.String(), p.B.Addr6.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "CAP_NET_RAW") {
			t.Skipf("needs CAP_NET_RAW: %s", stderr.String())
		}
		t.Fatalf("%v: %s", err, stderr.String())
	}
	checkScanLines(t, stdout.String(), open, netip.Addr{})
	if !strings.Contains(stdout.String(), `"ttl":64`) {
		t.Errorf("no ttl in the JSON lines:\n%.500s", stdout.String())
	}
	data, err := os.ReadFile(xf)
	if err != nil {
		t.Fatal(err)
	}
	var x struct {
		ScanInfo struct {
			Type string `xml:"type,attr"`
		} `xml:"scaninfo"`
	}
	if err := xml.Unmarshal(data, &x); err != nil {
		t.Fatalf("-oX: %v", err)
	}
	if x.ScanInfo.Type != "syn" {
		t.Errorf(`<scaninfo type=%q>, want "syn"`, x.ScanInfo.Type)
	}
}

// TestIntegrationScanNoRaw runs ports without CAP_NET_RAW: -sS fails,
// naming the capability; without -sS the scan is a connect scan.
func TestIntegrationScanNoRaw(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux) to drop CAP_NET_RAW")
	}
	lo, hi, _ := scanListeners(t, "127.0.0.1", 1)
	noRaw := func(name string, args ...string) *exec.Cmd {
		return exec.CommandContext(t.Context(), setpriv, append([]string{"--bounding-set=-net_raw", name}, args...)...)
	}
	out, err := childCommand(t, noRaw, "scan", "-sS", "-p", "80", "127.0.0.1").CombinedOutput()
	if err == nil {
		t.Skipf("setpriv did not drop CAP_NET_RAW (not root?): %s", out)
	}
	if !strings.Contains(string(out), "CAP_NET_RAW") || strings.Count(string(out), "\n") != 1 {
		t.Errorf("-sS without CAP_NET_RAW: %v, %q; want one line naming CAP_NET_RAW", err, out)
	}
	out, err = childCommand(t, noRaw, "scan", "-v", "--format", "jsonl", "-p", fmt.Sprintf("%d-%d", lo, hi), "127.0.0.1").Output()
	if err != nil {
		t.Fatalf("default scan without CAP_NET_RAW: %v", err)
	}
	if !strings.Contains(string(out), `"reason":"conn-refused"`) {
		t.Errorf("default scan without CAP_NET_RAW is not a connect scan:\n%s", out)
	}
}

// TestIntegrationScanUlimit runs an unprivileged-style connect scan (-sT)
// in a process limited to 1024 file descriptors against a host with 600
// open ports: no crash, every open port found.
func TestIntegrationScanUlimit(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash for ulimit")
	}
	p, open := scanPair(t, 300, 6000)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ulimit := func(name string, args ...string) *exec.Cmd {
		return p.A.Command(ctx, bash, append([]string{"-c", `ulimit -n 1024 && exec "$@"`, "bash", name}, args...)...)
	}
	cmd := childCommand(t, ulimit, "scan", "-sT", "-p", "1-6000", "--format", "jsonl", p.B.Addr4.String(), p.B.Addr6.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
	checkScanLines(t, stdout.String(), open, netip.Addr{})
}

// TestIntegrationScanResume interrupts a SYN scan with SIGINT once it has
// saved its progress, resumes it, and checks that the resumed run
// reports every port once (those of the first run replayed from the
// results it saved, the others scanned), and every open port.
func TestIntegrationScanResume(t *testing.T) {
	p, open := scanPair(t, 20, 65535)
	state := filepath.Join(t.TempDir(), "resume.json")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	inA := func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) }
	// 20,000 SYNs a second: 65,535 ports take over 3 s, and the progress
	// is saved every second.
	args := []string{"scan", "-sS", "-p-", "--rate", "20000", "-v", "--format", "jsonl", "--resume", state, p.B.Addr4.String()}
	first := childCommand(t, inA, args...)
	var out1, err1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &err1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(state); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no progress file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Process.Signal(os.Interrupt)
	if err := first.Wait(); err == nil {
		t.Skipf("the scan ended before the interrupt: %s", err1.String())
	}
	if !strings.Contains(err1.String(), "run the same command to continue") {
		t.Errorf("interrupted scan: stderr %q", err1.String())
	}
	second := childCommand(t, inA, args...)
	var out2, err2 bytes.Buffer
	second.Stdout, second.Stderr = &out2, &err2
	if err := second.Run(); err != nil {
		t.Fatalf("resumed scan: %v: %s", err, err2.String())
	}
	lines1, lines2 := parseScanJSONL(t, out1.String()), parseScanJSONL(t, out2.String())
	t.Logf("%d results before the interrupt, %d after", len(lines1), len(lines2))
	seen := map[int]int{}
	for _, l := range lines2 {
		seen[l.Port]++
	}
	if len(seen) != 65535 {
		t.Errorf("%d ports reported by the resumed run, want 65535", len(seen))
	}
	for port, n := range seen {
		if n != 1 {
			t.Errorf("port %d reported %d times", port, n)
		}
	}
	want := map[netip.AddrPort]bool{}
	for ap := range open {
		if ap.Addr() == p.B.Addr4 {
			want[ap] = true
		}
	}
	checkScanLines(t, out2.String(), want, p.B.Addr4)
}

// TestScanTarpitListing checks the line that takes the place of a
// tarpit's open ports in the table.
func TestScanTarpitListing(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	h := &report.Host{Addr: a, Up: true, Tarpit: &scan.TarpitError{Addr: a, Open: 998, Probed: 1000},
		Ports: []render.ScanResultV1{{Addr: a.String(), Port: 9, Proto: "tcp", State: "closed", Reason: "reset"}}}
	var b bytes.Buffer
	if err := writeScanListing(&b, render.Table, &scanOpts{}, nil, []*report.Host{h}); err != nil {
		t.Fatal(err)
	}
	want := "host 192.0.2.7 answers SYN-ACK on every port probed (SYN proxy or tarpit): 998 ports not listed"
	if !strings.Contains(b.String(), want) {
		t.Errorf("listing lacks %q:\n%s", want, b.String())
	}
}
