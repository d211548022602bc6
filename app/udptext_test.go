package app

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendUDPText: a few lines as Debian's tcpdump 4.99.3 prints them
// (the differential tests in internal/cli compare many more with
// tcpdump itself).
func TestAppendUDPText(t *testing.T) {
	for _, c := range []struct {
		pr   Printer
		hex  string
		cut  int // bytes captured, if fewer than the message's
		want string
	}{
		{PrintNTP, "e3 0004fa 00010000", 0, "NTPv4, Client, length 8"},
		{PrintNTP, "", 0, " [|ntp]"},
		{PrintTFTP, "0001 66696c6500 6f6374657400", 0, `TFTP, length 13, RRQ "file" octet`},
		{PrintTFTP, "0005 0001 46696c65206e6f7420666f756e6400", 0, `TFTP, length 19, ERROR ENOTFOUND "File not found"`},
		{PrintTFTP, "0005 0009 6100", 0, `TFTP, length 6, ERROR tftp-err-#9 " "a"`},
		{PrintTFTP, "0001 0a09 62ff00", 0, `TFTP, length 7, RRQ "^J^IbM-^?" [|tftp]`},
		{PrintTFTP, "0006 6100 6200 63", 0, "TFTP, length 7, OACK a b c [|tftp]"},
		{PrintBOOTP, "01010600 12345678" + strings.Repeat("00", 20) + "525400123456", 0, "BOOTP/DHCP, Request from 52:54:00:12:34:56, length 34"},
		{PrintBOOTP, "03", 0, "BOOTP/DHCP, unknown (0x03) [|bootp]"},
		{PrintSyslog, "3c3135303e61", 0, "SYSLOG local2.info, length: 6"},
		{PrintSyslog, "3c3939393e78", 0, "SYSLOG unknown (124).debug, length: 6"},
		{PrintSyslog, "3c313531313e", 0, " (invalid)"},
		{PrintSyslog, "3c3135", 0, " [|syslog]"},
		{PrintRIP, "0202 0000 00020000 0a000000 ffffff00 00000000 00000001", 0, "RIPv2, Response, length: 24"},
		{PrintRIP, "0100 0000 0000 0000 00", 0, "RIPv0\n\t0x0000:  0100 0000 0000 0000 00"},
		{PrintRIP, "0205", 0, " [|rip]"},
		{PrintSNMP, "302902010004067075626c6963a01c020444df0595020100020100300e300c06082b060102010105000500", 0,
			" GetRequest(28)  .1.3.6.1.2.1.1.5.0"},
		{PrintSNMP, "303402010004067075626c6963a227020444df05940201020201023019300c06082b060102010105000500300906052b060109090500", 0,
			" GetResponse(39)  noSuchName@2 .1.3.6.1.2.1.1.5.0= .1.3.6.1.9.9="},
		{PrintSNMP, "30260201010403626164a01c02040d8e343d020100020100300e300c06082b060102010101000500", 0,
			` C="bad" GetRequest(28)  .1.3.6.1.2.1.1.1.0`},
		{PrintSNMP, "302702010104067075626c6963a51a02047adc1bc602010002010a300c300a06062b06010201040500", 0,
			" GetBulk(26)  N=0 M=10 .1.3.6.1.2.1.4"},
		{PrintSNMP, "302902010004067075626c6963a01c020444df0595020100020100300e300c06082b060102010105000500", 30, "  [|snmp]"},
	} {
		m := unhex(t, c.hex)
		data := m
		if c.cut > 0 {
			data = m[:c.cut]
		}
		if got := string(AppendUDP(nil, c.pr, data, len(m))); got != c.want {
			t.Errorf("%d %s:\n got  %q\n want %q", c.pr, c.hex, got, c.want)
		}
	}
}

// TestAppendUDPNoAllocs: the UDP printers append into the caller's
// buffer without allocating.
func TestAppendUDPNoAllocs(t *testing.T) {
	snmp := unhex(t, "303402010004067075626c6963a227020444df05940201020201023019300c06082b060102010105000500300906052b060109090500")
	tftp := unhex(t, "0001 66696c6500 6f6374657400 626c6b73697a6500 3531320000")
	syslog, bootp, ntp, rip := []byte("<13>hello"), make([]byte, 300), []byte{0x23}, []byte{2, 2, 0, 0}
	bootp[0], bootp[1], bootp[2] = 1, 1, 6
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(200, func() {
		buf = AppendUDP(buf[:0], PrintSNMP, snmp, len(snmp))
		buf = AppendUDP(buf, PrintTFTP, tftp, len(tftp))
		buf = AppendUDP(buf, PrintSyslog, syslog, len(syslog))
		buf = AppendUDP(buf, PrintBOOTP, bootp, len(bootp))
		buf = AppendUDP(buf, PrintNTP, ntp, 48)
		buf = AppendUDP(buf, PrintRIP, rip, len(rip))
	}); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}

// FuzzAppendUDP: any payload, any cut and length, each printer: no
// panic; what is printed is bounded by the message and only RIP's hex
// dump (version 0) spans lines.
func FuzzAppendUDP(f *testing.F) {
	f.Add([]byte("<13>hello"), uint16(9), uint16(300), uint8(PrintSyslog))
	f.Add([]byte{0, 1, 'a', 0, 'b', 0}, uint16(6), uint16(6), uint8(PrintTFTP))
	f.Add([]byte{0x30, 0x26, 2, 1, 1, 4, 6, 'p', 'u', 'b', 'l', 'i', 'c', 0xa0, 0x19}, uint16(40), uint16(40), uint8(PrintSNMP))
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x03}, uint16(9), uint16(9), uint8(PrintSNMP))
	f.Fuzz(func(t *testing.T, data []byte, cut, length uint16, pr uint8) {
		p := Printer(pr%6) + PrintNTP
		data = data[:min(len(data), int(cut))]
		out := AppendUDP(nil, p, data, int(length))
		if p != PrintRIP && bytes.ContainsAny(out, "\n\r") {
			t.Fatalf("a line break in %q", out)
		}
		// SNMP prints at most a few dozen bytes per byte of message (an
		// OID's arc, an error mark); the others less.
		if len(out) > 64+40*len(data) {
			t.Fatalf("%d bytes printed for %d", len(out), len(data))
		}
	})
}

// FuzzAppendDumps: the -x and -X dumps take a line per 16 bytes, and
// -A keeps every byte but CRs.
func FuzzAppendDumps(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := (len(data) + 15) / 16
		if n := bytes.Count(AppendHexLines(nil, data, "\n\t"), []byte("\n")); n != lines {
			t.Fatalf("-x: %d lines for %d bytes", n, len(data))
		}
		x := AppendHexASCII(nil, data, "\n\t")
		if n := bytes.Count(x, []byte("\n")); n != lines {
			t.Fatalf("-X: %d lines for %d bytes", n, len(data))
		}
		if lines > 0 && len(x) != lines*(2+8+40+2)+len(data) {
			t.Fatalf("-X: %d bytes for %d", len(x), len(data))
		}
		a := AppendASCII(nil, data)
		if want := 1 + len(data) - bytes.Count(data, []byte("\r")); len(a) > want+bytes.Count(data, []byte("\r")) || len(a) < want {
			t.Fatalf("-A: %d bytes for %d", len(a), len(data))
		}
	})
}
