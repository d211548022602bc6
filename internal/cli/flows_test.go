package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/render"
)

// cutCapture writes the first n bytes of a test capture to a file, as a
// capture killed mid-write leaves it.
func cutCapture(t *testing.T, name string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/pcaps", name))
	if err != nil {
		t.Fatal(err)
	}
	if n > len(b) {
		t.Fatalf("%s has only %d bytes", name, len(b))
	}
	file := filepath.Join(t.TempDir(), "cut-"+name)
	if err := os.WriteFile(file, b[:n], 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestFlowsTruncatedCapturePrintsFlowsSoFar: a capture cut short lists
// the flows of the packets before the cut, as tshark does, then says
// what was wrong (exit 1).
func TestFlowsTruncatedCapturePrintsFlowsSoFar(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skipf("needs tshark: %v", err)
	}
	file := cutCapture(t, "cs_http_post.pcapng", 5000)
	// tshark reads the packets before the cut (and complains on stderr).
	out, _ := exec.Command(tshark, "-n", "-r", file, "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport").Output()
	perDir := map[string]uint64{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("tshark line %q", l)
		}
		perDir[f[0]+":"+f[1]+">"+f[2]+":"+f[3]]++
	}
	if len(perDir) != 2 {
		t.Fatalf("tshark saw %v; want the two directions of one connection", perDir)
	}

	code, stdout, stderr := run(t, "flows", "--json", file)
	if code != ExitFailure || !strings.Contains(stderr, file+": cut short at byte 3908") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line naming the file and the cut", code, stderr)
	}
	var flows []render.FlowV1
	if err := json.Unmarshal([]byte(stdout), &flows); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if len(flows) != 1 {
		t.Fatalf("flows %+v; want one", flows)
	}
	f := flows[0]
	if got, want := f.PacketsOut, perDir[f.Client+">"+f.Server]; got != want {
		t.Errorf("client to server: %d packets, tshark %d", got, want)
	}
	if got, want := f.PacketsIn, perDir[f.Server+">"+f.Client]; got != want {
		t.Errorf("server to client: %d packets, tshark %d", got, want)
	}

	// The table view prints its rows before the error too.
	code, stdout, _ = run(t, "flows", file)
	if code != ExitFailure || !strings.Contains(stdout, f.Client) {
		t.Errorf("table: exit %d, stdout %q", code, stdout)
	}
}

// TestFlowsUnsupportedLinkTypeSaysSo: flows of a capture whose link type
// is not decoded says so (exit 1) instead of an empty table and exit 0.
func TestFlowsUnsupportedLinkTypeSaysSo(t *testing.T) {
	file := wlanCapture(t)
	code, _, stderr := run(t, "flows", file)
	if msg := file + ": link type IEEE802_11 is not decoded"; code != ExitFailure || !strings.Contains(stderr, msg) {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, msg)
	}
}

// TestFlowsInterfaceAndFileExcludeEachOther: -i IFACE FILE is a usage
// error that says so, not a filter error about the file's name.
func TestFlowsInterfaceAndFileExcludeEachOther(t *testing.T) {
	file := cutCapture(t, "tcpdump_dns_tcp.pcap", 24)
	for _, f := range []string{file, "-", "missing.pcapng"} {
		code, _, stderr := run(t, "flows", "-i", "lo", f)
		if code != ExitUsage || !strings.Contains(stderr, "-i lo and FILE") || !strings.Contains(stderr, "exclude each other") {
			t.Errorf("flows -i lo %s: exit %d, stderr %q; want exit 2 saying -i and FILE exclude each other", f, code, stderr)
		}
	}
}

// TestCaptureWriteFileErrorNamesFile: a -w file that cannot be created is
// named with what is wrong, without Go's "open" prefix.
func TestCaptureWriteFileErrorNamesFile(t *testing.T) {
	requireCapture(t)
	bad := filepath.Join(t.TempDir(), "no-such-dir", "out.pcap")
	code, _, stderr := run(t, "capture", "-i", "lo", "-c", "1", "-w", bad)
	if want := bad + ": no such file or directory"; code != ExitFailure || !strings.Contains(stderr, want) || strings.Contains(stderr, "open ") {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
}
