package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
)

// tcpdumpFields pulls what both tools print the same way out of a
// one-line view: the network layer word, addresses and ports, and the
// TCP flags. Service names ("80(http)") are dropped from ours.
var (
	lineRE    = regexp.MustCompile(`^\S+ (IP6?) (\S+) > ([^ :]+):?(?: Flags (\[[^\]]*\]))?`)
	serviceRE = regexp.MustCompile(`\([^)]*\)`)
)

func lineFields(line string) (string, bool) {
	m := lineRE.FindStringSubmatch(serviceRE.ReplaceAllString(line, ""))
	if m == nil {
		return "", false
	}
	// tcpdump 4.99.4 (Debian 12) has no letter for the AE flag; newer
	// releases print it as 'e', as we do.
	m[4] = strings.ReplaceAll(m[4], "e", "")
	return strings.Join(m[1:], " "), true
}

// TestDecodeMatchesTcpdump compares the one-line view of every
// tcpdump_*.pcap test capture with tcpdump -nn -r's: for each packet
// line that tcpdump prints as IP or IP6, the addresses, ports and flags.
func TestDecodeMatchesTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skipf("needs tcpdump (Debian package tcpdump): %v", err)
	}
	files, _ := filepath.Glob("../../testdata/pcaps/tcpdump_*.pcap")
	if len(files) < 8 {
		t.Fatalf("found %d tcpdump captures", len(files))
	}
	compared := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			out, err := exec.Command(tcpdump, "-nn", "-r", file).Output()
			if err != nil {
				t.Fatalf("tcpdump: %v", err)
			}
			want := packetLines(string(out))
			code, got, stderr := run(t, "decode", file)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			gotLines := packetLines(got)
			if len(gotLines) != len(want) {
				t.Fatalf("%d lines, tcpdump %d", len(gotLines), len(want))
			}
			for i := range want {
				w, ok := lineFields(want[i])
				if !ok {
					continue // not IP: tcpdump decodes more protocols than we name
				}
				g, _ := lineFields(gotLines[i])
				if g != w {
					t.Errorf("packet %d:\n ours    %s\n tcpdump %s", i+1, gotLines[i], want[i])
				}
				compared++
			}
		})
	}
	if compared < 30 {
		t.Errorf("compared only %d packets", compared)
	}
}

// packetLines keeps the lines that start a packet (tcpdump continues some
// on indented lines).
func packetLines(out string) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if l := sc.Text(); l != "" && l[0] != ' ' && l[0] != '\t' {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestDecodeJSONAndFlows(t *testing.T) {
	file := "../../testdata/pcaps/tcpdump_dns_tcp.pcap"
	code, out, stderr := run(t, "decode", "--format", "jsonl", "--explain", file)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var pkts []render.PacketV1
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var p render.PacketV1
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		pkts = append(pkts, p)
	}
	if len(pkts) != 11 || pkts[0].TCP == nil || pkts[0].TCP.Flags != "[S]" || pkts[0].TCP.DstPort != 53 {
		t.Fatalf("first packet %+v of %d", pkts[0], len(pkts))
	}
	if len(pkts[0].Explain) == 0 || len(pkts[1].Explain) != 0 {
		t.Errorf("explain on packets 1 and 2: %q, %q; want it on the first only", pkts[0].Explain, pkts[1].Explain)
	}
	// Packet 4 carries bytes 1-58 of the query: relative seq 1, next 59.
	if p := pkts[3].TCP; p.RelSeq != 1 || p.NextSeq != 59 || p.Checksum.Status == "" {
		t.Errorf("packet 4 TCP %+v", p)
	}

	code, out, stderr = run(t, "flows", "--json", file)
	if code != ExitOK {
		t.Fatalf("flows exit %d: %s", code, stderr)
	}
	var flows []render.FlowV1
	if err := json.Unmarshal([]byte(out), &flows); err != nil {
		t.Fatal(err)
	}
	if len(flows) != 1 {
		t.Fatalf("flows %+v", flows)
	}
	f := flows[0]
	if f.Client != "192.168.1.11:33779" || f.Server != "209.87.249.18:53" || f.Service != "domain" || !f.ClientBySYN ||
		f.State != "closed" || f.PacketsOut != 6 || f.PacketsIn != 5 || f.PayloadOut != 58 || f.PayloadIn != 226 {
		t.Errorf("flow %+v", f)
	}
}

func TestDecodeErrors(t *testing.T) {
	dir := t.TempDir()
	notPcap := filepath.Join(dir, "not.pcap")
	os.WriteFile(notPcap, []byte("hello, this is not a capture"), 0o644)
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	cut := cutCapture(t, "tcpdump_dns_tcp.pcap", 30)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"decode"}, ExitUsage, "missing FILE"},
		{[]string{"decode", "/nonexistent.pcap"}, ExitFailure, "/nonexistent.pcap: no such file or directory"},
		{[]string{"decode", dir}, ExitFailure, dir + ": is a directory"},
		{[]string{"decode", notPcap}, ExitFailure, notPcap + ": not a pcap or pcapng capture"},
		{[]string{"flows", notPcap}, ExitFailure, notPcap + ": not a pcap or pcapng capture"},
		{[]string{"decode", empty}, ExitFailure, empty + ": empty, not a pcap or pcapng capture"},
		{[]string{"decode", cut}, ExitFailure, cut + ": cut short at byte 24: truncated packet record header: 6 of 16 bytes"},
		{[]string{"decode", "../../testdata/pcaps/tcpdump_dns_tcp.pcap", "hots", "1"}, ExitUsage, "'hots'"},
		{[]string{"flows", "--sort", "size", "../../testdata/pcaps/tcpdump_dns_tcp.pcap"}, ExitUsage, `"size"`},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tt.args, code, stderr, tt.code, tt.want)
		}
		// No package names or Go calls in what the user reads.
		for _, leak := range []string{"pcapfile", "open ", "read ", "EOF"} {
			if strings.Contains(stderr, leak) {
				t.Errorf("%v: stderr %q has %q", tt.args, stderr, leak)
			}
		}
	}
}

// TestDecodeEveryCapture decodes all 20 test captures in every format:
// none may fail.
func TestDecodeEveryCapture(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/pcaps/*.pcap*")
	for _, file := range files {
		for _, args := range [][]string{{"decode"}, {"decode", "-v"}, {"decode", "--format", "jsonl"}, {"flows"}} {
			code, _, stderr := run(t, append(args, file)...)
			if code != ExitOK {
				t.Errorf("%v %s: exit %d: %s", args, filepath.Base(file), code, stderr)
			}
		}
	}
}

// wlanCapture writes a one-packet capture of a link type the decoder
// does not know (802.11).
func wlanCapture(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	w := pcapfile.NewWriter(&b, pcapfile.LinkTypeIEEE80211, 0, false)
	if err := w.WritePacket(0, []byte{1, 2, 3, 4}, 4); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "wlan.pcap")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestDecodeUnsupportedLinkType: a capture of a link type the decoder
// does not know still prints one line per packet (time and length,
// naming the link type instead of a made-up EtherType), then says once
// that the link type is not decoded (exit 1).
func TestDecodeUnsupportedLinkType(t *testing.T) {
	file := wlanCapture(t)
	code, stdout, stderr := run(t, "decode", file)
	want := " link-type IEEE802_11, length 4\n"
	if code != ExitFailure || !strings.HasSuffix(stdout, want) || strings.Count(stdout, "\n") != 1 {
		t.Errorf("exit %d, stdout %q; want exit 1 and a line ending %q", code, stdout, want)
	}
	if msg := file + ": link type IEEE802_11 is not decoded (1 packet)"; !strings.Contains(stderr, msg) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q; want one line with %q", stderr, msg)
	}
}
