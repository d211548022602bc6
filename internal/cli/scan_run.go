package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/scan"
	"github.com/portkit/ports/scan/report"
)

// maxProbeErrors is how many failed probes are reported one by one.
const maxProbeErrors = 5

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
	if o.resume != "" && p.syn {
		if err := scanCheckpoint(o, p); err != nil {
			return err
		}
	}

	// Nothing below holds a host once it is written: a /16 of absent
	// hosts costs its target list and discovery's few bytes a target.
	// names are those of the targets given by name, for the port lines.
	var names map[netip.Addr]string
	for _, t := range p.targets {
		if t.Name != "" {
			if names == nil {
				names = map[netip.Addr]string{}
			}
			names[t.Addr] = t.Name
		}
	}
	ropts := &report.Options{AllStates: o.allStates}
	var stream *render.Stream[render.ScanResultV1]
	if listing && p.format == render.JSONL {
		stream = render.NewStream[render.ScanResultV1](stdout, render.JSONL, nil)
	}
	var list *scanListing
	if listing && p.format != render.JSONL {
		list = newScanListing(stdout, p.format, o, p)
	}
	var jl *report.JSONLines
	if oJ != nil {
		jl = report.NewJSONLines(oJ.w)
	}

	set := p.plan.Ports
	total := len(p.targets) * (set.Len(ports.ProtoTCP)/p.shards + set.Len(ports.ProtoUDP))
	var done atomic.Int64
	start := time.Now()
	rep := &report.Scan{Version: version(), Args: strings.TrimSpace("ports scan " + strings.Join(raw, " ")),
		Start: start, Ports: set, TCP: scan.EngineConnect, ListDown: o.allStates}
	if p.syn {
		rep.TCP = scan.EngineSYN
	}
	var oGw *report.GrepWriter
	var oXw *report.XMLWriter
	if oG != nil {
		if oGw, err = report.NewGrepWriter(oG.w, rep); err != nil {
			return fmt.Errorf("-oG: %w", err)
		}
	}
	if oX != nil {
		if oXw, err = report.NewXMLWriter(oX.w, rep); err != nil {
			return fmt.Errorf("-oX: %w", err)
		}
	}
	stopProgress := func() {}
	if isTerminal(stderr) {
		stopProgress = scanProgress(stderr, &done, total, start)
	}
	// warn prints a line on stderr, around the progress line.
	warn := func(format string, args ...any) {
		stopProgress()
		fmt.Fprintf(stderr, "ports scan: "+format+"\n", args...)
		if isTerminal(stderr) {
			stopProgress = scanProgress(stderr, &done, total, start)
		}
	}
	probeErrors, conflicts := 0, 0
	var outErr error // writing an output failed
	plan := p.plan
	plan.OnResult = func(r scan.Result, perr error) {
		done.Add(1)
		var tarpit *scan.TarpitError
		var conflict *scan.ConflictError
		var hostErr *scan.HostError
		switch {
		case errors.As(perr, &hostErr):
			return // the host's own result, in its listing: not a failed probe
		case errors.As(perr, &tarpit):
			if !listing || p.format != render.Table {
				warn("%s", report.TarpitLine(tarpit))
			}
			return
		case errors.As(perr, &conflict):
			// Reported with state unknown and both reasons, in place of
			// the first answer's result (open or closed).
			if conflicts++; conflicts <= maxProbeErrors {
				warn("%s", strings.TrimPrefix(conflict.Error(), "scan: "))
			}
		case perr != nil:
			if probeErrors++; probeErrors <= maxProbeErrors {
				warn("%v", perr)
			}
		}
		shown := ropts.Lists(r.State)
		if outErr != nil || jl == nil && (stream == nil || !shown) {
			return
		}
		v := report.PortOf(scan.Target{Addr: r.Addr, Name: names[r.Addr]}, r)
		// -oJ writes what the listing shows: open and open|filtered
		// ports, unless --all-states; the host record counts the rest.
		if jl != nil && (o.allStates || r.State == scan.StateOpen || r.State == scan.StateOpenFiltered) {
			if err := jl.Write(v); err != nil {
				outErr = fmt.Errorf("-oJ: %w", err)
			}
		}
		// open|filtered ports wait for their host's end: a host lists
		// them only if it has few (report.MaxOpenFiltered).
		if stream != nil && shown && (r.State != scan.StateOpenFiltered || o.allStates) {
			if err := stream.Write(v); err != nil {
				outErr = err
			}
		}
	}
	// writeHost writes a host that is done to every output, and forgets
	// it.
	writeHost := func(h *scan.Host) error {
		rh := report.NewHost(h, ropts)
		if jl != nil {
			if err := jl.WriteHost(rh); err != nil {
				return fmt.Errorf("-oJ: %w", err)
			}
		}
		if stream != nil && !o.allStates {
			for _, v := range rh.Ports {
				if v.State == "open|filtered" {
					if err := stream.Write(v); err != nil {
						return err
					}
				}
			}
		}
		if list != nil {
			if err := list.host(rh); err != nil {
				return err
			}
		}
		if oGw != nil {
			if err := oGw.WriteHost(rh); err != nil {
				return fmt.Errorf("-oG: %w", err)
			}
		}
		if oXw != nil {
			if err := oXw.WriteHost(rh); err != nil {
				return fmt.Errorf("-oX: %w", err)
			}
		}
		return nil
	}
	var scanErr error
	for h, err := range scan.Run(ctx, p.targets, &plan) {
		if err != nil {
			scanErr = err // the scan ended
			break
		}
		if outErr == nil {
			outErr = writeHost(h)
		}
		if outErr != nil {
			break
		}
	}
	stopProgress()
	if outErr != nil {
		return outErr
	}
	end := time.Now()
	if stream != nil {
		if err := stream.Close(); err != nil {
			return err
		}
	}
	if list != nil {
		if err := list.close(); err != nil {
			return err
		}
	}
	var ce *scan.CheckpointError
	switch {
	case scanErr == nil:
	case errors.Is(scanErr, context.Canceled):
		scanErr = &runError{errors.New("interrupted")}
		if p.syn && o.resume != "" {
			scanErr = &runError{fmt.Errorf("interrupted; the progress is in %s: run the same command to continue", o.resume)}
		}
	case errors.As(scanErr, &ce):
		scanErr = fmt.Errorf("--resume %w", scanErr)
	}
	if oGw != nil {
		if err := oGw.Close(end, scanErr); err != nil {
			return fmt.Errorf("-oG: %w", err)
		}
	}
	if oXw != nil {
		if err := oXw.Close(end, scanErr); err != nil {
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

// scanCheckpoint opens --resume FILE for the SYN scan: a scan to
// continue must have the --seed and --shard given, if any, and then
// keeps its own.
func scanCheckpoint(o *scanOpts, p *scanPlan) error {
	ck, err := scan.OpenCheckpoint(o.resume)
	var ce *scan.CheckpointError
	switch {
	case errors.Is(err, scan.ErrCheckpointFinished):
		return &runError{fmt.Errorf("--resume %s: that scan is finished; remove the file to scan again", o.resume)}
	case errors.As(err, &ce) && ce.Path != o.resume:
		return &runError{fmt.Errorf("--resume %s: the results saved in %s: %w; remove both files to scan again", o.resume, ce.Path, ce.Err)}
	case errors.As(err, &ce):
		return &runError{fmt.Errorf("--resume %w", err)}
	case err != nil:
		return &runError{fmt.Errorf("--resume: %w", err)}
	}
	syn := &p.plan.SYN
	if prog := ck.Progress(); prog != nil {
		if syn.Seed != 0 && syn.Seed != prog.Seed {
			return usagef("--seed %d: the scan in --resume %s has seed %d", syn.Seed, o.resume, prog.Seed)
		}
		if syn.Shards != 0 && (syn.Shard != prog.Shard || syn.Shards != prog.Shards) {
			return usagef("--shard %d/%d: the scan in --resume %s is shard %d/%d", syn.Shard, syn.Shards, o.resume, prog.Shard, prog.Shards)
		}
	}
	p.plan.Checkpoint = ck
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

// writeScanListing writes the table, or a JSON array, of the ports
// hosts show.
func writeScanListing(w io.Writer, format render.Format, o *scanOpts, p *scanPlan, hosts []*report.Host) error {
	l := newScanListing(w, format, o, p)
	for _, h := range hosts {
		if err := l.host(h); err != nil {
			return err
		}
	}
	return l.close()
}

// scanListing writes the table, or a JSON array, of the ports shown, a
// host at a time as each is done, and the count of hosts up at the end.
type scanListing struct {
	bw          *bufio.Writer
	a           *render.Aligner
	json        *render.Stream[render.ScanResultV1]
	o           *scanOpts
	p           *scanPlan
	row         []byte
	up, n, seen int
}

func newScanListing(w io.Writer, format render.Format, o *scanOpts, p *scanPlan) *scanListing {
	l := &scanListing{o: o, p: p}
	if format == render.JSON {
		l.json = render.NewStream[render.ScanResultV1](w, render.JSON, nil)
		return l
	}
	l.bw = bufio.NewWriter(w)
	l.a = render.NewAligner(l.bw)
	return l
}

// host writes h's part of the listing. Each host's table is aligned
// alone, as nmap's are, so that nothing waits for the next host.
func (l *scanListing) host(h *report.Host) error {
	if h == nil {
		return nil
	}
	if l.json != nil {
		for _, r := range h.Ports {
			if err := l.json.Write(r); err != nil {
				return err
			}
		}
		return nil
	}
	l.seen++
	if h.Up {
		l.up++
	}
	p, o, a := l.p, l.o, l.a
	// After discovery, as nmap, only the hosts up are listed.
	if !h.Up && p != nil && p.plan.Discover != nil {
		return nil
	}
	if l.n > 0 {
		a.Write([]byte("\n"))
	}
	l.n++
	title := "scan report for " + h.Addr.String()
	if h.Name != "" {
		title = "scan report for " + h.Name + " (" + h.Addr.String() + ")"
	}
	switch {
	case !h.Up:
		title += ": " + h.Quiet()
	case p != nil && p.discoverOnly:
		title += ": up (" + h.Reason
		if h.Latency > 0 {
			title += fmt.Sprintf(", %.2fms", float64(h.Latency.Microseconds())/1000)
		}
		if len(h.MAC) > 0 {
			title += ", MAC " + h.MAC.String()
		}
		title += ")"
	}
	a.Write([]byte(title + "\n"))
	if h.Tarpit != nil {
		a.Write([]byte(report.TarpitLine(h.Tarpit) + "\n"))
	}
	for j, r := range h.Ports {
		if j == 0 {
			a.Write([]byte(o.tableHeader() + "\n"))
		}
		l.row = append(o.appendRow(l.row[:0], r), '\n')
		a.Write(l.row)
	}
	if line := h.NotShown(); line != "" {
		a.Write([]byte(line + "\n"))
	}
	if err := a.Flush(); err != nil {
		return err
	}
	if h.Up {
		// A host up is shown at once; hosts down (-Pn) fill the buffer.
		return l.bw.Flush()
	}
	return nil
}

// close ends the listing: the JSON array, or the count of hosts up.
func (l *scanListing) close() error {
	if l.json != nil {
		return l.json.Close()
	}
	p, a := l.p, l.a
	if l.seen > 1 || p != nil && p.plan.Discover != nil {
		if l.n > 0 {
			a.Write([]byte("\n"))
		}
		a.Write([]byte(fmt.Sprintf("%d %s up of %d scanned\n", l.up, plural(l.up, "host", "hosts"), l.seen)))
	}
	if err := a.Flush(); err != nil {
		return err
	}
	return l.bw.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
