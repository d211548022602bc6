// Command cmdbench benchmarks whole commands against each other: it runs
// each one as a separate process (no shell), interleaved round-robin,
// and prints a markdown table of medians and ratios to a baseline.
//
// Usage:
//
//	go run ./bench/cmdbench [flags] [--] NAME=CMD [NAME=CMD ...]
//
// NAME labels the command in the table; CMD is split into an argv with
// sh-like quoting (see splitArgs) and run without a shell. The first
// command is the baseline unless -baseline names another. See
// bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: cmdbench [flags] [--] NAME=CMD [NAME=CMD ...]

Runs each CMD (split on blanks with sh-like quoting, no shell) -warmup
times and then -runs times, interleaved round-robin, and prints a markdown
table of wall-time medians with each command's ratio to the baseline.
A run that exits non-zero fails the benchmark.

Example:
  cmdbench -runs 50 -- 'getent=getent services 443' 'ports=ports info 443'

Flags:
`

// run is main without the process: it returns the exit code, 0 for
// success, 1 if the benchmark failed and 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cmdbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	var (
		cfg      config
		baseline string
		jsonPath string
	)
	fs.IntVar(&cfg.Warmup, "warmup", 3, "unmeasured runs of each command before the measured ones")
	fs.IntVar(&cfg.Runs, "runs", 30, "measured runs of each command")
	fs.StringVar(&baseline, "baseline", "", "`NAME` of the command that ratios are relative to (default the first)")
	fs.BoolVar(&cfg.Check, "check", false, "fail if a command prints nothing on stdout on its first run")
	fs.StringVar(&jsonPath, "json", "", "also write machine, statistics and every sample as JSON to `FILE`")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Minute, "kill and fail any run that takes longer (0 for no limit)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "cmdbench: "+format+"\n", a...)
		fmt.Fprintln(stderr, "run 'cmdbench -h' for usage")
		return 2
	}
	if cfg.Runs < 1 || cfg.Warmup < 0 {
		return usageErr("need -runs >= 1 and -warmup >= 0, have %d and %d", cfg.Runs, cfg.Warmup)
	}
	if fs.NArg() == 0 {
		return usageErr("no commands given")
	}
	var specs []spec
	for _, arg := range fs.Args() {
		if strings.HasPrefix(arg, "-") {
			return usageErr("%q: flags must come before the commands", arg)
		}
		s, err := parseSpec(arg)
		if err != nil {
			return usageErr("%v", err)
		}
		if slices.ContainsFunc(specs, func(t spec) bool { return t.Name == s.Name }) {
			return usageErr("two commands named %q", s.Name)
		}
		specs = append(specs, s)
	}
	base := 0
	if baseline != "" {
		base = slices.IndexFunc(specs, func(s spec) bool { return s.Name == baseline })
		if base < 0 {
			return usageErr("-baseline %q is not the name of a command", baseline)
		}
	}

	res, err := bench(ctx, cfg, specs, base)
	if err != nil {
		fmt.Fprintf(stderr, "cmdbench: %v\n", err)
		return 1
	}
	if err := writeMarkdown(stdout, res); err != nil {
		fmt.Fprintf(stderr, "cmdbench: %v\n", err)
		return 1
	}
	if jsonPath != "" {
		if err := writeJSONFile(jsonPath, res); err != nil {
			fmt.Fprintf(stderr, "cmdbench: %v\n", err)
			return 1
		}
	}
	return 0
}

// bench runs the benchmark and summarizes it.
func bench(ctx context.Context, cfg config, specs []spec, base int) (*result, error) {
	m := machineInfo(time.Now())
	r, err := newRunner(cfg, specs)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	res := &result{Machine: m, Config: cfg, Baseline: base, Commands: r.cmds}
	for _, c := range r.cmds {
		res.Stats = append(res.Stats, summarize(c.Samples))
	}
	return res, nil
}

func writeJSONFile(path string, r *result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeJSON(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
