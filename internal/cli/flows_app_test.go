package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
	"github.com/portkit/ports/wire"
)

// connFrames is one TCP connection from 10.0.0.1:cport to
// 10.0.0.2:sport: the handshake, the client's message, the server's
// answer (if any), cut into segments of at most seg bytes, and the FINs.
func connFrames(t *testing.T, cport, sport ports.Port, toServer, toClient []byte, seg int) [][]byte {
	t.Helper()
	var out [][]byte
	f := func(fromClient bool, flags wire.TCPFlags, seq, ack uint32, payload []byte) {
		sp, dp := cport, sport
		if !fromClient {
			sp, dp = sport, cport
		}
		out = append(out, ipFrame(t, false, func(p *wire.Packet) {
			if !fromClient {
				p.IP.Src, p.IP.Dst = p.IP.Dst, p.IP.Src
			}
			p.TCP = wire.TCP{SrcPort: sp, DstPort: dp, Seq: seq, Ack: ack, Flags: flags, Window: 512}
			p.TCP.Options.Raw = []byte{}
		}, wire.LayerTCP, payload))
	}
	const c0, s0 = 1000, 5000
	f(true, wire.TCPSyn, c0, 0, nil)
	f(false, wire.TCPSyn|wire.TCPAck, s0, c0+1, nil)
	f(true, wire.TCPAck, c0+1, s0+1, nil)
	for i := 0; i < len(toServer); i += seg {
		f(true, wire.TCPAck|wire.TCPPsh, c0+1+uint32(i), s0+1, toServer[i:min(i+seg, len(toServer))])
	}
	for i := 0; i < len(toClient); i += seg {
		f(false, wire.TCPAck|wire.TCPPsh, s0+1+uint32(i), c0+1+uint32(len(toServer)), toClient[i:min(i+seg, len(toClient))])
	}
	f(true, wire.TCPFin|wire.TCPAck, c0+1+uint32(len(toServer)), s0+1+uint32(len(toClient)), nil)
	f(false, wire.TCPFin|wire.TCPAck, s0+1+uint32(len(toClient)), c0+2+uint32(len(toServer)), nil)
	f(true, wire.TCPAck, c0+2+uint32(len(toServer)), s0+2+uint32(len(toClient)), nil)
	return out
}

// TestFlowsAppColumn: the APP column names what each connection
// carries, by content, with its SNI or Host, and marks the protocol a
// server port's registered service does not promise: SSH on 443, HTTP
// on 8088, TLS on 80 are marked, HTTP on 80 is not; --app keeps one
// protocol's flows.
func TestFlowsAppColumn(t *testing.T) {
	req := []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp := []byte("HTTP/1.0 200 OK\r\nServer: t\r\n\r\nhello")
	var frames [][]byte
	frames = append(frames, connFrames(t, 40001, 443, []byte("SSH-2.0-t\r\n"), []byte("SSH-2.0-OpenSSH_9.2p1\r\n"), 100)...)
	frames = append(frames, connFrames(t, 40002, 8088, req, resp, 7)...)
	frames = append(frames, connFrames(t, 40003, 80, goClientHello(t), nil, 100)...)
	frames = append(frames, connFrames(t, 40004, 80, req, resp, 100)...)
	frames = append(frames, connFrames(t, 40005, 9999, []byte("\x00\x01binary"), nil, 100)...)
	file := writeTestCapture(t, "apps.pcap", pcapfile.LinkTypeEthernet, frames...)
	code, out, stderr := run(t, "flows", "--format", "json", file)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var flows []render.FlowV1
	if err := json.Unmarshal([]byte(out), &flows); err != nil {
		t.Fatal(err)
	}
	want := map[string][3]string{ // server: app, name, mismatch
		"10.0.0.2:443":  {"ssh", "", "true"},
		"10.0.0.2:8088": {"http", "a.test", "true"},
		"10.0.0.2:80":   {"", "", ""}, // two flows: checked below
		"10.0.0.2:9999": {"", "", "false"},
	}
	seen80 := map[string]bool{}
	for _, f := range flows {
		if f.Server == "10.0.0.2:80" {
			seen80[f.App+" "+f.AppName+" "+map[bool]string{true: "!", false: "="}[f.AppMismatch]] = true
			continue
		}
		w, ok := want[f.Server]
		if !ok {
			t.Errorf("unexpected flow %+v", f)
			continue
		}
		if got := [3]string{f.App, f.AppName, strings.ToLower(map[bool]string{true: "true", false: "false"}[f.AppMismatch])}; got != w {
			t.Errorf("%s: app %v, want %v", f.Server, got, w)
		}
	}
	if !seen80["tls a.test !"] || !seen80["http a.test ="] || len(seen80) != 2 {
		t.Errorf("port 80 flows: %v; want TLS marked and HTTP not", seen80)
	}
	code, out, _ = run(t, "flows", file)
	for _, s := range []string{"ssh!", "http! a.test", "tls! a.test", "http a.test"} {
		if code != ExitOK || !strings.Contains(out, "  "+s+" ") {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	code, out, _ = run(t, "flows", "--app", "tls", "--format", "jsonl", file)
	if code != ExitOK || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"app":"tls"`) {
		t.Errorf("--app tls: %q", out)
	}
	if code, _, stderr := run(t, "flows", "--app", "gopher", file); code != ExitUsage || !strings.Contains(stderr, "--app \"gopher\": want one of tls, http, ssh, quic, sip, ftp, ftp-data, smtp, pop3, imap, http2") {
		t.Errorf("--app gopher: exit %d, %q", code, stderr)
	}
}

// TestFlowsAppQUICAndSIP: UDP flows are named by content too: QUIC with
// the SNI of a ClientHello spread over two Initials (marked off a port
// registered for something else), SIP over UDP and TCP; --app quic
// keeps the QUIC flows.
func TestFlowsAppQUICAndSIP(t *testing.T) {
	hello := quicHello(t, "q.test", "h3")
	var frames [][]byte
	for _, p := range sealInitials(t, 1, []byte{1, 2, 3, 4, 5, 6, 7, 8}, nil, hello, (len(hello)+1)/2, false) {
		frames = append(frames, appFrame(t, false, false, 40001, 443, p))
	}
	for _, p := range sealInitials(t, 1, []byte{9, 2, 3, 4, 5, 6, 7, 8}, nil, hello, 4000, false) {
		frames = append(frames, appFrame(t, false, false, 40002, 8088, p))
	}
	inv := []byte("INVITE sip:bob@b.test SIP/2.0\r\nCall-ID: c1@a.test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
	frames = append(frames, appFrame(t, false, false, 40003, 5060, inv))
	frames = append(frames, appFrame(t, false, false, 40004, 9999, []byte("not sip")))
	frames = append(frames, connFrames(t, 40005, 5060, inv, []byte("SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n"), 9)...)
	file := writeTestCapture(t, "udpapps.pcap", pcapfile.LinkTypeEthernet, frames...)
	code, out, stderr := run(t, "flows", "--format", "json", file)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var flows []render.FlowV1
	if err := json.Unmarshal([]byte(out), &flows); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range flows {
		got[f.Proto+" "+f.Server] = f.App + " " + f.AppName + " " + map[bool]string{true: "!", false: "="}[f.AppMismatch]
	}
	want := map[string]string{
		"udp 10.0.0.2:443":  "quic q.test =",
		"udp 10.0.0.2:8088": "quic q.test !",
		"udp 10.0.0.2:5060": "sip  =",
		"udp 10.0.0.2:9999": "  =",
		"tcp 10.0.0.2:5060": "sip  =",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], w, got)
		}
	}
	code, out, _ = run(t, "flows", "--app", "quic", "--format", "jsonl", file)
	if code != ExitOK || strings.Count(out, "\n") != 2 || strings.Count(out, `"app":"quic"`) != 2 {
		t.Errorf("--app quic: %q", out)
	}
}

// TestFlowsTextApps: FTP, SMTP, POP3, IMAP and HTTP/2 found by content
// on their ports and elsewhere: SMTP on 25 is not marked, on 8025 (IANA's
// ca-audit-da) it is, on 40025 (no service) it is not; a bare "220"
// greeting is settled by the client's EHLO; the data connection a 227
// and a 229 announced is ftp-data, one nobody announced is not.
func TestFlowsTextApps(t *testing.T) {
	file := writeTestCapture(t, "text.pcap", pcapfile.LinkTypeEthernet, textConns(t)...)
	code, out, stderr := run(t, "flows", "--format", "json", file)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var flows []render.FlowV1
	if err := json.Unmarshal([]byte(out), &flows); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range flows {
		got[f.Server] = f.App + map[bool]string{true: "!"}[f.AppMismatch]
	}
	want := map[string]string{
		"10.0.0.2:25": "smtp", "10.0.0.2:8025": "smtp!", "10.0.0.2:40025": "smtp", "10.0.0.2:21": "ftp",
		"10.0.0.2:50000": "ftp-data", "10.0.0.2:50001": "ftp-data", "10.0.0.2:50002": "",
		"10.0.0.2:110": "pop3", "10.0.0.2:143": "imap", "10.0.0.2:80": "http2", "10.0.0.2:50080": "http2",
		"10.0.0.2:11211": "", "10.0.0.2:2121": "ftp!", "10.0.0.2:2122": "ftp!",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps by server (-want +got):\n%s", diff)
	}
	code, out, _ = run(t, "flows", "--app", "ftp-data", "--format", "jsonl", file)
	if code != ExitOK || strings.Count(out, "\n") != 2 || strings.Count(out, `"app":"ftp-data"`) != 2 {
		t.Errorf("--app ftp-data: %q", out)
	}
}

// textConns are connections of the text protocols, some cut into
// segments of a few bytes (lines split across them), and FTP data
// connections.
func textConns(t *testing.T) [][]byte {
	smtpC := []byte("EHLO c.test\r\nMAIL FROM:<a@a.test>\r\n")
	smtpS := []byte("220 mx.a.test ESMTP\r\n250 ok\r\n")
	var frames [][]byte
	frames = append(frames, connFrames(t, 40001, 25, smtpC, smtpS, 5)...)
	frames = append(frames, connFrames(t, 40002, 8025, smtpC, smtpS, 100)...)
	frames = append(frames, connFrames(t, 40003, 40025, smtpC, []byte("220 ready\r\n"), 100)...)
	frames = append(frames, connFrames(t, 40004, 21, []byte("USER anonymous\r\nPASV\r\nEPSV\r\n"),
		[]byte("220 (vsFTPd 3.0.3)\r\n331 ok\r\n227 Entering Passive Mode (10,0,0,2,195,80).\r\n229 Entering Extended Passive Mode (|||50001|)\r\n"), 9)...)
	frames = append(frames, connFrames(t, 40005, 50000, nil, []byte("drwxr-xr-x 2 0 0 4096 Dec 04 20:00 pub\r\n"), 100)...)
	frames = append(frames, connFrames(t, 40006, 50001, nil, []byte("x"), 100)...)
	frames = append(frames, connFrames(t, 40007, 50002, nil, []byte("y"), 100)...)
	frames = append(frames, connFrames(t, 40008, 110, []byte("CAPA\r\n"), []byte("+OK Dovecot ready.\r\n"), 100)...)
	frames = append(frames, connFrames(t, 40009, 143, []byte("a001 CAPABILITY\r\n"), []byte("* OK [CAPABILITY IMAP4rev1] ready\r\n"), 100)...)
	frames = append(frames, connFrames(t, 40010, 80, []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"), nil, 3)...)
	frames = append(frames, connFrames(t, 40011, 50080, []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), nil, 100)...)
	// memcached's stats: "STAT" is FTP's and POP3's too; nothing says which.
	frames = append(frames, connFrames(t, 40012, 11211, []byte("stats\r\n"), []byte("STAT pid 1\r\nSTAT uptime 5\r\nEND\r\n"), 100)...)
	// FTP on 2121: a bare greeting and USER guess, PASV says.
	frames = append(frames, connFrames(t, 40013, 2121, []byte("USER a\r\nPASV\r\n"), []byte("220 ready\r\n"), 8)...)
	// ... or the next line in the same segment does.
	frames = append(frames, connFrames(t, 40014, 2122, []byte("USER a\r\nPASV\r\n"), nil, 100)...)
	return frames
}
