package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
)

// pyPeer is procattr's testdata/attr.py running under a name of the
// test's choosing.
type pyPeer struct {
	pid   int
	addr  string // a server's port, a client's local address
	lines *bufio.Scanner
	stdin io.WriteCloser
}

var attrScript = func() string {
	p, _ := filepath.Abs("../../procattr/testdata/attr.py")
	return p
}()

// startPy runs attr.py as name with args until the test ends, and reads
// its "ready PID ADDR" line.
func startPy(t *testing.T, name string, args ...string) *pyPeer {
	t.Helper()
	py, err := filepath.EvalSymlinks("/usr/bin/python3") // not a wrapper script found in the PATH
	if err != nil {
		t.Skipf("needs /usr/bin/python3 (Debian package python3): %v", err)
	}
	exe := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(py, exe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{attrScript}, args...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &pyPeer{lines: bufio.NewScanner(stdout), stdin: stdin}
	if !p.lines.Scan() {
		t.Fatalf("%s: no ready line", name)
	}
	f := strings.Fields(p.lines.Text())
	if len(f) < 3 || f[0] != "ready" {
		t.Fatalf("%s said %q", name, p.lines.Text())
	}
	p.pid, _ = strconv.Atoi(f[1])
	p.addr = f[2]
	return p
}

// echo sends a line and waits for its echo.
func (p *pyPeer) echo(t *testing.T) {
	t.Helper()
	p.stdin.Write([]byte("ports capture --pid\n"))
	if !p.lines.Scan() || p.lines.Text() != "echo" {
		t.Fatalf("no echo: %q", p.lines.Text())
	}
}

// captureWhile runs a ports command line that captures, and once it
// listens, calls traffic (again and again) until the command returns.
func captureWhile(t *testing.T, traffic func(), args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb porttest.LogBuffer
	done := make(chan int, 1)
	go func() { done <- Run(ctx, args, &out, &errb) }()
	porttest.WaitFor(t, "the capture to listen", func() bool {
		return strings.Contains(errb.String(), "listening on") || len(done) > 0
	})
	for {
		select {
		case code := <-done:
			return code, out.String(), errb.String()
		default:
			traffic()
		}
	}
}

func decodeLines(t *testing.T, out string) []render.PacketV1 {
	t.Helper()
	var ps []render.PacketV1
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var p render.PacketV1
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		ps = append(ps, p)
	}
	return ps
}

func pidOf(p *render.ProcessV1) int {
	if p == nil {
		return 0
	}
	return p.PID
}

// TestIntegrationCaptureProcesses: every packet of python peers'
// connections on loopback (TCP and UDP, IPv4 and IPv6, the connection
// opened after the capture started) names the client's and the
// server's pid, each at its end, in JSON and on the text line.
func TestIntegrationCaptureProcesses(t *testing.T) {
	requireCapture(t)
	for _, tc := range []struct{ proto, host string }{
		{"tcp", "127.0.0.1"}, {"tcp", "::1"}, {"udp", "127.0.0.1"}, {"udp", "::1"},
	} {
		t.Run(tc.proto+"-"+tc.host, func(t *testing.T) {
			srv := startPy(t, "pcap-srv", "serve", tc.proto, tc.host, "0")
			var cli *pyPeer
			traffic := func() {
				if cli == nil {
					cli = startPy(t, "pcap-cli", "conn", tc.proto, tc.host, srv.addr)
				}
				cli.echo(t)
			}
			code, out, stderr := captureWhile(t, traffic, "capture", "-i", "lo", "-c", "6", "--format", "jsonl", tc.proto+" port "+srv.addr)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			ps := decodeLines(t, out)
			if len(ps) != 6 {
				t.Fatalf("%d packets, want 6", len(ps))
			}
			for _, p := range ps {
				if p.Process == nil {
					t.Fatalf("packet %d without process", p.N)
				}
				toSrv := p.TCP != nil && strconv.Itoa(int(p.TCP.DstPort)) == srv.addr || p.UDP != nil && strconv.Itoa(int(p.UDP.DstPort)) == srv.addr
				want := [2]int{cli.pid, srv.pid}
				if !toSrv {
					want = [2]int{srv.pid, cli.pid}
				}
				if got := [2]int{pidOf(p.Process.Src), pidOf(p.Process.Dst)}; got != want {
					t.Errorf("packet %d %s > %s: pids %v, want %v", p.N, p.IP.Src, p.IP.Dst, got, want)
				}
				if p.Process.Src != nil && p.Process.Src.Name != "pcap-srv" && p.Process.Src.Name != "pcap-cli" {
					t.Errorf("packet %d: name %q", p.N, p.Process.Src.Name)
				}
			}
			// The text line says the same.
			cli = nil
			code, out, stderr = captureWhile(t, traffic, "capture", "-i", "lo", "-c", "1", tc.proto+" dst port "+srv.addr)
			if want := " process pcap-cli/"; code != ExitOK || !strings.Contains(out, want) || !strings.HasSuffix(out, " > pcap-srv/"+strconv.Itoa(srv.pid)+"\n") {
				t.Errorf("exit %d: line %q, want %q... > pcap-srv/%d; %s", code, out, want, srv.pid, stderr)
			}
		})
	}
}

// TestIntegrationCapturePid: --pid of one of two servers shows its
// connections' packets, opened after the capture started, and none of
// the other's.
func TestIntegrationCapturePid(t *testing.T) {
	requireCapture(t)
	mine := startPy(t, "pcap-mine", "serve", "tcp", "127.0.0.1", "0")
	other := startPy(t, "pcap-other", "serve", "udp", "127.0.0.1", "0")
	var c1, c2 *pyPeer
	traffic := func() {
		if c1 == nil {
			c1 = startPy(t, "pcap-c1", "conn", "tcp", "127.0.0.1", mine.addr)
			c2 = startPy(t, "pcap-c2", "conn", "udp", "127.0.0.1", other.addr)
		}
		c2.echo(t)
		c1.echo(t)
	}
	code, out, stderr := captureWhile(t, traffic, "capture", "-i", "lo", "-c", "8", "--format", "jsonl", "--pid", strconv.Itoa(mine.pid))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ps := decodeLines(t, out)
	if len(ps) != 8 {
		t.Fatalf("%d packets, want 8", len(ps))
	}
	for _, p := range ps {
		if p.TCP == nil || pidOf(p.Process.Src) != mine.pid && pidOf(p.Process.Dst) != mine.pid {
			t.Errorf("packet %d is not pcap-mine's: %+v", p.N, p.Process)
		}
		if pidOf(p.Process.Src) != c1.pid && pidOf(p.Process.Dst) != c1.pid {
			t.Errorf("packet %d: the other end is not the client %d: %+v", p.N, c1.pid, p.Process)
		}
	}
	// --proc by name, and a bad pid.
	c1 = nil
	code, out, stderr = captureWhile(t, traffic, "capture", "-i", "lo", "-c", "2", "--proc", "pcap-other")
	if code != ExitOK || strings.Count(out, "pcap-other/"+strconv.Itoa(other.pid)) != 2 || strings.Contains(out, "pcap-mine") {
		t.Errorf("--proc pcap-other: exit %d, %q %s", code, out, stderr)
	}
	code, _, stderr = run(t, "capture", "-i", "lo", "--pid", "0")
	if code != ExitUsage || !strings.Contains(stderr, "--pid 0") {
		t.Errorf("--pid 0: exit %d, %q", code, stderr)
	}
}

// TestIntegrationCaptureWriteProcesses: -w with --pid writes pcapng
// whose packet comments name the processes; decode shows them again,
// and tshark accepts the file and reads the same comments.
func TestIntegrationCaptureWriteProcesses(t *testing.T) {
	requireCapture(t)
	tshark := porttest.LookTool(t, "tshark", "tshark")
	srv := startPy(t, "pcap-wsrv", "serve", "udp", "::1", "0")
	var cli *pyPeer
	traffic := func() {
		if cli == nil {
			cli = startPy(t, "pcap-wcli", "conn", "udp", "::1", srv.addr)
		}
		cli.echo(t)
	}
	file := filepath.Join(t.TempDir(), "procs.pcapng")
	code, _, stderr := captureWhile(t, traffic, "capture", "-i", "lo", "-c", "4", "-w", file, "--pid", strconv.Itoa(srv.pid))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	toSrv := "process pcap-wcli/" + strconv.Itoa(cli.pid) + " > pcap-wsrv/" + strconv.Itoa(srv.pid)
	toCli := "process pcap-wsrv/" + strconv.Itoa(srv.pid) + " > pcap-wcli/" + strconv.Itoa(cli.pid)

	code, out, stderr := run(t, "decode", file)
	if code != ExitOK || strings.Count(out, "\n") != 4 || strings.Count(out, toSrv+"\n") != 2 || strings.Count(out, toCli+"\n") != 2 {
		t.Errorf("decode: exit %d, %q %s; want two lines ending %q and two %q", code, out, stderr, toSrv, toCli)
	}
	code, out, _ = run(t, "decode", "--format", "jsonl", file)
	for _, p := range decodeLines(t, out) {
		if p.Process == nil || pidOf(p.Process.Src)+pidOf(p.Process.Dst) != cli.pid+srv.pid || p.Process.Src.Name == "" {
			t.Errorf("decode --format jsonl: packet %d process %+v", p.N, p.Process)
		}
	}

	cmd := exec.Command(tshark, "-r", file, "-T", "fields", "-e", "frame.comment", "-e", "udp.srcport")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	tout, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(tout)), "\n") {
		comment, sport, _ := strings.Cut(l, "\t")
		if want := map[bool]string{true: toCli, false: toSrv}[sport == srv.addr]; comment != want {
			t.Errorf("tshark: comment %q from port %s, want %q", comment, sport, want)
		}
	}
	if n := strings.Count(string(tout), "\n"); n != 4 {
		t.Errorf("tshark read %d packets, want 4:\n%s", n, tout)
	}
}

// TestIntegrationFlowsProcesses: flows -i names each live flow's client
// and server processes, and --pid keeps only one server's flows. The
// flows are UDP, so that one finishes by idling (--idle) while its
// sockets are still open.
func TestIntegrationFlowsProcesses(t *testing.T) {
	requireCapture(t)
	srv := startPy(t, "flow-srv", "serve", "udp", "127.0.0.1", "0")
	other := startPy(t, "flow-other", "serve", "udp", "127.0.0.1", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb porttest.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"flows", "-i", "lo", "--idle", "1s", "--format", "jsonl", "--pid", strconv.Itoa(srv.pid),
			"udp port " + srv.addr + " or udp port " + other.addr}, &out, &errb)
	}()
	porttest.WaitFor(t, "flows to listen", func() bool { return strings.Contains(errb.String(), "listening on") || len(done) > 0 })
	c1 := startPy(t, "flow-cli", "conn", "udp", "127.0.0.1", srv.addr)
	c2 := startPy(t, "flow-cli2", "conn", "udp", "127.0.0.1", other.addr)
	c1.echo(t)
	// c1's flow is finished once idle for --idle in capture time: the
	// other flow's packets move that time on (and must not be shown).
	porttest.WaitFor(t, "the flow of flow-cli in the output", func() bool {
		c2.echo(t)
		return strings.Contains(out.String(), "\n")
	})
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var flows []render.FlowV1
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var f render.FlowV1
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		flows = append(flows, f)
	}
	if len(flows) != 1 {
		t.Fatalf("%d flows, want flow-cli's alone:\n%s", len(flows), out.String())
	}
	// Which end flows calls the client is its guess (both UDP ports are
	// ephemeral here); each end must name the process that holds it.
	f := flows[0]
	owner := func(end string) (int, string) {
		if end == "127.0.0.1:"+srv.addr {
			return srv.pid, "flow-srv"
		}
		return c1.pid, "flow-cli"
	}
	if f.Client != "127.0.0.1:"+srv.addr && f.Server != "127.0.0.1:"+srv.addr {
		t.Fatalf("flow %s > %s is not flow-srv's (port %s)", f.Client, f.Server, srv.addr)
	}
	cpid, cname := owner(f.Client)
	spid, sname := owner(f.Server)
	if f.Process == nil || pidOf(f.Process.Client) != cpid || pidOf(f.Process.Server) != spid ||
		f.Process.Client.Name != cname || f.Process.Server.Name != sname {
		t.Errorf("flow %s > %s: process %+v, want %s/%d > %s/%d", f.Client, f.Server, f.Process, cname, cpid, sname, spid)
	}
}
