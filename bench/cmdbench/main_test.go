package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// need skips t unless every program is in $PATH.
func need(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not in $PATH: %v", p, err)
		}
	}
}

// cmdbench runs run() and returns its exit code, stdout and stderr.
func cmdbench(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// tableRows returns the cells of the markdown table rows in out.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

// TestSmoke runs `true` against `sleep 0` and checks the shape of the
// output, never the times.
func TestSmoke(t *testing.T) {
	need(t, "true", "sleep")
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	code, out, errOut := cmdbench(t, "-runs", "3", "-warmup", "1", "-json", jsonPath, "--", "true=true", "sleep=sleep 0")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr not empty:\n%s", errOut)
	}
	t.Logf("output:\n%s", out)

	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "Machine: ") || !strings.Contains(lines[0], runtime.Version()) || !strings.Contains(lines[0], " CPUs; ") {
		t.Errorf("first line = %q, want the machine line", lines[0])
	}
	rows := tableRows(out)
	wantHeader := []string{"command", "median", "p10", "p90", "min", "runs", "ratio vs baseline", "user+sys", "max RSS"}
	if len(rows) != 4 || !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("table rows = %q, want header %q, a separator and 2 rows", rows, wantHeader)
	}
	if !regexp.MustCompile(`^:-+$`).MatchString(rows[1][0]) || !regexp.MustCompile(`^-+:$`).MatchString(rows[1][1]) {
		t.Errorf("separator = %q, want left-aligned names and right-aligned numbers", rows[1])
	}
	timeRE := regexp.MustCompile(`^[0-9.]+(ns|µs|ms|s)$`)
	for i, name := range []string{"true", "sleep"} {
		row := rows[2+i]
		if row[0] != name || row[5] != "3" {
			t.Errorf("row %d = %q, want command %q with 3 runs", i, row, name)
		}
		for _, cell := range row[1:5] {
			if !timeRE.MatchString(cell) {
				t.Errorf("row %q: %q is not a time", name, cell)
			}
		}
		if !regexp.MustCompile(`^[0-9.]+x$`).MatchString(row[6]) {
			t.Errorf("row %q: ratio %q is not like 1.00x", name, row[6])
		}
	}
	if rows[2][6] != "1.00x" {
		t.Errorf("baseline ratio = %q, want 1.00x", rows[2][6])
	}
	for _, want := range []string{"median of true (lower is faster)", "- true: `true`\n", "- sleep: `sleep 0`\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep jsonReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("-json output: %v\n%s", err, b)
	}
	if rep.Version != 1 || rep.Runs != 3 || rep.Warmup != 1 || rep.Baseline != "true" || len(rep.Commands) != 2 {
		t.Fatalf("-json output = %+v", rep)
	}
	for i, c := range rep.Commands {
		if c.Name != []string{"true", "sleep"}[i] || len(c.Samples) != 3 || !filepath.IsAbs(c.Path) {
			t.Errorf("command %d = %q %q, %d samples", i, c.Name, c.Path, len(c.Samples))
		}
		if !(c.MinNS <= c.P10NS && c.P10NS <= c.MedianNS && c.MedianNS <= c.P90NS && c.P90NS <= c.MaxNS) || c.MinNS <= 0 {
			t.Errorf("command %q: want 0 < min <= p10 <= median <= p90 <= max, have %+v", c.Name, c)
		}
	}
	if rep.Commands[0].Ratio != 1 {
		t.Errorf("baseline ratio = %v, want 1", rep.Commands[0].Ratio)
	}
}

func TestBaselineFlag(t *testing.T) {
	need(t, "true", "sleep")
	code, out, errOut := cmdbench(t, "-runs", "2", "-warmup", "0", "-baseline", "sleep", "true=true", "sleep=sleep 0")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	rows := tableRows(out)
	if len(rows) != 4 || rows[2][0] != "true" || rows[3][0] != "sleep" || rows[3][6] != "1.00x" {
		t.Errorf("rows = %q, want true then sleep, sleep at 1.00x", rows)
	}
	if !strings.Contains(out, "median of sleep") {
		t.Errorf("legend does not name the baseline:\n%s", out)
	}
}

func TestCheck(t *testing.T) {
	need(t, "true", "echo")
	code, _, errOut := cmdbench(t, "-runs", "2", "-check", "echo=echo hi", "true=true")
	if code != 1 || !strings.Contains(errOut, `command "true" (true) failed on warmup run 1 of 3: stdout was empty (-check)`) {
		t.Errorf("-check with true: exit %d, stderr:\n%s", code, errOut)
	}
	code, _, errOut = cmdbench(t, "-runs", "2", "-warmup", "0", "-check", "echo=echo hi")
	if code != 0 {
		t.Errorf("-check with echo: exit %d, stderr:\n%s", code, errOut)
	}
}

func TestFailures(t *testing.T) {
	need(t, "true", "false", "sh", "sleep")
	tests := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"exit status", []string{"true=true", "f=false"}, []string{`command "f" (false) failed on warmup run 1 of 3: exit status 1; stderr was empty`}},
		{"stderr shown", []string{"-warmup", "0", "sh=sh -c 'echo boom >&2; exit 3'"}, []string{
			`command "sh" (sh -c 'echo boom >&2; exit 3') failed on run 1 of 30: exit status 3; stderr:`, "\n    boom"}},
		{"timeout", []string{"-timeout", "50ms", "-warmup", "0", "s=sleep 10"}, []string{`command "s" (sleep 10) failed on run 1 of 30: timed out after 50ms`}},
		{"not found", []string{"x=/nonexistent/cmdbench-test"}, []string{`command "x": exec: "/nonexistent/cmdbench-test"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cmdbench(t, tt.args...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no commands given"},
		{[]string{"-runs", "0", "a=true"}, "need -runs >= 1"},
		{[]string{"-warmup", "-1", "a=true"}, "need -runs >= 1 and -warmup >= 0"},
		{[]string{"true"}, "want NAME=CMD"},
		{[]string{"a=true", "-check"}, "flags must come before the commands"},
		{[]string{"a=true", "a=false"}, `two commands named "a"`},
		{[]string{"-baseline", "b", "a=true"}, `-baseline "b" is not the name of a command`},
		{[]string{"a=true | cat"}, `unquoted '|'`},
		{[]string{"-nosuchflag"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := cmdbench(t, tt.args...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and stderr containing %q", code, out, errOut, tt.want)
			}
		})
	}
	if code, _, errOut := cmdbench(t, "-h"); code != 0 || !strings.Contains(errOut, "usage: cmdbench") || !strings.Contains(errOut, "-baseline NAME") {
		t.Errorf("-h: exit %d, stderr:\n%s", code, errOut)
	}
}
