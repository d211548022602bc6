// Package report turns the hosts a scan yields ([scan.Run]) into what
// nmap's outputs show: the ports a host lists and the counted rest, and
// writers for nmap's XML (-oX), its greppable format (-oG) and JSON
// lines, so that tools reading nmap's files read these too.
//
// A Host lists its open ports (and open|filtered ones, up to 25, as
// nmap does) or, with Options.AllStates, every port; the others are
// only counted, by state and reason.
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/scan"
)

// MaxOpenFiltered is how many open|filtered ports of a host a report
// lists without Options.AllStates: nmap's limit (max_per_state, 25) past
// which it counts a state's ports instead, so that a host whose firewall
// drops every UDP probe is one line, not a hundred.
const MaxOpenFiltered = 25

// Options says which ports a Host lists. A nil *Options is the zero
// value.
type Options struct {
	// AllStates lists every port; otherwise closed and filtered ports
	// are only counted, and open|filtered ones past MaxOpenFiltered.
	AllStates bool
}

// Lists reports whether a host lists a port in state st (before the
// open|filtered ones are folded: see MaxOpenFiltered).
func (o *Options) Lists(st scan.State) bool {
	return o != nil && o.AllStates || st != scan.StateClosed && st != scan.StateFiltered
}

// Port is one port of one host as the outputs show it. Its JSON form,
// one object a line, is the JSON-lines output's (version 1).
type Port struct {
	Addr    string  `json:"addr"`
	Host    string  `json:"host,omitempty"` // the host name the address was resolved from
	Port    uint16  `json:"port"`
	Proto   string  `json:"proto"`
	State   string  `json:"state"`  // open, closed, filtered, open|filtered, unknown
	Reason  string  `json:"reason"` // syn-ack, conn-refused, no-response...
	RTTms   float64 `json:"rtt_ms"` // round trip of the answering probe; 0 when none answered
	Tries   int     `json:"tries"`
	TTL     int     `json:"ttl,omitempty"`     // TTL or hop limit of the answer (SYN scan); absent when unknown
	Service string  `json:"service,omitempty"` // the service: detected (UDP reply, -sV), else the registered name
	Product string  `json:"product,omitempty"` // -sV, or a recognised UDP reply: the software
	Version string  `json:"version,omitempty"` // its version
	Info    string  `json:"info,omitempty"`    // more about it: "stratum 2", "HTTP 200; TLS 1.3"
	Tunnel  string  `json:"tunnel,omitempty"`  // "ssl" when reached through TLS
	Method  string  `json:"method,omitempty"`  // "probed" when Service was detected, "table" when it is the registered name
}

// PortOf returns r, a port of target t, as the outputs show it: the
// service is what a probe found, else the name registered for the port.
func PortOf(t scan.Target, r scan.Result) Port {
	v := Port{
		Addr: t.Addr.String(), Host: t.Name, Port: uint16(r.Port), Proto: r.Proto.String(),
		State: r.State.String(), Reason: r.Reason, RTTms: millis(r.RTT), Tries: r.Tries, TTL: int(r.TTL),
		Service: serviceName(r.Proto, r.Port),
	}
	s := r.Service
	if s.Name != "" {
		v.Service, v.Method = s.Name, "probed"
	} else if v.Service != "" {
		v.Method = "table"
	}
	v.Product, v.Version, v.Info, v.Tunnel = s.Product, s.Version, s.Info, s.Tunnel
	return v
}

// millis converts a duration to fractional milliseconds, rounded to the
// microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// names caches registered names: a scan of every port looks up 65,535.
var names = struct {
	sync.Mutex
	m map[portKey]string
}{m: map[portKey]string{}}

type portKey struct {
	proto ports.Proto
	port  ports.Port
}

func serviceName(proto ports.Proto, p ports.Port) string {
	k := portKey{proto, p}
	names.Lock()
	defer names.Unlock()
	if n, ok := names.m[k]; ok {
		return n
	}
	n := ""
	for rec := range registry.Default().Port(proto, p) {
		if rec.Name != "" {
			n = rec.Name
			break
		}
	}
	names.m[k] = n
	return n
}

// Extra is a port a host counts but does not list.
type Extra struct {
	Port   ports.Port
	Proto  ports.Proto
	State  scan.State
	Reason string
}

// Host is one scanned host as the outputs show it.
type Host struct {
	Addr      netip.Addr
	Name      string // the host name it was resolved from, or ""
	Up        bool
	Reason    string // why it is up or down: "syn-ack", "reset", "no-response"...
	ReasonTTL int    // of the answer that says so; 0 when unknown
	Latency   time.Duration
	MAC       net.HardwareAddr

	Ports  []Port  // the ports listed, by port then protocol
	Extra  []Extra // the others, by port then protocol
	Tarpit *scan.TarpitError
	Times  scan.RTTStats

	// Unreachable says why the scan ended the host without probing its
	// ports ("skipped: broadcast address", "no route", "host
	// unreachable"), or is "".
	Unreachable string

	quiet string
}

// NewHost returns h as the outputs show it, listing the ports opts
// says.
func NewHost(h *scan.Host, opts *Options) *Host {
	out := &Host{Addr: h.Addr, Name: h.Name, Up: h.State == scan.HostUp, Reason: h.Reason, ReasonTTL: int(h.ReasonTTL),
		Latency: h.Latency, MAC: h.MAC, Tarpit: h.Tarpit, Times: h.Times}
	if h.Unreachable != nil {
		out.Unreachable = h.Unreachable.Describe()
	}
	all := opts != nil && opts.AllStates
	type icmpSeen struct {
		info   scan.ICMPInfo
		reason string
	}
	var icmp map[icmpSeen]int
	openFiltered := 0
	for r := range h.Results() {
		if r.State == scan.StateFiltered && !r.ICMP.IsZero() {
			if icmp == nil {
				icmp = map[icmpSeen]int{}
			}
			icmp[icmpSeen{r.ICMP, r.Reason}]++
		}
		if !opts.Lists(r.State) {
			out.Extra = append(out.Extra, Extra{r.Port, r.Proto, r.State, r.Reason})
			continue
		}
		if r.State == scan.StateOpenFiltered {
			openFiltered++
		}
		out.Ports = append(out.Ports, PortOf(h.Target, r))
	}
	if !all && openFiltered > MaxOpenFiltered {
		kept := out.Ports[:0]
		for _, p := range out.Ports {
			if p.State != "open|filtered" {
				kept = append(kept, p)
				continue
			}
			proto, _ := ports.ParseProto(p.Proto)
			out.Extra = append(out.Extra, Extra{ports.Port(p.Port), proto, scan.StateOpenFiltered, p.Reason})
		}
		out.Ports = kept
		slices.SortFunc(out.Extra, func(a, b Extra) int {
			return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto.String(), b.Proto.String()))
		})
	}
	// What a host that never answered from a port showed: the ICMP
	// error that filtered most of its ports, or nothing.
	var best icmpSeen
	n, total := 0, 0
	for k, c := range icmp {
		total += c
		if c > n || c == n && k.info.String() < best.info.String() {
			best, n = k, c
		}
	}
	out.quiet = "no answer"
	if n > 0 {
		out.quiet = fmt.Sprintf("filtered by %s (%s) on %d %s", best.info, best.reason, n, plural(n, "port", "ports"))
		if total > n {
			out.quiet += fmt.Sprintf(", by other ICMP errors on %d more", total-n)
		}
	}
	return out
}

// Quiet says what a host that is down showed: "no answer", or the ICMP
// errors that filtered its ports ("filtered by ICMP type 3 code 13 from
// 192.0.2.1 (admin-prohibited) on 1000 ports").
func (h *Host) Quiet() string {
	if h.Unreachable != "" {
		return h.Unreachable
	}
	if h.quiet == "" {
		return "no answer"
	}
	return h.quiet
}

// ExtraStates groups the ports counted by state, the largest group
// first (ties in the order of their first port).
func (h *Host) ExtraStates() (states []scan.State, groups map[scan.State][]Extra) {
	groups = map[scan.State][]Extra{}
	for _, e := range h.Extra {
		if groups[e.State] == nil {
			states = append(states, e.State)
		}
		groups[e.State] = append(groups[e.State], e)
	}
	slices.SortStableFunc(states, func(a, b scan.State) int { return cmp.Compare(len(groups[b]), len(groups[a])) })
	return states, groups
}

// NotShown is the count of the ports not listed, by state, naming only
// the states that have some: "998 closed ports not shown", "3 closed,
// 97 open|filtered ports not shown"; "" for none.
func (h *Host) NotShown() string {
	count := map[scan.State]int{}
	for _, e := range h.Extra {
		count[e.State]++
	}
	var parts []string
	for _, st := range []scan.State{scan.StateClosed, scan.StateFiltered, scan.StateOpenFiltered, scan.StateUnknown} {
		if n := count[st]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+st.String())
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + " ports not shown"
}

// TarpitLine is the line that takes the place of a tarpit's open ports.
func TarpitLine(e *scan.TarpitError) string {
	return fmt.Sprintf("host %s answers SYN-ACK on every port probed (SYN proxy or tarpit): %d ports not listed", e.Addr, e.Open)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// JSONLines writes ports as JSON lines, one object a line, as they come.
type JSONLines struct{ enc *json.Encoder }

// NewJSONLines returns a JSONLines writing to w.
func NewJSONLines(w io.Writer) *JSONLines {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONLines{enc}
}

// Write writes p as one line.
func (j *JSONLines) Write(p Port) error { return j.enc.Encode(p) }

// HostRecord is the JSON line of one host, beside its ports' lines:
// "record" is "host" (port lines have none), the state and why, the
// round trip and MAC address of discovery, and the count of the host's
// ports by state (those not written as lines included).
type HostRecord struct {
	Record    string         `json:"record"` // "host"
	Addr      string         `json:"addr"`
	Host      string         `json:"host,omitempty"`
	State     string         `json:"state"`  // up or down
	Reason    string         `json:"reason"` // arp-response, echo-reply, syn-ack, no-response, broadcast...
	LatencyMs float64        `json:"latency_ms,omitempty"`
	MAC       string         `json:"mac,omitempty"`
	Note      string         `json:"note,omitempty"` // why the host was not scanned: "skipped: broadcast address"
	Ports     map[string]int `json:"ports,omitempty"`
}

// RecordOf returns h's host record.
func RecordOf(h *Host) HostRecord {
	rec := HostRecord{Record: "host", Addr: h.Addr.String(), Host: h.Name, State: "down", Reason: orDefault(h.Reason, scan.ReasonNoResponse),
		LatencyMs: millis(h.Latency), Note: h.Unreachable}
	if h.Up {
		rec.State = "up"
	}
	if len(h.MAC) > 0 {
		rec.MAC = h.MAC.String()
	}
	for _, p := range h.Ports {
		if rec.Ports == nil {
			rec.Ports = map[string]int{}
		}
		rec.Ports[p.State]++
	}
	for _, e := range h.Extra {
		if rec.Ports == nil {
			rec.Ports = map[string]int{}
		}
		rec.Ports[e.State.String()]++
	}
	return rec
}

// WriteHost writes h's host record as one line.
func (j *JSONLines) WriteHost(h *Host) error { return j.enc.Encode(RecordOf(h)) }
