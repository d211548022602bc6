package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"
)

// A machine describes where a benchmark ran.
type machine struct {
	Kernel string    `json:"kernel"` // uname -srm
	CPU    string    `json:"cpu"`    // model name
	CPUs   int       `json:"cpus"`   // logical CPUs usable by the runner
	Go     string    `json:"go"`     // toolchain that built the runner
	Date   time.Time `json:"date"`
}

func machineInfo(now time.Time) machine {
	return machine{
		Kernel: kernel(),
		CPU:    cpuModel(),
		CPUs:   runtime.NumCPU(),
		Go:     runtime.Version(),
		Date:   now.UTC().Truncate(time.Second),
	}
}

// String returns the one-line form printed above the table, e.g.
// "Linux 6.1.0 x86_64; AMD EPYC 7B13; 8 CPUs; go1.26.0; 2026-01-31".
func (m machine) String() string {
	return fmt.Sprintf("%s; %s; %d CPUs; %s; %s", m.Kernel, m.CPU, m.CPUs, m.Go, m.Date.Format(time.DateOnly))
}

func kernel() string {
	if out, err := exec.Command("uname", "-srm").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			return s
		}
	}
	return runtime.GOOS + " " + runtime.GOARCH
}

// cpuModel returns the CPU model from /proc/cpuinfo (Linux) or sysctl
// (macOS, BSD).
func cpuModel() string {
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := cpuinfoModel(b); m != "" {
			return m
		}
	}
	for _, key := range []string{"machdep.cpu.brand_string", "hw.model"} {
		if out, err := exec.Command("sysctl", "-n", key).Output(); err == nil {
			if s := strings.TrimSpace(string(out)); s != "" {
				return s
			}
		}
	}
	return "unknown " + runtime.GOARCH + " CPU"
}

// cpuinfoModel returns the first model-like field of a /proc/cpuinfo: x86
// has "model name"; arm and others use other keys.
func cpuinfoModel(cpuinfo []byte) string {
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if ok && v != "" && fields[k] == "" {
			fields[k] = v
		}
	}
	for _, k := range []string{"model name", "Model", "Hardware", "cpu model", "cpu", "uarch"} {
		if v := fields[k]; v != "" {
			return v
		}
	}
	return ""
}

// A result is everything the reports show.
type result struct {
	Machine  machine
	Config   config
	Baseline int // index into Commands
	Commands []*command
	Stats    []summary // per command
}

func (r *result) ratio(i int) float64 {
	return float64(r.Stats[i].Median) / float64(r.Stats[r.Baseline].Median)
}

// writeMarkdown writes the machine line, the table, a legend and the
// commands that were run.
func writeMarkdown(w io.Writer, r *result) error {
	rows := [][]string{{"command", "median", "p10", "p90", "min", "runs", "ratio vs baseline", "user+sys", "max RSS"}}
	for i, c := range r.Commands {
		s := r.Stats[i]
		rss := "n/a"
		switch {
		case s.RSSBound:
			rss = "≤" + fmtBytes(s.MaxRSS)
		case s.MaxRSS > 0:
			rss = fmtBytes(s.MaxRSS)
		}
		rows = append(rows, []string{
			c.Name, fmtDuration(s.Median), fmtDuration(s.P10), fmtDuration(s.P90), fmtDuration(s.Min),
			fmt.Sprint(len(c.Samples)), fmtRatio(r.ratio(i)), fmtDuration(s.CPU), rss,
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s\n\n", r.Machine)
	writeTable(&b, rows, "lrrrrrrrr")
	fmt.Fprintf(&b, "\nratio = median / median of %s (lower is faster). Wall times of %d runs per command after %d warmup, "+
		"interleaved round-robin. user+sys (CPU time) and max RSS (peak resident set) are medians too; "+
		"≤ marks a peak below the runner's own, which is all the kernel reports then.\n\n",
		r.Commands[r.Baseline].Name, r.Config.Runs, r.Config.Warmup)
	for _, c := range r.Commands {
		fmt.Fprintf(&b, "- %s: `%s`\n", c.Name, joinArgs(c.Argv))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTable writes a markdown table padded so that it also reads as
// plain text. align has one 'l' or 'r' per column.
func writeTable(b *strings.Builder, rows [][]string, align string) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for j, cell := range row {
			width[j] = max(width[j], utf8.RuneCountInString(cell), 3)
		}
	}
	line := func(cells func(j int) string) {
		b.WriteString("|")
		for j := range width {
			b.WriteString(" " + cells(j) + " |")
		}
		b.WriteString("\n")
	}
	pad := func(s string, j int) string {
		fill := strings.Repeat(" ", width[j]-utf8.RuneCountInString(s))
		if align[j] == 'r' {
			return fill + s
		}
		return s + fill
	}
	line(func(j int) string { return pad(rows[0][j], j) })
	line(func(j int) string {
		if align[j] == 'r' {
			return strings.Repeat("-", width[j]-1) + ":"
		}
		return ":" + strings.Repeat("-", width[j]-1)
	})
	for _, row := range rows[1:] {
		line(func(j int) string { return pad(row[j], j) })
	}
}

// fmtRatio formats r as "1.00x", "3.42x", or for tiny ratios with two
// significant digits, "0.0042x".
func fmtRatio(r float64) string {
	if r < 0.0995 {
		return fmt.Sprintf("%.2gx", r)
	}
	return fmt.Sprintf("%.2fx", r)
}

// fmtDuration formats d with three significant digits in ns, µs, ms or s.
func fmtDuration(d time.Duration) string {
	v := float64(d)
	switch {
	case v < 999.5:
		return fmt.Sprintf("%.0fns", v)
	case v < 999.5e3:
		return sig3(v/1e3) + "µs"
	case v < 999.5e6:
		return sig3(v/1e6) + "ms"
	default:
		return sig3(v/1e9) + "s"
	}
}

// fmtBytes formats n with three significant digits in KiB, MiB or GiB.
func fmtBytes(n int64) string {
	v := float64(n)
	switch {
	case v < 999.5*(1<<10):
		return sig3(v/(1<<10)) + " KiB"
	case v < 999.5*(1<<20):
		return sig3(v/(1<<20)) + " MiB"
	default:
		return sig3(v/(1<<30)) + " GiB"
	}
}

func sig3(v float64) string {
	switch {
	case v < 9.995:
		return fmt.Sprintf("%.2f", v)
	case v < 99.95:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// jsonVersion is bumped when a field of the JSON output changes meaning
// or goes away.
const jsonVersion = 1

type jsonReport struct {
	Version  int           `json:"version"`
	Machine  machine       `json:"machine"`
	Warmup   int           `json:"warmup"`
	Runs     int           `json:"runs"`
	Baseline string        `json:"baseline"`
	Commands []jsonCommand `json:"commands"`
}

type jsonCommand struct {
	Name        string       `json:"name"`
	Argv        []string     `json:"argv"`
	Path        string       `json:"path"`
	MedianNS    int64        `json:"median_ns"`
	P10NS       int64        `json:"p10_ns"`
	P90NS       int64        `json:"p90_ns"`
	MinNS       int64        `json:"min_ns"`
	MaxNS       int64        `json:"max_ns"`
	MeanNS      int64        `json:"mean_ns"`
	Ratio       float64      `json:"ratio"`
	CPUNS       int64        `json:"cpu_median_ns"`
	MaxRSSBytes int64        `json:"max_rss_median_bytes"`
	RSSBound    bool         `json:"max_rss_is_upper_bound"`
	Samples     []jsonSample `json:"samples"`
}

type jsonSample struct {
	WallNS      int64 `json:"wall_ns"`
	UserNS      int64 `json:"user_ns"`
	SysNS       int64 `json:"sys_ns"`
	MaxRSSBytes int64 `json:"max_rss_bytes"`
	RSSFloor    int64 `json:"rss_floor_bytes"` // runner's own peak RSS at start; see maxrss_linux.go
}

func writeJSON(w io.Writer, r *result) error {
	out := jsonReport{
		Version:  jsonVersion,
		Machine:  r.Machine,
		Warmup:   r.Config.Warmup,
		Runs:     r.Config.Runs,
		Baseline: r.Commands[r.Baseline].Name,
	}
	for i, c := range r.Commands {
		s := r.Stats[i]
		jc := jsonCommand{
			Name: c.Name, Argv: c.Argv, Path: c.Path,
			MedianNS: int64(s.Median), P10NS: int64(s.P10), P90NS: int64(s.P90),
			MinNS: int64(s.Min), MaxNS: int64(s.Max), MeanNS: int64(s.Mean),
			Ratio: r.ratio(i), CPUNS: int64(s.CPU), MaxRSSBytes: s.MaxRSS, RSSBound: s.RSSBound,
		}
		for _, x := range c.Samples {
			jc.Samples = append(jc.Samples, jsonSample{int64(x.Wall), int64(x.User), int64(x.Sys), x.MaxRSS, x.RSSFloor})
		}
		out.Commands = append(out.Commands, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
