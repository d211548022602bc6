package scan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
)

// synPair makes a pair of namespaces and skips the test without the
// privilege to open raw sockets in them.
func synPair(t *testing.T, cfg *porttest.PairConfig) *porttest.Pair {
	t.Helper()
	p := porttest.NewPair(t, cfg)
	if err := p.A.Do(SYNAvailable); err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("needs CAP_NET_RAW for raw sockets: %v", err)
		}
		t.Fatal(err)
	}
	return p
}

// listenB listens on n random ports of first..last on each address of B
// and returns them.
func listenB(t *testing.T, p *porttest.Pair, n, first, last int) map[netip.AddrPort]bool {
	t.Helper()
	open := make(map[netip.AddrPort]bool)
	for _, addr := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		for k := 0; k < n; {
			ap := netip.AddrPortFrom(addr, uint16(first+rand.IntN(last-first+1)))
			if open[ap] {
				continue
			}
			l, err := p.B.Listen("tcp", ap.String())
			if err != nil {
				t.Fatalf("listen in B: %v", err)
			}
			t.Cleanup(func() { l.Close() })
			open[ap] = true
			k++
		}
	}
	return open
}

// synScanPair scans both addresses of B from A, failing on any error.
func synScanPair(t *testing.T, p *porttest.Pair, cfg *SYNConfig) map[netip.AddrPort]Result {
	t.Helper()
	cfg.OpenIn = p.A.Do
	ctx, cancel := context.WithTimeout(t.Context(), scanTimeout)
	defer cancel()
	return collect(t, SYNScan(ctx, []netip.Addr{p.B.Addr4, p.B.Addr6}, cfg))
}

// checkRecall compares the open ports found with the listeners: it
// returns how many listeners were found, and fails on any port reported
// open where nothing listens.
func checkRecall(t *testing.T, got map[netip.AddrPort]Result, open map[netip.AddrPort]bool) int {
	t.Helper()
	found := 0
	for ap, r := range got {
		if r.State == StateOpen {
			if !open[ap] {
				t.Errorf("%v reported open (%+v), but nothing listens there", ap, r)
				continue
			}
			found++
		}
	}
	return found
}

func TestIntegrationSYNNetNS(t *testing.T) {
	p := synPair(t, nil)
	open := listenB(t, p, 20, 1, 3000)
	var st SYNStats
	got := synScanPair(t, p, &SYNConfig{Ports: portRange(1, 3000), Stats: &st})
	if len(got) != 2*3000 {
		t.Errorf("%d results, want %d", len(got), 2*3000)
	}
	for ap, r := range got {
		want := "closed/reset"
		if open[ap] {
			want = "open/syn-ack"
		}
		if s := r.State.String() + "/" + r.Reason; s != want {
			t.Errorf("%v: %s, want %s", ap, s, want)
		}
		if r.TTL != 64 {
			t.Errorf("%v: TTL %d, want 64 (Linux's default, one hop)", ap, r.TTL)
		}
	}
	if n := checkRecall(t, got, open); n != len(open) {
		t.Errorf("found %d of %d open ports", n, len(open))
	}
	t.Logf("stats: %+v", st)
}

func TestIntegrationSYNLoss(t *testing.T) {
	p := synPair(t, &porttest.PairConfig{Loss: 0.05})
	open := listenB(t, p, 50, 1, 5000)
	found, total := 0, 0
	for run := range 4 {
		var st SYNStats
		got := synScanPair(t, p, &SYNConfig{Ports: portRange(1, 5000), Stats: &st})
		if len(got) != 2*5000 {
			t.Errorf("run %d: %d results, want %d", run, len(got), 2*5000)
		}
		found += checkRecall(t, got, open)
		for ap := range open {
			if r := got[ap]; r.State != StateOpen {
				t.Logf("run %d: missed %v: %+v", run, ap, r)
			}
		}
		total += len(open)
		t.Logf("run %d: stats %+v", run, st)
		if st.RateLimited {
			t.Errorf("run %d: random loss taken for a rate limit", run)
		}
	}
	t.Logf("recall %d/%d", found, total)
	if float64(found) < 0.999*float64(total) {
		t.Errorf("recall %d/%d, want at least 99.9%%", found, total)
	}
}

// nft runs an nftables script inside h.
func nft(t *testing.T, h *porttest.Host, script string) {
	t.Helper()
	cmd := h.Command(t.Context(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v: %s", h.Name, err, out)
	}
}

// sysctl sets sysctls inside h.
func sysctl(t *testing.T, h *porttest.Host, settings ...string) {
	t.Helper()
	out, err := h.Command(t.Context(), "sysctl", append([]string{"-q", "-w"}, settings...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("sysctl in %s: %v: %s", h.Name, err, out)
	}
}

func TestIntegrationSYNFiltered(t *testing.T) {
	p := synPair(t, nil)
	// Linux sends at most a few ICMP errors per second to one host by
	// default; lift the limits in B, so that every reject is seen.
	sysctl(t, p.B, "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0",
		"net.ipv4.icmp_msgs_per_sec=1000000", "net.ipv4.icmp_msgs_burst=1000000")
	// B drops every TCP segment to ports 1-500 and rejects those to
	// 501-1000 as administratively prohibited.
	nft(t, p.B, `table inet f {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 1-500 drop
		tcp dport 501-1000 reject with icmpx admin-prohibited
	}
}`)
	got := synScanPair(t, p, &SYNConfig{Ports: portRange(1, 1000), MaxRetries: 2})
	if len(got) != 2000 {
		t.Errorf("%d results, want 2000", len(got))
	}
	for ap, r := range got {
		want := "filtered/no-response"
		if ap.Port() > 500 {
			want = "filtered/admin-prohibited"
		}
		if s := r.State.String() + "/" + r.Reason; s != want {
			t.Errorf("%v: %s, want %s", ap, s, want)
		}
		if ap.Port() <= 500 && r.Tries != 3 {
			t.Errorf("%v: %d tries, want 3", ap, r.Tries)
		}
	}
}

func TestIntegrationSYNAllDropped(t *testing.T) {
	p := synPair(t, nil)
	p.SetLoss(t, 1)
	var st SYNStats
	got := synScanPair(t, p, &SYNConfig{Ports: portRange(1, 65535), Stats: &st})
	if len(got) != 2*65535 {
		t.Errorf("%d results, want %d", len(got), 2*65535)
	}
	for ap, r := range got {
		if r.State != StateFiltered || r.Reason != ReasonNoResponse {
			t.Fatalf("%v: %+v, want filtered/no-response", ap, r)
		}
	}
	if want := uint64(2 * 65535 * (1 + defaultSYNRetries)); st.Sent != want {
		t.Errorf("%d SYNs sent, want %d (every port, every round)", st.Sent, want)
	}
	t.Logf("stats: %+v", st)
}

var _ = fmt.Sprint
var _ = ports.ProtoTCP
