package scan

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports/internal/porttest"
)

// countHandler counts the back-off messages of a scan.
type countHandler struct{ n atomic.Int64 }

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "backing off") {
		h.n.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

// rlimitEnv makes the test binary run the low-RLIMIT_NOFILE scan.
const rlimitEnv = "PORTS_SCAN_TEST_RLIMIT_CHILD"

// TestConnectLowRlimit scans 3000 loopback ports in a process limited to
// 256 file descriptors: the scan must back off instead of failing.
func TestConnectLowRlimit(t *testing.T) {
	if os.Getenv(rlimitEnv) == "" {
		ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestConnectLowRlimit$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), rlimitEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		t.Logf("child:\n%s", out)
		return
	}
	rl := syscall.Rlimit{Cur: 256, Max: 256}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	addr := loopback4()
	first := randomBase(3000)
	last := first + 2999
	open := listenLoopback(t, addr, 10, first, last)
	wantStates := make(map[netip.AddrPort]string)
	want(addr, open, first, last, wantStates)
	// 0: the default, from the limit; 1000: far above it, so that connects
	// fail with EMFILE and must be retried.
	for _, conc := range []int{0, 1000} {
		t.Run("concurrency="+strconv.Itoa(conc), func(t *testing.T) {
			if conc == 0 {
				if c := defaultConcurrency(); c != 256-fdSpare {
					t.Errorf("default concurrency %d with 256 fds, want %d", c, 256-fdSpare)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
			defer cancel()
			if conc > 256 {
				// Leave a handful of descriptors, so that the connects
				// surely run out of them.
				var held []*os.File
				for {
					f, err := os.Open(os.DevNull)
					if err != nil {
						break
					}
					held = append(held, f)
				}
				for _, f := range held[len(held)-8:] {
					f.Close()
				}
				defer func() {
					for _, f := range held[:len(held)-8] {
						f.Close()
					}
				}()
			}
			var logs countHandler
			got := collect(t, ConnectScan(ctx, []netip.Addr{addr}, &ConnectConfig{
				Options:     Options{Ports: portRange(first, last), Logger: slog.New(&logs)},
				Concurrency: conc,
			}))
			t.Logf("%d back-offs for lack of resources", logs.n.Load())
			if diff := cmp.Diff(wantStates, states(got)); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}

// lossChildEnv makes the test binary run the scan of
// TestIntegrationConnectLossDefaults: the targets, comma-separated.
const lossChildEnv = "PORTS_SCAN_TEST_LOSS_CHILD"

// TestIntegrationConnectLossDefaults scans B from a child process run
// inside A (as `ports scan -sT` runs: its own sockets, the default
// concurrency of thousands of connects at once, default timeouts and
// retries) with 5% loss each way, several times: summed over the runs
// and both addresses (IPv4 and IPv6), at least 99.9% of the open ports
// must be found (the old connect scan, with a fixed timeout per try,
// missed about 5% on a loaded machine), and none reported open where
// nothing listens.
func TestIntegrationConnectLossDefaults(t *testing.T) {
	const last, runs = 65535, 3
	if env := os.Getenv(lossChildEnv); env != "" {
		var targets []netip.Addr
		for _, s := range strings.Split(env, ",") {
			targets = append(targets, netip.MustParseAddr(s))
		}
		ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
		defer cancel()
		for r, err := range ConnectScan(ctx, targets, &ConnectConfig{Options: Options{Ports: portRange(1, last)}}) {
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("result %v %v %d\n", netip.AddrPortFrom(r.Addr, uint16(r.Port)), r.State, r.Tries)
		}
		return
	}
	p := porttest.NewPair(t, &porttest.PairConfig{Loss: 0.05})
	open := listenB(t, p, 200, 1, last)
	found := map[netip.Addr]int{}
	total := 0
	for run := range runs {
		ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
		cmd := p.A.Command(ctx, os.Args[0], "-test.run=^TestIntegrationConnectLossDefaults$", "-test.count=1")
		cmd.Env = append(os.Environ(), lossChildEnv+"="+p.B.Addr4.String()+","+p.B.Addr6.String())
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("run %d: child: %v\n%s", run, err, out)
		}
		got := make(map[netip.AddrPort]string)
		tries := make(map[netip.AddrPort]string)
		retried := 0
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != "result" {
				continue
			}
			ap, err := netip.ParseAddrPort(f[1])
			if err != nil {
				t.Fatalf("run %d: child wrote %q", run, line)
			}
			got[ap], tries[ap] = f[2], f[3]
			if f[3] != "1" {
				retried++
			}
		}
		if len(got) != 2*last {
			t.Errorf("run %d: %d results, want %d", run, len(got), 2*last)
		}
		for ap, st := range got {
			if st == "open" && !open[ap] {
				t.Errorf("run %d: %v reported open, but nothing listens there", run, ap)
			}
		}
		for ap := range open {
			if got[ap] == "open" {
				found[ap.Addr()]++
			} else {
				t.Logf("run %d: missed %v: %s after %s tries", run, ap, got[ap], tries[ap])
			}
		}
		total += len(open) / 2
		t.Logf("run %d: %d of %d ports needed more than one try", run, retried, len(got))
	}
	all := 0
	for _, a := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		t.Logf("%v: recall %d/%d", a, found[a], total)
		all += found[a]
	}
	if float64(all) < 0.999*float64(2*total) {
		t.Errorf("recall %d/%d, want at least 99.9%%", all, 2*total)
	}
}
