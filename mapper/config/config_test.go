package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
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

func TestParseHealthChecks(t *testing.T) {
	rules, err := config.Parse("h.toml", []byte(`[[rule]]
name = "web"
type = "tcp"
listen = "127.0.0.1:8080"
to = ["127.0.0.1:81", "127.0.0.1:82"]
check = "http"
check_interval = "500ms"
check_timeout = "200ms"
rise = 3
fall = 4
check_path = "/healthz"
check_status = "200-204"
`))
	if err != nil {
		t.Fatal(err)
	}
	r := rules[0]
	if r.Check != mapper.CheckHTTP || r.CheckInterval != 500*time.Millisecond || r.CheckTimeout != 200*time.Millisecond ||
		r.Rise != 3 || r.Fall != 4 || r.CheckPath != "/healthz" || r.CheckStatus != (mapper.StatusRange{Lo: 200, Hi: 204}) {
		t.Errorf("rule = %+v", r)
	}

	_, err = config.Parse("h.toml", []byte(`[[rule]]
name = "a"
type = "tcp"
listen = "127.0.0.1:8080"
to = ["127.0.0.1:81"]
check = "icmp"
check_status = "500-200"
rise = -1

[[rule]]
name = "b"
type = "tcp"
listen = "127.0.0.1:8081"
to = ["127.0.0.1:81"]
fall = 2

[[rule]]
name = "c"
type = "tcp"
listen = "127.0.0.1:8082"
to = ["127.0.0.1:81"]
check = "tcp"
check_path = "/x"
check_interval = "1us"
fall = -2

[[rule]]
name = "d"
type = "socks5"
listen = "127.0.0.1:8083"
check = "tcp"
`))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, want a *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`h.toml:6: rule "a": check: unknown check "icmp" (want tcp, http or tls)`,
		`h.toml:7: rule "a": check_status: "500-200" is not a status range such as "200-399" (100-599)`,
		`h.toml:8: rule "a": rise: needs check`,
		`h.toml:15: rule "b": fall: needs check`,
		`h.toml:23: rule "c": check_path: check_path and check_status are for check = "http"`,
		`h.toml:24: rule "c": check_interval: 1µs is under the minimum of 10ms`,
		`h.toml:25: rule "c": fall: -2 is negative`,
		`h.toml:31: rule "d": check: a socks5 proxy has no fixed destinations to check`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestParseBalanceAndWeights(t *testing.T) {
	rules, err := config.Parse("b.toml", []byte(`[[rule]]
name = "web"
type = "tcp"
listen = "127.0.0.1:8080"
to = ["127.0.0.1:81 weight=3 max_conns=50", "127.0.0.1:82"]
balance = "leastconn"
`))
	if err != nil {
		t.Fatal(err)
	}
	if r := rules[0]; r.Balance != mapper.LeastConn || len(r.To) != 2 {
		t.Errorf("rule = %+v", r)
	}
	_, err = config.Parse("b.toml", []byte(`[[rule]]
name = "a"
type = "tcp"
listen = "127.0.0.1:8080"
to = ["127.0.0.1:81 weight=0", "127.0.0.1:82", "127.0.0.1:82 weight=2"]
balance = "random"

[[rule]]
name = "p"
type = "socks5"
listen = "127.0.0.1:1080"
balance = "source"
`))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, want a *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`b.toml:6: rule "a": balance: unknown balance "random" (want roundrobin, leastconn, source or first)`,
		`b.toml:5: rule "a": to: destination "127.0.0.1:81 weight=0": weight "0" is not 1-256`,
		`b.toml:12: rule "p": balance: a socks5 proxy has no destinations to balance`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestParseRoutes(t *testing.T) {
	rules, err := config.Parse("r.toml", []byte(`[[rule]]
name = "front"
type = "tcp"
listen = "127.0.0.1:8443"
default_to = ["127.0.0.1:9000"]

[[rule.route]]
sni = "a.test"
to = ["127.0.0.1:9001"]

[[rule.route]]
host = "*.b.test"
to = ["127.0.0.1:9002 weight=2", "127.0.0.1:9003"]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []mapper.Route{{SNI: "a.test", To: []string{"127.0.0.1:9001"}},
		{Host: "*.b.test", To: []string{"127.0.0.1:9002 weight=2", "127.0.0.1:9003"}}}
	if diff := cmp.Diff(want, rules[0].Routes); diff != "" || len(rules[0].DefaultTo) != 1 {
		t.Errorf("routes (-want +got):\n%s; default_to %v", diff, rules[0].DefaultTo)
	}
	_, err = config.Parse("r.toml", []byte(`[[rule]]
name = "front"
type = "tcp"
listen = "127.0.0.1:8443"
to = ["127.0.0.1:9000"]

[[rule.route]]
sni = "a.test"
host = "a.test"
to = ["127.0.0.1:9001"]

[[rule.route]]
host = "bad name"

[[rule.route]]
sni = "*.c.test"
to = ["127.0.0.1:9001"]
colour = "blue"
`))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, want a *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	wantProbs := []string{
		`r.toml:18: rule.route.colour: unknown key`,
		`r.toml:5: rule "front": to: a rule with routes names its destinations in each route and in default_to`,
		`r.toml:7: rule "front": route: a route has sni "a.test" and host "a.test": give one`,
		`r.toml:7: rule "front": route.host: "bad name" is not a host name or *.NAME`,
		`r.toml:7: rule "front": route.to: the route for host "bad name" has no destinations`,
	}
	if diff := cmp.Diff(wantProbs, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// writeCertFiles writes a self-signed certificate and its key (PEM)
// as dir/front.pem, dir/front.key and dir/ca.pem.
func writeCertFiles(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "front.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(filepath.Join(dir, "front.pem"), cert, 0o600)
	os.WriteFile(filepath.Join(dir, "ca.pem"), cert, 0o600)
	os.WriteFile(filepath.Join(dir, "front.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

func TestParseTLS(t *testing.T) {
	dir := t.TempDir()
	writeCertFiles(t, dir)
	rules, err := config.Parse(filepath.Join(dir, "t.toml"), []byte(`[[rule]]
name = "front"
type = "tcp"
listen = "127.0.0.1:8443"
to = ["127.0.0.1:9443"]
tls_cert = "front.pem"
tls_key = "`+filepath.Join(dir, "front.key")+`"
to_tls = true
to_server_name = "app.internal"
to_ca = "ca.pem"

[[rule]]
name = "h2"
type = "tcp"
listen = "127.0.0.1:8444"
tls_cert = "front.pem"
tls_key = "front.key"
alpn = ["h2", "http/1.1"]
[[rule.route]]
sni = "a.test"
to = ["127.0.0.1:9001"]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := rules[0]
	if r.TLSCert != filepath.Join(dir, "front.pem") || r.TLSKey != filepath.Join(dir, "front.key") || !r.ToTLS || r.ToServerName != "app.internal" || r.ToCA != filepath.Join(dir, "ca.pem") {
		t.Errorf("rule = %+v", r)
	}
	if r := rules[1]; !slices.Equal(r.ALPN, []string{"h2", "http/1.1"}) || len(r.Routes) != 1 || r.Routes[0].SNI != "a.test" || r.TLSCert == "" {
		t.Errorf("a terminating rule with alpn and an sni route = %+v", r)
	}
	_, err = config.Parse("t.toml", []byte(`[[rule]]
name = "a"
type = "tcp"
listen = "127.0.0.1:8443"
to = ["127.0.0.1:9443"]
tls_cert = "a.pem"
to_insecure_skip_verify = true
`))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, want a *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`t.toml:6: rule "a": tls_cert: tls_cert and tls_key go together`,
		`t.toml:1: rule "a": to_tls: to_server_name, to_ca and to_insecure_skip_verify need to_tls = true`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestParseTLSFilesChecked(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not a certificate"), 0o600)
	cfg := filepath.Join(dir, "t.toml")
	os.WriteFile(cfg, []byte(`[[rule]]
name = "a"
type = "tcp"
listen = "127.0.0.1:8443"
to = ["127.0.0.1:9443"]
tls_cert = "bad.pem"
tls_key = "bad.pem"

[[rule]]
name = "b"
type = "tcp"
listen = "127.0.0.1:8444"
to = ["127.0.0.1:9443"]
to_tls = true
to_ca = "missing.pem"
`), 0o600)
	_, err := config.Load(cfg)
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("Load = %v, want two problems", err)
	}
	if p := ce.Problems[0].String(); !strings.Contains(p, `:6: rule "a": tls_cert: `) || !strings.Contains(p, "bad.pem") {
		t.Errorf("problem %q", p)
	}
	if p := ce.Problems[1].String(); !strings.Contains(p, `:15: rule "b": to_ca: `) || !strings.Contains(p, "no such file") {
		t.Errorf("problem %q", p)
	}
}
