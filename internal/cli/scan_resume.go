package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/netip"
	"os"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/scan"
)

// A SYN scan with --resume FILE keeps two files: FILE, the scan's
// progress (scan.SYNProgress, rewritten whole about once a second), and
// FILE.results, a journal of every result delivered so far, one JSON
// line each, appended to. FILE records how long the journal was when it
// was written, so that the two agree: a resumed scan reads the journal
// up to that length (later lines are for pairs FILE does not count as
// delivered, which the scan delivers again), replays those results
// first and then scans the rest, and so writes its -oJ, -oG and -oX files
// whole, the same as a scan that was never interrupted. The journal is
// removed when the scan finishes.

// scanResumeFile is what --resume FILE holds.
type scanResumeFile struct {
	scan.SYNProgress
	ResultsSize int64 `json:"results_size"` // bytes of FILE.results that hold the results delivered
}

// resumeRecord is one line of FILE.results: a result, or a host's
// TarpitError (Tarpit set), or a probe's error (Err set).
type resumeRecord struct {
	Addr   netip.Addr  `json:"a"`
	Port   uint16      `json:"p,omitempty"`
	Proto  string      `json:"t,omitempty"`
	State  string      `json:"s,omitempty"`
	Reason string      `json:"r,omitempty"`
	RTTus  int64       `json:"rtt,omitempty"`
	Tries  int         `json:"n,omitempty"`
	TTL    uint8       `json:"ttl,omitempty"`
	Err    string      `json:"err,omitempty"`
	Tarpit []int       `json:"tarpit,omitempty"` // open, probed
	ICMP   *resumeICMP `json:"icmp,omitempty"`
	// Conflict: a scan.ConflictError's two reasons, in order.
	Conflict []string `json:"conflict,omitempty"`
}

// resumeICMP is a Result's ICMPInfo.
type resumeICMP struct {
	From netip.Addr `json:"from,omitzero"`
	V6   bool       `json:"v6,omitempty"`
	Type uint8      `json:"type"`
	Code uint8      `json:"code"`
}

// maxResumeLine bounds a line of FILE.results: the longest record is a
// few hundred bytes.
const maxResumeLine = 64 << 10

func resumeRecordOf(r scan.Result, err error) resumeRecord {
	rec := resumeRecord{Addr: r.Addr, Port: uint16(r.Port), Proto: r.Proto.String(), State: r.State.String(),
		Reason: r.Reason, RTTus: r.RTT.Microseconds(), Tries: r.Tries, TTL: r.TTL}
	if i := r.ICMP; !i.IsZero() {
		rec.ICMP = &resumeICMP{From: i.From, V6: i.V6, Type: i.Type, Code: i.Code}
	}
	var tp *scan.TarpitError
	var ce *scan.ConflictError
	switch {
	case errors.As(err, &ce):
		rec.Conflict = []string{ce.First, ce.Second}
	case errors.As(err, &tp):
		rec = resumeRecord{Addr: r.Addr, Proto: r.Proto.String(), Tarpit: []int{tp.Open, tp.Probed}}
	case err != nil:
		rec.Err = err.Error()
	}
	return rec
}

// result turns the record back into what the scan yielded.
func (rec *resumeRecord) result() (scan.Result, error, bool) {
	proto, err := ports.ParseProto(rec.Proto)
	if err != nil || !rec.Addr.IsValid() {
		return scan.Result{}, nil, false
	}
	r := scan.Result{Addr: rec.Addr, Port: ports.Port(rec.Port), Proto: proto, Reason: rec.Reason,
		RTT: microseconds(rec.RTTus), Tries: rec.Tries, TTL: rec.TTL}
	if i := rec.ICMP; i != nil {
		r.ICMP = scan.ICMPInfo{From: i.From, V6: i.V6, Type: i.Type, Code: i.Code}
	}
	if len(rec.Tarpit) == 2 {
		return r, &scan.TarpitError{Addr: rec.Addr, Open: rec.Tarpit[0], Probed: rec.Tarpit[1]}, true
	}
	st, ok := parseScanState(rec.State)
	if !ok {
		return scan.Result{}, nil, false
	}
	r.State = st
	if len(rec.Conflict) == 2 {
		return r, &scan.ConflictError{Addr: r.Addr, Port: r.Port, First: rec.Conflict[0], Second: rec.Conflict[1], SecondTTL: r.TTL}, true
	}
	if rec.Err != "" {
		return r, errors.New(rec.Err), true
	}
	return r, nil, true
}

func parseScanState(s string) (scan.State, bool) {
	for st := scan.StateUnknown; st <= scan.StateOpenFiltered; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// readResumeJournal reads the first size bytes of the journal name.
func readResumeJournal(name string, size int64) ([]resumeRecord, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, size))
	sc.Buffer(make([]byte, 4096), maxResumeLine)
	var recs []resumeRecord
	var n int64
	for line := 1; sc.Scan(); line++ {
		n += int64(len(sc.Bytes())) + 1
		var rec resumeRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("line %d is not a scan result", line)
		}
		if _, _, ok := rec.result(); !ok {
			return nil, fmt.Errorf("line %d is not a scan result", line)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", len(recs)+1, err)
	}
	if n != size {
		return nil, fmt.Errorf("it holds %d bytes where the progress file counts %d", n, size)
	}
	return recs, nil
}

// scanSYNSeq returns the SYN scan of addrs, resumed from and saving its
// progress to --resume FILE if given.
func scanSYNSeq(ctx context.Context, o *scanOpts, p *scanPlan, addrs []netip.Addr) (iter.Seq2[scan.Result, error], error) {
	if o.resume == "" {
		return scan.SYNScan(ctx, addrs, &p.synCfg), nil
	}
	journal := o.resume + ".results"
	var replay []resumeRecord
	var size int64
	data, err := os.ReadFile(o.resume)
	switch {
	case err == nil:
		var prog scanResumeFile
		if err := json.Unmarshal(data, &prog); err != nil {
			return nil, &runError{fmt.Errorf("--resume %s: not a scan progress file: %w", o.resume, err)}
		}
		if prog.Finished {
			return nil, &runError{fmt.Errorf("--resume %s: that scan is finished; remove the file to scan again", o.resume)}
		}
		if p.synCfg.Seed != 0 && p.synCfg.Seed != prog.Seed {
			return nil, usagef("--seed %d: the scan in --resume %s has seed %d", p.synCfg.Seed, o.resume, prog.Seed)
		}
		if p.synCfg.Shards != 0 && (p.synCfg.Shard != prog.Shard || p.synCfg.Shards != prog.Shards) {
			return nil, usagef("--shard %d/%d: the scan in --resume %s is shard %d/%d", p.synCfg.Shard, p.synCfg.Shards, o.resume, prog.Shard, prog.Shards)
		}
		if replay, err = readResumeJournal(journal, prog.ResultsSize); err != nil {
			return nil, &runError{fmt.Errorf("--resume %s: the results saved in %s: %w; remove both files to scan again", o.resume, journal, err)}
		}
		size = prog.ResultsSize
		p.synCfg.Seed, p.synCfg.Shard, p.synCfg.Shards, p.synCfg.Resume = prog.Seed, prog.Shard, prog.Shards, &prog.SYNProgress
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, &runError{fmt.Errorf("--resume: %w", err)}
	}
	// Lines past size are results that the progress file does not count:
	// the scan delivers them again.
	jf, err := os.OpenFile(journal, os.O_WRONLY|os.O_CREATE, 0o644)
	if err == nil {
		if err = jf.Truncate(size); err == nil {
			_, err = jf.Seek(size, io.SeekStart)
		}
	}
	if err != nil {
		if jf != nil {
			jf.Close()
		}
		return nil, &runError{fmt.Errorf("--resume: %w", err)}
	}
	jw := bufio.NewWriter(jf)
	var saveErr error
	fail := func(err error) {
		if saveErr == nil {
			saveErr = err
		}
	}
	// Checkpoint runs on the goroutine that iterates over the scan, the
	// one below that writes the journal: the journal then holds exactly
	// the results the progress counts as delivered.
	p.synCfg.Checkpoint = func(prog *scan.SYNProgress) {
		if saveErr != nil {
			return // the journal lacks results: keep the last progress that matches it
		}
		if err := jw.Flush(); err != nil {
			fail(err)
			return
		}
		if err := writeFileAtomic(o.resume, &scanResumeFile{SYNProgress: *prog, ResultsSize: size}); err != nil {
			fail(err)
			return
		}
		if prog.Finished {
			os.Remove(journal)
		}
	}
	seq := scan.SYNScan(ctx, addrs, &p.synCfg)
	return func(yield func(scan.Result, error) bool) {
		defer jf.Close()
		for i := range replay {
			r, err, _ := replay[i].result()
			if !yield(r, err) {
				return
			}
		}
		for r, err := range seq {
			if errors.Is(err, scan.ErrResume) {
				err = fmt.Errorf("--resume %s: %w", o.resume, err)
			}
			if r.Addr.IsValid() && saveErr == nil {
				line, merr := json.Marshal(resumeRecordOf(r, err))
				if merr == nil {
					line = append(line, '\n')
					_, merr = jw.Write(line)
				}
				if merr != nil {
					fail(merr)
				} else {
					size += int64(len(line))
				}
			}
			if !yield(r, err) {
				return
			}
		}
		if saveErr != nil {
			yield(scan.Result{}, fmt.Errorf("--resume: %w", saveErr))
		}
	}, nil
}

func microseconds(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
