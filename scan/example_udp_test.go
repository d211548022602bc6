package scan_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/scan"
)

// Scan the UDP ports of this machine that DNS and NTP use, and print what
// answered. (Compiled, not run: it sends datagrams.)
func ExampleUDPScan() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	set, _ := ports.ParseSet("U:53,123", nil)
	targets := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for r, err := range scan.UDPScan(ctx, targets, &scan.UDPConfig{Options: scan.Options{Ports: set}}) {
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(r.Port, r.State, r.Reason, r.Service)
	}
}
