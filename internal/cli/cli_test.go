package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portkit/ports/internal/render"
)

// run runs the command line in-process and returns its exit code and
// output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		errWant string // substring of stderr; stderr must be one line
	}{
		{[]string{"info", "443"}, ExitOK, ""},
		{[]string{"version"}, ExitOK, ""},
		{[]string{"nosuchcommand"}, ExitUsage, `unknown command "nosuchcommand"`},
		{[]string{"info"}, ExitUsage, "missing QUERY"},
		{[]string{"info", ""}, ExitUsage, "empty QUERY"},
		{[]string{"info", "--bogus", "80"}, ExitUsage, "--bogus"},
		{[]string{"info", "--format", "xml", "80"}, ExitUsage, `"xml"`},
		{[]string{"info", "--json", "--format", "table", "80"}, ExitUsage, "--json conflicts"},
		{[]string{"info", "99999"}, ExitUsage, `"99999"`},
		{[]string{"info", "80/xtp"}, ExitUsage, `"xtp"`},
		{[]string{"info", "10-5"}, ExitUsage, `"10-5"`},
		{[]string{"info", "https://[::1"}, ExitUsage, "https://[::1"},
		{[]string{"info", "no-such-service-name"}, ExitFailure, `no port or service matches "no-such-service-name"`},
		{[]string{"info", "--search", "zzzqqqxxx"}, ExitFailure, `"zzzqqqxxx"`},
		{[]string{"version", "extra"}, ExitUsage, `unexpected argument "extra"`},
		{[]string{"free", "-n", "0"}, ExitUsage, "-n must be at least 1"},
		{[]string{"free", "--range", "5-1"}, ExitUsage, `"5-1"`},
		{[]string{"free", "--bind", "nonsense"}, ExitUsage, `"nonsense"`},
		{[]string{"free", "-n", "x"}, ExitUsage, `"x"`},
		// Empty and out-of-range values are usage errors naming the flag,
		// not "no filter" or the defaults.
		{[]string{"scan", "-p", "", "127.0.0.1"}, ExitUsage, "-p/--ports: empty value"},
		{[]string{"ls", "--port", ""}, ExitUsage, "--port: empty value"},
		{[]string{"info", "--search", ""}, ExitUsage, "--search: empty QUERY"},
		{[]string{"flows", "--idle", "-1s", "x.pcap"}, ExitUsage, "--idle -1s: want a duration of 0 or more"},
		{[]string{"scan", "--top", "99999", "127.0.0.1"}, ExitUsage, "--top 99999: the tcp list holds"},
		{[]string{"capture", "-i", "lo", "-s", "-5"}, ExitUsage, "-s -5: want a snapshot length"},
		{[]string{"kill", "--signal", "0", "1"}, ExitUsage, "signal number from 1 to 127"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if tt.errWant == "" {
				if stderr != "" {
					t.Errorf("stderr %q, want nothing", stderr)
				}
				return
			}
			if !strings.Contains(stderr, tt.errWant) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.errWant)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "ports") {
				t.Errorf("stderr %q is not one line starting with the command name", stderr)
			}
		})
	}
}

func TestInfoJSON(t *testing.T) {
	code, out, stderr := run(t, "info", "--json", "443", "53/udp", "https://example.com:2222/x", "ftp")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []render.PortInfoV1
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a JSON array of PortInfoV1: %v\n%s", err, out)
	}
	type brief struct {
		Query    string
		Port     uint16
		Protocol string
		Class    string
		First    string // first service name
	}
	var briefs []brief
	for _, g := range got {
		b := brief{g.Query, g.Port, g.Protocol, g.Class, ""}
		if len(g.Services) > 0 {
			b.First = g.Services[0].Name
		}
		briefs = append(briefs, b)
	}
	want := []brief{
		{"443", 443, "", "system", "https"},
		{"53/udp", 53, "udp", "system", "domain"},
		{"https://example.com:2222/x", 2222, "", "user", "EtherNet-IP-1"},
		{"ftp", 21, "", "system", "ftp"},
	}
	if diff := cmp.Diff(want, briefs); diff != "" {
		t.Errorf("info results (-want +got):\n%s", diff)
	}
	if ep := got[2].Endpoint; ep == nil || ep.PortFrom != "explicit" || !strings.Contains(ep.Why, "443") {
		t.Errorf("URL endpoint = %+v, want explicit port 2222 and a reason naming https's default 443", ep)
	}
	for _, s := range got[1].Services {
		if s.Protocol != "udp" {
			t.Errorf("53/udp lists a %s record: %+v", s.Protocol, s)
		}
	}
	var related []string
	for _, r := range got[3].Related {
		related = append(related, r.Name)
	}
	if !strings.Contains(strings.Join(related, " "), "ftp-data") {
		t.Errorf("ftp related = %v, want ftp-data", related)
	}
}

// TestInfoList: a comma-separated QUERY is one query per item, as -p
// takes ports; an empty item is a usage error naming the QUERY.
func TestInfoList(t *testing.T) {
	code, out, stderr := run(t, "info", "--json", "22,53/udp,https")
	var got []render.PortInfoV1
	if err := json.Unmarshal([]byte(out), &got); code != ExitOK || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, stderr)
	}
	var queries []string
	for _, g := range got {
		queries = append(queries, fmt.Sprintf("%s=%d", g.Query, g.Port))
	}
	if want := []string{"22=22", "53/udp=53", "https=443"}; !slices.Equal(queries, want) {
		t.Errorf("queries %v, want %v", queries, want)
	}
	code, _, stderr = run(t, "info", "22,,80")
	if code != ExitUsage || !strings.Contains(stderr, `"22,,80"`) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("22,,80: exit %d, stderr %q", code, stderr)
	}
}

func TestInfoURLSchemeDefault(t *testing.T) {
	code, out, _ := run(t, "info", "--format", "jsonl", "https://example.com/x", "ssh://h", "redis://h:7000")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []struct {
		port uint16
		from string
	}{{443, "scheme"}, {22, "scheme"}, {7000, "explicit"}}
	if len(lines) != len(want) {
		t.Fatalf("got %d JSON lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		var info render.PortInfoV1
		if err := json.Unmarshal([]byte(line), &info); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if info.Port != want[i].port || info.Endpoint == nil || info.Endpoint.PortFrom != want[i].from {
			t.Errorf("line %d: port %d endpoint %+v, want port %d from %s", i, info.Port, info.Endpoint, want[i].port, want[i].from)
		}
	}
}

func TestInfoTable(t *testing.T) {
	code, out, _ := run(t, "info", "--explain", "21")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"21 ", "ftp File Transfer Protocol [Control]", "system (well-known, 0-1023)",
		"ftp-data 20", "ephemeral", "swap",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestInfoRelatedNamesTheAdjacentPort: http-rpc-epmap (593) is related to
// http-alt through http-alt's port 591, not the 8080 asked about, and the
// line says so.
func TestInfoRelatedNamesTheAdjacentPort(t *testing.T) {
	code, out, _ := run(t, "info", "8080")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "http-rpc-epmap 593 (next to http-alt 591)") || strings.Contains(out, "adjacent port") {
		t.Errorf("related services do not name the port they are next to:\n%s", out)
	}
}

func TestInfoRangeFoldsUnassigned(t *testing.T) {
	// Ports 2-3 are Reserved and 4 Unassigned in the registry (see the CSV):
	// runs of one record fold into one entry.
	code, out, _ := run(t, "info", "--json", "1-7")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	var got []render.PortInfoV1
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	var spans []string
	for _, g := range got {
		s := strconv.Itoa(int(g.Port))
		if g.PortLast != 0 {
			s += "-" + strconv.Itoa(int(g.PortLast))
		}
		spans = append(spans, s)
	}
	if diff := cmp.Diff([]string{"1", "2-3", "4", "5", "6", "7"}, spans); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

func TestSearch(t *testing.T) {
	code, out, _ := run(t, "info", "--search", "--format", "jsonl", "postgres")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, `"name":"postgresql"`) || !strings.Contains(out, `"port":5432`) {
		t.Errorf("search for postgres lacks postgresql 5432:\n%s", out)
	}
}

func TestFreeFindsBindablePorts(t *testing.T) {
	// Hold one port, then ask for free ports in a range of two: only the
	// other one may come back.
	// The neighbour must be bindable too (not held by a TIME-WAIT socket
	// of an earlier test, say): check it, and pick another pair if not.
	var l net.Listener
	var held, lo, hi int
	for try := 0; ; try++ {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		held = l.Addr().(*net.TCPAddr).Port
		lo, hi = held, held+1
		other := hi
		if held == 65535 {
			lo, hi, other = held-1, held, held-1
		}
		if nl, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(other)); err == nil {
			nl.Close()
			break
		}
		l.Close()
		if try == 50 {
			t.Fatal("found no free pair of adjacent ports on 127.0.0.1")
		}
	}
	defer l.Close()
	code, out, stderr := run(t, "free", "--bind", "127.0.0.1", "--range", strconv.Itoa(lo)+"-"+strconv.Itoa(hi), "--format", "jsonl")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var f render.FreePortV1
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if int(f.Port) == held {
		t.Errorf("free returned port %d, which a listener holds", held)
	}
	if int(f.Port) != lo && int(f.Port) != hi {
		t.Errorf("free returned %d, outside %d-%d", f.Port, lo, hi)
	}
	// Asking for two ports from that range must fail: one is held.
	code, _, stderr = run(t, "free", "-n", "2", "--bind", "127.0.0.1", "--range", strconv.Itoa(lo)+"-"+strconv.Itoa(hi))
	if code != ExitFailure || !strings.Contains(stderr, "found only 1") {
		t.Errorf("free -n 2 over a range with one held port: exit %d, stderr %q", code, stderr)
	}
}

func TestFreeDefault(t *testing.T) {
	code, out, stderr := run(t, "free", "-n", "5")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fields := strings.Fields(out)
	if len(fields) != 5 {
		t.Fatalf("got %q, want 5 ports", out)
	}
	for _, f := range fields {
		p, err := strconv.Atoi(f)
		if err != nil || p < 1024 || p > 65535 {
			t.Errorf("%q is not a port in 1024-65535", f)
			continue
		}
		// Free means bindable: bind it ourselves.
		l, err := net.Listen("tcp", ":"+f)
		if err != nil {
			t.Errorf("port %d reported free but: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, _ := run(t, "completion", sh)
		if code != ExitOK || !strings.Contains(out, "ports") {
			t.Errorf("completion %s: exit %d, %d bytes", sh, code, len(out))
		}
	}
	code, out, stderr := run(t, "completion", "tcsh")
	if code != ExitUsage || out != "" || !strings.Contains(stderr, `"tcsh"`) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("completion tcsh: exit %d, stdout %q, stderr %q; want a usage error naming the shell", code, out, stderr)
	}
}

// TestFlagNumberErrors: a flag value that is not a number is said so,
// without strconv's wording, also by scan, which parses its own flags.
func TestFlagNumberErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"free", "-n", "3x"}, `ports free: invalid argument "3x" for "-n, --count" flag: not a number (see 'ports free --help')`},
		{[]string{"free", "-n", "99999999999999999999"}, `flag: number out of range (see`},
		{[]string{"scan", "--rate", "abc", "127.0.0.1"}, `ports scan: invalid argument "abc" for "--rate" flag: not a number (see 'ports scan --help')`},
	} {
		code, out, stderr := run(t, tt.args...)
		if code != ExitUsage || out != "" || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "strconv") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want a usage error with %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := run(t, "help")
	if code != ExitOK || !strings.Contains(out, "info") || !strings.Contains(out, "free") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// TestNoDuplicateFlags checks that no command defines a flag, or a
// shorthand, that its parents already define.
func TestNoDuplicateFlags(t *testing.T) {
	var walk func(c *cobra.Command, seen map[string]string)
	walk = func(c *cobra.Command, seen map[string]string) {
		mine := map[string]string{}
		for k, v := range seen {
			mine[k] = v
		}
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			for _, key := range []string{"--" + f.Name, "-" + f.Shorthand} {
				if key == "-" {
					continue
				}
				if prev, ok := mine[key]; ok {
					t.Errorf("%s: flag %s also defined by %s", c.CommandPath(), key, prev)
				}
				mine[key] = c.CommandPath()
			}
		})
		for _, sub := range c.Commands() {
			walk(sub, mine)
		}
	}
	walk(newRoot(nil, nil), map[string]string{})
}

// TestJSONVocabulary: numbers are numbers, a wildcard is named, and a
// checksum's status uses the words of the -v view (docs/JSON.md).
func TestJSONVocabulary(t *testing.T) {
	code, out, stderr := run(t, "info", "--json", "11212")
	if code != ExitOK {
		t.Fatalf("info: exit %d: %s", code, stderr)
	}
	var infos []struct {
		Services []struct {
			Port     *float64 `json:"port"`
			PortLast *float64 `json:"port_last"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) != 1 || len(infos[0].Services) == 0 {
		t.Fatalf("info --json 11212: %v:\n%s", err, out)
	}
	if s := infos[0].Services[0]; s.Port == nil || *s.Port != 11212 || s.PortLast == nil || *s.PortLast != 11234 {
		t.Errorf("services[0] of 11212: want port 11212, port_last 11234 as numbers:\n%s", out)
	}

	code, out, stderr = run(t, "free", "--format", "jsonl")
	if code != ExitOK {
		t.Fatalf("free: exit %d: %s", code, stderr)
	}
	var f render.FreePortV1
	if err := json.Unmarshal([]byte(out), &f); err != nil || f.Addr != "*" {
		t.Errorf("free without --bind: addr %q (%v), want \"*\"", f.Addr, err)
	}

	code, out, stderr = run(t, "decode", "--format", "jsonl", "-c", "1", "../../testdata/pcaps/tcpdump_dns_udp.pcap")
	if code != ExitOK {
		t.Fatalf("decode: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"status":"correct"`) || strings.Contains(out, `"good"`) {
		t.Errorf("decode JSON checksum status is not tcpdump's word:\n%s", out)
	}
}
