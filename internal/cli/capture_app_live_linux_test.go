package cli

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/quic"

	"github.com/portkit/ports/internal/porttest"
)

// quicAppAddr is the loopback address the live application test serves
// on, its own so that other tests' traffic stays out of its filter.
const quicAppAddr = "127.0.0.147"

// selfSigned is a certificate for name and a pool that trusts it.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// quicHandshake runs a QUIC handshake on loopback between two real
// endpoints (golang.org/x/net/quic, crypto/tls): the client asks for
// sni and ALPN h3 at addr.
func quicHandshake(t *testing.T, addr, sni string) {
	t.Helper()
	cert, pool := selfSigned(t, sni)
	srv, err := quic.Listen("udp", addr, &quic.Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h3"}, MinVersion: tls.VersionTLS13}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	defer srv.Close(ctx)
	accepted := make(chan error, 1)
	go func() {
		c, err := srv.Accept(ctx)
		if err == nil {
			err = c.Wait(ctx) // the client closes
		}
		accepted <- err
	}()
	cli, err := quic.Listen("udp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close(ctx)
	c, err := cli.Dial(ctx, "udp", addr, &quic.Config{TLSConfig: &tls.Config{ServerName: sni, NextProtos: []string{"h3"}, RootCAs: pool, MinVersion: tls.VersionTLS13}})
	if err != nil {
		t.Fatalf("quic dial: %v", err)
	}
	c.Close()
	<-accepted
}

// TestIntegrationCaptureAppLive: ports capture on lo prints, live, the
// same application summaries as ports decode prints of the same packets
// written by tcpdump -w, line for line: dig asking a dnsmasq the test
// runs on 127.0.0.147 (UDP and TCP), curl fetching from python3 -m
// http.server on 8088 (HTTP by content), a QUIC handshake between
// golang.org/x/net/quic endpoints on UDP 443 (the client's Initials,
// SNI and ALPN), and SIP datagrams to 5060 (tcpdump's text) and 5080
// (the summary).
func TestIntegrationCaptureAppLive(t *testing.T) {
	requireCapture(t)
	tcpdump := needTcpdump(t)
	dnsmasq := porttest.LookTool(t, "dnsmasq", "dnsmasq-base")
	dig := porttest.LookTool(t, "dig", "dnsutils")
	curl := porttest.LookTool(t, "curl", "curl")
	python := porttest.LookTool(t, "python3", "python3")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	start := func(name string, args ...string) *porttest.LogBuffer {
		cmd := exec.CommandContext(ctx, name, args...)
		log := &porttest.LogBuffer{}
		cmd.Stdout, cmd.Stderr, cmd.Dir = log, log, dir
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return log
	}
	dnsLog := start(dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
		"--bind-interfaces", "--listen-address="+quicAppAddr, "--port=53", "--pid-file=", "--user=root", "--log-facility=-",
		"--address=/a.test/192.0.2.10", "--mx-host=a.test,mail.a.test,10")
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html>hello</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start(python, "-m", "http.server", "--bind", quicAppAddr, "--directory", dir, "8088")
	porttest.WaitFor(t, "dnsmasq and the HTTP server", func() bool {
		for _, a := range []string{quicAppAddr + ":53", quicAppAddr + ":8088"} {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})

	const expr = "host " + quicAppAddr
	file := filepath.Join(dir, "live.pcap")
	td := exec.CommandContext(ctx, tcpdump, "-i", "lo", "-U", "--immediate-mode", "-n", "-w", file, expr)
	tdErr, _ := td.StderrPipe()
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(tdErr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
	}
	go sc.Scan() // the rest, until it ends
	var live, liveErr porttest.LogBuffer
	liveCtx, stopLive := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- Run(liveCtx, []string{"capture", "-i", "lo", "--no-procs", expr}, &live, &liveErr)
	}()
	porttest.WaitFor(t, "ports capture to listen", func() bool { return strings.Contains(liveErr.String(), "listening on") || len(done) > 0 })

	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "http_proxy=", "HTTPS_PROXY=", "https_proxy=", "ALL_PROXY=", "all_proxy=", "NO_PROXY=", "no_proxy=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
	}
	run(dig, "+time=5", "+tries=2", "@"+quicAppAddr, "a.test", "A")
	run(dig, "+time=5", "+tries=2", "+tcp", "@"+quicAppAddr, "a.test", "MX")
	run(curl, "-s", "-o", "/dev/null", "--noproxy", "*", "--max-time", "15", "http://"+quicAppAddr+":8088/index.html")
	quicHandshake(t, quicAppAddr+":443", "quic.test")
	sip := "INVITE sip:bob@b.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062\r\nFrom: <sip:alice@a.test>;tag=1\r\nTo: <sip:bob@b.test>\r\nCall-ID: live-1@a.test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	for _, port := range []string{"5060", "5080"} {
		c, err := net.Dial("udp", quicAppAddr+":"+port)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(sip))
		c.Close()
	}
	// The last datagram: once both have it, both have all before it.
	const marker = ": UDP, length 3"
	c, err := net.Dial("udp", quicAppAddr+":9")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("end"))
	c.Close()
	porttest.WaitFor(t, "ports capture to print the last datagram", func() bool { return strings.Contains(live.String(), marker) })
	porttest.WaitFor(t, "tcpdump to write the last datagram", func() bool {
		out, _ := exec.Command(tcpdump, "-nn", "-r", file).Output()
		return strings.Contains(string(out), marker)
	})
	stopLive()
	if code := <-done; code != ExitOK {
		t.Fatalf("capture: exit %d: %s", code, liveErr.String())
	}
	td.Process.Signal(syscall.SIGINT)
	td.Wait()

	untimed := func(lines []string) []string {
		for i, l := range lines {
			if _, rest, ok := strings.Cut(l, " "); ok {
				lines[i] = rest
			}
		}
		return lines
	}
	got, want := untimed(packetLines(live.String())), untimed(decodeOut(t, file))
	if len(got) != len(want) {
		t.Fatalf("live %d lines, decode of the file %d:\n%s\n---\n%s", len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d:\n live   %s\n decode %s", i+1, got[i], want[i])
		}
	}
	all := strings.Join(got, "\n")
	for _, s := range []string{"A? a.test.", "A 192.0.2.10 (", "MX? a.test.", "MX mail.a.test. 10", ": HTTP GET /index.html Host: " + quicAppAddr + ":8088",
		": HTTP 200 OK", ": QUIC Initial v1 SNI quic.test ALPN h3", ": QUIC Initial v1 ServerHello TLS_AES_128_GCM_SHA256 + Handshake",
		": SIP: INVITE sip:bob@b.test SIP/2.0", ": SIP INVITE sip:bob@b.test Call-ID: live-1@a.test"} {
		if !strings.Contains(all, s) {
			t.Errorf("no line with %q (dnsmasq: %s):\n%s", s, dnsLog, all)
		}
	}
	// And tcpdump's own lines are a prefix of decode's; tshark finds in
	// the QUIC datagrams what decode's JSON has.
	diffLines(t, file, decodeOut(t, file), tcpdumpOut(t, file))
	compared, hellos := quicAsTshark(t, file)
	if compared < 3 || hellos != 1 {
		t.Errorf("tshark: %d QUIC long-header packets compared, %d with an SNI", compared, hellos)
	}
}
