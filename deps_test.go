package ports_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRules enforces the layering of STYLE.md for every GOOS
// CI builds: library packages stay usable on their own, the small ones
// stay free of I/O, and none needs cgo.
func TestDependencyRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/portkit/ports"
	// Banned for every library package (anything outside cmd/ and
	// internal/): flag and log as direct imports (log/slog, which a
	// library may use for an optional logger, imports log itself), the
	// rest anywhere in the dependencies.
	libraryDirect := []string{"flag", "log"}
	libraryDeps := []string{"runtime/cgo", "github.com/spf13/cobra", "github.com/spf13/pflag",
		mod + "/internal/cli", mod + "/internal/render", mod + "/internal/porttest"}
	rules := []struct {
		pkg     string
		direct  []string // banned direct imports
		deps    []string // banned anywhere in the dependencies
		allowed []string // module path prefixes allowed besides the standard library and this module
	}{
		{pkg: ".", direct: []string{"net", "os", "syscall"}},
		{pkg: "./registry", direct: []string{"os", "net", "syscall"}},
		{pkg: "./hostports", deps: []string{mod + "/registry"}, allowed: []string{"golang.org/x/sys/"}},
		{pkg: "./flow", direct: []string{"os", "net", "syscall"}},
		{pkg: "./socktable", deps: []string{mod + "/registry", mod + "/hostports"}, allowed: []string{"golang.org/x/sys/"}},
		// fmt: decoding must not allocate. wire takes pcapfile.LinkType
		// (pcapfile imports fmt, for its errors; wire calls only
		// LinkType.String, and only for an unsupported link type), so
		// pcapfile must never depend on wire.
		{pkg: "./wire", direct: []string{"os", "os/exec", "net", "syscall", "io/fs", "unsafe", "fmt"}},
		{pkg: "./pcapfile", direct: []string{"os", "net", "syscall", "unsafe"}, deps: []string{mod + "/wire", mod + "/filter"}},
		{pkg: "./filter", direct: []string{"os", "net", "syscall", "os/exec", "unsafe"}, deps: []string{"github.com/gopacket/gopacket"},
			allowed: []string{"golang.org/x/net/bpf"}},
		{pkg: "./capture", deps: []string{mod + "/scan", mod + "/socktable"},
			allowed: []string{"github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/"}},
		{pkg: "./scan/probe", direct: []string{"os", "os/exec", "net", "syscall", "unsafe"}}, // payloads and parsers only: no I/O, std only
		{pkg: "./scan", deps: []string{mod + "/capture", mod + "/socktable"}, allowed: []string{"golang.org/x/sys/"}},
		// Issue 6 (engineer P): the proxy building blocks.
		{pkg: "./acl", direct: []string{"os", "os/exec"}, deps: []string{"os/exec"}},                                                         // std only
		{pkg: "./proxyproto", direct: []string{"net", "os", "syscall"}, deps: []string{"net", "os/exec"}},                                    // std + root; netip only
		{pkg: "./socks", direct: []string{"os", "os/exec"}, deps: []string{"os/exec", mod + "/scan", mod + "/capture", mod + "/mapper"}},     // std + acl
		{pkg: "./httpproxy", direct: []string{"os", "os/exec"}, deps: []string{"os/exec", mod + "/scan", mod + "/capture", mod + "/mapper"}}, // std (net/http) + acl + root
		{pkg: "./mapper", direct: []string{"os/exec"}, deps: []string{"os/exec", mod + "/scan", mod + "/capture", mod + "/socktable",
			"github.com/prometheus/client_golang/prometheus", "github.com/BurntSushi/toml"}, allowed: []string{"golang.org/x/sys/", "golang.org/x/net/"}}, // std, x/sys, x/net (ipv4/ipv6 batches) + acl, socks, httpproxy, proxyproto; no Prometheus, no TOML
		// mapper/config builds the knock and SPA gates of rules, so it
		// reaches capture (and mdlayher/packet) through package knock.
		{pkg: "./mapper/config", direct: []string{"os/exec"}, deps: []string{mod + "/scan"},
			allowed: []string{"github.com/BurntSushi/toml", "github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/"}},
		{pkg: "./mapper/metrics", deps: []string{mod + "/scan", mod + "/capture"},
			allowed: []string{"github.com/prometheus/", "github.com/beorn7/perks", "github.com/cespare/xxhash", "github.com/munnerz/goautoneg",
				"go.yaml.in/yaml", "google.golang.org/protobuf", "golang.org/x/sys/", "golang.org/x/net/", "github.com/kylelemons/godebug"}},
		// knock sniffs through capture (and so mdlayher/packet and x/net/bpf).
		{pkg: "./knock", deps: []string{mod + "/scan", mod + "/socktable"},
			allowed: []string{"github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/"}},
		{pkg: "./knock/spa", deps: []string{mod + "/scan", mod + "/socktable"},
			allowed: []string{"github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/"}},
		{pkg: "./knock/nftset", deps: []string{mod + "/scan", mod + "/socktable", mod + "/capture"},
			allowed: []string{"github.com/google/nftables", "github.com/mdlayher/netlink", "github.com/mdlayher/socket", "golang.org/x/"}},
	}
	for _, goos := range []string{"linux", "darwin", "windows", "freebsd"} {
		for _, r := range rules {
			for _, imp := range goList(t, goos, "{{join .Imports \"\\n\"}}", r.pkg) {
				for _, ban := range append(r.direct, libraryDirect...) {
					if imp == ban {
						t.Errorf("GOOS=%s: %s imports %s", goos, r.pkg, ban)
					}
				}
			}
			for _, line := range goList(t, goos, "{{.ImportPath}}{{if .Standard}} std{{end}}", "-deps", r.pkg) {
				path, std := strings.CutSuffix(line, " std")
				for _, ban := range append(r.deps, libraryDeps...) {
					if path == ban {
						t.Errorf("GOOS=%s: %s depends on %s", goos, r.pkg, ban)
					}
				}
				if !std && path != mod && !strings.HasPrefix(path, mod+"/") && !hasAnyPrefix(path, r.allowed) {
					t.Errorf("GOOS=%s: %s depends on %s, which its rule does not allow", goos, r.pkg, path)
				}
			}
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
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
