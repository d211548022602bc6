package hostports

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/portkit/ports"
)

// TestLinuxRealValues compares the package with the /proc files read
// independently, as `cat` would.
func TestLinuxRealValues(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no procfs: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		t.Fatalf("ip_local_port_range = %q, want two fields", b)
	}
	first, err1 := strconv.Atoi(f[0])
	last, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("ip_local_port_range = %q: %v %v", b, err1, err2)
	}
	want := ports.Range{First: ports.Port(first), Last: ports.Port(last)}

	got, err := EphemeralRange()
	if err != nil {
		t.Fatalf("EphemeralRange: %v", err)
	}
	if got != want {
		t.Errorf("EphemeralRange() = %v, want %v (from %q)", got, want, b)
	}

	wantStart := 1024 // kernels before 4.11 have no file
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		wantStart, err = strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("ip_unprivileged_port_start = %q: %v", b, err)
		}
	}
	start, err := UnprivilegedStart()
	if err != nil {
		t.Fatalf("UnprivilegedStart: %v", err)
	}
	if int(start) != wantStart {
		t.Errorf("UnprivilegedStart() = %v, want %v", start, wantStart)
	}
}
