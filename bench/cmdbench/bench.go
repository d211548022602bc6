package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// A sample is what one run of a command cost.
type sample struct {
	Wall      time.Duration // Start to Wait, as seen by the runner
	User, Sys time.Duration // CPU time of the child, from its rusage
	MaxRSS    int64         // peak resident set of the child, bytes; 0 if the OS does not say
	RSSFloor  int64         // MaxRSS is at most this when the child's real peak was lower; 0 if none
}

// A step is one run in the schedule.
type step struct {
	Cmd    int  // index into the commands
	Iter   int  // 0-based; warmup iterations come first
	Warmup bool // not measured
}

// schedule returns the order of runs: warmup+runs iterations, and in each
// iteration every command once (round-robin), so that slow drifts in the
// machine (thermal, other load, caches) touch all commands alike.
// Iteration i starts at command i mod n, so no command always runs right
// after the same other one.
func schedule(n, warmup, runs int) []step {
	steps := make([]step, 0, n*(warmup+runs))
	for it := range warmup + runs {
		for k := range n {
			steps = append(steps, step{Cmd: (it + k) % n, Iter: it, Warmup: it < warmup})
		}
	}
	return steps
}

// A config controls a benchmark. Zero Warmup means no warmup runs; zero
// Timeout means runs are not timed out.
type config struct {
	Warmup  int
	Runs    int
	Check   bool          // fail if a command prints nothing on its first run
	Timeout time.Duration // per run
}

// A command is a spec ready to run.
type command struct {
	spec
	Path    string   // argv[0] resolved through $PATH
	Samples []sample // measured runs, in run order
	errFile *os.File // stderr of the latest run
}

// A runner runs the commands with stdin and stdout on /dev/null and
// stderr in a temporary file per command. All are *os.File, so the child
// writes to them directly and the runner starts no copying goroutines
// whose work would be timed.
type runner struct {
	cfg     config
	cmds    []*command
	devNull *os.File
	outFile *os.File // stdout of a -check run
}

// newRunner resolves every command's argv[0] and opens the files runs need.
// The caller must call close.
func newRunner(cfg config, specs []spec) (*runner, error) {
	r := &runner{cfg: cfg}
	for _, s := range specs {
		path, err := exec.LookPath(s.Argv[0])
		if err != nil {
			return nil, fmt.Errorf("command %q: %w", s.Name, err)
		}
		r.cmds = append(r.cmds, &command{spec: s, Path: path})
	}
	var err error
	if r.devNull, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	if r.outFile, err = os.CreateTemp("", "cmdbench-stdout-*"); err != nil {
		r.close()
		return nil, err
	}
	for _, c := range r.cmds {
		if c.errFile, err = os.CreateTemp("", "cmdbench-stderr-*"); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

func (r *runner) close() {
	closeFile(r.devNull, false)
	for _, c := range r.cmds {
		closeFile(c.errFile, true)
	}
	closeFile(r.outFile, true)
}

func closeFile(f *os.File, remove bool) {
	if f == nil {
		return
	}
	f.Close()
	if remove {
		os.Remove(f.Name())
	}
}

// run runs the whole schedule, appending measured samples to each command.
// It stops at the first failing run.
func (r *runner) run(ctx context.Context) error {
	checked := make([]bool, len(r.cmds))
	for _, st := range schedule(len(r.cmds), r.cfg.Warmup, r.cfg.Runs) {
		c := r.cmds[st.Cmd]
		check := r.cfg.Check && !checked[st.Cmd]
		checked[st.Cmd] = true
		s, err := r.runOnce(ctx, c, check)
		if err != nil {
			what := fmt.Sprintf("run %d of %d", st.Iter-r.cfg.Warmup+1, r.cfg.Runs)
			if st.Warmup {
				what = fmt.Sprintf("warmup run %d of %d", st.Iter+1, r.cfg.Warmup)
			}
			return fmt.Errorf("command %q (%s) failed on %s: %w", c.Name, joinArgs(c.Argv), what, err)
		}
		if !st.Warmup {
			c.Samples = append(c.Samples, s)
		}
	}
	return nil
}

// runOnce runs c once. With check, its stdout goes to a file that must not
// be empty afterwards.
func (r *runner) runOnce(ctx context.Context, c *command, check bool) (sample, error) {
	if err := rewind(c.errFile); err != nil {
		return sample{}, err
	}
	stdout := r.devNull
	if check {
		if err := rewind(r.outFile); err != nil {
			return sample{}, err
		}
		stdout = r.outFile
	}
	if ctx.Err() != nil {
		return sample{}, errInterrupted
	}
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if r.cfg.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, r.cfg.Timeout)
	}
	defer cancel()
	attr := &os.ProcAttr{Files: []*os.File{r.devNull, stdout, c.errFile}}
	floor := rssFloor()

	start := time.Now()
	p, err := os.StartProcess(c.Path, c.Argv, attr)
	if err != nil {
		return sample{}, err
	}
	stop := context.AfterFunc(runCtx, func() { p.Kill() })
	ps, err := p.Wait()
	wall := time.Since(start)
	if err != nil {
		stop()
		return sample{}, err
	}
	// The AfterFunc ran and the kill took effect. A run that ended just
	// as the deadline passed still counts.
	killed := !stop() && !ps.Success()

	switch {
	case killed && ctx.Err() != nil:
		return sample{}, errInterrupted
	case killed:
		return sample{}, fmt.Errorf("timed out after %v (-timeout)%s", r.cfg.Timeout, stderrTail(c.errFile))
	case !ps.Success():
		return sample{}, fmt.Errorf("%v%s", ps, stderrTail(c.errFile))
	}
	if check {
		fi, err := r.outFile.Stat()
		if err != nil {
			return sample{}, err
		}
		if fi.Size() == 0 {
			return sample{}, fmt.Errorf("stdout was empty (-check)%s", stderrTail(c.errFile))
		}
	}
	return sample{
		Wall:     wall,
		User:     ps.UserTime(),
		Sys:      ps.SystemTime(),
		MaxRSS:   maxRSS(ps),
		RSSFloor: floor,
	}, nil
}

// errInterrupted reports that the benchmark's context ended (SIGINT or
// SIGTERM) during or before a run.
var errInterrupted = errors.New("interrupted")

// rewind empties f for the next run. Both calls are needed: the child
// shares f's offset, so truncating alone would leave a hole.
func rewind(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// stderrMax is how much of a failing command's stderr is shown.
const stderrMax = 4 << 10

// stderrTail returns "; stderr:" and the last stderrMax bytes of f, indented,
// or "; stderr was empty".
func stderrTail(f *os.File) string {
	fi, err := f.Stat()
	if err != nil {
		return "; stderr unreadable: " + err.Error()
	}
	off := max(fi.Size()-stderrMax, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return "; stderr unreadable: " + err.Error()
	}
	text := strings.TrimRight(string(buf), "\n")
	if text == "" {
		return "; stderr was empty"
	}
	if off > 0 {
		text = "[...]\n" + text
	}
	return "; stderr:\n    " + strings.ReplaceAll(text, "\n", "\n    ")
}
