package scan_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/portkit/ports"
	"github.com/portkit/ports/scan"
)

// A SYN scan of the first 1024 ports of this machine's loopback address,
// split into two shards of which this is the first. It needs root or
// CAP_NET_RAW.
func ExampleSYNScan() {
	var set ports.Set
	set.Add(ports.ProtoTCP, ports.Range{First: 1, Last: 1024})
	cfg := &scan.SYNConfig{Options: scan.Options{Ports: set}, Seed: 42, Shard: 1, Shards: 2}
	targets := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for r, err := range scan.SYNScan(context.Background(), targets, cfg) {
		var tarpit *scan.TarpitError
		switch {
		case errors.As(err, &tarpit):
			fmt.Println(tarpit)
		case err != nil:
			fmt.Println(err)
			return
		case r.State == scan.StateOpen:
			fmt.Println(r.Port, r.RTT, r.TTL)
		}
	}
}
