package cli

import (
	"context"
	"errors"
	"iter"
	"math"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/scan"
)

// identifyWorkers is how many open TCP ports -sV identifies at once.
const identifyWorkers = 16

// scanExt is what -sU and -sV add to a scan plan.
type scanExt struct {
	tcp, udp bool // the protocols scanned
	sV       bool
	ucfg     scan.UDPConfig
	idWait   time.Duration // -sV: Identify's timeout; 0: its default
}

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
	e := &p.ext
	e.udp = o.sU
	e.tcp = !o.sU || o.sT || o.sS
	e.sV = o.sV
	e.idWait = o.timeout
	if o.udpWait < 0 {
		return usagef("--udp-ratelimit-wait %v: want 0s or more", o.udpWait)
	}
	e.ucfg = scan.UDPConfig{
		Ports: p.set, Timeout: p.cfg.Timeout, Rate: p.cfg.Rate, MaxRetries: p.cfg.MaxRetries,
		Window: p.cfg.Concurrency, RateLimitWait: o.udpWait,
	}
	if o.udpWait == 0 {
		e.ucfg.RateLimitWait = -1
	}
	return nil
}

// results runs the scans of the plan, one protocol after the other (tcp
// is the TCP scan: SYN or connect), and
// with -sV identifies the services of the open TCP ports as they come.
func (p *scanPlan) results(ctx context.Context, addrs []netip.Addr, tcp iter.Seq2[scan.Result, error]) iter.Seq2[scan.Result, error] {
	scans := func(yield func(scan.Result, error) bool) {
		if p.ext.tcp && p.set.Len(ports.ProtoTCP) > 0 {
			for r, err := range tcp {
				if !yield(r, err) {
					return
				}
				if err != nil && !r.Addr.IsValid() {
					return // the scan ended
				}
			}
		}
		if p.ext.udp && p.set.Len(ports.ProtoUDP) > 0 {
			for r, err := range scan.UDPScan(ctx, addrs, &p.ext.ucfg) {
				if !yield(r, err) {
					return
				}
			}
		}
	}
	if !p.ext.sV {
		return scans
	}
	return func(yield func(scan.Result, error) bool) {
		ictx, cancel := context.WithCancel(ctx)
		type item struct {
			r   scan.Result
			err error
		}
		out := make(chan item)
		go func() {
			var wg sync.WaitGroup
			sem := make(chan struct{}, identifyWorkers)
			defer func() {
				wg.Wait()
				close(out)
			}()
			send := func(it item) bool {
				select {
				case out <- it:
					return true
				case <-ictx.Done():
					return false
				}
			}
			for r, err := range scans {
				if err != nil || !identifiable(r) {
					if !send(item{r, err}) {
						return
					}
					continue
				}
				select {
				case sem <- struct{}{}:
				case <-ictx.Done():
					return
				}
				wg.Go(func() {
					defer func() { <-sem }()
					if r.Proto == ports.ProtoTCP {
						if s, err := scan.Identify(ictx, r.AddrPort(), p.ext.idWait); err == nil {
							r.Service = s
						}
					} else {
						identifyUDP(ictx, &r, p.ext.idWait)
					}
					send(item{r, nil})
				})
			}
		}()
		defer func() {
			cancel()
			for range out {
			}
		}()
		for it := range out {
			if !yield(it.r, it.err) {
				return
			}
		}
	}
}

// nameFor returns the registered name of a port of proto.
func (s *serviceNames) nameFor(proto ports.Proto, p ports.Port) string {
	if proto == ports.ProtoTCP {
		return s.name(p)
	}
	for rec := range s.reg.Port(proto, p) {
		if rec.Name != "" {
			return rec.Name
		}
	}
	return ""
}

// fillService copies what a probe found of r's service into v.
func fillService(v *render.ScanResultV1, r scan.Result) {
	s := r.Service
	if s.Name != "" {
		v.Service, v.Method = s.Name, "probed"
	} else if v.Service != "" {
		v.Method = "table"
	}
	v.Product, v.Version, v.Info, v.Tunnel = s.Product, s.Version, s.Info, s.Tunnel
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

// grepVersion is the version field of nmap's greppable output, where a
// '/' becomes '|'.
func grepVersion(r render.ScanResultV1) string {
	var f []string
	for _, s := range []string{r.Product, r.Version} {
		if s != "" {
			f = append(f, s)
		}
	}
	if r.Info != "" {
		f = append(f, "("+r.Info+")")
	}
	return strings.ReplaceAll(strings.Join(f, " "), "/", "|")
}

// scanInfos are nmap's <scaninfo> elements, one per protocol scanned.
func scanInfos(p *scanPlan) []render.NmapScanInfo {
	var out []render.NmapScanInfo
	for _, x := range []struct {
		proto ports.Proto
		typ   string
	}{{ports.ProtoTCP, scanType(p)}, {ports.ProtoUDP, "udp"}} {
		if n := p.set.Len(x.proto); n > 0 {
			out = append(out, render.NmapScanInfo{Type: x.typ, Protocol: x.proto.String(),
				NumServices: n, Services: rangesString(p.set.Ranges(x.proto))})
		}
	}
	return out
}

// xmlService is nmap's <service> element for a port, or nil.
func xmlService(r render.ScanResultV1) *render.NmapService {
	if r.Service == "" {
		return nil
	}
	s := &render.NmapService{Name: r.Service, Method: "table", Conf: 3}
	if r.Method == "probed" {
		s.Method, s.Conf = "probed", 10
	}
	s.Product, s.Version, s.ExtraInfo, s.Tunnel = r.Product, r.Version, r.Info, r.Tunnel
	return s
}

// identifiable reports whether -sV probes r's port: open TCP ports; UDP
// ports that answered an empty datagram, or nothing.
func identifiable(r scan.Result) bool {
	switch r.Proto {
	case ports.ProtoTCP:
		return r.State == scan.StateOpen
	case ports.ProtoUDP:
		return r.State == scan.StateOpenFiltered || r.State == scan.StateOpen && r.Service.IsZero()
	}
	return false
}

// identifyUDP sends every UDP probe to r's port: a reply makes it open,
// a port unreachable closed.
func identifyUDP(ctx context.Context, r *scan.Result, wait time.Duration) {
	s, answered, err := scan.IdentifyUDP(ctx, r.AddrPort(), wait)
	switch {
	case answered:
		if r.State != scan.StateOpen {
			r.State, r.Reason, r.RTT = scan.StateOpen, scan.ReasonUDPResponse, 0
		}
		r.Service = s
	case errors.Is(err, syscall.ECONNREFUSED):
		r.State, r.Reason = scan.StateClosed, scan.ReasonPortUnreach
	}
}
