package cli

import (
	"math"
	"strings"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/scan"
)

// scanPortSet returns the ports to scan: TCP ports without -sU; with
// -sU, UDP ports (and TCP ones with -sT or -sS too). A -p without T: or
// U: prefixes applies to every protocol scanned.
func scanPortSet(o *scanOpts, topSet bool) (ports.Set, error) {
	protos := []ports.Proto{ports.ProtoTCP}
	switch {
	case o.sU && (o.sT || o.sS):
		protos = []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}
	case o.sU:
		protos = []ports.Proto{ports.ProtoUDP}
	}
	var set ports.Set
	names := func() string {
		var n []string
		for _, p := range protos {
			n = append(n, strings.ToUpper(p.String()))
		}
		return strings.Join(n, " or ")
	}
	switch {
	case o.portArg != "" && topSet:
		return set, usagef("-p and --top conflict: give one")
	case o.portArg != "":
		s, err := ports.ParseSet(o.portArg, registry.Default())
		if err != nil {
			return set, usagef("-p: %v", err)
		}
		for _, proto := range protos {
			for _, r := range s.Ranges(proto) {
				set.Add(proto, r)
			}
		}
		if set.IsEmpty() {
			return set, usagef("-p %q holds no %s port", o.portArg, names())
		}
	case topSet:
		if o.top < 1 {
			return set, usagef("--top %d: want 1 or more", o.top)
		}
		for _, proto := range protos {
			// Capping silently would scan fewer ports than asked for.
			if n := len(scan.TopPorts(proto, math.MaxInt32)); o.top > n {
				return set, usagef("--top %d: the %s list holds %d ports", o.top, proto, n)
			}
		}
		for _, proto := range protos {
			for _, pt := range scan.TopPorts(proto, o.top) {
				set.Add(proto, ports.Range{First: pt, Last: pt})
			}
		}
	default:
		for _, proto := range protos {
			set.AddSet(scan.DefaultPorts(proto))
		}
	}
	if o.excludePorts != "" {
		ex, err := ports.ParseSet(o.excludePorts, registry.Default())
		if err != nil {
			return set, usagef("--exclude-ports: %v", err)
		}
		set.Remove(ex)
		if set.IsEmpty() {
			return set, usagef("--exclude-ports %q leaves no port to scan", o.excludePorts)
		}
	}
	return set, nil
}

// planUDP fills in what -sU and -sV need, from the checked TCP settings.
func (p *scanPlan) planUDP(o *scanOpts) error {
	if o.udpWait < 0 {
		return usagef("--udp-ratelimit-wait %v: want 0s or more", o.udpWait)
	}
	c := &p.plan.Connect
	p.plan.UDP = scan.UDPConfig{
		Timeout: c.Timeout, Rate: c.Rate, MaxRetries: c.MaxRetries,
		Window: c.Concurrency, RateLimitWait: o.udpWait,
	}
	if o.udpWait == 0 {
		p.plan.UDP.RateLimitWait = -1
	}
	p.plan.Identify, p.plan.IdentifyTimeout = o.sV, o.timeout
	return nil
}

// tableHeader is the header of the scan table.
func (o *scanOpts) tableHeader() string {
	if o.sV {
		return render.ScanHeader + render.ScanVersionHeader
	}
	return render.ScanHeader
}

// appendRow appends a table row, with the VERSION column for -sV.
func (o *scanOpts) appendRow(b []byte, r render.ScanResultV1) []byte {
	b = render.AppendScanRow(b, r)
	if o.sV {
		if r.Tunnel != "" && r.Method == "probed" {
			r.Info = strings.TrimPrefix(r.Tunnel+"; "+r.Info, "; ")
		}
		b = render.AppendScanVersion(b, r)
	}
	return b
}
