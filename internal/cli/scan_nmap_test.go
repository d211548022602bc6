package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/scan"
	"github.com/portkit/ports/scan/report"
)

// nmapPorts is the part of an -oX file (nmap's or ours) these tests
// compare: every listed port with its state, reason and reason_ttl, and
// the host's status.
type nmapPorts struct {
	Hosts []struct {
		Status struct {
			State     string `xml:"state,attr"`
			Reason    string `xml:"reason,attr"`
			ReasonTTL int    `xml:"reason_ttl,attr"`
		} `xml:"status"`
		Ports struct {
			Extra []struct {
				State string `xml:"state,attr"`
				Count int    `xml:"count,attr"`
			} `xml:"extraports"`
			Ports []struct {
				Protocol string `xml:"protocol,attr"`
				PortID   int    `xml:"portid,attr"`
				State    struct {
					State     string `xml:"state,attr"`
					Reason    string `xml:"reason,attr"`
					ReasonTTL int    `xml:"reason_ttl,attr"`
				} `xml:"state"`
			} `xml:"port"`
		} `xml:"ports"`
	} `xml:"host"`
	Finished struct {
		Exit     string `xml:"exit,attr"`
		ErrorMsg string `xml:"errormsg,attr"`
	} `xml:"runstats>finished"`
}

func parseNmapPorts(t *testing.T, what string, data []byte) *nmapPorts {
	t.Helper()
	var x nmapPorts
	if err := xml.Unmarshal(data, &x); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, data)
	}
	return &x
}

// listed returns "port/proto" -> "state reason ttl" for the ports listed
// in states (all of them if none given).
func (x *nmapPorts) listed(withTTL bool, states ...string) map[string]string {
	m := map[string]string{}
	for _, h := range x.Hosts {
		for _, p := range h.Ports.Ports {
			if len(states) > 0 && !slices.Contains(states, p.State.State) {
				continue
			}
			v := p.State.State + " " + p.State.Reason
			if withTTL {
				v += " ttl " + strconv.Itoa(p.State.ReasonTTL)
			}
			m[fmt.Sprintf("%d/%s", p.PortID, p.Protocol)] = v
		}
	}
	return m
}

// nmapTool returns nmap's path, or skips.
func nmapTool(t *testing.T) string {
	t.Helper()
	return porttest.LookTool(t, "nmap", "nmap")
}

// TestScanNotShownOnlyNonZero: the table's count of the ports not listed
// names only the states that have some ("0 closed, 0 filtered ports not
// shown" was printed for a host whose every port was listed).
func TestScanNotShownOnlyNonZero(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	open := render.ScanResultV1{Addr: a.String(), Port: 22, Proto: "tcp", State: "open", Reason: "syn-ack"}
	tests := []struct {
		hidden []report.Extra
		want   string // "" : no such line at all
	}{
		{nil, ""},
		{[]report.Extra{{Port: 1, State: scan.StateClosed}, {Port: 2, State: scan.StateClosed}}, "2 closed ports not shown"},
		{[]report.Extra{{Port: 1, State: scan.StateFiltered}}, "1 filtered ports not shown"},
		{[]report.Extra{{Port: 1, State: scan.StateClosed}, {Port: 3, Proto: 1, State: scan.StateOpenFiltered}}, "1 closed, 1 open|filtered ports not shown"},
	}
	for _, tt := range tests {
		h := &report.Host{Addr: a, Up: true, Ports: []render.ScanResultV1{open}, Extra: tt.hidden}
		var b bytes.Buffer
		if err := writeScanListing(&b, render.Table, &scanOpts{}, nil, []*report.Host{h}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.Contains(out, " 0 ") || strings.HasPrefix(out, "0 ") {
			t.Errorf("listing counts a state with no port:\n%s", out)
		}
		if tt.want == "" && strings.Contains(out, "not shown") || tt.want != "" && !strings.Contains(out, tt.want+"\n") {
			t.Errorf("want %q in:\n%s", tt.want, out)
		}
	}
}

// TestIntegrationScanReasonTTLAsNmap: -oX writes the TTL of the answer
// in reason_ttl (it wrote 0), the same as nmap -sS -oX for the same
// ports: checked across a namespace pair, where the answers have TTL 64.
func TestIntegrationScanReasonTTLAsNmap(t *testing.T) {
	nmap := nmapTool(t)
	p := porttest.NewPair(t, nil)
	var plist []string
	for range 3 {
		l, err := p.B.Listen("tcp", net.JoinHostPort(p.B.Addr4.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		plist = append(plist, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	plist = append(plist, "1", "2") // closed
	ports := strings.Join(plist, ",")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	xf := filepath.Join(t.TempDir(), "o.xml")
	cmd := childCommand(t, func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) },
		"scan", "-sS", "-p", ports, "--all-states", "-oX", xf, p.B.Addr4.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scan: %v: %s", err, out)
	}
	data, err := os.ReadFile(xf)
	if err != nil {
		t.Fatal(err)
	}
	ours := parseNmapPorts(t, "ours", data)
	ref, err := p.A.Command(ctx, nmap, "-sS", "-Pn", "-n", "--reason", "-p", ports, "-oX", "-", p.B.Addr4.String()).Output()
	if err != nil {
		t.Fatalf("nmap: %v", err)
	}
	theirs := parseNmapPorts(t, "nmap", ref)
	if diff := cmp.Diff(theirs.listed(true), ours.listed(true)); diff != "" {
		t.Errorf("ports with reason_ttl (-nmap +ours):\n%s", diff)
	}
	for k, v := range ours.listed(true) {
		if strings.HasSuffix(v, " ttl 0") {
			t.Errorf("%s: %s: reason_ttl 0 for an answer", k, v)
		}
	}
	if len(ours.Hosts) != 1 || ours.Hosts[0].Status.ReasonTTL == 0 {
		t.Errorf("host status has no reason_ttl: %+v", ours.Hosts)
	}
}

// silentUDP opens n UDP sockets on free ports of 127.0.0.1 that read
// and never answer, and returns a range LO-HI around them and their ports.
func silentUDP(t *testing.T, n int) (lo, hi int, silent []int) {
	t.Helper()
	for len(silent) < n {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		silent = append(silent, pc.LocalAddr().(*net.UDPAddr).Port)
		if len(silent) > 1 && silent[len(silent)-1]-silent[0] > 50 {
			// Too far apart to scan the range between them: start again.
			silent = silent[:0]
		}
	}
	slices.Sort(silent)
	return max(silent[0]-2, 1), min(silent[len(silent)-1]+2, 65535), silent
}

// TestScanUDPListsOpenFilteredAsNmap: -sU lists the ports that stay
// silent (open|filtered), as nmap -sU does, where it used to count them
// among the ports not shown; checked against nmap on the same ports.
func TestScanUDPListsOpenFilteredAsNmap(t *testing.T) {
	needUDPScan(t)
	nmap := nmapTool(t)
	lo, hi, silent := silentUDP(t, 2)
	prange := fmt.Sprintf("%d-%d", lo, hi)
	xf := filepath.Join(t.TempDir(), "o.xml")
	code, out, stderr := run(t, "scan", "-sU", "-p", prange, "-oX", xf, "127.0.0.1")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, p := range silent {
		if !strings.Contains(out, fmt.Sprintf("%d/udp", p)) || !strings.Contains(out, "open|filtered") {
			t.Errorf("table does not list silent port %d as open|filtered:\n%s", p, out)
		}
	}
	data, err := os.ReadFile(xf)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := exec.Command(nmap, "-sU", "-Pn", "-n", "--reason", "-p", prange, "-oX", "-", "127.0.0.1").Output()
	if err != nil {
		t.Skipf("nmap -sU: %v", err)
	}
	ours, theirs := parseNmapPorts(t, "ours", data).listed(false, "open|filtered"), parseNmapPorts(t, "nmap", ref).listed(false, "open|filtered")
	for k := range theirs {
		if p, _ := strconv.Atoi(strings.TrimSuffix(k, "/udp")); !slices.Contains(silent, p) && heldElsewhere("127.0.0.1", p) {
			delete(theirs, k) // another program's socket came or went
			delete(ours, k)
		}
	}
	if diff := cmp.Diff(theirs, ours); diff != "" {
		t.Errorf("open|filtered ports listed (-nmap +ours):\n%s", diff)
	}
}

// TestScanFoldsManyOpenFiltered: past nmap's 25 ports a host's
// open|filtered ports are counted, not listed, as nmap does.
func TestScanFoldsManyOpenFiltered(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	for _, n := range []int{report.MaxOpenFiltered, report.MaxOpenFiltered + 1} {
		sh := &scan.Host{Target: scan.Target{Addr: a}}
		for i := range n {
			sh.Add(scan.Result{Addr: a, Port: ports.Port(1000 + i), Proto: ports.ProtoUDP, State: scan.StateOpenFiltered, Reason: "no-response"})
		}
		o := &scanOpts{}
		h := report.NewHost(sh, &report.Options{AllStates: o.allStates})
		kept := h.Ports
		var b bytes.Buffer
		if err := writeScanListing(&b, render.Table, o, nil, []*report.Host{h}); err != nil {
			t.Fatal(err)
		}
		listed := strings.Count(b.String(), "/udp")
		if n <= report.MaxOpenFiltered && (listed != n || len(kept) != n) || n > report.MaxOpenFiltered && (listed != 0 || !strings.Contains(b.String(), fmt.Sprintf("%d open|filtered ports not shown", n))) {
			t.Errorf("%d open|filtered: %d listed, %d kept:\n%s", n, listed, len(kept), b.String())
		}
	}
}

// scanFilePorts reads the port sets of -oJ, -oG and -oX files: for -oJ
// and -oX "port/proto state" for each port listed or counted (-oX counts
// its ports not listed in extraports: those are "state xN"), for -oG the
// Ports field and its Ignored State.
func scanFilePorts(t *testing.T, jf, gf, xf string) (oJ, oG, oX map[string]int) {
	t.Helper()
	oJ, oG, oX = map[string]int{}, map[string]int{}, map[string]int{}
	j, err := os.ReadFile(jf)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range parseScanJSONL(t, string(j)) {
		if l.Port == 0 {
			continue // a host record
		}
		oJ[fmt.Sprintf("%d/%s %s", l.Port, l.Proto, l.State)]++
	}
	g, err := os.ReadFile(gf)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(g), "\n") {
		_, ports, ok := strings.Cut(line, "\tPorts: ")
		if !ok {
			continue
		}
		ports, ignored, _ := strings.Cut(ports, "\tIgnored State: ")
		for _, f := range strings.Split(ports, ", ") {
			oG[f]++
		}
		oG["ignored "+ignored]++
	}
	x, err := os.ReadFile(xf)
	if err != nil {
		t.Fatal(err)
	}
	xp := parseNmapPorts(t, xf, x)
	for k, v := range xp.listed(false) {
		oX[k+" "+v]++
	}
	for _, h := range xp.Hosts {
		for _, e := range h.Ports.Extra {
			oX[e.State] += e.Count
		}
	}
	return oJ, oG, oX
}

// TestIntegrationScanResumeKeepsOutputFiles: a scan interrupted with
// SIGINT and resumed writes the same -oJ, -oG and -oX files as a scan
// that was never interrupted (the resumed run used to overwrite them
// with its own part), and the interrupted run's XML says exit="error"
// with an errormsg, as nmap's does.
func TestIntegrationScanResumeKeepsOutputFiles(t *testing.T) {
	p, _ := scanPair(t, 5, 3000)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	inA := func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) }
	files := func(name string) (args []string, jf, gf, xf string) {
		jf, gf, xf = filepath.Join(dir, name+".jsonl"), filepath.Join(dir, name+".gnmap"), filepath.Join(dir, name+".xml")
		// 1,000 SYNs a second: 3,000 ports take 3 s, and the progress is
		// saved every second.
		// --all-states: -oJ writes every port.
		return []string{"scan", "-sS", "-p", "1-3000", "--rate", "1000", "--all-states", "-oJ", jf, "-oG", gf, "-oX", xf, p.B.Addr4.String()}, jf, gf, xf
	}
	args, jf, gf, xf := files("resumed")
	state := filepath.Join(dir, "resume.json")
	args = append(args, "--resume", state)
	first := childCommand(t, inA, args...)
	var err1 bytes.Buffer
	first.Stderr = &err1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "the progress file", func() bool { return porttest.Exists(state) })
	first.Process.Signal(os.Interrupt)
	if err := first.Wait(); err == nil {
		t.Skipf("the scan ended before the interrupt: %s", err1.String())
	}
	x, err := os.ReadFile(xf)
	if err != nil {
		t.Fatal(err)
	}
	if f := parseNmapPorts(t, "interrupted -oX", x).Finished; f.Exit != "error" || !strings.Contains(f.ErrorMsg, "interrupted") {
		t.Errorf("interrupted scan's XML: exit=%q errormsg=%q, want exit=\"error\" and why", f.Exit, f.ErrorMsg)
	}
	partJ, _, _ := scanFilePorts(t, jf, gf, xf)
	second := childCommand(t, inA, args...)
	if out, err := second.CombinedOutput(); err != nil {
		t.Fatalf("resumed scan: %v: %s", err, out)
	}
	gotJ, gotG, gotX := scanFilePorts(t, jf, gf, xf)
	t.Logf("%d results before the interrupt, %d in all", len(partJ), len(gotJ))

	wargs, wjf, wgf, wxf := files("whole")
	if out, err := childCommand(t, inA, wargs...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted scan: %v: %s", err, out)
	}
	wantJ, wantG, wantX := scanFilePorts(t, wjf, wgf, wxf)
	if len(wantJ) != 3000 {
		t.Fatalf("uninterrupted -oJ: %d ports, want 3000", len(wantJ))
	}
	for _, c := range []struct {
		name      string
		want, got map[string]int
	}{{"-oJ", wantJ, gotJ}, {"-oG", wantG, gotG}, {"-oX", wantX, gotX}} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s: resumed vs uninterrupted (-uninterrupted +resumed):\n%s", c.name, diff)
		}
	}
	if f := parseNmapPorts(t, "resumed -oX", mustRead(t, xf)).Finished; f.Exit != "success" {
		t.Errorf("resumed scan's XML: exit=%q", f.Exit)
	}
	if porttest.Exists(state + ".results") {
		t.Errorf("the results journal is left after the scan finished")
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAddressShapedHostIsUsageError: in every command that takes hosts,
// an argument written like an address that is not one is a usage error
// (exit 2) naming what is wrong, not a name looked up ("lookup
// 300.1.1.1: no such host", exit 1).
func TestAddressShapedHostIsUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"knock", "300.1.1.1", "7000"},
		{"knock", "1.2.3", "7000"},
		{"knock", "--spa", "10.0.0.256", "-A", "tcp/22"},
		{"knock", "::gg", "7000"},
		{"scan", "-sT", "-p", "80", "300.1.1.1"},
		{"scan", "-sT", "-p", "80", "0x7f.0.0.1"},
		{"scan", "-sT", "-p", "80", "::gg"},
		{"map", "127.0.0.1:0", "300.1.1.1:80"},
		{"map", "udp", "127.0.0.1:0", "1.2.3:53"},
	} {
		code, _, stderr := run(t, args...)
		says := strings.Contains(stderr, "not an IPv") || strings.Contains(stderr, "out of range") || strings.Contains(stderr, "not an address")
		if code != ExitUsage || strings.Contains(stderr, "lookup") || !says {
			t.Errorf("ports %s: exit %d, stderr %q; want exit 2 saying it is not an address", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestIntegrationScanServiceVersionRealServers: -sV names real dnsmasq
// over TCP and UDP from its version.bind answer (over TCP it named
// nothing), and python3 -m http.server with the Python version of its
// Server header; nmap -sV, run on the same ports, agrees on the versions.
func TestIntegrationScanServiceVersionRealServers(t *testing.T) {
	dnsmasq := porttest.LookTool(t, "dnsmasq", "dnsmasq-base")
	python := porttest.LookTool(t, "python3", "python3")
	p := porttest.NewPair(t, nil)
	b := p.B.Addr4.String()
	dlog := p.B.Start(t, dnsmasq, "--no-daemon", "--no-resolv", "--no-hosts", "--port=53", "--listen-address="+b,
		"--bind-interfaces", "--pid-file=", "--user=root", "--log-facility=-")
	web := p.B.Start(t, python, "-m", "http.server", "--bind", b, "8000", "--directory", t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	porttest.WaitFor(t, "dnsmasq and http.server", func() bool {
		for _, port := range []string{"53", "8000"} {
			c, err := p.A.Dial(ctx, "tcp", net.JoinHostPort(b, port))
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
	inA := func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) }
	out, err := childCommand(t, inA, "scan", "-sS", "-sU", "-sV", "-p", "T:53,8000,U:53", "--format", "jsonl", b).CombinedOutput()
	if err != nil {
		t.Fatalf("scan: %v: %s\ndnsmasq: %s\nhttp.server: %s", err, out, dlog, web)
	}
	got := map[string]udpScanLine{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var l udpScanLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		got[fmt.Sprintf("%d/%s", l.Port, l.Proto)] = l
	}
	for _, k := range []string{"53/tcp", "53/udp"} {
		if l := got[k]; l.Service != "domain" || l.Product != "dnsmasq" || l.Version == "" {
			t.Errorf("%s: %+v, want domain dnsmasq VERSION", k, l)
		}
	}
	pyVersion := strings.TrimSpace(strings.TrimPrefix(mustOutput(t, python, "--version"), "Python"))
	if l := got["8000/tcp"]; l.Product != "SimpleHTTP" || !strings.Contains(l.Info, "Python "+pyVersion) {
		t.Errorf("8000/tcp: %+v, want SimpleHTTP with Python %s", l, pyVersion)
	}

	nmap := nmapTool(t)
	ref, err := p.A.Command(ctx, nmap, "-sS", "-sV", "-Pn", "-n", "-p", "53,8000", "-oX", "-", b).Output()
	if err != nil {
		t.Fatalf("nmap -sV: %v", err)
	}
	var x struct {
		Ports []struct {
			PortID  int `xml:"portid,attr"`
			Service struct {
				Product   string `xml:"product,attr"`
				Version   string `xml:"version,attr"`
				ExtraInfo string `xml:"extrainfo,attr"`
			} `xml:"service"`
		} `xml:"host>ports>port"`
	}
	if err := xml.Unmarshal(ref, &x); err != nil {
		t.Fatal(err)
	}
	if len(x.Ports) != 2 {
		t.Fatalf("nmap lists %d ports, want 2:\n%s", len(x.Ports), ref)
	}
	for _, np := range x.Ports {
		ours := got[fmt.Sprintf("%d/tcp", np.PortID)]
		if np.Service.Version != ours.Version {
			t.Errorf("port %d: version %q, nmap says %q", np.PortID, ours.Version, np.Service.Version)
		}
		if np.Service.ExtraInfo != "" && !strings.Contains(ours.Info, np.Service.ExtraInfo) {
			t.Errorf("port %d: info %q lacks nmap's %q", np.PortID, ours.Info, np.Service.ExtraInfo)
		}
	}
}

func mustOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", name, err, out)
	}
	return string(out)
}

// TestIntegrationScanHostICMPFiltered: a host whose firewall answers
// every probe with an ICMP admin-prohibited is reported with what came
// back ("filtered by ICMP type 3 code 13 from ADDR"), not as "no answer";
// nmap -sS counts the same ports with the same reason.
func TestIntegrationScanHostICMPFiltered(t *testing.T) {
	nft := porttest.LookTool(t, "nft", "nftables")
	nmap := nmapTool(t)
	p := porttest.NewPair(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rules := `table inet ports_test_reject {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 1-200 reject with icmpx type admin-prohibited
	}
}
`
	cmd := p.B.Command(ctx, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	// The kernel limits the rate of its ICMP errors; the ports whose
	// error it did not send are no-response, for nmap as for us.
	p.B.Command(ctx, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0").Run()
	inA := func(name string, args ...string) *exec.Cmd { return p.A.Command(ctx, name, args...) }
	for _, tc := range []struct {
		addr netip.Addr
		want string
	}{
		{p.B.Addr4, "filtered by ICMP type 3 code 13 from " + p.B.Addr4.String() + " (admin-prohibited) on "},
		{p.B.Addr6, "filtered by ICMPv6 type 1 code 1 from " + p.B.Addr6.String() + " (admin-prohibited) on "},
	} {
		xf := filepath.Join(t.TempDir(), "o.xml")
		out, err := childCommand(t, inA, "scan", "-sS", "-p", "1-200", "-oX", xf, tc.addr.String()).CombinedOutput()
		if err != nil {
			t.Fatalf("scan: %v: %s", err, out)
		}
		if !strings.Contains(string(out), "scan report for "+tc.addr.String()+": "+tc.want) || strings.Contains(string(out), "no answer") {
			t.Errorf("%s: want %q in:\n%s", tc.addr, tc.want, out)
		}
		args := []string{"-sS", "-Pn", "-n", "--reason", "-p", "1-200", "-oX", "-", tc.addr.String()}
		if tc.addr.Is6() {
			args = append([]string{"-6"}, args...)
		}
		ref, err := p.A.Command(ctx, nmap, args...).Output()
		if err != nil {
			t.Fatalf("nmap: %v", err)
		}
		extra := func(data []byte) []xmlExtraPorts {
			var x struct {
				Extra []xmlExtraPorts `xml:"host>ports>extraports"`
			}
			if err := xml.Unmarshal(data, &x); err != nil {
				t.Fatalf("%v:\n%s", err, data)
			}
			return x.Extra
		}
		theirs, ours := extra(ref), extra(mustRead(t, xf))
		if len(theirs) != 1 || len(ours) != 1 || theirs[0].Count != 200 || ours[0].Count != 200 || theirs[0].State != ours[0].State ||
			!slices.Contains(theirs[0].reasons(), "admin-prohibited") || !slices.Contains(ours[0].reasons(), "admin-prohibited") {
			t.Errorf("%s: extraports: nmap %+v, ours %+v", tc.addr, theirs, ours)
		}
		if n := ours[0].count("admin-prohibited"); !strings.Contains(string(out), fmt.Sprintf("%s%d ports\n", tc.want, n)) {
			t.Errorf("%s: the title does not count the %d admin-prohibited ports of -oX:\n%s", tc.addr, n, out)
		}
		t.Logf("%s: admin-prohibited on %d ports for nmap, %d for us", tc.addr, theirs[0].count("admin-prohibited"), ours[0].count("admin-prohibited"))
	}
}

type xmlExtraPorts struct {
	State   string `xml:"state,attr"`
	Count   int    `xml:"count,attr"`
	Reasons []struct {
		Reason string `xml:"reason,attr"`
		Count  int    `xml:"count,attr"`
	} `xml:"extrareasons"`
}

func (e xmlExtraPorts) reasons() []string {
	var r []string
	for _, x := range e.Reasons {
		r = append(r, x.Reason)
	}
	return r
}

func (e xmlExtraPorts) count(reason string) int {
	n := 0
	for _, x := range e.Reasons {
		if x.Reason == reason {
			n += x.Count
		}
	}
	return n
}

// TestScanTarpitHostIsNotSilent: a tarpit (every port SYN-ACKs, so none
// is listed) is said to answer, not "no answer".
func TestScanTarpitHostIsNotSilent(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	sh := &scan.Host{Target: scan.Target{Addr: a}, Tarpit: &scan.TarpitError{Addr: a, Open: 1000, Probed: 1000}}
	sh.State, sh.Reason, sh.ReasonTTL = sh.StateFromPorts()
	h := report.NewHost(sh, nil)
	var b bytes.Buffer
	if err := writeScanListing(&b, render.Table, &scanOpts{}, nil, []*report.Host{h}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.Contains(out, "no answer") || !strings.Contains(out, "SYN proxy or tarpit") {
		t.Errorf("tarpit listing:\n%s", out)
	}
	if up, reason := h.Up, h.Reason; !up || reason != "syn-ack" {
		t.Errorf("tarpit host up() = %v, %q; want up, syn-ack", up, reason)
	}
}
