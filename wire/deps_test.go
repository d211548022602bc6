package wire

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRules: wire does no I/O (no os, net, syscall among its
// imports), uses only the standard library and the root package, and
// keeps gopacket to its tests.
func TestDependencyRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/portkit/ports"
	banDirect := []string{"os", "os/exec", "net", "net/http", "syscall", "io/fs", "io/ioutil", "unsafe", "fmt", "log", "flag"}
	banDeps := []string{"runtime/cgo", mod + "/internal/cli", mod + "/internal/render"}
	for _, goos := range []string{"linux", "darwin", "windows", "freebsd"} {
		for _, imp := range goList(t, goos, "{{join .Imports \"\\n\"}}", ".") {
			for _, ban := range banDirect {
				if imp == ban {
					t.Errorf("GOOS=%s: wire imports %s", goos, ban)
				}
			}
		}
		for _, line := range goList(t, goos, "{{.ImportPath}}{{if .Standard}} std{{end}}", "-deps", ".") {
			path, std := strings.CutSuffix(line, " std")
			if !std && path != mod && !strings.HasPrefix(path, mod+"/") {
				t.Errorf("GOOS=%s: wire depends on %s, outside the standard library", goos, path)
			}
			for _, ban := range banDeps {
				if path == ban {
					t.Errorf("GOOS=%s: wire depends on %s", goos, ban)
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
