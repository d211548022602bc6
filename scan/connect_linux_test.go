package scan

import (
	"context"
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
				Ports: portRange(first, last), Concurrency: conc, Logger: slog.New(&logs),
			}))
			t.Logf("%d back-offs for lack of resources", logs.n.Load())
			if diff := cmp.Diff(wantStates, states(got)); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}
