package scan_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/scan"
	"github.com/portkit/ports/scan/report"
)

// Run scans the 100 most common TCP ports of this machine's loopback
// address with the best engine it may use (SYN as root, else connect),
// identifies the services found open, and writes nmap's XML of it.
func ExampleRun() {
	var set ports.Set
	for _, p := range scan.TopPorts(ports.ProtoTCP, 100) {
		set.Add(ports.ProtoTCP, ports.Range{First: p, Last: p})
	}
	plan := &scan.Plan{Ports: set, Identify: true}
	targets := []scan.Target{{Addr: netip.MustParseAddr("127.0.0.1")}}
	rep := &report.Scan{Args: "example", Start: time.Now(), Ports: set, TCP: plan.TCPEngine()}
	for h, err := range scan.Run(context.Background(), targets, plan) {
		if err != nil {
			rep.Err = err
			break
		}
		fmt.Println(h.Addr, h.State, h.Reason) // each host as soon as it is done
		rep.Hosts = append(rep.Hosts, report.NewHost(h, nil))
	}
	rep.End = time.Now()
	report.WriteXML(os.Stdout, rep)
}
