package cli

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/app"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/pcapfile"
)

// quicHello is the ClientHello crypto/tls's QUIC client writes at the
// Initial level: a real one, transport parameters, post-quantum key
// share and all (which make it longer than one Initial).
func quicHello(t *testing.T, sni string, alpn ...string) []byte {
	t.Helper()
	c := tls.QUICClient(&tls.QUICConfig{TLSConfig: &tls.Config{ServerName: sni, NextProtos: alpn, MinVersion: tls.VersionTLS13}})
	c.SetTransportParameters([]byte{0x04, 0x04, 0x80, 0x10, 0x00, 0x00})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var hello []byte
	for e := c.NextEvent(); e.Kind != tls.QUICNoEvent; e = c.NextEvent() {
		if e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelInitial {
			hello = append(hello, e.Data...)
		}
	}
	return hello
}

// sealInitials puts a hello into Initials of at most chunk bytes of it
// each, padded to 1200-byte datagrams as RFC 9000 §14.1 wants.
func sealInitials(t *testing.T, v uint32, dcid, scid, hello []byte, chunk int, server bool) [][]byte {
	t.Helper()
	var out [][]byte
	for off, pn := 0, uint32(0); off < len(hello); pn++ {
		end := min(off+chunk, len(hello))
		payload := app.AppendQUICCrypto(nil, uint64(off), hello[off:end])
		if !server {
			payload = append(payload, make([]byte, max(0, 1200-(len(payload)+len(dcid)+len(scid)+7+2+4+16+1)))...)
		} else {
			payload = append(payload, make([]byte, 20)...)
		}
		hdrDCID := dcid
		if server {
			hdrDCID = scid
		}
		p, err := app.AppendQUICInitial(nil, v, dcid, hdrDCID, scid, pn, payload, server)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
		off = end
	}
	return out
}

// quicCapture writes the test's QUIC datagrams: RFC 9001 A.2's client
// Initial; crypto/tls's ClientHello in v1 Initials (two of them), v2
// (to port 8443) and draft-29 ones, over IPv4 and IPv6; a server
// Initial; a Version Negotiation and a Handshake packet.
func quicCapture(t *testing.T) (string, int) {
	t.Helper()
	raw, err := os.ReadFile("../../app/testdata/rfc9001-a2-client-initial.hex")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	add := func(v6 bool, sp, dp ports.Port, pkts ...[]byte) {
		for _, p := range pkts {
			frames = append(frames, appFrame(t, v6, false, sp, dp, p))
		}
	}
	add(false, 50000, 443, a2)
	hello := quicHello(t, "a.test", "h3")
	if len(hello) < 1200 {
		t.Logf("a ClientHello of %d bytes", len(hello))
	}
	d1, s1 := []byte{0x11, 2, 3, 4, 5, 6, 7, 8}, []byte{0xc1, 0xc1, 0xc1, 0xc1}
	add(false, 50001, 443, sealInitials(t, app.QUICv1, d1, s1, hello, (len(hello)+1)/2, false)...)
	add(true, 50002, 8443, sealInitials(t, app.QUICv2, []byte{0x22, 2, 3, 4, 5, 6, 7, 8, 9}, nil, quicHello(t, "v2.test", "h3", "hq-interop"), 1000, false)...)
	add(false, 50003, 443, sealInitials(t, 0xff00001d, []byte{0x29, 2, 3, 4, 5, 6, 7, 8}, nil, quicHello(t, "d29.test", "h3-29"), 4000, false)...)
	// The server's Initial: a ServerHello choosing TLS_AES_128_GCM_SHA256.
	sh := []byte{2, 0, 0, 0, 3, 3}
	sh = append(sh, make([]byte, 32)...)
	sh = append(sh, 0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4)
	sh[3] = byte(len(sh) - 4)
	add(false, 443, 50001, sealInitials(t, app.QUICv1, d1, s1, sh, 4000, true)...)
	add(false, 443, 50004, []byte{0x80, 0, 0, 0, 0, 4, 1, 2, 3, 4, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf})
	add(false, 443, 50001, append([]byte{0xe0, 0, 0, 0, 1, 4, 0xc1, 0xc1, 0xc1, 0xc1, 4, 9, 9, 9, 9, 0x40, 40}, make([]byte, 40)...))
	return writeTestCapture(t, "quic.pcap", pcapfile.LinkTypeEthernet, frames...), len(frames)
}

// TestDecodeQUICAsTcpdumpAndTshark: on the test's QUIC datagrams the
// one-line view is tcpdump's (Debian's 4.99.3 has no QUIC printer: it
// prints "UDP, length 1200") with the summary after it, and the JSON
// app object has, packet by packet, what tshark finds: quic.version,
// tls.handshake.extensions_server_name and
// tls.handshake.extensions_alpn_str.
func TestDecodeQUICAsTcpdumpAndTshark(t *testing.T) {
	file, n := quicCapture(t)
	lines := decodeOut(t, file)
	diffLines(t, file, lines, tcpdumpOut(t, file))
	for _, w := range []string{": QUIC Initial v1 SNI example.com ALPN alpn", ": QUIC Initial v1 SNI a.test ALPN h3", ": QUIC Initial v2 SNI v2.test ALPN h3,hq-interop",
		": QUIC Initial draft-29 SNI d29.test ALPN h3-29", ": QUIC Initial v1 ServerHello TLS_AES_128_GCM_SHA256", ": QUIC Version Negotiation v1,v2", ": QUIC Handshake v1"} {
		if !strings.Contains(strings.Join(lines, "\n"), w) {
			t.Errorf("no line with %q:\n%s", w, strings.Join(lines, "\n"))
		}
	}
	// -v names the fields.
	if code, out, _ := run(t, "decode", "-v", file); code != ExitOK || !strings.Contains(out, "  QUIC      version v1, packet Initial, dcid 8394c8f03e515708, decrypted yes, handshake client_hello, sni example.com, alpn alpn, ciphers offered 2\n") ||
		!strings.Contains(out, "  QUIC      version 0x00000000, packet Version Negotiation, dcid 01020304, scid 0102030405060708, versions v1,v2\n") {
		t.Errorf("-v lacks the QUIC fields:\n%s", out)
	}
	compared, hellos := quicAsTshark(t, file)
	if compared != n || hellos != 4 {
		t.Errorf("compared %d of %d packets, %d with an SNI", compared, n, hellos)
	}
}

// quicAsTshark compares, packet by packet, what tshark finds in a
// capture's QUIC datagrams (UDP 443 and 8443 taken for QUIC) with the
// app object of ports decode --format jsonl: the version, SNI, ALPN and
// a Version Negotiation's list. It returns how many packets it compared
// and how many had an SNI.
func quicAsTshark(t *testing.T, file string) (compared, hellos int) {
	t.Helper()
	tshark := porttestTool(t, "tshark")
	out, err := exec.Command(tshark, "-n", "-r", file, "-d", "udp.port==8443,quic", "-d", "udp.port==443,quic", "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "quic.version", "-e", "tls.handshake.extensions_server_name", "-e", "tls.handshake.extensions_alpn_str", "-e", "quic.supported_version", "quic").Output()
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
	// A lone Version Negotiation packet is QUIC to tshark only on a
	// port it is told is QUIC's.
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		num, _ := strconv.Atoi(f[0])
		a := apps[num]
		if f[1] == "" && a == nil {
			continue // a short header (1-RTT): known to tshark by its connection only
		}
		if a == nil || a.Protocol != "quic" {
			t.Errorf("packet %d: no quic app object; tshark %s", num, l)
			continue
		}
		// tshark gives the version in hex, once per packet of a
		// datagram; a Version Negotiation's list as supported_version.
		ver, list := "0x"+hexVersion(a.QUICVersion), []string{}
		if a.PacketType == "Version Negotiation" {
			ver = "0x00000000"
			for _, v := range a.SupportedVersions {
				list = append(list, "0x"+hexVersion(v))
			}
		}
		got := strings.Join([]string{f[0], ver, a.SNI, strings.Join(a.ALPN, ","), strings.Join(list, ",")}, "|")
		if want := strings.Join([]string{f[0], strings.Split(f[1], ",")[0], f[2], f[3], f[4]}, "|"); got != want {
			t.Errorf("packet %d:\n ours   %s\n tshark %s", num, got, l)
		}
		compared++
		if f[2] != "" {
			hellos++
		}
	}
	return compared, hellos
}

// hexVersion turns our version name back into tshark's 8 hex digits.
func hexVersion(name string) string {
	switch {
	case name == "v1":
		return "00000001"
	case name == "v2":
		return "6b3343cf"
	case strings.HasPrefix(name, "draft-"):
		n, _ := strconv.Atoi(strings.TrimPrefix(name, "draft-"))
		return "ff0000" + strconv.FormatUint(uint64(n)|0x100, 16)[1:]
	}
	return strings.TrimPrefix(name, "0x")
}
