package cli

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// allLines returns every line of a decode's output, the lines after a
// packet's (tcpdump's hex dumps) too, without tcpdump's "reading from"
// line, service names after ports removed.
func allLines(out string) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "reading from file") {
			lines = append(lines, portServiceRE.ReplaceAllString(l, "$1"))
		}
	}
	return lines
}

// diffAll compares every line ports decode prints for file with
// tcpdump -nn -r's, and returns tcpdump's.
func diffAll(t *testing.T, file string) []string {
	t.Helper()
	out, err := exec.Command(needTcpdump(t), "-nn", "-r", file).Output()
	if err != nil {
		t.Fatalf("tcpdump -nn -r %s: %v", file, err)
	}
	want := allLines(string(out))
	code, ours, stderr := run(t, "decode", file)
	if code != ExitOK {
		t.Fatalf("decode %s: exit %d: %s", file, code, stderr)
	}
	got := allLines(ours)
	bad := 0
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			if bad++; bad <= 20 {
				t.Errorf("%s line %d:\n ours    %s\n tcpdump %s", file, i+1, g, w)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d lines differ (ours %d lines)", bad, len(want), len(got))
	}
	return want
}

// udpSeeds are messages of each protocol by the port tcpdump prints them
// on: the SNMP v1 and v2c ones as Net-SNMP's snmpget, snmpwalk,
// snmpbulkget, snmpset and snmpd sent them on loopback, the others
// written after the RFCs (TestIntegrationDecodeUDPLive has the real
// programs' own).
var udpSeeds = map[ports.Port][]string{
	161: {
		"302902010004067075626c6963a01c020444df0595020100020100300e300c06082b060102010105000500",
		"303402010004067075626c6963a227020444df05940201020201023019300c06082b060102010105000500300906052b060109090500",
		"302b02010004067075626c6963a21e020444df05950201000201003010300e06082b060102010105000402766d",
		"302702010104067075626c6963a51a02047adc1bc602010002010a300c300a06062b06010201040500",
		"303202010104067075626c6963a2250204220e5b9c0201000201003017301506102b060102010301010104018140000201020104",
		"302a02010104067075626c6963a21d02043bfc0b43020106020101300f300d06082b06010201010600040178",
		"30260201010403626164a01c02040d8e343d020100020100300e300c06082b060102010101000500",
		"302f02010104067075626c6963a2220204220e5b8402010002010030143012060a2b060102010202011101410400bdf5d0",
		"303102010104067075626c6963a2240204220e5b5902010002010030163014060a2b0601020102020106020406729c9a056d5e",
		// v1 trap, v2 trap with a Counter64 and an IpAddress.
		"3038020100040670726976617465a42b06082b06010401bf0801400400000000020106020101430200ff300f300d06082b060102010105000201ff",
		"305002010104067075626c6963a7430204112233440201000201003035300e06082b0601020101030043020100301306072b06010201040046080100000000000001300e06062b06010201014004c0a80001",
		// v3 discovery and its report.
		"303e020103301102042c1b1f6d020300ffe3040104020103041030 0e0400020100020100040004000400301404000400a00e02043c0a4d4b0201000201003000",
		"3069020103301102042c1b1f6d020300ffe304010002010304 1f301d040d80001f8880295cfd74e538126b020101020200e404000400040030 300d80001f8880295cfd74e538126b0400a81e02043c0a4d4b0201000201003010300e060a2b060106030f01010400410101",
	},
	123: {
		"e30003fa000100000001000000000000000000000000000000000000000000000000000000000000e9f6a31b1c6a7efa",
		"240308e9000000180000002b7f000001e9f6a30ed5c1a2f3e9f6a31b1c6a7efae9f6a31b1d0c1bcbe9f6a31b1d0e5f4f",
		"1602000100000000000000",
	},
	69: {
		"000166696c652e747874006f6374657400",
		"000166696c652e74787400 6e6574617363696900 7473697a6500 3000",
		"0003000168656c6c6f20746674700a",
		"00040001",
		"0005000146696c65206e6f7420666f756e6400",
		"0006747369 7a6500313500626c6b73697a6500353132 00",
		"000275706c6f61642e62696e006f6374657400",
	},
	67: {
		"01010600a1b2c3d40000000000000000000000000000000000000000525400123456" + strings.Repeat("00", 202) +
			"638253633501013d0701525400123456390205dc3c0c756468637020312e33362e310c04686f7374370701030607" + "0c0f1cff",
		"02010600a1b2c3d40000000000000000c6120002c6120001000000005254001234560000000000000000000000000000" + strings.Repeat("00", 192) +
			"63825363 350102 3604c6120001 330400000e10 0104fffffffc ff",
	},
	514: {
		"3c31333e446563202034203033 3a35353a3030206c6f63616c686f737420726f6f743a2068656c6c6f",
		"3c3135363e31203230 32362d31322d30345430333a35353a30302e3030305a206c6f63616c686f737420726f6f74202d202d205b74696d655175616c6974792074 7a4b6e6f776e3d2231225d2068656c6c6f",
		"3c33383e737368643a206c6f67696e",
	},
	520: {
		"0202000000020000c6120000fffffffc000000000000000100020000c6130000ffffff00c612000200000002",
		"01010000000000000000000000000000000000000000000000000010",
		"0102000000020000000000000000000000000000000000000000000f",
	},
}

// TestDecodeMutatedUDPAsTcpdump: 6,000 datagrams of NTP, TFTP,
// BOOTP/DHCP, RIP, SNMP and syslog, from udpSeeds with bytes changed,
// put in, cut or taken out, some with a UDP length that lies and some
// cut by the capture, over IPv4 and IPv6, the same each run: every line
// is tcpdump's, the lines of its hex dumps too.
func TestDecodeMutatedUDPAsTcpdump(t *testing.T) {
	file := writeFrames(t, "udp_mutated.pcap", pcapfile.LinkTypeEthernet, mutatedUDPFrames(t))
	want := diffAll(t, file)
	// The mutations leave most messages whole enough for tcpdump to
	// print the protocol's own words.
	all := strings.Join(want, "\n")
	for _, s := range []string{"NTPv4, Client, length 48", `RRQ "file.txt" octet`, "DATA block 1", "BOOTP/DHCP, Request from 52:54:00:12:34:56",
		"BOOTP/DHCP, Reply", "RIPv2, Response, length: 44", "RIPv1, Request", "GetResponse(", "Trap(", "V2Trap(", "F=r ", "SYSLOG user.notice",
		"SYSLOG local3.warning", "[|snmp]", " [|tftp]", " (invalid)"} {
		if !strings.Contains(all, s) {
			t.Errorf("tcpdump never prints %q: the seeds or mutations lost it", s)
		}
	}
	if n := bytes.Count([]byte(all), []byte("UDP, length")); n > 600 {
		t.Errorf("%d of 6000 datagrams printed as UDP only", n)
	}
}

// mutatedUDPFrames are 6,000 Ethernet frames of udpSeeds' messages
// mutated, the same each run.
func mutatedUDPFrames(t *testing.T) []frameSpec {
	rng := rand.New(rand.NewPCG(22, 14))
	var frames []frameSpec
	var portsSorted []ports.Port
	for p := range udpSeeds {
		portsSorted = append(portsSorted, p)
	}
	for i := range portsSorted {
		for j := i + 1; j < len(portsSorted); j++ {
			if portsSorted[j] < portsSorted[i] {
				portsSorted[i], portsSorted[j] = portsSorted[j], portsSorted[i]
			}
		}
	}
	for i := range 6000 {
		port := portsSorted[i%len(portsSorted)]
		seeds := udpSeeds[port]
		m, err := hex.DecodeString(strings.ReplaceAll(seeds[rng.IntN(len(seeds))], " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		for range rng.IntN(4) {
			switch r := rng.IntN(10); {
			case r < 4 && len(m) > 0:
				m[rng.IntN(len(m))] = byte(rng.IntN(256))
			case r < 6:
				m = m[:rng.IntN(len(m)+1)]
			case r < 8:
				k := rng.IntN(len(m) + 1)
				m = append(m[:k], append([]byte{[]byte{0, '<', '>', '0' + byte(rng.IntN(10)), 0x80, '\r', '\n', byte(rng.IntN(256))}[rng.IntN(8)]}, m[k:]...)...)
			case len(m) > 0:
				k := rng.IntN(len(m))
				m = append(m[:k], m[k+1:]...)
			}
		}
		other := []ports.Port{40000, 33333, port}[rng.IntN(3)]
		sport, dport := other, port
		if rng.IntN(2) == 0 {
			sport, dport = port, other
		}
		f := appFrame(t, i%7 == 0, false, sport, dport, m)
		fs := frameSpec{data: f}
		ipOff := 14
		udpOff := ipOff + 20
		if i%7 == 0 {
			udpOff = ipOff + 40
		}
		switch rng.IntN(12) {
		case 0: // a UDP length that lies, either way
			l := 8 + rng.IntN(len(m)+16)
			f[udpOff+4], f[udpOff+5] = byte(l>>8), byte(l)
		case 1, 2: // cut by the capture
			fs.capLen = udpOff + 8 + rng.IntN(len(m)+1)
		}
		frames = append(frames, fs)
	}
	return frames
}
