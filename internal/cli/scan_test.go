package cli

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scanListeners opens n listeners on adjacent ports of addr and returns
// a port range LO-HI of width 8 or more that holds them, and their ports.
// The ports lie in 1030-4999: below the ephemeral range, where other
// tests' port-0 listeners land, below the scan package's test ranges
// (10000 and up) and the mapper tests' peers (5000-9999), so that tests
// of other packages running at the same time neither show up as open in
// the range nor get scanned.
func scanListeners(t *testing.T, addr string, n int) (lo, hi int, open []int) {
	t.Helper()
	for try := 0; try < 100 && len(open) < n; try++ {
		base := 1030 + rand.IntN(5000-1030-n)
		var ls []net.Listener
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
			if err != nil {
				if try == 0 && p == base && !errors.Is(err, syscall.EADDRINUSE) {
					t.Skipf("cannot listen on %s: %v", addr, err)
				}
				break
			}
			ls = append(ls, l)
		}
		if len(ls) < n {
			for _, l := range ls {
				l.Close()
			}
			continue
		}
		for _, l := range ls {
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			open = append(open, l.Addr().(*net.TCPAddr).Port)
		}
	}
	if len(open) < n {
		t.Skipf("found no %d adjacent free ports on %s", n, addr)
	}
	lo, hi = max(open[0]-3, 1), min(open[len(open)-1]+3, 65535)
	return lo, hi, open
}

type scanLine struct {
	Addr   string  `json:"addr"`
	Port   int     `json:"port"`
	Proto  string  `json:"proto"`
	State  string  `json:"state"`
	Reason string  `json:"reason"`
	RTT    float64 `json:"rtt_ms"`
	Tries  int     `json:"tries"`
}

func parseScanJSONL(t *testing.T, out string) []scanLine {
	t.Helper()
	var lines []scanLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l scanLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestScanJSONL(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) {
			lo, hi, open := scanListeners(t, addr, 3)
			prange := fmt.Sprintf("%d-%d", lo, hi)
			code, out, stderr := run(t, "scan", "-p", prange, addr, "--format", "jsonl")
			if code != ExitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			var got []int
			for _, l := range parseScanJSONL(t, out) {
				if l.State != "open" || l.Reason != "syn-ack" || l.Addr != addr || l.Proto != "tcp" || l.Tries < 1 {
					t.Errorf("unexpected line %+v", l)
				}
				got = append(got, l.Port)
			}
			slices.Sort(got)
			if diff := cmp.Diff(open, got); diff != "" {
				t.Errorf("open ports (-want +got):\n%s", diff)
			}

			code, out, stderr = run(t, "scan", "-p", prange, "--all-states", addr, "--format", "jsonl")
			if code != ExitOK || stderr != "" {
				t.Fatalf("--all-states: exit %d, stderr %q", code, stderr)
			}
			lines := parseScanJSONL(t, out)
			if len(lines) != hi-lo+1 {
				t.Errorf("--all-states: %d results, want %d", len(lines), hi-lo+1)
			}
			for _, l := range lines {
				want := "closed"
				if slices.Contains(open, l.Port) {
					want = "open"
				}
				if l.State != want {
					t.Errorf("--all-states: port %d is %s, want %s", l.Port, l.State, want)
				}
			}
		})
	}
}

func TestScanTable(t *testing.T) {
	lo, hi, open := scanListeners(t, "127.0.0.1", 2)
	code, out, stderr := run(t, "scan", "-p", fmt.Sprintf("%d-%d", lo, hi), "127.0.0.1")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, p := range open {
		if !strings.Contains(out, fmt.Sprintf("%d/tcp", p)) {
			t.Errorf("table lacks open port %d:\n%s", p, out)
		}
	}
	if want := fmt.Sprintf("%d closed ports not shown\n", hi-lo+1-len(open)); !strings.Contains(out, want) {
		t.Errorf("table lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "PORT") || !strings.Contains(out, "REASON") {
		t.Errorf("table lacks its header:\n%s", out)
	}
}

// nmapXML is the part of nmap's XML the tests read.
type nmapXML struct {
	XMLName xml.Name `xml:"nmaprun"`
	Hosts   []struct {
		Address struct {
			Addr string `xml:"addr,attr"`
		} `xml:"address"`
		Ports struct {
			Ports []struct {
				PortID int `xml:"portid,attr"`
				State  struct {
					State  string `xml:"state,attr"`
					Reason string `xml:"reason,attr"`
				} `xml:"state"`
			} `xml:"port"`
		} `xml:"ports"`
	} `xml:"host"`
}

func (x *nmapXML) open() map[int]string {
	m := map[int]string{}
	for _, h := range x.Hosts {
		for _, p := range h.Ports.Ports {
			if p.State.State == "open" {
				m[p.PortID] = p.State.State + "/" + p.State.Reason
			}
		}
	}
	return m
}

// xmlAttrs returns the attribute names of the first element of each name.
func xmlAttrs(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	d := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			if _, seen := m[se.Name.Local]; seen {
				continue
			}
			var names []string
			for _, a := range se.Attr {
				names = append(names, a.Name.Local)
			}
			slices.Sort(names)
			m[se.Name.Local] = names
		}
	}
	return m
}

func TestScanOutputFiles(t *testing.T) {
	lo, hi, open := scanListeners(t, "127.0.0.1", 2)
	prange := fmt.Sprintf("%d-%d", lo, hi)
	dir := t.TempDir()
	xf, gf, jf := filepath.Join(dir, "o.xml"), filepath.Join(dir, "o.gnmap"), filepath.Join(dir, "o.jsonl")
	code, _, stderr := run(t, "scan", "-sT", "-p", prange, "127.0.0.1", "-oX", xf, "-oG", gf, "-oJ", jf)
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	data, err := os.ReadFile(xf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "<!DOCTYPE nmaprun>\n<nmaprun ") {
		t.Errorf("-oX lacks nmap's DOCTYPE:\n%s", data)
	}
	var ours nmapXML
	if err := xml.Unmarshal(data, &ours); err != nil {
		t.Fatalf("-oX: %v\n%s", err, data)
	}
	want := map[int]string{}
	for _, p := range open {
		want[p] = "open/syn-ack"
	}
	if diff := cmp.Diff(want, ours.open()); diff != "" {
		t.Errorf("-oX open ports (-want +got):\n%s", diff)
	}

	g, err := os.ReadFile(gf)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range open {
		if !strings.Contains(string(g), fmt.Sprintf("%d/open/tcp//", p)) {
			t.Errorf("-oG lacks port %d:\n%s", p, g)
		}
	}
	if !strings.Contains(string(g), "Host: 127.0.0.1 ()\tPorts: ") {
		t.Errorf("-oG lacks the Ports line:\n%s", g)
	}

	j, err := os.ReadFile(jf)
	if err != nil {
		t.Fatal(err)
	}
	// -oJ writes what the listing shows (the open ports) and the host
	// record, which counts the rest.
	lines := parseScanJSONL(t, string(j))
	if len(lines) != len(open)+1 {
		t.Errorf("-oJ: %d lines, want %d (the open ports and the host record)", len(lines), len(open)+1)
	}
	for _, l := range lines[:max(len(lines)-1, 0)] {
		if l.State != "open" {
			t.Errorf("-oJ: a %s port without --all-states: %+v", l.State, l)
		}
	}
	if !strings.Contains(string(j), `"record":"host"`) || !strings.Contains(string(j), fmt.Sprintf(`"closed":%d`, hi-lo+1-len(open))) {
		t.Errorf("-oJ: no host record counting %d closed ports:\n%s", hi-lo+1-len(open), j)
	}

	nmap, err := exec.LookPath("nmap")
	if err != nil {
		t.Log("nmap is not installed: not comparing with it")
		return
	}
	ref, err := exec.Command(nmap, "-sT", "-p", prange, "127.0.0.1", "-oX", "-").Output()
	if err != nil {
		t.Skipf("nmap: %v", err)
	}
	var theirs nmapXML
	if err := xml.Unmarshal(ref, &theirs); err != nil {
		t.Fatalf("nmap's XML: %v", err)
	}
	if diff := cmp.Diff(theirs.open(), ours.open()); diff != "" {
		t.Errorf("open ports, nmap vs ours (-nmap +ours):\n%s", diff)
	}
	ta, oa := xmlAttrs(t, ref), xmlAttrs(t, data)
	for _, el := range []string{"nmaprun", "scaninfo", "host", "status", "address", "ports", "port", "state", "service", "times", "finished", "hosts"} {
		if _, ok := ta[el]; !ok {
			continue // nmap wrote none here (such as <service> for an unnamed port)
		}
		if _, ok := oa[el]; !ok {
			if el == "service" {
				continue
			}
			t.Errorf("no <%s> element in ours", el)
			continue
		}
		if diff := cmp.Diff(ta[el], oa[el]); diff != "" {
			t.Errorf("<%s> attributes (-nmap +ours):\n%s", el, diff)
		}
	}
}

func TestScanUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"scan"}, "missing TARGET"},
		{[]string{"scan", "-p", "0-70000", "127.0.0.1"}, "0-70000"},
		{[]string{"scan", "10.0.0.0/33"}, "10.0.0.0/33"},
		{[]string{"scan", "-sS", "-sT", "127.0.0.1"}, "-sS and -sT conflict"},
		{[]string{"scan", "--shard", "3/2", "127.0.0.1"}, "--shard 3/2: the shard I must be from 1 to N (2)"},
		{[]string{"scan", "--shard", "0/2", "127.0.0.1"}, "--shard 0/2"},
		{[]string{"scan", "--shard", "1/0", "127.0.0.1"}, "--shard 1/0: the number of shards N must be 1 or more"},
		{[]string{"scan", "--shard", "x", "127.0.0.1"}, `--shard "x": want I/N`},
		{[]string{"scan", "--shard", "1/2", "127.0.0.1"}, "--shard 1/2 needs --seed S, the same on every shard"},
		{[]string{"scan", "-sT", "--resume", "x.json", "127.0.0.1"}, "--resume needs the SYN scan (-sS)"},
		{[]string{"scan", "--seed", "0", "127.0.0.1"}, "--seed 0"},
		{[]string{"scan", "-sU", "-p", "T:80", "127.0.0.1"}, `holds no UDP port`},
		{[]string{"scan", "-sU", "-p", "0-70000", "127.0.0.1"}, "0-70000"},
		{[]string{"scan", "-sU", "--udp-ratelimit-wait", "-1s", "127.0.0.1"}, "--udp-ratelimit-wait"},
		{[]string{"scan", "-sU", "--top", "0", "127.0.0.1"}, "--top"},
		{[]string{"scan", "--top", "0", "127.0.0.1"}, "--top"},
		{[]string{"scan", "-p", "22", "--top", "5", "127.0.0.1"}, "conflict"},
		{[]string{"scan", "--bogus", "127.0.0.1"}, "--bogus"},
		{[]string{"scan", "--format", "xml", "127.0.0.1"}, `"xml"`},
		{[]string{"scan", "--timeout", "-1s", "127.0.0.1"}, "--timeout"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, stderr := run(t, tt.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, ExitUsage, stderr)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "ports scan: ") {
				t.Errorf("stderr %q: want one line naming %q", stderr, tt.want)
			}
		})
	}
}

func TestScanRewriteArgs(t *testing.T) {
	got := scanRewriteArgs([]string{"-iL", "f", "-oX=x", "-sT", "-p", "22", "-v", "--", "-oG"})
	want := []string{"--iL", "f", "--oX=x", "--sT", "-p", "22", "-v", "--", "-oG"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestScanTargetFile(t *testing.T) {
	_, _, open := scanListeners(t, "127.0.0.1", 1)
	f := filepath.Join(t.TempDir(), "targets")
	os.WriteFile(f, []byte("# loopback\n127.0.0.1 ::1\n"), 0o644)
	code, out, stderr := run(t, "scan", "-iL", f, "--exclude", "::1", "-p", fmt.Sprint(open[0]), "--format", "json")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got []scanLine
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != 1 || got[0].Addr != "127.0.0.1" || got[0].Port != open[0] || got[0].State != "open" {
		t.Errorf("got %+v", got)
	}
}
