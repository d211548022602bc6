package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/scan"
)

// maxProbeErrors is how many failed probes are reported one by one.
const maxProbeErrors = 5

// scanHost gathers the results of one target.
type scanHost struct {
	scanTarget
	results []render.ScanResultV1 // the ports listed
	hidden  []hiddenPort          // the others, which outputs only count
	rtts    []time.Duration       // of the answered probes, in the order of the answers
	addrStr string                // the address, formatted once for all its results
	tarpit  *scan.TarpitError
	icmp    map[icmpSeen]int // filtered ports by the ICMP error that said so
	// conflicted holds the TCP ports whose probe got both a SYN-ACK and
	// a RST: their result is the ConflictError's, whatever came before
	// or comes after.
	conflicted map[ports.Port]bool
}

// dropResult removes the result of port/proto, listed or not.
func (h *scanHost) dropResult(port ports.Port, proto ports.Proto) {
	h.results = slices.DeleteFunc(h.results, func(r render.ScanResultV1) bool {
		return r.Port == uint16(port) && r.Proto == proto.String()
	})
	h.hidden = slices.DeleteFunc(h.hidden, func(r hiddenPort) bool { return r.port == port && r.proto == proto })
}

// icmpSeen is an ICMP error that filtered some of a host's ports.
type icmpSeen struct {
	info   scan.ICMPInfo
	reason string
}

// quiet says what a host that never answered from a port showed: the
// ICMP errors that filtered its ports, or "no answer".
func (h *scanHost) quiet() string {
	var best icmpSeen
	n, total := 0, 0
	for k, c := range h.icmp {
		total += c
		if c > n || c == n && k.info.String() < best.info.String() {
			best, n = k, c
		}
	}
	if n == 0 {
		return "no answer"
	}
	s := fmt.Sprintf("filtered by %s (%s) on %d %s", best.info, best.reason, n, plural(n, "port", "ports"))
	if total > n {
		s += fmt.Sprintf(", by other ICMP errors on %d more", total-n)
	}
	return s
}

// hiddenPort is a result the listing does not show (a closed port, most
// of the time): the outputs need only its port, state and reason, and a
// full scan has tens of thousands of them.
type hiddenPort struct {
	port   ports.Port
	proto  ports.Proto
	state  scan.State
	reason string // one of scan's Reason constants
	ttl    uint8  // of the answer; 0 when unknown
}

// up reports whether the host answered on some port, and why.
func (h *scanHost) up() (bool, string) {
	up, reason, _ := h.upTTL()
	return up, reason
}

// upTTL is up with the TTL of the answer that says so (0: unknown).
func (h *scanHost) upTTL() (bool, string, int) {
	reason, ttl := "", 0
	if h.tarpit != nil {
		// A tarpit or SYN proxy answers: what it answers says nothing
		// of the ports, but the address is up.
		reason = scan.ReasonSynAck
	}
	for _, r := range h.results {
		switch r.State {
		case "open":
			return true, r.Reason, r.TTL
		case "closed":
			reason, ttl = r.Reason, r.TTL
		}
	}
	if reason == "" {
		for _, r := range h.hidden {
			if r.state == scan.StateClosed {
				return true, r.reason, int(r.ttl)
			}
		}
	}
	return reason != "", reason, ttl
}

// shown reports whether the table lists a port in state. open|filtered
// ports (UDP) are listed too, as nmap lists them, unless a host has more
// than maxOpenFiltered: see foldOpenFiltered.
func (o *scanOpts) shown(state string) bool {
	return o.allStates || state != "closed" && state != "filtered"
}

// maxOpenFiltered is how many open|filtered ports of a host the outputs
// list without --all-states: nmap's limit (max_per_state, 25) past which
// it counts a state's ports in "Not shown" instead, so that a host whose
// firewall drops every UDP probe is one line, not a hundred.
const maxOpenFiltered = 25

// foldOpenFiltered moves h's listed open|filtered ports to the ports not
// shown when there are more than maxOpenFiltered, and returns those it
// keeps listed, in the order of h.results.
func (o *scanOpts) foldOpenFiltered(h *scanHost) []render.ScanResultV1 {
	var of []render.ScanResultV1
	for _, r := range h.results {
		if r.State == "open|filtered" {
			of = append(of, r)
		}
	}
	if o.allStates || len(of) <= maxOpenFiltered {
		return of
	}
	kept := h.results[:0]
	for _, r := range h.results {
		if r.State != "open|filtered" {
			kept = append(kept, r)
			continue
		}
		proto, _ := ports.ParseProto(r.Proto)
		h.hidden = append(h.hidden, hiddenPort{port: ports.Port(r.Port), proto: proto, state: scan.StateOpenFiltered, reason: r.Reason, ttl: uint8(r.TTL)})
	}
	h.results = kept
	return nil
}

// notShownLine is the table's count of a host's ports not listed, by
// state, naming only the states that have some: "998 closed ports not
// shown", "3 closed, 97 open|filtered ports not shown"; "" for none.
func notShownLine(hidden map[string]int) string {
	var parts []string
	for _, st := range []string{"closed", "filtered", "open|filtered", "unknown"} {
		if n := hidden[st]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+st)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + " ports not shown"
}

// scanOutput is a file output: -oJ, -oG or -oX.
type scanOutput struct {
	flag string
	w    *bufio.Writer
	f    *os.File // nil for standard output
}

func openScanOutput(flag, name string, stdout io.Writer) (*scanOutput, error) {
	if name == "" {
		return nil, nil
	}
	if name == "-" {
		return &scanOutput{flag: flag, w: bufio.NewWriter(stdout)}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, &runError{fmt.Errorf("%s: %w", flag, err)}
	}
	return &scanOutput{flag: flag, w: bufio.NewWriter(f), f: f}, nil
}

func (s *scanOutput) close() error {
	if s == nil {
		return nil
	}
	err := s.w.Flush()
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.flag, err)
	}
	return nil
}

// scanExec runs the scan of plan p and writes its outputs.
func scanExec(ctx context.Context, cmd *cobra.Command, o *scanOpts, p *scanPlan, raw []string) (err error) {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var outs [3]*scanOutput
	for i, f := range []struct{ flag, name string }{{"-oJ", o.oJ}, {"-oG", o.oG}, {"-oX", o.oX}} {
		if outs[i], err = openScanOutput(f.flag, f.name, stdout); err != nil {
			for _, s := range outs[:i] {
				s.close()
			}
			return err
		}
	}
	defer func() {
		for _, s := range outs {
			if cerr := s.close(); err == nil && cerr != nil {
				err = cerr
			}
		}
	}()
	oJ, oG, oX := outs[0], outs[1], outs[2]
	// A file output on standard output takes the place of the listing.
	listing := (oJ == nil || oJ.f != nil) && (oG == nil || oG.f != nil) && (oX == nil || oX.f != nil)

	hosts := make([]*scanHost, len(p.targets))
	index := make(map[netip.Addr]*scanHost, len(hosts))
	addrs := make([]netip.Addr, len(hosts))
	for i, t := range p.targets {
		hosts[i] = &scanHost{scanTarget: t, addrStr: t.addr.String()}
		index[t.addr] = hosts[i]
		addrs[i] = t.addr
	}
	names := &serviceNames{reg: registry.Default(), names: map[ports.Port]string{}}
	var stream *render.Stream[render.ScanResultV1]
	if listing && p.format == render.JSONL {
		stream = render.NewStream[render.ScanResultV1](stdout, render.JSONL, nil)
	}
	var jenc *json.Encoder
	if oJ != nil {
		jenc = json.NewEncoder(oJ.w)
		jenc.SetEscapeHTML(false)
	}

	total := len(addrs) * (p.set.Len(ports.ProtoTCP)/p.shards + p.set.Len(ports.ProtoUDP))
	tcp := scan.ConnectScan(ctx, addrs, &p.cfg)
	if p.syn {
		var err error
		if tcp, err = scanSYNSeq(ctx, o, p, addrs); err != nil {
			return err
		}
	}
	var done atomic.Int64
	start := time.Now()
	stopProgress := func() {}
	if isTerminal(stderr) {
		stopProgress = scanProgress(stderr, &done, total, start)
	}
	probeErrors, conflicts := 0, 0
	var scanErr error
	for r, perr := range p.results(ctx, addrs, tcp) {
		if perr != nil && r.Addr == (netip.Addr{}) {
			scanErr = perr // the scan ended
			break
		}
		done.Add(1)
		h := index[r.Addr]
		if h == nil {
			continue
		}
		var tarpit *scan.TarpitError
		if errors.As(perr, &tarpit) {
			h.tarpit = tarpit
			if !listing || p.format != render.Table {
				stopProgress()
				fmt.Fprintf(stderr, "ports scan: %s\n", tarpitLine(tarpit))
				if isTerminal(stderr) {
					stopProgress = scanProgress(stderr, &done, total, start)
				}
			}
			continue
		}
		var conflict *scan.ConflictError
		switch {
		case errors.As(perr, &conflict):
			// Reported with state unknown and both reasons, in place of
			// the first answer's result (open or closed).
			if h.conflicted == nil {
				h.conflicted = map[ports.Port]bool{}
			}
			h.conflicted[r.Port] = true
			h.dropResult(r.Port, r.Proto)
			if conflicts++; conflicts <= maxProbeErrors {
				stopProgress()
				fmt.Fprintf(stderr, "ports scan: %s\n", strings.TrimPrefix(conflict.Error(), "scan: "))
				if isTerminal(stderr) {
					stopProgress = scanProgress(stderr, &done, total, start)
				}
			}
			perr = nil
		case h.conflicted[r.Port] && r.Proto == ports.ProtoTCP:
			continue // the first answer, after its conflict
		}
		if perr != nil {
			if probeErrors++; probeErrors <= maxProbeErrors {
				stopProgress()
				fmt.Fprintf(stderr, "ports scan: %v\n", perr)
				if isTerminal(stderr) {
					stopProgress = scanProgress(stderr, &done, total, start)
				}
			}
		}
		if r.Reason == "" {
			r.Reason = "error"
		}
		if r.State == scan.StateOpen || r.State == scan.StateClosed {
			h.rtts = append(h.rtts, r.RTT)
		}
		if r.State == scan.StateFiltered && !r.ICMP.IsZero() {
			if h.icmp == nil {
				h.icmp = map[icmpSeen]int{}
			}
			h.icmp[icmpSeen{r.ICMP, r.Reason}]++
		}
		shown := o.shown(r.State.String())
		if !shown && jenc == nil {
			h.hidden = append(h.hidden, hiddenPort{port: r.Port, proto: r.Proto, state: r.State, reason: r.Reason, ttl: r.TTL})
			continue
		}
		v := render.ScanResultV1{
			Addr: h.addrStr, Host: h.name, Port: uint16(r.Port), Proto: r.Proto.String(),
			State: r.State.String(), Reason: r.Reason, RTTms: render.Millis(r.RTT), Tries: r.Tries,
			TTL: int(r.TTL),
		}
		// Only -oJ and the ports listed show the service's name: looking
		// it up for tens of thousands of closed ports would cost more
		// than scanning them.
		v.Service = names.nameFor(r.Proto, r.Port)
		fillService(&v, r)
		if shown {
			h.results = append(h.results, v)
		} else {
			h.hidden = append(h.hidden, hiddenPort{port: r.Port, proto: r.Proto, state: r.State, reason: r.Reason, ttl: r.TTL})
		}
		if jenc != nil {
			if err := jenc.Encode(v); err != nil {
				stopProgress()
				return fmt.Errorf("-oJ: %w", err)
			}
		}
		// open|filtered ports wait for the end: a host lists them only
		// if it has few (foldOpenFiltered).
		if stream != nil && shown && (v.State != "open|filtered" || o.allStates) {
			if err := stream.Write(v); err != nil {
				stopProgress()
				return err
			}
		}
	}
	stopProgress()
	end := time.Now()
	for _, h := range hosts {
		for _, v := range o.foldOpenFiltered(h) {
			if stream != nil && !o.allStates {
				if err := stream.Write(v); err != nil {
					return err
				}
			}
		}
		slices.SortFunc(h.results, func(a, b render.ScanResultV1) int {
			return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
		})
		slices.SortFunc(h.hidden, func(a, b hiddenPort) int {
			return cmp.Or(cmp.Compare(a.port, b.port), cmp.Compare(a.proto.String(), b.proto.String()))
		})
	}
	if stream != nil {
		if err := stream.Close(); err != nil {
			return err
		}
	}
	if listing && p.format != render.JSONL {
		if err := writeScanListing(stdout, p.format, o, hosts); err != nil {
			return err
		}
	}
	cmdline := strings.TrimSpace("ports scan " + strings.Join(raw, " "))
	if oG != nil {
		writeScanGrep(oG.w, o, hosts, cmdline, start, end)
	}
	if scanErr != nil && errors.Is(scanErr, context.Canceled) {
		scanErr = &runError{errors.New("interrupted")}
		if p.syn && o.resume != "" {
			scanErr = &runError{fmt.Errorf("interrupted; the progress is in %s: run the same command to continue", o.resume)}
		}
	}
	if oX != nil {
		// nmap's XML of a scan that did not end by itself says so:
		// exit="error" and why.
		if err := writeScanXML(oX.w, o, p, hosts, cmdline, start, end, scanErr); err != nil {
			return fmt.Errorf("-oX: %w", err)
		}
	}
	if scanErr != nil {
		return scanErr
	}
	if probeErrors > 0 {
		return &runError{fmt.Errorf("%d probes failed; their ports' states are unknown", probeErrors)}
	}
	if conflicts > maxProbeErrors {
		fmt.Fprintf(stderr, "ports scan: %d ports in all got both a SYN-ACK and a RST; their state is unknown\n", conflicts)
	}
	return nil
}

// scanProgress redraws a progress line on the terminal w until the
// returned function is called, which clears it.
func scanProgress(w io.Writer, done *atomic.Int64, total int, start time.Time) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
			}
			n := done.Load()
			el := time.Since(start)
			rate := float64(n) / el.Seconds()
			eta := "?"
			if rate > 0 {
				eta = (time.Duration(float64(int64(total)-n) / rate * float64(time.Second))).Round(time.Second).String()
			}
			fmt.Fprintf(w, "\r\x1b[Kscanning: %d/%d ports, %.0f/s, ETA %s", n, total, rate, eta)
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			wg.Wait()
		})
	}
}

// writeScanListing writes the table, or a JSON array, of the ports shown.
func writeScanListing(w io.Writer, format render.Format, o *scanOpts, hosts []*scanHost) error {
	if format == render.JSON {
		out := render.NewStream[render.ScanResultV1](w, render.JSON, nil)
		for _, h := range hosts {
			for _, r := range h.results {
				if o.shown(r.State) {
					if err := out.Write(r); err != nil {
						return err
					}
				}
			}
		}
		return out.Close()
	}
	bw := bufio.NewWriter(w)
	a := render.NewAligner(bw)
	var row []byte
	for i, h := range hosts {
		if i > 0 {
			a.Write([]byte("\n"))
		}
		title := "scan report for " + h.addr.String()
		if h.name != "" {
			title = "scan report for " + h.name + " (" + h.addr.String() + ")"
		}
		if up, _ := h.up(); !up {
			title += ": " + h.quiet()
		}
		a.Write([]byte(title + "\n"))
		if h.tarpit != nil {
			a.Write([]byte(tarpitLine(h.tarpit) + "\n"))
		}
		header := false
		hidden := map[string]int{}
		for _, r := range h.hidden {
			hidden[r.state.String()]++
		}
		for _, r := range h.results {
			if !header {
				a.Write([]byte(o.tableHeader() + "\n"))
				header = true
			}
			row = append(o.appendRow(row[:0], r), '\n')
			a.Write(row)
		}
		if line := notShownLine(hidden); line != "" {
			a.Write([]byte(line + "\n"))
		}
	}
	if err := a.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// scanHidden groups the ports of h not listed by state, the largest
// group first.
func scanHidden(h *scanHost) (states []string, groups map[string][]hiddenPort) {
	groups = map[string][]hiddenPort{}
	for _, r := range h.hidden {
		st := r.state.String()
		if groups[st] == nil {
			states = append(states, st)
		}
		groups[st] = append(groups[st], r)
	}
	slices.SortStableFunc(states, func(a, b string) int { return cmp.Compare(len(groups[b]), len(groups[a])) })
	return states, groups
}

// nmapTime formats t as nmap does in its outputs.
func nmapTime(t time.Time) string { return t.Format(time.ANSIC) }

// scanSummary is nmap's closing summary, after "done at DATE".
func scanSummary(hosts []*scanHost, elapsed time.Duration) string {
	up := 0
	for _, h := range hosts {
		if ok, _ := h.up(); ok {
			up++
		}
	}
	return fmt.Sprintf("%d IP %s (%d %s up) scanned in %.2f seconds",
		len(hosts), plural(len(hosts), "address", "addresses"), up, plural(up, "host", "hosts"), elapsed.Seconds())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// writeScanGrep writes nmap's greppable output (-oG).
func writeScanGrep(w io.Writer, o *scanOpts, hosts []*scanHost, cmdline string, start, end time.Time) {
	fmt.Fprintf(w, "# ports %s scan initiated %s as: %s\n", version(), nmapTime(start), cmdline)
	for _, h := range hosts {
		prefix := "Host: " + h.addr.String() + " (" + h.name + ")\t"
		up, _ := h.up()
		if !up {
			fmt.Fprintf(w, "%sStatus: Down\n", prefix)
			continue
		}
		fmt.Fprintf(w, "%sStatus: Up\n", prefix)
		var b strings.Builder
		b.WriteString(prefix + "Ports: ")
		n := 0
		for _, r := range h.results {
			if !o.shown(r.State) {
				continue
			}
			if n > 0 {
				b.WriteString(", ")
			}
			n++
			// port/state/protocol/owner/service/rpc info/version/
			fmt.Fprintf(&b, "%d/%s/%s//%s//%s/", r.Port, r.State, r.Proto, r.Service, grepVersion(r))
		}
		if states, counts := scanHidden(h); len(states) > 0 {
			fmt.Fprintf(&b, "\tIgnored State: %s (%d)", states[0], len(counts[states[0]]))
		}
		fmt.Fprintln(w, b.String())
	}
	fmt.Fprintf(w, "# ports done at %s -- %s\n", nmapTime(end), scanSummary(hosts, end.Sub(start)))
}

// writeScanXML writes nmap's XML output (-oX).
// scanErr, if not nil, is why the scan ended early.
func writeScanXML(w io.Writer, o *scanOpts, p *scanPlan, hosts []*scanHost, cmdline string, start, end time.Time, scanErr error) error {
	run := render.NmapRun{
		Scanner: "ports", Args: cmdline, Start: start.Unix(), StartStr: nmapTime(start),
		Version: version(), XMLOutputVersion: "1.05",
		ScanInfo: scanInfos(p),
	}
	for _, h := range hosts {
		up, reason, ttl := h.upTTL()
		xh := render.NmapHost{StartTime: start.Unix(), EndTime: end.Unix(),
			Status:  render.NmapStatus{State: "up", Reason: reason, ReasonTTL: ttl},
			Address: render.NmapAddress{Addr: h.addr.String(), AddrType: "ipv4"},
			Times:   scanTimes(h.rtts),
		}
		if !up {
			xh.Status.State, xh.Status.Reason = "down", scan.ReasonNoResponse
			run.RunStats.Hosts.Down++
		} else {
			run.RunStats.Hosts.Up++
		}
		if h.addr.Is6() {
			xh.Address.AddrType = "ipv6"
		}
		if h.name != "" {
			xh.Hostnames.Hostnames = []render.NmapHostname{{Name: h.name, Type: "user"}}
		}
		states, hidden := scanHidden(h)
		for _, st := range states {
			ep := render.NmapExtraPorts{State: st, Count: len(hidden[st])}
			type protoReason struct {
				proto  ports.Proto
				reason string
			}
			byReason := map[protoReason][]ports.Range{}
			var reasons []protoReason
			for _, r := range hidden[st] {
				key := protoReason{r.proto, r.reason}
				if byReason[key] == nil {
					reasons = append(reasons, key)
				}
				byReason[key] = addRange(byReason[key], r.port)
			}
			for _, key := range reasons {
				n := 0
				for _, rg := range byReason[key] {
					n += int(rg.Last-rg.First) + 1
				}
				ep.ExtraReasons = append(ep.ExtraReasons, render.NmapExtraReasons{
					Reason: key.reason, Count: n, Proto: key.proto.String(), Ports: rangesString(byReason[key])})
			}
			xh.Ports.ExtraPorts = append(xh.Ports.ExtraPorts, ep)
		}
		for _, r := range h.results {
			if !o.shown(r.State) {
				continue
			}
			xp := render.NmapPort{Protocol: r.Proto, PortID: r.Port,
				State: render.NmapState{State: r.State, Reason: r.Reason, ReasonTTL: r.TTL}}
			xp.Service = xmlService(r)
			xh.Ports.Ports = append(xh.Ports.Ports, xp)
		}
		run.Hosts = append(run.Hosts, xh)
	}
	elapsed := end.Sub(start)
	run.RunStats.Hosts.Total = len(hosts)
	run.RunStats.Finished = render.NmapFinished{
		Time: end.Unix(), TimeStr: nmapTime(end), Elapsed: strconv.FormatFloat(elapsed.Seconds(), 'f', 2, 64),
		Summary: "ports done at " + nmapTime(end) + "; " + scanSummary(hosts, elapsed), Exit: "success",
	}
	if scanErr != nil {
		run.RunStats.Finished.Exit, run.RunStats.Finished.ErrorMsg = "error", scanErr.Error()
	}
	if _, err := io.WriteString(w, render.NmapXMLHeader); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(run); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// scanTimes computes nmap's <times> (microseconds) from round-trip times
// as RFC 6298 does; -1 when there are none.
func scanTimes(rtts []time.Duration) render.NmapTimes {
	if len(rtts) == 0 {
		return render.NmapTimes{SRTT: -1, RTTVar: -1, To: scan.InitialTimeout.Microseconds()}
	}
	srtt, rttvar := rtts[0], rtts[0]/2
	for _, r := range rtts[1:] {
		d := srtt - r
		if d < 0 {
			d = -d
		}
		rttvar = (3*rttvar + d) / 4
		srtt = (7*srtt + r) / 8
	}
	to := min(max(srtt+4*rttvar, scan.MinTimeout), scan.MaxTimeout)
	return render.NmapTimes{SRTT: srtt.Microseconds(), RTTVar: rttvar.Microseconds(), To: to.Microseconds()}
}

// addRange adds p, which is not below any port already in rs, to rs.
func addRange(rs []ports.Range, p ports.Port) []ports.Range {
	if n := len(rs); n > 0 && rs[n-1].Last+1 == p {
		rs[n-1].Last = p
		return rs
	}
	return append(rs, ports.Range{First: p, Last: p})
}

// rangesString writes ranges as nmap does: "1-3,7,9-10".
func rangesString(rs []ports.Range) string {
	var b []byte
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(r.First), 10)
		if r.Last != r.First {
			b = append(b, '-')
			b = strconv.AppendUint(b, uint64(r.Last), 10)
		}
	}
	return string(b)
}

// tarpitLine is the line that takes the place of a tarpit's open ports.
func tarpitLine(e *scan.TarpitError) string {
	return fmt.Sprintf("host %s answers SYN-ACK on every port probed (SYN proxy or tarpit): %d ports not listed", e.Addr, e.Open)
}

// scanType is nmap's name of the scan, for -oX.
func scanType(p *scanPlan) string {
	if p.syn {
		return "syn"
	}
	return "connect"
}

// writeFileAtomic writes v as JSON to name through a temporary file, so
// that an interrupted write leaves the old file.
func writeFileAtomic(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
