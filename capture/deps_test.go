package capture_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package within its bounds (STYLE.md §1,
// §14): no scan or socktable, no cgo, nothing a library may not use, and
// outside the standard library and this module only mdlayher/packet and
// its dependencies and golang.org/x.
func TestDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/portkit/ports"
	banned := []string{
		"flag", "log", "runtime/cgo",
		mod + "/scan", mod + "/socktable", mod + "/mapper",
		mod + "/internal/cli", mod + "/internal/render", mod + "/internal/porttest",
		"github.com/spf13/cobra", "github.com/spf13/pflag", "github.com/gopacket/gopacket",
	}
	allowed := []string{"github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/"}
	for _, goos := range []string{"linux", "darwin", "windows", "freebsd"} {
		for _, line := range goList(t, goos, "{{.ImportPath}}{{if .Standard}} std{{end}}", "-deps", ".") {
			path, std := strings.CutSuffix(line, " std")
			for _, ban := range banned {
				if path == ban {
					t.Errorf("GOOS=%s: capture depends on %s", goos, ban)
				}
			}
			if std || strings.HasPrefix(path, mod) {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || strings.HasPrefix(path, a)
			}
			if !ok {
				t.Errorf("GOOS=%s: capture depends on %s", goos, path)
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
