package cli

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/app"
	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/wire"
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

// frameSpec is one crafted frame: its bytes and how many were captured
// (0: all; -1: none).
type frameSpec struct {
	data   []byte
	capLen int
}

// writeFrames writes crafted frames to a pcap file, cutting each to its
// capLen.
func writeFrames(t *testing.T, name string, link pcapfile.LinkType, frames []frameSpec) string {
	t.Helper()
	var b bytes.Buffer
	w := pcapfile.NewWriter(&b, link, 0, false)
	for i, f := range frames {
		data := f.data
		switch {
		case f.capLen > 0:
			data = data[:f.capLen]
		case f.capLen < 0: // nothing captured
			data = nil
		}
		if err := w.WritePacket(int64(1_700_000_000_000_000_000+i*1000), data, len(f.data)); err != nil {
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

// tcpFrame builds an Ethernet/IPv4/TCP frame from 10.0.0.1:40000 to
// 10.0.0.2:8, which has no service name (so that the lines compare as
// they are), with raw options (padded by the caller) and payload.
func tcpFrame(t *testing.T, flags wire.TCPFlags, seq, ack uint32, urg uint16, opts []byte, payload int) []byte {
	t.Helper()
	p := wire.Packet{Layers: wire.LayerSet(0).Add(wire.LayerEthernet).Add(wire.LayerIPv4).Add(wire.LayerTCP)}
	p.Link.Type = pcapfile.LinkTypeEthernet
	p.IP = wire.IP{Version: 4, IHL: 5, TTL: 64, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	p.TCP = wire.TCP{SrcPort: 40000, DstPort: 8, Seq: seq, Ack: ack, Flags: flags, Window: 512, Urgent: urg}
	p.TCP.Options.Raw = opts
	if opts == nil {
		p.TCP.Options.Raw = []byte{}
	}
	p.Payload = make([]byte, payload)
	b, err := p.AppendTo(nil, wire.EncodeOptions{FixLengths: true, ComputeChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diffLines compares our lines with tcpdump's, the service name after a
// port being the one difference allowed.
func diffLines(t *testing.T, file string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d lines, tcpdump %d:\n%s\n---\n%s", file, len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if g := portServiceRE.ReplaceAllString(got[i], "$1"); g != want[i] && !ourSummary(g, want[i]) {
			t.Errorf("%s packet %d:\n ours    %s\n tcpdump %s", filepath.Base(file), i+1, g, want[i])
		}
	}
}

// ourSummaryRE is what ports adds after a TCP length where tcpdump
// prints nothing more: what the stream says (docs/DECODE.md); and
// ourDatagramRE after a UDP length: what the datagram says.
var (
	ourSummaryRE  = regexp.MustCompile(`^: (TLS (Client|Server)Hello|HTTP (\d{3}|[A-Z_-]+ )|SSH-|SIP (\d{3}|[A-Za-z_-]+ )|(FTP|SMTP|POP3|IMAP): |HTTP/2 connection preface$)`)
	ourDatagramRE = regexp.MustCompile(`^: (QUIC (Initial|Handshake|0-RTT|Retry|Version Negotiation|long header) |SIP (\d{3}|[A-Za-z_-]+ ))`)
)

// ourSummary: our line is tcpdump's with our application summary
// after the TCP or UDP length, on a segment or datagram tcpdump prints
// no payload of.
func ourSummary(ours, tcpdump string) bool {
	if !strings.HasPrefix(ours, tcpdump) || printsApp(tcpdump) {
		return false
	}
	if strings.Contains(tcpdump, ": UDP, length ") {
		return ourDatagramRE.MatchString(ours[len(tcpdump):])
	}
	return strings.Contains(tcpdump, " Flags [") && ourSummaryRE.MatchString(ours[len(tcpdump):])
}

// portServiceRE matches the service name we print after a port.
var portServiceRE = regexp.MustCompile(`(\.\d+)\([A-Za-z0-9_.+/-]+\)`)

// TestDecodeTCPOptionsAsTcpdump: the one-line view prints TCP options as
// tcpdump does, crafted packets of every kind and malformation compared
// line by line with tcpdump -nn -r.
func TestDecodeTCPOptionsAsTcpdump(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	syn, ack := wire.TCPSyn, wire.TCPAck
	frames := []frameSpec{
		// A Linux SYN, the SYN-ACK, then segments of that connection.
		{data: tcpFrame(t, syn, 1000, 0, 0, cat([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10}, u32(1), u32(0), []byte{1, 3, 3, 6}), 0)},
		{data: tcpFrame(t, syn|ack, 5000, 1001, 0, []byte{2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7}, 0)},
		// SACK blocks, relative to the connection.
		{data: tcpFrame(t, ack, 1001, 5001, 0, cat([]byte{1, 1, 5, 18}, u32(6001), u32(7001), u32(8001), u32(9001)), 0)},
		// A SACK of the other direction, and the urgent pointer.
		{data: tcpFrame(t, ack|wire.TCPUrg|wire.TCPPsh, 1001, 5001, 7, cat([]byte{1, 1, 5, 10}, u32(1101), u32(1201)), 10)},
		// EOL and what follows it.
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{1, 1, 0, 9}, 0)},
		// Unknown kinds, with and without data.
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{99, 4, 0xde, 0xad, 99, 2, 1, 1}, 0)},
		// A length below 2 after a first option; one beyond the header.
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{1, 2, 1, 0}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{2, 9, 5, 0xb4}, 0)},
		// A bad first option.
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{2, 1, 0, 0}, 0)},
		// MSS whose length is not its own; SACK of a bad length.
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{2, 6, 5, 0xb4, 1, 1, 1, 1}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{5, 7, 1, 2, 3, 4, 5, 0}, 0)},
		// Fast Open: cookie request, cookie, the experimental form.
		{data: tcpFrame(t, syn, 2000, 0, 0, []byte{34, 2, 1, 1}, 0)},
		{data: tcpFrame(t, syn, 2000, 0, 0, []byte{34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1}, 0)},
		{data: tcpFrame(t, syn, 2000, 0, 0, []byte{254, 4, 0xf9, 0x89}, 0)},
		{data: tcpFrame(t, syn, 2000, 0, 0, []byte{254, 4, 0xac, 0xc0}, 0)},
		// MD5 signature, user timeout, TCP-AO, CC, SCPS, echo.
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{19, 18}, bytes.Repeat([]byte{0xab}, 16), []byte{1, 1}), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{28, 4, 0x01, 0x2d}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{29, 8, 1, 2, 0xaa, 0xbb, 0xcc, 0xdd}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{11, 6, 0, 0, 1, 0, 20, 4, 0x7f, 3, 1, 1}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{6, 6, 0, 0, 0, 9, 1, 1}, 0)},
		// Lengths that are not the kind's own; a SACK with no base yet.
		{data: tcpFrame(t, syn, 3000, 0, 0, []byte{3, 4, 7, 0, 4, 3, 0, 0}, 0)},
		{data: tcpFrame(t, syn, 3000, 0, 0, cat([]byte{1, 1, 5, 10}, u32(1101), u32(1201)), 0)},
		// MPTCP (tcpdump 4.99 decodes it; see docs/DECODE.md): every
		// subtype, and lengths it calls bad.
		{data: tcpFrame(t, syn, 3000, 0, 0, cat([]byte{30, 12, 0x00, 0x81}, u32(0x01020304), u32(0x05060708)), 0)},
		{data: tcpFrame(t, syn, 3000, 0, 0, cat([]byte{30, 12, 0x10, 0x01}, u32(0x10203), u32(0x4050607)), 0)},
		{data: tcpFrame(t, syn|ack, 3000, 1, 0, cat([]byte{30, 16, 0x11, 0x02}, u32(0x10203), u32(0x4050607), u32(0x8090a0b)), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 24, 0x10, 0x00}, bytes.Repeat([]byte{0xa5}, 20)), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 4, 0x50, 0x01}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 4, 0x51, 0x01}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 3, 0x50, 1}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 12, 0x60, 0x00}, u32(0x10203), u32(0x4050607)), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 12, 0x70, 0x00}, u32(0x10203), u32(0x4050607)), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 5, 0x40, 7, 8, 1, 1, 1}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 8, 0x20, 0x01}, u32(5)), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 20, 0x20, 0x05}, u32(5), u32(9), u32(1), []byte{0, 10, 0, 0}), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 18, 0x20, 0x0c}, u32(0), u32(9), u32(1), []byte{0, 10, 1, 1}), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 12, 0x20, 0x13}, u32(0), u32(5)), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 3, 0x20, 1}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 8, 0x31, 0x02, 10, 0, 0, 9}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 10, 0x30, 0x02, 10, 0, 0, 9, 0x1f, 0x90, 1, 1}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 16, 0x30, 0x01, 10, 0, 0, 9}, u32(0x10203), u32(0x4050607)), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{30, 22, 0x30, 0x02}, netip.MustParseAddr("fd00::9").AsSlice(), []byte{0, 80, 1, 1}), 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 9, 0x30, 0x02, 10, 0, 0, 9, 1, 1, 1, 1}, 0)},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{30, 4, 0x80, 0}, 0)},
		// Options cut by the capture: a first option, one inside
		// unknown data, inside a timestamp, and at a kind.
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{8, 10}, u32(1), u32(2), []byte{1, 1}), 0), capLen: 14 + 20 + 20 + 6},
		{data: tcpFrame(t, ack, 1011, 5001, 0, []byte{1, 99, 6, 1, 2, 3, 4, 1}, 0), capLen: 14 + 20 + 20 + 5},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{1, 1, 8, 10}, u32(1), u32(2)), 0), capLen: 14 + 20 + 20 + 8},
		{data: tcpFrame(t, ack, 1011, 5001, 0, cat([]byte{1, 1, 8, 10}, u32(1), u32(2)), 0), capLen: 14 + 20 + 20 + 1},
	}
	file := writeFrames(t, "tcp_options.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// tcpdumpAppRE matches what tcpdump prints after a TCP segment's length
// from the payload (HTTP, DNS, LDP...), which ports leaves out.
var tcpdumpAppRE = regexp.MustCompile(`(, length \d+)(?::? ?[^\[].*|)$`)

// TestDecodeTCPLinesMatchTcpdump: every TCP line of every test capture
// is tcpdump's, up to the payload decoders tcpdump runs after the
// length that ports does not have (DNS and HTTP it has: those lines
// are compared whole), the AE flag aside (tcpdump 4.99 has no letter
// for it).
func TestDecodeTCPLinesMatchTcpdump(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/pcaps/*.pcap*")
	compared := 0
	for _, file := range files {
		if strings.Contains(file, "mixed_linktypes") {
			continue // tcpdump 4.99 refuses a second link type in one file
		}
		want := tcpdumpOut(t, file)
		got := decodeOut(t, file)
		if len(got) != len(want) {
			t.Errorf("%s: %d lines, tcpdump %d", file, len(got), len(want))
			continue
		}
		for i := range want {
			if !strings.Contains(want[i], " Flags [") {
				continue
			}
			w := want[i]
			if !printsApp(w) {
				w = tcpdumpAppRE.ReplaceAllString(w, "$1")
			}
			g := portServiceRE.ReplaceAllString(got[i], "$1")
			g = strings.Replace(strings.Replace(g, "e]", "]", 1), "Ee]", "E]", 1)
			if g != w && !ourSummary(g, w) {
				t.Errorf("%s packet %d:\n ours    %s\n tcpdump %s", filepath.Base(file), i+1, g, w)
			}
			compared++
		}
	}
	if compared < 90 {
		t.Errorf("compared %d TCP lines", compared)
	}
}

// udpFrame builds an Ethernet/IPv4/UDP frame from 10.0.0.1:40000 to
// 10.0.0.2:9999 with a payload of n bytes.
func udpFrame(t *testing.T, n int) []byte {
	t.Helper()
	p := wire.Packet{Layers: wire.LayerSet(0).Add(wire.LayerEthernet).Add(wire.LayerIPv4).Add(wire.LayerUDP)}
	p.Link.Type = pcapfile.LinkTypeEthernet
	p.IP = wire.IP{Version: 4, IHL: 5, TTL: 64, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	p.UDP = wire.UDP{SrcPort: 40000, DstPort: 9999}
	p.Payload = make([]byte, n)
	b, err := p.AppendTo(nil, wire.EncodeOptions{FixLengths: true, ComputeChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeUDPPayloadCutIsNotMarked: a datagram whose payload the
// snaplen cut, its UDP header whole, is not marked [|udp] (tcpdump marks
// the part of the payload it decodes, not the UDP layer); a cut inside
// the UDP header or a TCP payload cut behind a whole header are as
// tcpdump prints them.
func TestDecodeUDPPayloadCutIsNotMarked(t *testing.T) {
	frames := []frameSpec{
		{data: udpFrame(t, 200), capLen: 98},
		{data: udpFrame(t, 200), capLen: 14 + 20 + 4},
		{data: udpFrame(t, 200), capLen: 14 + 20 + 2},
		{data: tcpFrame(t, wire.TCPAck, 1, 1, 0, nil, 0), capLen: 14 + 20 + 4},
		{data: tcpFrame(t, wire.TCPAck, 1, 1, 0, nil, 0), capLen: 14 + 20 + 13},
		{data: tcpFrame(t, wire.TCPAck, 1, 1, 0, nil, 0), capLen: 14 + 20 + 2},
		{data: tcpFrame(t, wire.TCPAck, 1, 1, 0, nil, 0), capLen: 14 + 20 + 19},
		{data: tcpFrame(t, wire.TCPAck|wire.TCPPsh, 1, 1, 0, nil, 300), capLen: 100},
	}
	file := writeFrames(t, "cut.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))

	// The DNS reply that tcpdump's test suite cuts at 98 bytes.
	got := decodeOut(t, "../../testdata/pcaps/tcpdump_dns_udp_snaplen98.pcap")
	if len(got) != 2 || strings.Contains(got[1], "[|udp]") {
		t.Errorf("lines %q; want the reply without [|udp]", got)
	}
}

// arpFrame builds an Ethernet frame (padded to pad bytes) holding an ARP
// packet.
func arpFrame(etherType uint16, hrd, pro uint16, hln, pln byte, op uint16, sha, spa, tha, tpa []byte, pad int) []byte {
	b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1}
	b = binary.BigEndian.AppendUint16(b, etherType)
	b = binary.BigEndian.AppendUint16(b, hrd)
	b = binary.BigEndian.AppendUint16(b, pro)
	b = append(b, hln, pln)
	b = binary.BigEndian.AppendUint16(b, op)
	b = append(append(append(append(b, sha...), spa...), tha...), tpa...)
	for len(b) < pad {
		b = append(b, 0)
	}
	return b
}

// TestDecodeARPAsTcpdump: ARP lines are tcpdump's: "Request who-has A
// tell B", "Reply A is-at MAC", the reverse and inverse forms, other
// protocols by type only, and the length of the ARP packet (what follows
// the link header, padding included), not the frame's.
func TestDecodeARPAsTcpdump(t *testing.T) {
	mac := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	mac2 := []byte{0x02, 0, 0, 0, 0, 1}
	zero := make([]byte, 6)
	a1, a2 := []byte{1, 0, 2, 1}, []byte{1, 0, 2, 2}
	frames := []frameSpec{
		{data: arpFrame(0x0806, 1, 0x0800, 6, 4, 1, mac2, a2, zero, a1, 0)},
		{data: arpFrame(0x0806, 1, 0x0800, 6, 4, 1, mac2, a2, zero, a1, 60)},
		{data: arpFrame(0x0806, 1, 0x0800, 6, 4, 1, mac2, a2, mac, a1, 0)},
		{data: arpFrame(0x0806, 1, 0x0800, 6, 4, 2, mac, a1, mac2, a2, 60)},
		{data: arpFrame(0x8035, 1, 0x0800, 6, 4, 3, mac2, zero[:4], mac2, zero[:4], 0)},
		{data: arpFrame(0x8035, 1, 0x0800, 6, 4, 4, mac, a1, mac2, a2, 0)},
		{data: arpFrame(0x0806, 1, 0x0800, 6, 4, 8, mac2, a2, mac, zero[:4], 0)},
		{data: arpFrame(0x0806, 1, 0x0800, 6, 4, 9, mac, a1, mac2, a2, 0)},
		{data: arpFrame(0x0806, 1, 0x86dd, 6, 16, 1, mac2, make([]byte, 16), zero, make([]byte, 16), 0)},
		{data: arpFrame(0x0806, 1, 0x0800, 6, 4, 1, mac2, a2, zero, a1, 0), capLen: 14 + 20},
	}
	file := writeFrames(t, "arp.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))

	// Behind two VLAN tags: the length is after them.
	file = "../../testdata/pcaps/tcpdump_8021ad_qinq.pcap"
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// ipFrame builds an Ethernet frame of an IPv4 or IPv6 packet with the
// given transport layer (and fields), fragment fields and payload.
func ipFrame(t *testing.T, v6 bool, set func(p *wire.Packet), layer wire.Layer, payload []byte) []byte {
	t.Helper()
	p := wire.Packet{Layers: wire.LayerSet(0).Add(wire.LayerEthernet).Add(layer)}
	p.Link.Type = pcapfile.LinkTypeEthernet
	if v6 {
		p.Layers = p.Layers.Add(wire.LayerIPv6)
		p.IP = wire.IP{Version: 6, TTL: 64, Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2")}
	} else {
		p.Layers = p.Layers.Add(wire.LayerIPv4)
		p.IP = wire.IP{Version: 4, IHL: 5, TTL: 64, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	}
	p.Payload = payload
	if set != nil {
		set(&p)
	}
	b, err := p.AppendTo(nil, wire.EncodeOptions{FixLengths: true, ComputeChecksums: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeICMPAndFragmentsAsTcpdump: ICMP and ICMPv6 text, IPv4
// fragments and IPv6 fragment marks ("frag (0|1448)") are tcpdump's.
func TestDecodeICMPAndFragmentsAsTcpdump(t *testing.T) {
	// The quote of an ICMP error: an IPv4/UDP header to 10.0.0.9:5353.
	quoted := ipFrame(t, false, func(p *wire.Packet) {
		p.IP.Src, p.IP.Dst = p.IP.Dst, netip.MustParseAddr("10.0.0.9")
		p.UDP = wire.UDP{SrcPort: 40000, DstPort: 5353}
	}, wire.LayerUDP, make([]byte, 4))[14:]
	quotedTCP := ipFrame(t, false, func(p *wire.Packet) {
		p.IP.Src, p.IP.Dst = p.IP.Dst, netip.MustParseAddr("10.0.0.9")
		p.TCP = wire.TCP{SrcPort: 40000, DstPort: 22, Options: wire.TCPOptions{Raw: []byte{}}}
	}, wire.LayerTCP, nil)[14:]
	icmp := func(typ wire.ICMPv4Type, code uint8, rest uint32, payload []byte) frameSpec {
		return frameSpec{data: ipFrame(t, false, func(p *wire.Packet) {
			p.ICMPv4 = wire.ICMPv4{Type: typ, Code: code, Rest: rest}
		}, wire.LayerICMPv4, payload)}
	}
	icmp6 := func(typ wire.ICMPv6Type, code uint8, rest uint32, payload []byte) frameSpec {
		return frameSpec{data: ipFrame(t, true, func(p *wire.Packet) {
			p.ICMPv6 = wire.ICMPv6{Type: typ, Code: code, Rest: rest}
		}, wire.LayerICMPv6, payload)}
	}
	target := netip.MustParseAddr("fd00::99").As16()
	// An IPv6 fragment header (next header, offset, M, id) before a
	// payload.
	frag6 := func(next byte, off uint16, more bool, payload []byte) frameSpec {
		fo := off
		if more {
			fo |= 1
		}
		h := append([]byte{next, 0}, binary.BigEndian.AppendUint16(nil, fo)...)
		h = binary.BigEndian.AppendUint32(h, 0x1234)
		return frameSpec{data: ipFrame(t, true, func(p *wire.Packet) {
			p.IP.Ext[0], p.IP.NumExt, p.IP.Protocol = wire.ExtFragment, 1, ports.Proto(next)
			p.IP.Options = h
		}, wire.LayerNone, payload)}
	}
	udpHdr := []byte{0x9c, 0x40, 0x27, 0x0f, 0x05, 0xdc, 0, 0}
	frames := []frameSpec{
		icmp(wire.ICMPv4EchoRequest, 0, 0x1234_0007, make([]byte, 56)),
		icmp(wire.ICMPv4EchoReply, 0, 0x1234_0007, make([]byte, 56)),
		icmp(wire.ICMPv4Unreachable, 3, 0, quoted),
		icmp(wire.ICMPv4Unreachable, 3, 0, quotedTCP),
		icmp(wire.ICMPv4Unreachable, 1, 0, quoted),
		icmp(wire.ICMPv4Unreachable, 0, 0, quoted),
		icmp(wire.ICMPv4Unreachable, 2, 0, quoted),
		icmp(wire.ICMPv4Unreachable, 4, 1400, quoted),
		icmp(wire.ICMPv4Unreachable, 4, 0, quoted),
		icmp(wire.ICMPv4Unreachable, 13, 0, quoted),
		icmp(wire.ICMPv4Unreachable, 10, 0, quoted),
		icmp(wire.ICMPv4TimeExceeded, 0, 0, quoted),
		icmp(wire.ICMPv4TimeExceeded, 1, 0, quoted),
		icmp(wire.ICMPv4TimeExceeded, 2, 0, quoted),
		icmp(wire.ICMPv4Unreachable, 16, 0, quoted),
		icmp(wire.ICMPv4Redirect, 0, 0x0a0000fe, quoted),
		icmp(wire.ICMPv4Redirect, 1, 0x0a0000fe, quoted),
		icmp(wire.ICMPv4Redirect, 2, 0x0a0000fe, quoted),
		icmp(wire.ICMPv4Redirect, 3, 0x0a0000fe, quoted),
		icmp(wire.ICMPv4ParamProblem, 0, 8<<24, quoted),
		icmp(wire.ICMPv4ParamProblem, 1, 0, quoted),
		icmp(wire.ICMPv4SourceQuench, 0, 0, quoted),
		icmp(wire.ICMPv4Timestamp, 0, 0x0001_0002, make([]byte, 12)),
		icmp(wire.ICMPv4TimestampReply, 0, 0x0001_0002, []byte{0, 0, 3, 232, 0, 0, 7, 208, 0, 0x52, 0x5c, 0x09}),
		icmp(wire.ICMPv4RouterAdvert, 0, 0x0102_001e, []byte{10, 0, 0, 1, 0, 0, 0, 5}),
		icmp(wire.ICMPv4RouterSolicit, 0, 0, nil),
		icmp(15, 0, 0x0001_0002, nil),
		icmp(17, 0, 0x0001_0002, make([]byte, 4)),
		icmp(18, 0, 0x0001_0002, []byte{255, 255, 255, 0}),
		icmp(42, 0, 0x0001_0200, nil),
		icmp(99, 0, 0, nil),
		icmp6(wire.ICMPv6EchoRequest, 0, 0x0042_0001, make([]byte, 56)),
		icmp6(wire.ICMPv6EchoReply, 0, 0x0042_0001, make([]byte, 56)),
		icmp6(wire.ICMPv6NeighborSolicit, 0, 0, target[:]),
		icmp6(wire.ICMPv6NeighborAdvert, 0, 0x6000_0000, target[:]),
		icmp6(wire.ICMPv6PacketTooBig, 0, 1280, make([]byte, 48)),
		// IPv4 fragments: a non-first one of UDP and of ICMP.
		{data: ipFrame(t, false, func(p *wire.Packet) { p.IP.FragOffset, p.IP.Protocol = 1480, ports.ProtoUDP }, wire.LayerNone, make([]byte, 100))},
		{data: ipFrame(t, false, func(p *wire.Packet) { p.IP.FragOffset, p.IP.Protocol = 8, 1 }, wire.LayerNone, make([]byte, 100))},
		// IPv6 fragments: the first of a UDP datagram and of an echo
		// request, and a later one.
		frag6(17, 0, true, append(udpHdr, make([]byte, 100)...)),
		{data: ipFrame(t, false, func(p *wire.Packet) { p.IP.Flags, p.IP.Protocol = wire.IPMoreFragments, ports.ProtoUDP }, wire.LayerNone, append(udpHdr, make([]byte, 100)...))},
		frag6(58, 0, true, append([]byte{128, 0, 0, 0, 0, 1, 0, 2}, make([]byte, 100)...)),
		frag6(58, 1448, false, make([]byte, 60)),
	}
	file := writeFrames(t, "icmp.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
	for _, f := range []string{"cs_ipv6_fragments.pcapng", "cs_ip_frag_source.pcapng"} {
		file := "../../testdata/pcaps/" + f
		diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
	}
}

// rawPcap returns a little-endian pcap file (magic picks micro- or
// nanosecond timestamps) of Ethernet records given as seconds, the
// sub-second field as written, data and original length.
func rawPcap(magic uint32, recs ...[4]any) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, magic)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, 1)
	for _, r := range recs {
		data := r[2].([]byte)
		b = le.AppendUint32(b, r[0].(uint32))
		b = le.AppendUint32(b, r[1].(uint32))
		b = le.AppendUint32(b, uint32(len(data)))
		b = le.AppendUint32(b, uint32(r[3].(int)))
		b = append(b, data...)
	}
	return b
}

// TestDecodeRecordHeadersAsTcpdump: a sub-second field out of range is
// shown as written, not carried into the seconds; a record whose
// captured length exceeds its original length gets tcpdump's mark.
func TestDecodeRecordHeadersAsTcpdump(t *testing.T) {
	frame := udpFrame(t, 4)
	dir := t.TempDir()
	files := map[string][]byte{
		"us.pcap": rawPcap(0xa1b2c3d4,
			[4]any{uint32(1_700_000_000), uint32(1_500_000), frame, len(frame)},
			[4]any{uint32(1_700_000_000), uint32(999_999), frame, len(frame)},
			[4]any{uint32(1_700_000_001), uint32(5), frame, 20},
			[4]any{uint32(1_700_000_001), uint32(6), frame, len(frame)}),
		"ns.pcap": rawPcap(0xa1b23c4d,
			[4]any{uint32(1_700_000_000), uint32(1_500_000_000), frame, len(frame)},
			[4]any{uint32(1_700_000_000), uint32(999_999_999), frame, len(frame)}),
	}
	for name, b := range files {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
	}
}

// TestDecodeMalformedAsTcpdump: impossible IP, UDP and TCP lengths and
// IP versions carry tcpdump's marks and words (bad-len, bad-hlen,
// truncated-ip, version error, bad length, bad hdr length), not a
// decode as if valid.
func TestDecodeMalformedAsTcpdump(t *testing.T) {
	be := binary.BigEndian
	eth4 := []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00}
	eth6 := []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x86, 0xdd}
	ip4 := func(ver, ihl byte, totalLen uint16, proto byte, payload []byte) []byte {
		h := []byte{ver<<4 | ihl, 0}
		h = be.AppendUint16(h, totalLen)
		h = append(h, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
		return append(append(append([]byte{}, eth4...), h...), payload...)
	}
	ip6 := func(ver byte, plen uint16, next byte, payload []byte) []byte {
		h := []byte{ver << 4, 0, 0, 0}
		h = be.AppendUint16(h, plen)
		h = append(h, next, 64)
		h = append(h, netip.MustParseAddr("fd00::1").AsSlice()...)
		h = append(h, netip.MustParseAddr("fd00::2").AsSlice()...)
		return append(append(append([]byte{}, eth6...), h...), payload...)
	}
	udp := func(length uint16) []byte {
		return append(be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(nil, 40000), 9999), length), 0), make([]byte, 8)...)
	}
	tcp := func(doff byte) []byte {
		h := be.AppendUint16(be.AppendUint16(nil, 40000), 8)
		h = be.AppendUint32(be.AppendUint32(h, 1), 0)
		return append(h, doff<<4, 0x02, 0, 100, 0, 0, 0, 0)
	}
	frames := []frameSpec{
		{data: ip4(4, 5, 28, 253, make([]byte, 8))},
		{data: ip4(4, 5, 0, 253, make([]byte, 8))},
		{data: ip4(4, 5, 100, 253, make([]byte, 8))},
		{data: ip4(4, 5, 10, 253, make([]byte, 8))},
		{data: ip4(4, 4, 28, 253, make([]byte, 8))},
		{data: ip4(6, 5, 28, 253, make([]byte, 8))},
		{data: ip6(6, 8, 253, make([]byte, 8))},
		{data: ip6(6, 0, 17, udp(16))},
		{data: ip6(6, 100, 17, udp(16))},
		{data: ip6(4, 16, 17, udp(16))},
		{data: ip4(4, 5, 36, 17, udp(100))},
		{data: ip4(4, 5, 36, 17, udp(4))},
		{data: ip4(4, 5, 36, 17, udp(12))},
		{data: ip4(4, 5, 40, 6, tcp(3))},
		{data: ip4(4, 5, 40, 6, tcp(15))},
		{data: ip4(4, 5, 48, 50, make([]byte, 28))},
	}
	file := writeFrames(t, "malformed.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// TestDecodeIPv6ExtensionsAndICMPv6AsTcpdump: IPv6 extension headers
// (HBH, DSTOPT, RT6, frag) are named before the upper layer, and ICMPv6
// errors, MLD and redirects are in tcpdump's words.
func TestDecodeIPv6ExtensionsAndICMPv6AsTcpdump(t *testing.T) {
	be := binary.BigEndian
	a, b := netip.MustParseAddr("fd00::1").AsSlice(), netip.MustParseAddr("fd00::2").AsSlice()
	addr := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ip6 := func(next byte, payload []byte) []byte {
		h := cat([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x86, 0xdd, 0x60, 0, 0, 0}, be.AppendUint16(nil, uint16(len(payload))), []byte{next, 64}, a, b)
		return append(h, payload...)
	}
	udp := cat(be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(nil, 40000), 9999), 12), 0), make([]byte, 4))
	// An ICMPv6 error quoting fd00::2 > fd00::1 UDP.
	quote := cat([]byte{0x60, 0, 0, 0, 0, 12, 17, 64}, b, a, udp)
	icmpErr := func(typ, code byte, rest uint32) []byte {
		return ip6(58, cat([]byte{typ, code, 0, 0}, be.AppendUint32(nil, rest), quote))
	}
	frames := []frameSpec{
		{data: ip6(0, cat([]byte{17, 0, 1, 4, 0, 0, 0, 0}, udp))},
		{data: ip6(60, cat([]byte{17, 0, 1, 4, 0, 0, 0, 0}, udp))},
		{data: ip6(43, cat([]byte{17, 2, 0, 1, 0, 0, 0, 0}, addr("fd00::9"), udp))},
		{data: ip6(43, cat([]byte{17, 2, 4, 1, 0, 0, 0, 0}, make([]byte, 16), udp))},
		{data: ip6(0, cat([]byte{60, 0, 1, 4, 0, 0, 0, 0}, []byte{44, 0, 1, 4, 0, 0, 0, 0}, []byte{17, 0, 0, 1, 0, 0, 0, 7}, udp))},
		{data: ip6(0, cat([]byte{58, 0, 1, 4, 0, 0, 0, 0}, []byte{128, 0, 0, 0, 0, 1, 0, 2}))},
		{data: ip6(0, cat([]byte{58, 0, 5, 2, 0, 0, 1, 0}, []byte{143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0}, addr("ff02::fb")))},
		{data: ip6(58, []byte{133, 0, 0, 0, 0, 0, 0, 0})},
		{data: ip6(58, []byte{134, 0, 0, 0, 64, 0, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0})},
		{data: icmpErr(1, 4, 0)},
		{data: icmpErr(3, 0, 0)},
		{data: icmpErr(1, 0, 0)},
		{data: icmpErr(1, 1, 0)},
		{data: icmpErr(1, 3, 0)},
		{data: icmpErr(4, 0, 6)},
		{data: ip6(58, cat([]byte{130, 0, 0, 0, 0, 10, 0, 0}, make([]byte, 16)))},
		{data: ip6(58, cat([]byte{131, 0, 0, 0, 0, 0, 0, 0}, addr("ff02::1:3")))},
		{data: ip6(58, cat([]byte{137, 0, 0, 0, 0, 0, 0, 0}, b, a))},
		// AH before UDP; ESP, whose payload is encrypted.
		{data: ip6(51, cat([]byte{17, 4, 0, 0}, be.AppendUint32(nil, 0x1001), be.AppendUint32(nil, 7), make([]byte, 12), udp))},
		{data: ip6(50, cat(be.AppendUint32(nil, 0x2002), be.AppendUint32(nil, 9), make([]byte, 20)))},
	}
	file := writeFrames(t, "ipv6ext.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// TestDecodeEveryCaptureAsTcpdump compares every line of every test
// capture with tcpdump's. A line must be tcpdump's, the service name and
// the AE flag's letter aside (docs/DECODE.md), except where tcpdump
// decodes an application protocol ports leaves to it: then our line
// must be a prefix of tcpdump's (TCP), or name the same endpoints
// (UDP, whose text tcpdump replaces by the application's).
func TestDecodeEveryCaptureAsTcpdump(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/pcaps/*.pcap*")
	exact, app := 0, 0
	for _, file := range files {
		if strings.Contains(file, "mixed_linktypes") {
			continue // tcpdump 4.99 refuses a second link type in one file
		}
		want := tcpdumpOut(t, file)
		got := decodeOut(t, file)
		if len(got) != len(want) {
			t.Errorf("%s: %d lines, tcpdump %d", file, len(got), len(want))
			continue
		}
		for i, w := range want {
			g := portServiceRE.ReplaceAllString(got[i], "$1")
			g = strings.Replace(strings.Replace(g, "e]", "]", 1), "Ee]", "E]", 1)
			switch {
			case g == w:
				exact++
			case ourSummary(g, w):
				app++ // tcpdump's line, then what the stream says
			case printsApp(w):
				t.Errorf("%s packet %d (DNS or HTTP):\n ours    %s\n tcpdump %s", filepath.Base(file), i+1, g, w)
			case strings.Contains(g, " Flags [") && strings.HasPrefix(w, g):
				app++ // LDP... after the TCP length
			case strings.HasSuffix(g, ": UDP, length "+udpLenOf(g)) && strings.HasPrefix(w, strings.TrimSuffix(g, "UDP, length "+udpLenOf(g))) && !strings.Contains(w, "UDP, length"):
				app++ // DNS, DHCP... in place of "UDP, length N"
			default:
				t.Errorf("%s packet %d:\n ours    %s\n tcpdump %s", filepath.Base(file), i+1, g, w)
			}
		}
	}
	t.Logf("%d lines identical, %d with tcpdump's application text after ours", exact, app)
	if exact < 95 {
		t.Errorf("only %d identical lines", exact)
	}
}

func udpLenOf(line string) string {
	i := strings.LastIndex(line, "UDP, length ")
	if i < 0 {
		return "-"
	}
	return line[i+len("UDP, length "):]
}

// TestDecodeLinuxCookedV2AsTcpdump: a Linux cooked v2 line starts with
// the interface's name on this host ("?" for an index it has not) and
// the direction, padded as tcpdump pads them.
func TestDecodeLinuxCookedV2AsTcpdump(t *testing.T) {
	ip := udpFrame(t, 4)[14:]
	sll2 := func(ifindex uint32, pkttype byte) []byte {
		h := binary.BigEndian.AppendUint16(nil, 0x0800)
		h = binary.BigEndian.AppendUint16(h, 0)
		h = binary.BigEndian.AppendUint32(h, ifindex)
		h = binary.BigEndian.AppendUint16(h, 1)
		h = append(h, pkttype, 6)
		return append(append(h, make([]byte, 8)...), ip...)
	}
	frames := []frameSpec{{data: sll2(1, 4)}, {data: sll2(1, 0)}, {data: sll2(0x7fff_fff0, 1)}, {data: sll2(1, 2)}, {data: sll2(1, 3)}, {data: sll2(1, 9)}}
	file := writeFrames(t, "sll2.pcap", pcapfile.LinkTypeLinuxSLL2, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// TestDecodeRawIPAsTcpdump: raw IP link types go by the version nibble
// ("unknown ip 5" for neither), and an empty record gets tcpdump's mark.
func TestDecodeRawIPAsTcpdump(t *testing.T) {
	ip := udpFrame(t, 4)[14:]
	bad := append([]byte{0x55}, ip[1:]...)
	for _, link := range []pcapfile.LinkType{pcapfile.LinkTypeRaw, pcapfile.LinkTypeIPv4} {
		frames := []frameSpec{{data: ip}, {data: bad}, {data: ip, capLen: -1}, {data: nil}}
		file := writeFrames(t, "raw-"+link.String()+".pcap", link, frames)
		diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
	}
}

// TestDecodeCutAndUnknownFramesAsTcpdump: frames that end in or right
// after the link header, inside a VLAN tag or the fixed IP header, of an
// EtherType neither tool knows, and a segment whose IP length exceeds
// the frame with its options captured, all as tcpdump prints them.
func TestDecodeCutAndUnknownFramesAsTcpdump(t *testing.T) {
	udp := udpFrame(t, 4)
	opts := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 6}
	syn := tcpFrame(t, wire.TCPSyn, 7, 0, 0, opts, 0)
	bigIP := bytes.Clone(syn)
	binary.BigEndian.PutUint16(bigIP[16:], uint16(len(syn)-14+50)) // 50 bytes missing
	vlan := append(append(bytes.Clone(udp[:12]), 0x81, 0x00, 0x00), udp[12:]...)
	unknown := bytes.Clone(udp)
	unknown[12], unknown[13] = 0x08, 0x31
	frames := []frameSpec{
		{data: udp[:14]},
		{data: udp[:24]},
		{data: udp, capLen: 20},
		{data: vlan[:15]},
		{data: unknown},
		{data: bigIP},
		{data: bigIP, capLen: 14 + 20 + 30},
	}
	file := writeFrames(t, "cut.pcap", pcapfile.LinkTypeEthernet, frames)
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
}

// TestDecodeMutatedPacketsAsTcpdump: 3,000 Ethernet packets (IPv4,
// IPv6, ARP) of the test captures with one to three bytes of their headers changed (and a fifth
// of them cut short), the same each run, printed by both tools. A line
// may differ only where tcpdump decodes what ports leaves to it (an
// application protocol after a TCP length or instead of "UDP, length",
// IP protocols such as IGMP shown by ports as ip-proto-N, IEEE 802.3 LLC
// frames) or in the AE flag's letter (docs/DECODE.md).
func TestDecodeMutatedPacketsAsTcpdump(t *testing.T) {
	var pkts [][]byte
	files, _ := filepath.Glob("../../testdata/pcaps/*.pcap*")
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapfile.NewReader(f)
		if err != nil {
			f.Close()
			continue
		}
		for p, err := range r.Packets() {
			if err != nil {
				break
			}
			if p.LinkType == pcapfile.LinkTypeEthernet && len(p.Data) > 14 {
				pkts = append(pkts, bytes.Clone(p.Data))
			}
		}
		f.Close()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var frames []frameSpec
	for range 3000 {
		p := bytes.Clone(pkts[rng.IntN(len(pkts))])
		for range 1 + rng.IntN(3) {
			p[14+rng.IntN(min(len(p)-14, 66))] = byte(rng.IntN(256))
		}
		f := frameSpec{data: p}
		if rng.IntN(5) == 0 {
			f = frameSpec{data: p[:14+rng.IntN(len(p)-14)]}
			if len(f.data) == 14 {
				f.data = p[:15]
			}
		}
		frames = append(frames, f)
	}
	file := writeFrames(t, "mutated.pcap", pcapfile.LinkTypeEthernet, frames)
	got, want := decodeOut(t, file), tcpdumpOut(t, file)
	if len(got) != len(want) {
		t.Fatalf("%d lines, tcpdump %d", len(got), len(want))
	}
	same, app := 0, 0
	for i, w := range want {
		g := portServiceRE.ReplaceAllString(got[i], "$1")
		g = aeFlagRE.ReplaceAllString(g, "$1]")
		switch {
		case g == w:
			same++
		case ourSummary(g, w):
			app++ // tcpdump's line, then what the stream says
		case printsApp(w):
			t.Errorf("packet %d (DNS or HTTP):\n ours    %s\n tcpdump %s", i+1, g, w)
		case strings.Contains(g, " Flags [") && strings.HasPrefix(w, g):
			app++ // LDP, SMTP... after the TCP length
		case udpInsteadRE.MatchString(g) && strings.HasPrefix(w, udpInsteadRE.FindStringSubmatch(g)[1]) && !strings.HasPrefix(w[len(udpInsteadRE.FindStringSubmatch(g)[1]):], "UDP, "):
			app++ // DNS... in place of the UDP text
		case ipProtoRE.MatchString(g) && strings.HasPrefix(w, ipProtoRE.FindStringSubmatch(g)[1]) && !strings.Contains(w, "ip-proto-"):
			app++ // IGMP, IGRP, EIGRP, mobile, IP in IP... which ports does not decode
		case icmp6TypeRE.MatchString(g) && strings.HasPrefix(w, icmp6TypeRE.FindStringSubmatch(g)[1]):
			app++ // router renumbering, node information
		case llcRE.MatchString(g):
			app++ // 802.3: tcpdump decodes LLC
		default:
			t.Errorf("packet %d:\n ours    %s\n tcpdump %s", i+1, g, w)
		}
	}
	t.Logf("%d of %d lines identical, %d differing only in what tcpdump decodes beyond ports", same, len(want), app)
}

// endpointsRE finds the ports of a tcpdump line.
var endpointsRE = regexp.MustCompile(`^\S+ IP6? \S+\.(\d+) > \S+\.(\d+): `)

// printsApp reports whether tcpdump's line is one whose payload ports
// prints as tcpdump does (DNS, mDNS, HTTP), by tcpdump's choice of
// printer by ports; IP fragments aside.
func printsApp(line string) bool {
	m := endpointsRE.FindStringSubmatch(line)
	if m == nil || strings.Contains(line, "frag (") {
		return false
	}
	sp, _ := strconv.Atoi(m[1])
	dp, _ := strconv.Atoi(m[2])
	if strings.Contains(line, ": Flags [") {
		if strings.HasSuffix(line, ", length 0") {
			return false
		}
		pr := app.TcpdumpTCP(uint16(sp), uint16(dp))
		return pr == app.PrintDNS || pr == app.PrintHTTP
	}
	pr := app.TcpdumpUDP(uint16(sp), uint16(dp), nil)
	return (pr == app.PrintDNS || pr == app.PrintMDNS || pr >= app.PrintNTP) && !strings.Contains(line, "truncated-udplength")
}

var (
	aeFlagRE     = regexp.MustCompile(`(Flags \[[^\]e]*)e\]`)
	udpInsteadRE = regexp.MustCompile(`^(.*: )UDP, (bad )?length`)
	llcRE        = regexp.MustCompile(`^\S+ length \d+, length \d+`)
	ipProtoRE    = regexp.MustCompile(`^(.*?) +ip-proto-\d+ \d+$`)
	icmp6TypeRE  = regexp.MustCompile(`^(.*ICMP6, )type-\d+, length \d+$`)
)
