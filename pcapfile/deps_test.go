package pcapfile

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies enforces the layering rule for pcapfile: the standard
// library only (gopacket is for tests), no wire, and no os, net or
// syscall of its own: it reads an io.Reader and writes an io.Writer.
func TestDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/portkit/ports"
	bannedDirect := []string{"os", "net", "syscall", "unsafe"}
	bannedDeps := []string{mod + "/wire", "flag", "log", "runtime/cgo", mod + "/internal/cli", mod + "/internal/render"}
	for _, goos := range []string{"linux", "darwin", "windows", "freebsd"} {
		for _, imp := range goList(t, goos, "{{join .Imports \"\\n\"}}", ".") {
			for _, ban := range bannedDirect {
				if imp == ban {
					t.Errorf("GOOS=%s: pcapfile imports %s", goos, ban)
				}
			}
		}
		for _, line := range goList(t, goos, "{{.ImportPath}}{{if .Standard}} std{{end}}", "-deps", ".") {
			path, std := strings.CutSuffix(line, " std")
			for _, ban := range bannedDeps {
				if path == ban {
					t.Errorf("GOOS=%s: pcapfile depends on %s", goos, ban)
				}
			}
			if !std && !strings.HasPrefix(path, mod) {
				t.Errorf("GOOS=%s: pcapfile depends on %s, outside the standard library", goos, path)
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
