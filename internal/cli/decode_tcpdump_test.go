package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portkit/ports/pcapfile"
)

// needTcpdump returns tcpdump's path, or skips the test.
func needTcpdump(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skipf("needs tcpdump (Debian package tcpdump): %v", err)
	}
	return path
}

// tcpdumpOut returns the packet lines of tcpdump -nn -r file (and any
// more flags).
func tcpdumpOut(t *testing.T, file string, flags ...string) []string {
	t.Helper()
	out, err := exec.Command(needTcpdump(t), append([]string{"-nn", "-r", file}, flags...)...).Output()
	if err != nil {
		t.Fatalf("tcpdump -nn -r %s: %v", file, err)
	}
	return packetLines(string(out))
}

// decodeOut returns the packet lines of ports decode file.
func decodeOut(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, stderr := run(t, append([]string{"decode"}, args...)...)
	if code != ExitOK {
		t.Fatalf("decode %v: exit %d: %s", args, code, stderr)
	}
	return packetLines(out)
}

// writeTestCapture writes frames of one link type to a pcap file, a
// microsecond apart.
func writeTestCapture(t *testing.T, name string, link pcapfile.LinkType, frames ...[]byte) string {
	t.Helper()
	var b bytes.Buffer
	w := pcapfile.NewWriter(&b, link, 0, false)
	for i, f := range frames {
		if err := w.WritePacket(int64(1_700_000_000_000_000_000+i*1000), f, len(f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

var seqRE = regexp.MustCompile(`Flags \[[^\]]*\](, seq [0-9:]+)?(, ack \d+)?`)

// TestDecodeSequenceNumbersAsTcpdump: sequence and ack numbers follow
// tcpdump's rule: absolute on a SYN, on a segment without ACK and on the
// first ACK-bearing segment of a connection, relative to that one after
// (so a capture begun mid-connection, or of a single packet, shows the
// absolute pair, never a relative seq beside an absolute ack).
func TestDecodeSequenceNumbersAsTcpdump(t *testing.T) {
	pcaps := "../../testdata/pcaps/"
	files := []string{
		pcaps + "cs_tcp_retransmissions.pcapng",
		pcaps + "tcpdump_ipv4_tcp_http_xml.pcap",
		pcaps + "tcpdump_tcp_rst_data_trunc.pcap",
		pcaps + "tcpdump_gso_ipv6_tcp_badcksum.pcap",
		pcaps + "tcpdump_dns_tcp.pcap",
		pcaps + "cs_http_ip4and6.pcapng",
		pcaps + "gopacket_test_loopback_null_ipv6.pcap",
		pcaps + "tcpdump_ldp_vlan_tcp_udp.pcap",
	}
	if editcap, err := exec.LookPath("editcap"); err == nil {
		// The DNS connection from its fourth packet on: begun mid-stream.
		mid := filepath.Join(t.TempDir(), "dns_tcp_midstream.pcap")
		if out, err := exec.Command(editcap, "-r", pcaps+"tcpdump_dns_tcp.pcap", mid, "4-11").CombinedOutput(); err != nil {
			t.Fatalf("editcap: %v: %s", err, out)
		}
		files = append(files, mid)
	}
	compared := 0
	for _, file := range files {
		want := tcpdumpOut(t, file)
		got := decodeOut(t, file)
		if len(got) != len(want) {
			t.Fatalf("%s: %d lines, tcpdump %d", file, len(got), len(want))
		}
		for i := range want {
			w := seqRE.FindString(want[i])
			if w == "" {
				continue
			}
			if g := seqRE.FindString(got[i]); g != w {
				t.Errorf("%s packet %d:\n ours    %s\n tcpdump %s", filepath.Base(file), i+1, got[i], want[i])
			}
			compared++
		}
	}
	if compared < 60 {
		t.Errorf("compared %d TCP packets", compared)
	}
}

// TestDecodeVerboseSequenceNumbersAsOneLine: -v shows the numbers of the
// one-line view; the raw ones only beside relative ones.
func TestDecodeVerboseSequenceNumbersAsOneLine(t *testing.T) {
	file := "../../testdata/pcaps/tcpdump_tcp_rst_data_trunc.pcap"
	code, out, _ := run(t, "decode", "-v", file)
	if want := "seq 1617159969, next seq 1617160027, ack 1936660873\n"; code != ExitOK || !strings.Contains(out, want) {
		t.Errorf("exit %d, -v %q; want %q", code, out, want)
	}
	code, out, _ = run(t, "decode", "-v", "../../testdata/pcaps/cs_tcp_retransmissions.pcapng")
	if want := "seq 0 (raw 5405497), next seq 648, ack 1 (raw 7118811)\n"; code != ExitOK || !strings.Contains(out, want) {
		t.Errorf("exit %d, -v %q; want %q", code, out, want)
	}
}
