package ports_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRules enforces the layering: library packages stay
// usable on their own, and the small ones stay free of I/O.
func TestDependencyRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/portkit/ports"
	// Forbidden for every library package (anything outside cmd/ and
	// internal/), directly or through its dependencies.
	// flag and log are banned as direct imports only: log/slog, which
	// libraries may use for an optional logger, imports log itself.
	libraryDirect := []string{"flag", "log"}
	libraryBans := []string{"runtime/cgo", "github.com/spf13/cobra", "github.com/spf13/pflag", mod + "/internal/cli", mod + "/internal/render"}
	rules := []struct {
		pkg     string
		direct  []string // forbidden direct imports
		deps    []string // forbidden anywhere in the dependencies
		stdOnly bool     // only the standard library (and the module itself)
	}{
		{pkg: ".", direct: []string{"net", "os", "syscall"}, stdOnly: true},
		{pkg: "./registry", direct: []string{"os", "net", "syscall"}},
		{pkg: "./hostports", deps: []string{mod + "/registry"}},
		{pkg: "./flow", direct: []string{"os", "net", "syscall"}},
		{pkg: "./scan", deps: []string{mod + "/capture", mod + "/socktable"}},
		{pkg: "./wire", direct: []string{"os", "net", "syscall"}},
		{pkg: "./pcapfile", deps: []string{mod + "/wire"}, direct: []string{"net", "syscall"}},
		{pkg: "./socktable", deps: []string{mod + "/registry", mod + "/hostports"}},
	}
	for _, goos := range []string{"linux", "darwin", "windows", "freebsd"} {
		for _, r := range rules {
			direct := goList(t, goos, "{{join .Imports \"\\n\"}}", r.pkg)
			deps := goList(t, goos, "{{.ImportPath}}{{if .Standard}} std{{end}}", "-deps", r.pkg)
			for _, imp := range direct {
				for _, ban := range append(r.direct, libraryDirect...) {
					if imp == ban {
						t.Errorf("GOOS=%s: %s imports %s", goos, r.pkg, ban)
					}
				}
			}
			for _, line := range deps {
				path, std := strings.CutSuffix(line, " std")
				for _, ban := range append(r.deps, libraryBans...) {
					if path == ban {
						t.Errorf("GOOS=%s: %s depends on %s", goos, r.pkg, ban)
					}
				}
				if r.stdOnly && !std && !strings.HasPrefix(path, mod) {
					t.Errorf("GOOS=%s: %s depends on %s, outside the standard library", goos, r.pkg, path)
				}
			}
		}
	}
}

func goList(t *testing.T, goos, format string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", format}, args...)...)
	cmd.Env = append(cmd.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %v (GOOS=%s): %v %s", args, goos, err, msg)
	}
	return strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' })
}
