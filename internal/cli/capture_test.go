package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/internal/render"
)

// requireCapture skips unless this process may open a packet socket.
func requireCapture(t *testing.T) {
	t.Helper()
	h, err := capture.Open(context.Background(), "lo", nil)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, capture.ErrNotImplemented) {
			t.Skipf("live capture needs Linux and root or CAP_NET_RAW: %v", err)
		}
		t.Fatal(err)
	}
	h.Close()
}

// runWhileSending runs a ports command line that captures on lo while
// datagrams go to 127.0.0.1:port, until it returns (bounded).
func runWhileSending(t *testing.T, port int, args ...string) (int, string, string) {
	t.Helper()
	conn, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- Run(ctx, args, &out, &errb) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case code := <-done:
			return code, out.String(), errb.String()
		case <-tick.C:
			conn.Write([]byte("ports capture test"))
		}
	}
}

func TestIntegrationCapture(t *testing.T) {
	requireCapture(t)
	port := 20000 + os.Getpid()%20000
	filterExpr := "udp and dst port " + strconv.Itoa(port)
	code, out, stderr := runWhileSending(t, port, "capture", "-i", "lo", "-c", "3", "--format", "jsonl", filterExpr)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d packets, want 3:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var p render.PacketV1
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		if p.UDP == nil || int(p.UDP.DstPort) != port || p.IP.Dst != "127.0.0.1" || p.PayloadLen != len("ports capture test") {
			t.Errorf("packet %+v, want UDP to 127.0.0.1:%d", p, port)
		}
	}
	if !strings.Contains(stderr, "3 packets captured") {
		t.Errorf("stderr %q lacks the count", stderr)
	}
	// tcpdump -i lo says the same.
	if !strings.Contains(stderr, "listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n") {
		t.Errorf("stderr %q lacks the link type line", stderr)
	}
	if p := lines[0]; !strings.Contains(p, `"link":{"type":"EN10MB"`) {
		t.Errorf("packet %s: want link type EN10MB", p)
	}

	// -w writes a pcap file that decode reads back.
	file := filepath.Join(t.TempDir(), "lo.pcap")
	code, _, stderr = runWhileSending(t, port, "capture", "-i", "lo", "-c", "4", "-w", file, filterExpr)
	if code != ExitOK {
		t.Fatalf("capture -w: exit %d: %s", code, stderr)
	}
	code, out, stderr = run(t, "decode", file)
	if code != ExitOK || strings.Count(out, "\n") != 4 || !strings.Contains(out, "127.0.0.1."+strconv.Itoa(port)) {
		t.Errorf("decode of the written file: exit %d, %q %s", code, out, stderr)
	}
	code, out, _ = run(t, "flows", "--json", file)
	var flows []render.FlowV1
	if err := json.Unmarshal([]byte(out), &flows); code != ExitOK || err != nil || len(flows) != 1 || flows[0].PacketsOut+flows[0].PacketsIn != 4 {
		t.Errorf("flows of the written file: exit %d, %v, %+v", code, err, flows)
	}

	// A -w path that cannot be created is the one thing said.
	bad := filepath.Join(t.TempDir(), "no-such-dir", "x.pcap")
	code, out, stderr = run(t, "capture", "-i", "lo", "-c", "1", "-w", bad)
	if code != ExitFailure || out != "" || !strings.Contains(stderr, bad) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("capture -w %s: exit %d, stdout %q, stderr %q; want one line naming the path", bad, code, out, stderr)
	}
}

func TestCaptureErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"capture"}, ExitUsage, "missing -i"},
		{[]string{"capture", "-i", "lo", "bogus", "words"}, ExitUsage, "'bogus'"},
		{[]string{"capture", "-i", "nosuch0"}, ExitFailure, "nosuch0"},
		{[]string{"flows"}, ExitUsage, "missing FILE"},
	} {
		code, _, stderr := run(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}
