package scan

import (
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestIntegrationZZSpeed(t *testing.T) {
	if os.Getenv("SYN_SPEED") == "" {
		t.Skip("SYN_SPEED")
	}
	p := synPair(t, nil)
	listenB(t, p, 50, 1, 65535)
	for range 4 {
		var st SYNStats
		start := time.Now()
		cfg := &SYNConfig{Ports: portRange(1, 65535), Stats: &st, OpenIn: p.A.Do}
		n := 0
		for _, err := range SYNScan(t.Context(), []netip.Addr{p.B.Addr4}, cfg) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		t.Logf("%d results in %v", n, time.Since(start))
	}
}
