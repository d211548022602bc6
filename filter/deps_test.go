package filter_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package a pure library: no I/O packages of
// its own, nothing outside the standard library but this module and
// golang.org/x/net/bpf, and none of the packages no library may use.
func TestDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/portkit/ports"
	bannedDirect := []string{"os", "net", "syscall", "os/exec", "unsafe"}
	bannedDeps := []string{"flag", "log", "runtime/cgo", "github.com/spf13/cobra", "github.com/spf13/pflag",
		mod + "/internal/cli", mod + "/internal/render", "github.com/gopacket/gopacket"}
	for _, goos := range []string{"linux", "darwin", "windows", "freebsd"} {
		for _, imp := range goList(t, goos, "{{join .Imports \"\\n\"}}", ".") {
			for _, ban := range bannedDirect {
				if imp == ban {
					t.Errorf("GOOS=%s: filter imports %s", goos, ban)
				}
			}
		}
		for _, line := range goList(t, goos, "{{.ImportPath}}{{if .Standard}} std{{end}}", "-deps", ".") {
			path, std := strings.CutSuffix(line, " std")
			for _, ban := range bannedDeps {
				if path == ban {
					t.Errorf("GOOS=%s: filter depends on %s", goos, ban)
				}
			}
			if !std && !strings.HasPrefix(path, mod) && path != "golang.org/x/net/bpf" {
				t.Errorf("GOOS=%s: filter depends on %s, outside the standard library, the module and x/net/bpf", goos, path)
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
