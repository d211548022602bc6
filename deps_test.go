package ports_test

import (
	"os/exec"
	"slices"
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
		// The dissectors: payload bytes in, text and fields out; no I/O,
		// and no fmt on the allocation-free path.
		{pkg: "./app", direct: []string{"os", "os/exec", "net", "syscall", "io/fs", "unsafe", "fmt"}, allowed: []string{"golang.org/x/net/dns/dnsmessage"}},
		{pkg: "./stream", direct: []string{"os", "os/exec", "net", "syscall", "io/fs", "unsafe", "fmt"}},
		{pkg: "./pcapfile", direct: []string{"os", "net", "syscall", "unsafe"}, deps: []string{mod + "/wire", mod + "/filter"}},
		{pkg: "./filter", direct: []string{"os", "net", "syscall", "os/exec", "unsafe"}, deps: []string{"github.com/gopacket/gopacket"},
			allowed: []string{"golang.org/x/net/bpf"}},
		{pkg: "./capture", deps: []string{mod + "/scan", mod + "/socktable"},
			allowed: []string{"github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/"}},
		// procattr: sock_diag and /proc through socktable, packets through
		// wire; it captures nothing itself.
		{pkg: "./procattr", deps: []string{mod + "/capture", mod + "/scan", mod + "/filter"}, allowed: []string{"golang.org/x/sys/"}},
		{pkg: "./scan/probe", direct: []string{"os", "os/exec", "net", "syscall", "unsafe"}}, // payloads and parsers only: no I/O, std only
		{pkg: "./scan", deps: []string{mod + "/capture", mod + "/socktable"}, allowed: []string{"golang.org/x/sys/"}},
		{pkg: "./scan/report", deps: []string{mod + "/capture", mod + "/socktable"}, allowed: []string{"golang.org/x/sys/"}},
		// The proxy building blocks.
		{pkg: "./acl", direct: []string{"os", "os/exec"}, deps: []string{"os/exec"}},                                                         // std only
		{pkg: "./proxyproto", direct: []string{"net", "os", "syscall"}, deps: []string{"net", "os/exec"}},                                    // std + root; netip only
		{pkg: "./socks", direct: []string{"os", "os/exec"}, deps: []string{"os/exec", mod + "/scan", mod + "/capture", mod + "/mapper"}},     // std + acl
		{pkg: "./httpproxy", direct: []string{"os", "os/exec"}, deps: []string{"os/exec", mod + "/scan", mod + "/capture", mod + "/mapper"}}, // std (net/http) + acl + root
		{pkg: "./mapper", direct: []string{"os/exec"}, deps: []string{"os/exec", mod + "/scan", mod + "/capture", mod + "/socktable",
			"github.com/prometheus/client_golang/prometheus", "github.com/BurntSushi/toml"}, allowed: []string{"golang.org/x/sys/", "golang.org/x/net/"}}, // std, x/sys, x/net (ipv4/ipv6 batches) + acl, socks, httpproxy, proxyproto; no Prometheus, no TOML
		// mapper/config builds the knock and SPA gates of rules, so it
		// reaches capture (and mdlayher/packet) through package knock.
		// and OpenPGP (ProtonMail/go-crypto, with cloudflare/circl)
		// through knock/spa.
		{pkg: "./mapper/config", direct: []string{"os/exec"}, deps: []string{mod + "/scan"},
			allowed: []string{"github.com/BurntSushi/toml", "github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/",
				"github.com/ProtonMail/go-crypto/", "github.com/cloudflare/circl/"}},
		{pkg: "./mapper/metrics", deps: []string{mod + "/scan", mod + "/capture"},
			allowed: []string{"github.com/prometheus/", "github.com/beorn7/perks", "github.com/cespare/xxhash", "github.com/munnerz/goautoneg",
				"go.yaml.in/yaml", "google.golang.org/protobuf", "golang.org/x/sys/", "golang.org/x/net/", "github.com/kylelemons/godebug"}},
		{pkg: "./mapper/control", deps: []string{mod + "/scan", mod + "/capture"}, allowed: []string{"golang.org/x/sys/", "golang.org/x/net/"}},
		// knock sniffs through capture (and so mdlayher/packet and x/net/bpf).
		{pkg: "./knock", deps: []string{mod + "/scan", mod + "/socktable"},
			allowed: []string{"github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/"}},
		// knock/spa reads GnuPG-encrypted packets with ProtonMail/go-crypto
		// (OpenPGP; it uses cloudflare/circl and x/crypto).
		{pkg: "./knock/spa", deps: []string{mod + "/scan", mod + "/socktable"},
			allowed: []string{"github.com/mdlayher/packet", "github.com/mdlayher/socket", "golang.org/x/",
				"github.com/ProtonMail/go-crypto/", "github.com/cloudflare/circl/"}},
		// nfteval reads the ruleset over netlink with google/nftables.
		{pkg: "./nfteval", deps: []string{mod + "/scan", mod + "/socktable", mod + "/capture", mod + "/registry"},
			allowed: []string{"github.com/google/nftables", "github.com/mdlayher/netlink", "github.com/mdlayher/socket", "golang.org/x/"}},
		{pkg: "./exposure", deps: []string{mod + "/scan", mod + "/capture", mod + "/mapper"},
			allowed: []string{"github.com/google/nftables", "github.com/mdlayher/netlink", "github.com/mdlayher/socket", "golang.org/x/"}},
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

// moduleImports is, for every package of this module, the packages of
// this module it may import directly ("" is the root package), as Go's
// own go/build deps test states them: a new edge is a decision made
// here, not an accident of a refactoring. A package not listed fails
// the test until it is.
var moduleImports = map[string][]string{
	"":                           nil,
	"registry/internal/regindex": nil,
	"registry":                   {"", "registry/internal/regindex"},
	"registry/internal/gen":      {"", "registry/internal/regindex"},
	"pcapfile":                   nil,
	"wire":                       {"", "pcapfile"},
	"app":                        nil,
	"stream":                     nil,
	"filter":                     {"", "pcapfile", "registry"},
	"flow":                       {""},
	"hostports":                  {""},
	"socktable":                  {""},
	"capture":                    {"filter", "pcapfile"},
	"procattr":                   {"", "socktable", "wire"},
	"scan/probe":                 {""},
	"scan":                       {"", "pcapfile", "scan/probe", "wire"},
	"scan/report":                {"", "registry", "scan"},
	"acl":                        {""},
	"proxyproto":                 {""},
	"socks":                      {"", "acl"},
	"httpproxy":                  {"", "acl"},
	"mapper":                     {"", "acl", "httpproxy", "proxyproto", "socks"},
	"mapper/metrics":             {"mapper"},
	"mapper/control":             {"mapper"},
	"mapper/config":              {"", "acl", "internal/cfgfile", "internal/statedir", "knock", "knock/spa", "mapper"},
	"knock":                      {"", "capture", "filter", "internal/cfgfile", "wire"},
	"knock/spa":                  {"", "capture", "internal/cfgfile", "knock", "wire"},
	"knock/nftset":               nil,
	"nfteval":                    {""},
	"exposure":                   {"", "nfteval", "registry", "socktable"},
	"internal/cfgfile":           nil,
	"internal/statedir":          nil,
	"internal/ratelog":           nil,
	"internal/render":            {"scan/report"},
	"internal/systemd":           {"mapper"},
	"internal/tui":               {"", "socktable"},
	"internal/porttest":          {"", "hostports"},
	"internal/cli": {"", "acl", "app", "capture", "exposure", "filter", "flow", "hostports", "internal/cfgfile", "internal/ratelog",
		"internal/render", "internal/statedir", "internal/systemd", "internal/tui", "knock", "knock/nftset", "knock/spa",
		"mapper", "mapper/config", "mapper/control", "mapper/metrics", "nfteval", "pcapfile", "procattr", "registry", "scan", "scan/report", "socktable", "stream", "wire"},
	"cmd/ports":        {"internal/cli"},
	"packaging/genman": {"internal/cli"},
	"bench/mkpcap":     {"", "pcapfile", "wire"},
	"bench/mkquic":     {"app", "pcapfile"},
	"bench/cmdbench":   nil,
	"bench/connbench":  nil,
	"bench/gofwd":      nil,
	"bench/scanhold":   nil,
	"bench/sockhold":   nil,
	"bench/udpecho":    nil,
}

// TestModuleImportsAllowList checks every package's imports of this
// module against moduleImports, for every GOOS CI builds.
func TestModuleImportsAllowList(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/portkit/ports"
	rel := func(path string) (string, bool) {
		if path == mod {
			return "", true
		}
		return strings.CutPrefix(path, mod+"/")
	}
	for _, goos := range []string{"linux", "darwin", "windows", "freebsd"} {
		for _, line := range goList(t, goos, "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...") {
			f := strings.Fields(line)
			pkg, _ := rel(f[0])
			allowed, listed := moduleImports[pkg]
			if !listed {
				t.Errorf("package %q is not in moduleImports: add it with the packages of this module it may import", pkg)
				continue
			}
			for _, imp := range f[1:] {
				if r, ok := rel(imp); ok && !slices.Contains(allowed, r) {
					t.Errorf("GOOS=%s: %q imports %q, which moduleImports does not allow", goos, pkg, r)
				}
			}
		}
	}
}
