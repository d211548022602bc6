package scan

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
)

// A Checkpoint keeps two files: Path, the SYN scan's progress
// (SYNProgress, rewritten whole about once a second), and Path.results,
// a journal of every result delivered so far, one JSON line each,
// appended to. Path records how long the journal was when it was
// written, so that the two agree: a resumed scan reads the journal up to
// that length (later lines are for pairs Path does not count as
// delivered, which the scan delivers again), replays those results
// first and then scans the rest, so that its outputs hold the whole
// scan, the same as a scan that was never interrupted. The journal is
// removed when the scan finishes.

// Checkpoint is a SYN scan's progress and results kept in files, so
// that a scan interrupted can be continued by running the same Plan
// again (Plan.Checkpoint). Make it with OpenCheckpoint.
type Checkpoint struct {
	path     string
	progress *SYNProgress // nil: a new scan
	size     int64        // bytes of the journal that hold the results delivered
	replay   []checkpointRecord
}

// ErrCheckpointFinished reports a checkpoint of a scan that finished:
// there is nothing to continue.
var ErrCheckpointFinished = errors.New("scan: that scan is finished")

// CheckpointError reports a checkpoint file that cannot be used.
type CheckpointError struct {
	Path string // the file: the progress, or its journal (Path.results)
	Err  error
}

func (e *CheckpointError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *CheckpointError) Unwrap() error { return e.Err }

// maxCheckpointLine bounds a line of the journal: the longest record is
// a few hundred bytes.
const maxCheckpointLine = 64 << 10

// OpenCheckpoint reads the checkpoint at path: the progress and
// results of an interrupted scan, or nothing if path does not exist (a
// new scan, which will write it). A scan that finished gives
// ErrCheckpointFinished; files that cannot be read or do not agree give
// a *CheckpointError.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	c := &Checkpoint{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, err
	}
	var f checkpointFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, &CheckpointError{path, fmt.Errorf("not a scan progress file: %w", err)}
	}
	if f.Finished {
		return nil, ErrCheckpointFinished
	}
	journal := c.journal()
	if c.replay, err = readJournal(journal, f.ResultsSize); err != nil {
		return nil, &CheckpointError{journal, err}
	}
	c.progress, c.size = &f.SYNProgress, f.ResultsSize
	return c, nil
}

// Progress returns the progress of the scan being continued, whose Seed,
// Shard and Shards the scan keeps; nil for a new scan.
func (c *Checkpoint) Progress() *SYNProgress { return c.progress }

// Path returns the progress file's name.
func (c *Checkpoint) Path() string { return c.path }

func (c *Checkpoint) journal() string { return c.path + ".results" }

// checkpointFile is what the progress file holds.
type checkpointFile struct {
	SYNProgress
	ResultsSize int64 `json:"results_size"` // bytes of the journal that hold the results delivered
}

// checkpointRecord is one line of the journal: a result, or a host's
// TarpitError (Tarpit set), or a probe's error (Err set).
type checkpointRecord struct {
	Addr   netip.Addr      `json:"a"`
	Port   uint16          `json:"p,omitempty"`
	Proto  string          `json:"t,omitempty"`
	State  string          `json:"s,omitempty"`
	Reason string          `json:"r,omitempty"`
	RTTus  int64           `json:"rtt,omitempty"`
	Tries  int             `json:"n,omitempty"`
	TTL    uint8           `json:"ttl,omitempty"`
	Err    string          `json:"err,omitempty"`
	Tarpit []int           `json:"tarpit,omitempty"` // open, probed
	ICMP   *checkpointICMP `json:"icmp,omitempty"`
	// Conflict: a ConflictError's two reasons, in order.
	Conflict []string `json:"conflict,omitempty"`
}

// checkpointICMP is a Result's ICMPInfo.
type checkpointICMP struct {
	From netip.Addr `json:"from,omitzero"`
	V6   bool       `json:"v6,omitempty"`
	Type uint8      `json:"type"`
	Code uint8      `json:"code"`
}

func checkpointRecordOf(r Result, err error) checkpointRecord {
	rec := checkpointRecord{Addr: r.Addr, Port: uint16(r.Port), Proto: r.Proto.String(), State: r.State.String(),
		Reason: r.Reason, RTTus: r.RTT.Microseconds(), Tries: r.Tries, TTL: r.TTL}
	if i := r.ICMP; !i.IsZero() {
		rec.ICMP = &checkpointICMP{From: i.From, V6: i.V6, Type: i.Type, Code: i.Code}
	}
	var tp *TarpitError
	var ce *ConflictError
	switch {
	case errors.As(err, &ce):
		rec.Conflict = []string{ce.First, ce.Second}
	case errors.As(err, &tp):
		rec = checkpointRecord{Addr: r.Addr, Proto: r.Proto.String(), Tarpit: []int{tp.Open, tp.Probed}}
	case err != nil:
		rec.Err = err.Error()
	}
	return rec
}

// result turns the record back into what the scan yielded.
func (rec *checkpointRecord) result() (Result, error, bool) {
	proto, err := ports.ParseProto(rec.Proto)
	if err != nil || !rec.Addr.IsValid() {
		return Result{}, nil, false
	}
	r := Result{Addr: rec.Addr, Port: ports.Port(rec.Port), Proto: proto, Reason: rec.Reason,
		RTT: time.Duration(rec.RTTus) * time.Microsecond, Tries: rec.Tries, TTL: rec.TTL}
	if i := rec.ICMP; i != nil {
		r.ICMP = ICMPInfo{From: i.From, V6: i.V6, Type: i.Type, Code: i.Code}
	}
	if len(rec.Tarpit) == 2 {
		return r, &TarpitError{Addr: rec.Addr, Open: rec.Tarpit[0], Probed: rec.Tarpit[1]}, true
	}
	st, ok := parseState(rec.State)
	if !ok {
		return Result{}, nil, false
	}
	r.State = st
	if len(rec.Conflict) == 2 {
		return r, &ConflictError{Addr: r.Addr, Port: r.Port, First: rec.Conflict[0], Second: rec.Conflict[1], SecondTTL: r.TTL}, true
	}
	if rec.Err != "" {
		return r, errors.New(rec.Err), true
	}
	return r, nil, true
}

func parseState(s string) (State, bool) {
	for st := StateUnknown; st <= StateOpenFiltered; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// readJournal reads the first size bytes of the journal name.
func readJournal(name string, size int64) ([]checkpointRecord, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, size))
	sc.Buffer(make([]byte, 4096), maxCheckpointLine)
	var recs []checkpointRecord
	var n int64
	for line := 1; sc.Scan(); line++ {
		n += int64(len(sc.Bytes())) + 1
		var rec checkpointRecord
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

// scan returns the SYN scan of addrs with cfg, continued from c and
// saving its progress to c: the results replayed from the journal come
// first. cfg's Seed, Shard and Shards become those of the scan
// continued; its Resume and Checkpoint are c's.
func (c *Checkpoint) scan(ctx context.Context, addrs []netip.Addr, cfg *SYNConfig) iter.Seq2[Result, error] {
	return func(yield func(Result, error) bool) {
		size := c.size
		if prog := c.progress; prog != nil {
			cfg.Seed, cfg.Shard, cfg.Shards, cfg.Resume = prog.Seed, prog.Shard, prog.Shards, prog
		}
		// Lines past size are results that the progress file does not
		// count: the scan delivers them again.
		jf, err := os.OpenFile(c.journal(), os.O_WRONLY|os.O_CREATE, 0o644)
		if err == nil {
			if err = jf.Truncate(size); err == nil {
				_, err = jf.Seek(size, io.SeekStart)
			}
		}
		if err != nil {
			if jf != nil {
				jf.Close()
			}
			yield(Result{}, &CheckpointError{c.journal(), err})
			return
		}
		defer jf.Close()
		jw := bufio.NewWriter(jf)
		var saveErr error
		fail := func(err error) {
			if saveErr == nil {
				saveErr = err
			}
		}
		// Checkpoint runs on the goroutine that iterates over the scan,
		// the one below that writes the journal: the journal then holds
		// exactly the results the progress counts as delivered.
		cfg.Checkpoint = func(prog *SYNProgress) {
			if saveErr != nil {
				return // the journal lacks results: keep the last progress that matches it
			}
			if err := jw.Flush(); err != nil {
				fail(err)
				return
			}
			if err := writeFileAtomic(c.path, &checkpointFile{SYNProgress: *prog, ResultsSize: size}); err != nil {
				fail(err)
				return
			}
			if prog.Finished {
				os.Remove(c.journal())
			}
		}
		for i := range c.replay {
			r, err, _ := c.replay[i].result()
			if !yield(r, err) {
				return
			}
		}
		for r, err := range SYNScan(ctx, addrs, cfg) {
			if errors.Is(err, ErrResume) {
				err = &CheckpointError{c.path, err}
			}
			if r.Addr.IsValid() && saveErr == nil {
				line, merr := json.Marshal(checkpointRecordOf(r, err))
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
			yield(Result{}, &CheckpointError{c.path, saveErr})
		}
	}
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
