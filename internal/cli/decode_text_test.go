package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
)

// TestDecodeTextProtosAsTcpdump: FTP on 21 and SMTP on 25, in segments
// of 5 and 9 bytes that cut lines, print tcpdump's text line for line;
// elsewhere (SMTP on 8025 and 40025, POP3 and IMAP, which tcpdump does
// not print, HTTP/2's preface on 80) tcpdump's line is a prefix of ours
// and ours adds the summary.
func TestDecodeTextProtosAsTcpdump(t *testing.T) {
	file := writeTestCapture(t, "text.pcap", pcapfile.LinkTypeEthernet, textConns(t)...)
	want := tcpdumpOut(t, file)
	got := decodeOut(t, file)
	diffLines(t, file, got, want)
	all := strings.Join(got, "\n")
	for _, s := range []string{
		"length 9: FTP: USER anon [|ftp]", "length 5: SMTP: @a.te [|smtp]", // tcpdump's, per segment
		"8025: Flags [P.], seq 1:36, ack 1, win 512, length 35: SMTP: EHLO c.test",
		"length 20: POP3: +OK Dovecot ready.", "length 17: IMAP: a001 CAPABILITY", "HTTP/2 connection preface",
		"length 6: FTP: PASV", "length 3: FTP: 220 ready", // the greeting read as FTP's once PASV said so
		"2122: Flags [P.], seq 1:15, ack 1, win 512, length 14: FTP: USER a", // PASV after it in the segment says
	} {
		if !strings.Contains(portServiceRE.ReplaceAllString(all, "$1"), s) {
			t.Errorf("decode lacks %q:\n%s", s, all)
		}
	}
	// Lines that fit FTP and POP3 alike, with nothing to say which, are
	// not named.
	for _, s := range []string{"FTP: STAT", "POP3: STAT", "length 8: FTP: USER a", "POP3: USER a"} {
		if strings.Contains(all, s) {
			t.Errorf("decode names a guess: %q", s)
		}
	}
}

// TestDecodeTextJSON: the app object of each message, once, at the
// segment that completes its line: FTP's reply codes and data
// addresses from lines cut into 9-byte segments.
func TestDecodeTextJSON(t *testing.T) {
	file := writeTestCapture(t, "text.pcap", pcapfile.LinkTypeEthernet, textConns(t)...)
	code, out, stderr := run(t, "decode", "--format", "jsonl", file, "tcp port 21")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []render.AppV1
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var p render.PacketV1
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		if p.App != nil {
			got = append(got, *p.App)
		}
	}
	want := []render.AppV1{
		{Protocol: "ftp", Line: "USER anonymous", Command: "USER", Arg: "anonymous"},
		{Protocol: "ftp", Line: "PASV", Command: "PASV"},
		{Protocol: "ftp", Line: "EPSV", Command: "EPSV"},
		{Protocol: "ftp", Line: "220 (vsFTPd 3.0.3)", Code: 220, Arg: "(vsFTPd 3.0.3)", Response: true},
		{Protocol: "ftp", Line: "331 ok", Code: 331, Arg: "ok", Response: true},
		{Protocol: "ftp", Line: "227 Entering Passive Mode (10,0,0,2,195,80).", Code: 227, Arg: "Entering Passive Mode (10,0,0,2,195,80).",
			Response: true, DataIP: "10.0.0.2", DataPort: 50000},
		{Protocol: "ftp", Line: "229 Entering Extended Passive Mode (|||50001|)", Code: 229, Arg: "Entering Extended Passive Mode (|||50001|)",
			Response: true, DataPort: 50001},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}
