package hostports

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks, for each GOOS, that the package builds without cgo and
// imports nothing a library must not (STYLE.md §1, §14).
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	const self = "github.com/portkit/ports/hostports"
	forbidden := map[string]bool{
		"flag":        true,
		"log":         true,
		"runtime/cgo": true,
	}
	for _, goos := range []string{"linux", "darwin", "windows", "freebsd", "openbsd", "netbsd", "js", "wasip1", "plan9"} {
		t.Run(goos, func(t *testing.T) {
			goarch := "amd64"
			switch goos {
			case "js", "wasip1":
				goarch = "wasm"
			}
			cmd := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", self)
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
			out, err := cmd.Output()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					t.Fatalf("go list: %v\n%s", err, ee.Stderr)
				}
				t.Fatalf("go list: %v", err)
			}
			for _, dep := range strings.Fields(string(out)) {
				if forbidden[dep] {
					t.Errorf("imports %s", dep)
				}
				if strings.HasPrefix(dep, "github.com/portkit/ports/") && dep != self {
					t.Errorf("imports %s: want only the root package", dep)
				}
			}
		})
	}
}
