package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/portkit/ports"
	sprobe "github.com/portkit/ports/scan/probe"
)

// Engine is the technique Run scans TCP ports with.
type Engine uint8

// TCP engines.
const (
	EngineAuto    Engine = iota // EngineSYN when raw sockets can be opened (SYNAvailable), else EngineConnect
	EngineSYN                   // SYNScan
	EngineConnect               // ConnectScan
)

// String returns nmap's name of the scan type, as in its XML: "syn" or
// "connect" ("auto" for EngineAuto).
func (e Engine) String() string {
	switch e {
	case EngineSYN:
		return "syn"
	case EngineConnect:
		return "connect"
	}
	return "auto"
}

// identifyWorkers is how many ports Run identifies at once.
const identifyWorkers = 16

// Plan is what [Run] does: which ports, with which engines, and what
// comes before and after the port probes. The zero Plan scans no port.
type Plan struct {
	// Options are those of every engine, in place of the engine
	// configs' own: its TCP ports are scanned with the TCP engine, then
	// its UDP ports with UDPScan; OpenIn opens every socket of the scan,
	// service detection's too.
	Options

	// TCP chooses the TCP engine; EngineAuto picks SYN when it can.
	TCP Engine

	// SYN, Connect and UDP configure what is particular to each engine
	// (seed and shard, concurrency, window...). Only the engines that
	// run are used.
	SYN     SYNConfig
	Connect ConnectConfig
	UDP     UDPConfig

	// Identify runs service detection on the ports that may have a
	// service to tell: open TCP ports ([Identify]), and UDP ports that
	// stayed silent or answered without being recognised
	// ([IdentifyUDP]: a reply makes the port open, a port unreachable
	// closed). Results wait for it, 16 ports at a time.
	Identify bool
	// IdentifyTimeout is the timeout of each identification step; 0
	// means DefaultIdentifyTimeout.
	IdentifyTimeout time.Duration

	// Discover, if not nil, is the host discovery stage, run before any
	// port is probed: it yields one HostStatus per target it decided
	// (up or down, why, the round trip and, on the local link, the MAC
	// address). Hosts it finds down are yielded at once, with no port;
	// the others are port-scanned and keep its State, Reason, Latency
	// and MAC. A target it yields nothing for is port-scanned and its
	// state is taken from the ports (nmap -Pn). A status with an error
	// and no Addr ends the scan; one with an Addr is a failure for that
	// host alone, which is then port-scanned. nil means no discovery.
	Discover func(ctx context.Context, targets []Target) iter.Seq2[HostStatus, error]

	// Checkpoint, if not nil, keeps the SYN scan's progress and results
	// in files, and continues the scan they describe (see
	// [OpenCheckpoint]). It needs the SYN engine.
	Checkpoint *Checkpoint

	// OnResult, if not nil, is called with every port's Result (and its
	// error: a *ProbeError, a *ConflictError, a *TarpitError with a
	// Result naming only the host) as it comes, on the goroutine
	// iterating over Run, before the Host it belongs to is yielded. It
	// is how a caller streams ports while Run aggregates hosts.
	OnResult func(Result, error)
}

// HostState is what a scan concluded about a host.
type HostState uint8

// Host states.
const (
	HostUnknown HostState = iota // not decided (yet)
	HostUp                       // it answered: on a port, or to discovery
	HostDown                     // nothing answered
)

// String returns nmap's word: "up", "down" or "unknown".
func (s HostState) String() string {
	switch s {
	case HostUp:
		return "up"
	case HostDown:
		return "down"
	}
	return "unknown"
}

// HostStatus is what host discovery found of one target.
type HostStatus struct {
	Addr      netip.Addr
	State     HostState
	Reason    string           // nmap's word: "arp-response", "echo-reply", "reset", "no-response"...
	ReasonTTL uint8            // TTL or hop limit of the answer; 0 when unknown
	Latency   time.Duration    // round trip of the answer; 0 when none
	MAC       net.HardwareAddr // on the local link, from ARP or neighbour discovery; nil otherwise
}

// Host is the outcome of a scan for one target.
type Host struct {
	Target

	// State, Reason and ReasonTTL come from discovery (Plan.Discover),
	// else from the ports: up for an open port (its reason: "syn-ack",
	// "udp-response"), else for a closed one ("reset", "conn-refused",
	// "port-unreach"), else for a tarpit ("syn-ack"); down with
	// "no-response" otherwise.
	State     HostState
	Reason    string
	ReasonTTL uint8
	Latency   time.Duration    // discovery's round trip; 0 without discovery
	MAC       net.HardwareAddr // discovery's, on the local link; nil otherwise

	// results are every port's, kept small (see Results): a scan of
	// every port of a host holds 65,535 of them.
	results []hostPort
	sorted  bool

	// Tarpit is set when the host SYN-ACKed (nearly) every port probed:
	// its open ports are not among its results.
	Tarpit *TarpitError
	// Unreachable is set when the TCP engine ended the host at once,
	// without results for its ports: a broadcast address, no route, or
	// a neighbour that did not answer (State is then down).
	Unreachable *HostError
	// Errors counts the probes that failed (results with the reason
	// "error").
	Errors int
	// Times are the round-trip statistics of its answered probes, as
	// TCP keeps them (RFC 6298).
	Times RTTStats
}

// RTTStats are a host's round-trip statistics: the smoothed round trip,
// its variation, and the timeout they give, srtt + 4*rttvar clamped to
// [MinTimeout, MaxTimeout]. Samples 0 means none was measured; Timeout
// is then InitialTimeout.
type RTTStats struct {
	SRTT, RTTVar, Timeout time.Duration
	Samples               int
}

// Results yields every port's result, by port then protocol: a port
// whose probe got conflicting replies has the *ConflictError's result
// (state unknown), and a probe that failed its result with StateUnknown
// and the reason "error". Results are kept in a small form, without the
// address and with the rare ICMP and service details apart, and made
// whole as they are yielded.
//
// A Host from Run is sorted when yielded; for one built with Add, the
// first call sorts its results, so it must not run concurrently with
// another.
func (h *Host) Results() iter.Seq[Result] {
	h.sort()
	return func(yield func(Result) bool) {
		for _, hp := range h.results {
			r := Result{Addr: h.Addr, Port: hp.port, Proto: hp.proto, State: hp.state, Reason: hp.reason,
				RTT: hp.rtt, Tries: int(hp.tries), TTL: hp.ttl}
			if hp.extra != nil {
				r.ICMP, r.Service = hp.extra.icmp, hp.extra.service
			}
			if !yield(r) {
				return
			}
		}
	}
}

func (h *Host) sort() {
	if !h.sorted {
		slices.SortFunc(h.results, func(a, b hostPort) int {
			return cmp.Or(cmp.Compare(a.port, b.port), cmp.Compare(a.proto.String(), b.proto.String()))
		})
		h.sorted = true
	}
}

// Len returns the number of results.
func (h *Host) Len() int { return len(h.results) }

// Add adds r to the results, or replaces the result of r's port and
// protocol: for a host built other than by Run.
func (h *Host) Add(r Result) {
	if i := h.find(r.Port, r.Proto); i >= 0 {
		h.results[i] = compact(r)
		return
	}
	h.results = append(h.results, compact(r))
	h.sorted = false
}

func (h *Host) find(port ports.Port, proto ports.Proto) int {
	for i := len(h.results) - 1; i >= 0; i-- {
		if hp := &h.results[i]; hp.port == port && hp.proto == proto {
			return i
		}
	}
	return -1
}

// StateFromPorts is the state of the host that its results and Tarpit
// say, as nmap -Pn gives it: up for the first open port, with its
// reason and TTL, else for the first closed one, else for a tarpit
// ("syn-ack"); down with "no-response" otherwise.
func (h *Host) StateFromPorts() (HostState, string, uint8) {
	if r, ok := upBy(h.Results(), StateOpen); ok {
		return HostUp, r.Reason, r.TTL
	}
	if r, ok := upBy(h.Results(), StateClosed); ok {
		return HostUp, r.Reason, r.TTL
	}
	if h.Tarpit != nil {
		// A tarpit or SYN proxy answers: what it answers says nothing
		// of the ports, but the address is up.
		return HostUp, ReasonSynAck, 0
	}
	return HostDown, ReasonNoResponse, 0
}

// hostAgg gathers a host's results while the scan runs.
type hostAgg struct {
	h          Host
	conflicted map[ports.Port]bool
	tcpLeft    int // TCP results still expected, when countable; -1: until the TCP stage ends
	udpLeft    int
	rtt        rttEstimator
	yielded    bool
}

// hostPort is a Result within its host: 40 bytes.
type hostPort struct {
	rtt    time.Duration
	reason string
	extra  *portExtra // nil for most ports
	port   ports.Port
	tries  uint16
	proto  ports.Proto
	state  State
	ttl    uint8
}

type portExtra struct {
	icmp    ICMPInfo
	service sprobe.Service
}

func compact(r Result) hostPort {
	hp := hostPort{rtt: r.RTT, reason: r.Reason, port: r.Port, tries: uint16(min(r.Tries, 1<<16-1)), proto: r.Proto, state: r.State, ttl: r.TTL}
	if !r.ICMP.IsZero() || !r.Service.IsZero() {
		hp.extra = &portExtra{icmp: r.ICMP, service: r.Service}
	}
	return hp
}

// put adds r; replace says it takes the place of an earlier result of
// its port (a conflict), which is then not counted again.
func (a *hostAgg) put(r Result, replace bool) {
	h := &a.h
	if replace {
		if i := h.find(r.Port, r.Proto); i >= 0 {
			h.results[i] = compact(r)
			return
		}
	}
	h.results = append(h.results, compact(r))
	switch r.Proto {
	case ports.ProtoTCP:
		if a.tcpLeft > 0 {
			a.tcpLeft--
		}
	case ports.ProtoUDP:
		if a.udpLeft > 0 {
			a.udpLeft--
		}
	}
}

func (a *hostAgg) done() bool { return a.tcpLeft == 0 && a.udpLeft == 0 }

// host finishes the aggregate.
func (a *hostAgg) host() *Host {
	h := &a.h
	h.sort()
	h.Times = a.rtt.stats()
	if h.State == HostUnknown {
		h.State, h.Reason, h.ReasonTTL = h.StateFromPorts()
	}
	return h
}

// upBy returns the first result in state st.
func upBy(rs iter.Seq[Result], st State) (Result, bool) {
	for r := range rs {
		if r.State == st {
			return r, true
		}
	}
	return Result{}, false
}

// stage marks the end of one engine's results in the stream Run reads.
type stage uint8

const (
	stageNone stage = iota
	stageTCPEnd
	stageUDPEnd
)

type runItem struct {
	r     Result
	err   error
	stage stage
}

// TCPEngine returns the engine Run uses for TCP: p.TCP, with
// EngineAuto resolved.
func (p *Plan) TCPEngine() Engine {
	if p.TCP == EngineAuto {
		if SYNAvailable() == nil {
			return EngineSYN
		}
		return EngineConnect
	}
	return p.TCP
}

// Run scans targets as p says and yields one Host per target, each as
// soon as it is done: when every port of it has a result (or, for the
// ports of a SYN scan, of a sharded scan and of a tarpit, when that
// engine ends), and in the order of targets for those that end together.
// Ports are scanned TCP first, then UDP; with p.Identify, results wait
// for service detection.
//
// If the scan ends early (ctx ends, a socket fails, the checkpoint
// cannot be written), Run yields the hosts not yet yielded, with what
// was found of them, and then a nil *Host with the error. An invalid
// target, or one given twice, ends it before anything is sent. Breaking
// out of the loop stops the scan, and by then every goroutine of it has
// returned. Run takes copies of targets and *p when it starts iterating.
func Run(ctx context.Context, targets []Target, p *Plan) iter.Seq2[*Host, error] {
	return func(yield func(*Host, error) bool) {
		var plan Plan
		if p != nil {
			plan = *p
		}
		targets := slices.Clone(targets)
		// byAddr orders the targets' indexes by address, to find a target
		// (and a duplicate) without a map: 4 bytes a target, where a map
		// and an aggregate per target made absent hosts cost kilobytes.
		byAddr := make([]int32, len(targets))
		for i := range targets {
			if !targets[i].Addr.IsValid() {
				yield(nil, fmt.Errorf("scan: target %d is not a valid address", i))
				return
			}
			targets[i].Addr = targets[i].Addr.Unmap()
			byAddr[i] = int32(i)
		}
		slices.SortFunc(byAddr, func(a, b int32) int { return targets[a].Addr.Compare(targets[b].Addr) })
		for i := 1; i < len(byAddr); i++ {
			if a := targets[byAddr[i]].Addr; a == targets[byAddr[i-1]].Addr {
				yield(nil, fmt.Errorf("scan: target %s is given twice", a))
				return
			}
		}
		find := func(addr netip.Addr) int {
			j, ok := slices.BinarySearchFunc(byAddr, addr, func(i int32, a netip.Addr) int { return targets[i].Addr.Compare(a) })
			if !ok {
				return -1
			}
			return int(byAddr[j])
		}
		engine := plan.TCPEngine()
		if plan.Checkpoint != nil && engine != EngineSYN {
			yield(nil, errors.New("scan: a checkpoint needs the SYN engine"))
			return
		}
		// Discovery's hosts down are yielded as it decides them and then
		// forgotten but for a bit; only the others keep an aggregate.
		var down []uint64 // bit i: target i is down
		var found map[int]HostStatus
		if plan.Discover != nil {
			down = make([]uint64, (len(targets)+63)/64)
			for st, err := range plan.Discover(ctx, targets) {
				i := find(st.Addr.Unmap())
				if err != nil && i < 0 {
					yield(nil, err)
					return
				}
				if err != nil || i < 0 || down[i/64]&(1<<(i%64)) != 0 {
					continue
				}
				if st.State != HostDown {
					if found == nil {
						found = map[int]HostStatus{}
					}
					found[i] = st
					continue
				}
				delete(found, i)
				down[i/64] |= 1 << (i % 64)
				a := hostAgg{h: Host{Target: targets[i]}}
				a.h.State, a.h.Reason, a.h.ReasonTTL, a.h.Latency, a.h.MAC = st.State, st.Reason, st.ReasonTTL, st.Latency, st.MAC
				if !yield(a.host(), nil) {
					return
				}
			}
		}
		ntcp, nudp := plan.Ports.Len(ports.ProtoTCP), plan.Ports.Len(ports.ProtoUDP)
		var aggs []*hostAgg
		var addrs []netip.Addr
		scanned := map[netip.Addr]*hostAgg{}
		for i, t := range targets {
			if down != nil && down[i/64]&(1<<(i%64)) != 0 {
				continue
			}
			a := &hostAgg{h: Host{Target: t}}
			if st, ok := found[i]; ok {
				h := &a.h
				h.State, h.Reason, h.ReasonTTL, h.Latency, h.MAC = st.State, st.Reason, st.ReasonTTL, st.Latency, st.MAC
			}
			// Results grow as they come: most hosts of a large scan
			// answer on few ports, or on none.
			a.tcpLeft, a.udpLeft = ntcp, nudp
			if ntcp > 0 && (engine == EngineSYN || plan.Connect.Shards > 1) {
				a.tcpLeft = -1
			}
			aggs = append(aggs, a)
			addrs = append(addrs, t.Addr)
			scanned[t.Addr] = a
		}
		found = nil
		finish := func(err error) {
			for _, a := range aggs {
				if !a.yielded {
					a.yielded = true
					if !yield(a.host(), nil) {
						return
					}
				}
			}
			if err != nil {
				yield(nil, err)
			}
		}
		if len(addrs) == 0 {
			finish(nil)
			return
		}
		items, stop := plan.stream(ctx, addrs, engine)
		defer stop()
		for it := range items {
			switch it.stage {
			case stageTCPEnd, stageUDPEnd:
				for _, a := range aggs {
					if it.stage == stageTCPEnd {
						a.tcpLeft = 0
					} else {
						a.udpLeft = 0
					}
				}
				for _, a := range aggs {
					if !a.yielded && a.done() {
						a.yielded = true
						if !yield(a.host(), nil) {
							return
						}
					}
				}
				continue
			}
			r, err := it.r, it.err
			if err != nil && !r.Addr.IsValid() {
				finish(err) // the scan ended
				return
			}
			a := scanned[r.Addr]
			if a == nil || a.yielded {
				continue
			}
			var tarpit *TarpitError
			var conflict *ConflictError
			var hostErr *HostError
			switch {
			case errors.As(err, &hostErr):
				// The engine ended the whole host (broadcast, no route,
				// no neighbour): down, with no port of its own.
				a.h.State, a.h.Reason, a.h.Unreachable = HostDown, hostErr.Reason, hostErr
				if plan.OnResult != nil {
					plan.OnResult(r, err)
				}
				if r.Proto == ports.ProtoTCP || r.Proto == 0 {
					a.tcpLeft = 0
				}
				if a.done() {
					a.yielded = true
					if !yield(a.host(), nil) {
						return
					}
				}
				continue
			case errors.As(err, &tarpit):
				a.h.Tarpit = tarpit
				if plan.OnResult != nil {
					plan.OnResult(r, err)
				}
				continue
			case errors.As(err, &conflict):
				if a.conflicted == nil {
					a.conflicted = map[ports.Port]bool{}
				}
				a.conflicted[r.Port] = true
			case a.conflicted[r.Port] && r.Proto == ports.ProtoTCP:
				continue // the first answer, after its conflict
			case err != nil:
				a.h.Errors++
			}
			if r.Reason == "" {
				r.Reason = "error"
			}
			if r.State == StateOpen || r.State == StateClosed {
				a.rtt.sample(r.RTT)
			}
			a.put(r, conflict != nil)
			if plan.OnResult != nil {
				plan.OnResult(r, err)
			}
			if a.done() {
				a.yielded = true
				if !yield(a.host(), nil) {
					return
				}
			}
		}
		finish(nil)
	}
}

// stream runs the engines one after the other (TCP, then UDP), and
// Identify on their results, marking the end of each engine. stop ends
// it and waits for its goroutines.
func (p *Plan) stream(ctx context.Context, addrs []netip.Addr, engine Engine) (iter.Seq[runItem], func()) {
	// The engines run on ictx, so that stop ends one that waits for its
	// next result rather than for its next yield.
	ictx, cancel := context.WithCancel(ctx)
	ctx = ictx
	scans := func(yield func(runItem) bool) {
		if p.Ports.Len(ports.ProtoTCP) > 0 {
			var tcp iter.Seq2[Result, error]
			switch engine {
			case EngineSYN:
				cfg := p.SYN
				cfg.Options = p.Options
				if p.Checkpoint != nil {
					tcp = p.Checkpoint.scan(ctx, addrs, &cfg)
				} else {
					tcp = SYNScan(ctx, addrs, &cfg)
				}
			default:
				cfg := p.Connect
				cfg.Options = p.Options
				tcp = ConnectScan(ctx, addrs, &cfg)
			}
			for r, err := range tcp {
				if !yield(runItem{r: r, err: err}) {
					return
				}
				if err != nil && !r.Addr.IsValid() {
					return // the scan ended
				}
			}
			if !yield(runItem{stage: stageTCPEnd}) {
				return
			}
		}
		if p.Ports.Len(ports.ProtoUDP) > 0 {
			cfg := p.UDP
			cfg.Options = p.Options
			for r, err := range UDPScan(ctx, addrs, &cfg) {
				if !yield(runItem{r: r, err: err}) {
					return
				}
				if err != nil && !r.Addr.IsValid() {
					return
				}
			}
			yield(runItem{stage: stageUDPEnd})
		}
	}
	if !p.Identify {
		return scans, cancel
	}
	out := make(chan runItem)
	var started sync.Once
	start := func() {
		go func() {
			var wg sync.WaitGroup
			sem := make(chan struct{}, identifyWorkers)
			defer func() {
				wg.Wait()
				close(out)
			}()
			send := func(it runItem) bool {
				select {
				case out <- it:
					return true
				case <-ictx.Done():
					return false
				}
			}
			for it := range scans {
				if it.stage != stageNone {
					wg.Wait() // an engine's end comes after its identified ports
				}
				if it.stage != stageNone || it.err != nil || !identifiable(it.r) {
					if !send(it) {
						return
					}
					continue
				}
				select {
				case sem <- struct{}{}:
				case <-ictx.Done():
					return
				}
				r := it.r
				wg.Go(func() {
					defer func() { <-sem }()
					p.open(func() error {
						identifyResult(ictx, &r, p.IdentifyTimeout)
						return nil
					})
					send(runItem{r: r})
				})
			}
		}()
	}
	seq := func(yield func(runItem) bool) {
		started.Do(start)
		for it := range out {
			if !yield(it) {
				return
			}
		}
	}
	stop := func() {
		cancel()
		started.Do(func() { close(out) })
		for range out {
		}
	}
	return seq, stop
}

// identifiable reports whether Identify probes r's port: open TCP ports;
// UDP ports that answered an empty datagram, or nothing.
func identifiable(r Result) bool {
	switch r.Proto {
	case ports.ProtoTCP:
		return r.State == StateOpen
	case ports.ProtoUDP:
		return r.State == StateOpenFiltered || r.State == StateOpen && r.Service.IsZero()
	}
	return false
}

// identifyResult identifies r's service. For UDP it sends every probe to
// r's port: a reply makes it open, a port unreachable closed.
func identifyResult(ctx context.Context, r *Result, wait time.Duration) {
	if r.Proto == ports.ProtoTCP {
		if s, err := Identify(ctx, r.AddrPort(), wait); err == nil {
			r.Service = s
		}
		return
	}
	s, answered, err := IdentifyUDP(ctx, r.AddrPort(), wait)
	switch {
	case answered:
		if r.State != StateOpen {
			r.State, r.Reason, r.RTT = StateOpen, ReasonUDPResponse, 0
		}
		r.Service = s
	case errors.Is(err, syscall.ECONNREFUSED):
		r.State, r.Reason = StateClosed, ReasonPortUnreach
	}
}
