package cli

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portkit/ports/pcapfile"
)

// TestDecodeDumpsAsTcpdump: -A, -x and -X print each packet's data as
// tcpdump -nn -A/-x/-X -r does, on every capture in testdata (Ethernet
// with trailers and VLAN tags, Linux cooked, raw IP, BSD loopback, cut
// captures) and on the 6,000 mutated datagrams of
// TestDecodeMutatedUDPAsTcpdump (CRs and line breaks anywhere, captures
// cut anywhere): every line of the dumps is tcpdump's. A packet's own
// line may differ only as it does without the flag (the service name;
// the differences TestDecodeEveryCaptureAsTcpdump accepts).
func TestDecodeDumpsAsTcpdump(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/pcaps/*.pcap*")
	files = append(files, writeFrames(t, "udp_mutated.pcap", pcapfile.LinkTypeEthernet, mutatedUDPFrames(t)))
	tcpdump := needTcpdump(t)
	lines, dumped := 0, 0
	for _, file := range files {
		if strings.Contains(file, "mixed_linktypes") {
			continue // tcpdump 4.99 refuses a second link type in one file
		}
		// Our packet lines and tcpdump's, without a dump: a pair seen
		// here is not the dump's to judge.
		known := map[string]string{}
		plainW, plainG := tcpdumpOut(t, file), decodeOut(t, file)
		if len(plainW) != len(plainG) {
			t.Fatalf("%s: %d lines, tcpdump %d", file, len(plainG), len(plainW))
		}
		for i, w := range plainW {
			known[w] = portServiceRE.ReplaceAllString(plainG[i], "$1")
		}
		for _, flag := range []string{"-A", "-x", "-X"} {
			out, err := exec.Command(tcpdump, "-nn", flag, "-r", file).Output()
			if err != nil {
				t.Fatalf("tcpdump -nn %s -r %s: %v", flag, file, err)
			}
			want := allLines(string(out))
			code, ours, stderr := run(t, "decode", flag, file)
			if code != ExitOK {
				t.Fatalf("decode %s %s: exit %d: %s", flag, file, code, stderr)
			}
			got := allLines(ours)
			if len(got) != len(want) {
				t.Errorf("%s %s: %d lines, tcpdump %d", flag, filepath.Base(file), len(got), len(want))
				continue
			}
			bad := 0
			for i, w := range want {
				lines++
				if got[i] == w {
					if _, isPacket := known[w]; !isPacket {
						dumped++
					}
					continue
				}
				if g, ok := known[w]; ok && g == got[i] {
					continue
				}
				if bad++; bad <= 5 {
					t.Errorf("%s %s line %d:\n ours    %q\n tcpdump %q", flag, filepath.Base(file), i+1, got[i], w)
				}
			}
		}
	}
	t.Logf("%d lines, %d of them the dumps' and identical", lines, dumped)
	if dumped < 20000 {
		t.Errorf("only %d dump lines compared", dumped)
	}
}
