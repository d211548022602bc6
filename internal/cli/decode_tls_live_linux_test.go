package cli

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
)

// TestIntegrationDecodeTLSAsTshark: openssl s_client -servername
// -alpn to openssl s_server across a namespace pair, TLS 1.3 on 4433
// and TLS 1.2 on 80 (TLS where the port says HTTP), captured by
// tcpdump: for every hello tshark finds (told to take both ports for
// TLS, as it goes by ports too), ports decode --format jsonl has the
// same packet with tshark's SNI, ALPN, offered versions, cipher count
// and chosen cipher; and no other packet has a hello.
func TestIntegrationDecodeTLSAsTshark(t *testing.T) {
	tcpdump := needTcpdump(t)
	openssl := porttest.LookTool(t, "openssl", "openssl")
	tshark := porttest.LookTool(t, "tshark", "tshark")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	key, cert := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	if out, err := p.A.Command(ctx, openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=a.test").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v: %s", err, out)
	}
	b4 := p.B.Addr4.String()
	servers := []struct {
		port, sni, alpn, version string
	}{
		{"4433", "a.test", "h2,http/1.1", "-tls1_3"},
		{"80", "tls-on-80.test", "http/1.1", "-tls1_2"},
	}
	for _, s := range servers {
		p.B.Start(t, openssl, "s_server", "-accept", s.port, "-cert", cert, "-key", key, "-alpn", s.alpn, "-quiet", s.version)
	}
	porttest.WaitFor(t, "the TLS servers", func() bool {
		for _, s := range servers {
			c, err := p.A.Dial(ctx, "tcp", net.JoinHostPort(b4, s.port))
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
	file := filepath.Join(dir, "tls.pcap")
	capCmd := p.A.Command(ctx, tcpdump, "-i", p.A.Link, "-U", "--immediate-mode", "-n", "-w", file, "tcp port 4433 or tcp port 80")
	capLog := &porttest.LogBuffer{}
	capCmd.Stdout, capCmd.Stderr = capLog, capLog
	if err := capCmd.Start(); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(capLog.String(), "listening on") })
	for _, s := range servers {
		cmd := p.A.Command(ctx, openssl, "s_client", "-connect", net.JoinHostPort(b4, s.port), "-servername", s.sni, "-alpn", s.alpn, s.version)
		cmd.Stdin = strings.NewReader("Q\n")
		if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "ALPN protocol") {
			t.Fatalf("s_client: %v: %s", err, out)
		}
	}
	capCmd.Process.Signal(syscall.SIGINT)
	capCmd.Wait()

	out, err := p.A.Command(ctx, tshark, "-n", "-r", file, "-d", "tcp.port==4433,tls", "-d", "tcp.port==80,tls", "-Y", "tls.handshake.type == 1 || tls.handshake.type == 2", "-T", "fields",
		"-E", "separator=|", "-e", "frame.number", "-e", "tls.handshake.type", "-e", "tls.handshake.extensions_server_name",
		"-e", "tls.handshake.extensions_alpn_str", "-e", "tls.handshake.extensions.supported_version", "-e", "tls.handshake.cipher_suites_length",
		"-e", "tls.handshake.ciphersuite").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	code, js, stderr := run(t, "decode", "--format", "jsonl", file)
	if code != ExitOK {
		t.Fatalf("decode: %s", stderr)
	}
	ours := map[int]*render.AppV1{}
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var v render.PacketV1
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.App != nil && v.App.Protocol == "tls" {
			ours[v.N] = v.App
		}
	}
	hellos := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 7 {
			t.Fatalf("tshark line %q", l)
		}
		n, _ := strconv.Atoi(f[0])
		a := ours[n]
		if a == nil {
			t.Errorf("packet %d: tshark finds a hello (%s), ports nothing", n, l)
			continue
		}
		delete(ours, n)
		hellos++
		switch f[1] {
		case "1":
			ciphers, _ := strconv.Atoi(f[5])
			vers := []string{}
			for _, v := range a.SupportedVersions {
				vers = append(vers, map[string]string{"TLS 1.3": "0x0304", "TLS 1.2": "0x0303", "TLS 1.1": "0x0302", "TLS 1.0": "0x0301"}[v])
			}
			if a.Handshake != "client_hello" || a.SNI != f[2] || strings.Join(a.ALPN, ",") != f[3] || strings.Join(vers, ",") != f[4] || a.Ciphers != ciphers/2 {
				t.Errorf("packet %d: ours %+v\n tshark %s", n, *a, l)
			}
		case "2":
			if a.Handshake != "server_hello" || a.Cipher != f[6] || strings.Join(a.ALPN, ",") != f[3] {
				t.Errorf("packet %d: ours %+v\n tshark %s", n, *a, l)
			}
		}
	}
	for n, a := range ours {
		t.Errorf("packet %d: ports finds a hello tshark does not: %+v", n, *a)
	}
	if hellos != 4 {
		t.Errorf("%d hellos, want 2 client and 2 server:\n%s", hellos, out)
	}
	// The one-line view: tcpdump's line, then ours where tcpdump has
	// nothing to say (on 4433, not on 80, which tcpdump gives to HTTP).
	got, want := decodeOut(t, file), tcpdumpOut(t, file)
	diffLines(t, file, got, want)
	if s := strings.Join(got, "\n"); !strings.Contains(s, ": TLS ClientHello SNI a.test ALPN h2,http/1.1") || !strings.Contains(s, ": TLS ServerHello TLS 1.3 ") {
		t.Errorf("no TLS summaries:\n%s", s)
	}
}
