package cli

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
)

// sipMessages are SIP messages of each kind: requests of the methods
// tcpdump knows and one it does not, responses, compact header names,
// a body.
func sipMessages() [][]byte {
	hdr := "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776\r\nFrom: Alice <sip:alice@a.test>;tag=1928\r\nTo: Bob <sip:bob@b.test>\r\nCall-ID: a84b4c76e66710@a.test\r\nCSeq: 314159 %s\r\nMax-Forwards: 70\r\n"
	var out [][]byte
	for _, m := range []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "SUBSCRIBE", "NOTIFY", "MESSAGE", "PUBLISH", "JOIN"} {
		out = append(out, []byte(m+" sip:bob@b.test SIP/2.0\r\n"+strings.Replace(hdr, "%s", m, 1)+"Content-Length: 0\r\n\r\n"))
	}
	body := "v=0\r\no=alice 1 1 IN IP4 192.0.2.1\r\n"
	out = append(out,
		[]byte("SIP/2.0 100 Trying\r\n"+strings.Replace(hdr, "%s", "INVITE", 1)+"Content-Length: 0\r\n\r\n"),
		[]byte("SIP/2.0 200 OK\r\n"+strings.Replace(hdr, "%s", "INVITE", 1)+"Content-Type: application/sdp\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body),
		[]byte("SIP/2.0 486 Busy Here\r\ni: compact-1@a.test\r\nf: <sip:alice@a.test>\r\nt: <sip:bob@b.test>\r\nCSeq: 2 INVITE\r\nl: 0\r\n\r\n"),
		[]byte("INVITE sips:bob@b.test SIP/2.0\r\nCall-ID: sips-1\r\nCSeq: 3 INVITE\r\n\r\n"),
	)
	return out
}

// TestDecodeSIPAsTcpdumpAndTshark: SIP datagrams on port 5060 are
// printed as tcpdump prints them (its SIP printer: the first line),
// also cut by the capture, also against the ports of the printers
// tcpdump tests before SIP's; SIP off 5060 and over TCP gets the
// summary after tcpdump's line; the JSON app object has, packet by
// packet, tshark's sip.Method, sip.Status-Code and sip.Call-ID.
func TestDecodeSIPAsTcpdumpAndTshark(t *testing.T) {
	var frames [][]byte
	inv := sipMessages()[0]
	for i, m := range sipMessages() {
		frames = append(frames, appFrame(t, i%2 == 1, false, 40000+ports.Port(i), 5060, m), appFrame(t, false, false, 5060, 40000, m))
		frames = append(frames, appFrame(t, false, false, 40000, 5080, m))
		frames = append(frames, appFrame(t, false, true, 41000+ports.Port(i), 5060, m)) // a connection each
	}
	for _, n := range []int{0, 5, 20, 31, 32, 33} {
		frames = append(frames, appFrame(t, false, false, 40000, 5060, inv[:n]))
	}
	frames = append(frames, appFrame(t, false, false, 40000, 5060, []byte("hello, not SIP\r\n")))
	file := writeTestCapture(t, "sip.pcap", pcapfile.LinkTypeEthernet, frames...)
	lines := decodeOut(t, file)
	diffLines(t, file, lines, tcpdumpOut(t, file))
	all := strings.Join(lines, "\n")
	for _, w := range []string{": SIP: INVITE sip:bob@b.test SIP/2.0", ": SIP: SIP/2.0 486 Busy Here", "5080(onscreen): UDP, length 241: SIP INVITE sip:bob@b.test Call-ID: a84b4c76e66710@a.test",
		"win 512, length 241: SIP INVITE sip:bob@b.test Call-ID: a84b4c76e66710@a.test", ": SIP 200 OK Call-ID: a84b4c76e66710@a.test", " [|sip]"} {
		if !strings.Contains(all, w) {
			t.Errorf("no line with %q", w)
		}
	}

	if code, out, _ := run(t, "decode", "-v", file); code != ExitOK || !strings.Contains(out, "  SIP       method INVITE, uri sip:bob@b.test, call-id a84b4c76e66710@a.test, from Alice <sip:alice@a.test>;tag=1928, to Bob <sip:bob@b.test>, cseq 314159 INVITE\n") ||
		!strings.Contains(out, "  SIP       status 486, reason Busy Here, call-id compact-1@a.test, from <sip:alice@a.test>, to <sip:bob@b.test>, cseq 2 INVITE\n") {
		t.Errorf("-v lacks the SIP fields")
	}
	// The ports of the printers tcpdump tests before SIP's, either way,
	// and as destination only: tcpdump prints theirs (which ports leaves
	// to it: "UDP, length N"); after SIP's, syslog's and VXLAN's: SIP.
	var order [][]byte
	before := []ports.Port{88, 496, 521, 546, 646, 1645, 1701, 1812, 2103, 3503, 5359, 6343, 6696, 8231, 12222, 7000, 7009}
	for _, p := range before {
		order = append(order, appFrame(t, false, false, 5060, p, inv), appFrame(t, false, false, p, 5060, inv))
	}
	for _, p := range []ports.Port{1985, 3456, 3784, 4567, 6784} {
		order = append(order, appFrame(t, false, false, 5060, p, inv))
	}
	order = append(order, appFrame(t, false, false, 49152, 5060, inv))
	nOther := len(order)
	for _, p := range []ports.Port{514, 4789, 443} {
		order = append(order, appFrame(t, false, false, 5060, p, inv), appFrame(t, false, false, p, 5060, inv))
	}
	ofile := writeTestCapture(t, "sip-order.pcap", pcapfile.LinkTypeEthernet, order...)
	got, want := decodeOut(t, ofile), tcpdumpOut(t, ofile)
	if len(got) != len(want) {
		t.Fatalf("%d lines, tcpdump %d", len(got), len(want))
	}
	for i := range want {
		g := portServiceRE.ReplaceAllString(got[i], "$1")
		switch {
		case i < nOther && strings.HasSuffix(g, ": UDP, length 241") && strings.HasPrefix(want[i], strings.TrimSuffix(g, "UDP, length 241")) && !strings.Contains(want[i], "SIP"):
		case i >= nOther && g == want[i] && strings.Contains(g, ": SIP: INVITE "):
		default:
			t.Errorf("packet %d:\n ours    %s\n tcpdump %s", i+1, g, want[i])
		}
	}

	tshark := porttestTool(t, "tshark")
	out, err := exec.Command(tshark, "-n", "-r", file, "-Y", "sip", "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	code, js, stderr := run(t, "decode", "--format", "jsonl", file)
	if code != ExitOK {
		t.Fatalf("decode: %d %s", code, stderr)
	}
	apps := map[int]*render.AppV1{}
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.PacketV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		apps[v.N] = v.App
	}
	compared := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		n, _ := strconv.Atoi(f[0])
		a := apps[n]
		if f[1] == "" && f[2] == "" {
			continue // tshark's SIP continuation (a cut message)
		}
		if a == nil || a.Protocol != "sip" {
			t.Errorf("packet %d: no sip app object; tshark %s", n, l)
			continue
		}
		status := ""
		if a.Status != 0 {
			status = strconv.Itoa(a.Status)
		}
		if got := strings.Join([]string{f[0], a.Method, status, a.CallID}, "|"); got != l {
			t.Errorf("packet %d:\n ours   %s\n tshark %s", n, got, l)
		}
		compared++
	}
	if want := 4 * len(sipMessages()); compared < want {
		t.Errorf("compared %d packets with tshark, want %d", compared, want)
	}
}
