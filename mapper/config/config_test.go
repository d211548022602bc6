package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/mapper"
	"github.com/portkit/ports/mapper/config"
)

const good = `# two rules
[[rule]]
name = "web"
type = "tcp"
listen = "127.0.0.1:8080"
to = ["127.0.0.1:80", "[::1]:80"]
idle_timeout = "1m"
proxy_protocol = "v2"

[[rule]]
name = "socks"
type = "socks5"
listen = "0.0.0.0:1080"
auth = ["alice:secret"]
allow_dest = ["10.0.0.0/8"]
`

func TestParseGood(t *testing.T) {
	rules, err := config.Parse("ports.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 {
		t.Fatalf("%d rules, want 2", len(rules))
	}
	w := rules[0]
	if w.Name != "web" || w.Type != mapper.TCP || w.IdleTimeout != time.Minute || w.ProxyProtocol != 2 || len(w.To) != 2 {
		t.Errorf("web = %+v", w)
	}
	s := rules[1]
	if s.Type != mapper.SOCKS5 || s.Users["alice"] != "secret" || len(s.AllowDest) != 1 {
		t.Errorf("socks = %+v", s)
	}
}

func TestParseProblemsWithLines(t *testing.T) {
	const bad = `[[rule]]
name = "a"
type = "tcp"
listen = "0.0.0.0:8080"
to = ["127.0.0.1:80"]
colour = "blue"

[[rule]]
name = "b"
type = "tcp"
listen = "127.0.0.1:81"
to = ["127.0.0.1:80"]
idle_timeout = "soon"
allow = ["10.0.0.0/33"]

[[rule]]
name = "a"
type = "gopher"
listen = "127.0.0.1:82"
`
	_, err := config.Parse("x.toml", []byte(bad))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, want a *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`x.toml:6: rule "a": colour: unknown key`,
		`x.toml:4: rule "a": listen: 0.0.0.0:8080 is not loopback but the rule names no allow: refusing to be an open relay`,
		`x.toml:14: rule "b": allow: invalid CIDR prefix "10.0.0.0/33": prefix length out of range`,
		`x.toml:13: rule "b": idle_timeout: "soon" is not a positive duration such as "30s"`,
		`x.toml:18: rule "a": type: unknown rule type "gopher" (want tcp, udp, http or socks5)`,
		`x.toml:17: rule "a": name: the name is taken by the rule at line 2`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	// The same, in the shape every configuration parser gives.
	got = got[:0]
	for _, p := range cfgfile.ProblemsOf(err) {
		got = append(got, p.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cfgfile.ProblemsOf (-want +got):\n%s", diff)
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := config.Parse("s.toml", []byte("[[rule]]\nname = \"a\"\nto = [\"x\"\n"))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Problems[0].Line == 0 {
		t.Fatalf("Parse = %v, want a problem with a line", err)
	}
	_, err = config.Parse("s.toml", []byte("[[rule]]\nname = \"a\"\nmax_conns = \"many\"\n"))
	if !errors.As(err, &ce) || ce.Problems[0].Line != 3 {
		t.Fatalf("Parse = %v, want a type problem at line 3", err)
	}
}

func TestUsersFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "users"), []byte("# users\nbob:pw1\n\ncarol:pw:2\n"), 0o600)
	cfg := filepath.Join(dir, "p.toml")
	os.WriteFile(cfg, []byte(`[[rule]]
name = "h"
type = "http"
listen = "[::]:3128"
users_file = "users"
connect_ports = "443,8443"
`), 0o600)
	rules, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := rules[0].Users; u["bob"] != "pw1" || u["carol"] != "pw:2" {
		t.Errorf("users = %v", u)
	}
	if !strings.Contains(rules[0].ConnectPorts.String(), "8443") {
		t.Errorf("connect ports %v", rules[0].ConnectPorts)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("[[rule]]\nname = \"\"\"\nx = 1\n\"\"\"\n"))                                              // multi-line string holding a key-like line
	f.Add([]byte("[[rule]]\n[[rule]]\nname=1\n"))                                                          // wrong types
	f.Add([]byte("rule = 5\n"))                                                                            // rule not a table
	f.Add([]byte("[[rule]]\nname = \"a\"\ntype = \"udp\"\nlisten = \"lo:0\"\nto = [\"a:1\"]\n[rule.x]\n")) // sub-table
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := config.Parse("f.toml", data)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v is not a *config.Error with problems", err)
			}
			for _, p := range ce.Problems {
				if strings.Contains(p.String(), "\n") && p.Line == 0 {
					t.Logf("multi-line problem: %q", p.String())
				}
			}
			return
		}
		for _, r := range rules {
			if err := r.Validate(); err != nil {
				t.Fatalf("Parse returned an invalid rule: %v", err)
			}
		}
	})
}
