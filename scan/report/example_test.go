package report_test

import (
	"net/netip"
	"os"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/scan"
	"github.com/portkit/ports/scan/report"
)

// A host as scan.Run yields it becomes nmap's greppable line: the ports
// listed, and the largest group of the others as "Ignored State".
func ExampleWriteGrep() {
	a := netip.MustParseAddr("192.0.2.7")
	h := &scan.Host{Target: scan.Target{Addr: a, Name: "web"}, State: scan.HostUp, Reason: scan.ReasonSynAck,
		Results: []scan.Result{
			{Addr: a, Port: 22, Proto: ports.ProtoTCP, State: scan.StateOpen, Reason: scan.ReasonSynAck},
			{Addr: a, Port: 23, Proto: ports.ProtoTCP, State: scan.StateClosed, Reason: scan.ReasonReset},
			{Addr: a, Port: 25, Proto: ports.ProtoTCP, State: scan.StateClosed, Reason: scan.ReasonReset},
			{Addr: a, Port: 80, Proto: ports.ProtoTCP, State: scan.StateFiltered, Reason: scan.ReasonNoResponse},
		}}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &report.Scan{Version: "1.0", Args: "ports scan -p 22-25,80 web", Start: start, End: start.Add(1500 * time.Millisecond),
		Hosts: []*report.Host{report.NewHost(h, nil)}}
	report.WriteGrep(os.Stdout, s)
	// Output:
	// # ports 1.0 scan initiated Fri Jan  2 03:04:05 2026 as: ports scan -p 22-25,80 web
	// Host: 192.0.2.7 (web)	Status: Up
	// Host: 192.0.2.7 (web)	Ports: 22/open/tcp//ssh///	Ignored State: closed (2)
	// # ports done at Fri Jan  2 03:04:06 2026 -- 1 IP address (1 host up) scanned in 1.50 seconds
}
