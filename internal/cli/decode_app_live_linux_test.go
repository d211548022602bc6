package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
)

// TestIntegrationDecodeDNSAndHTTPLive: real programs across a namespace
// pair (no default route): dig asks a dnsmasq the test runs for A,
// AAAA, MX, TXT and CNAME records over UDP and TCP, IPv4 and IPv6, and
// curl fetches from python3 -m http.server on ports 80 and 8088;
// tcpdump captures it. Every line of ports decode is tcpdump's, and its
// JSON has tshark's DNS and HTTP fields for every packet (appAsTshark).
func TestIntegrationDecodeDNSAndHTTPLive(t *testing.T) {
	tcpdump := needTcpdump(t)
	dnsmasq := porttest.LookTool(t, "dnsmasq", "dnsmasq-base")
	dig := porttest.LookTool(t, "dig", "dnsutils")
	curl := porttest.LookTool(t, "curl", "curl")
	python := porttest.LookTool(t, "python3", "python3")
	p := porttest.NewPair(t, nil)
	b4, b6 := p.B.Addr4.String(), p.B.Addr6.String()

	dns := p.B.Start(t, dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
		"--bind-interfaces", "--listen-address="+b4, "--listen-address="+b6, "--port=53", "--pid-file=", "--user=root", "--log-queries", "--log-facility=-",
		"--host-record=h.a.test,192.0.2.11,2001:db8::11", "--address=/a.test/192.0.2.10",
		"--mx-host=a.test,mail.a.test,10", "--txt-record=a.test,v=spf1 -all,second string", "--cname=www.a.test,h.a.test")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html>hello</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, port := range []string{"80", "8088"} {
		p.B.Start(t, python, "-m", "http.server", "--bind", b4, "--directory", dir, port)
	}
	porttest.WaitFor(t, "dnsmasq and the HTTP servers", func() bool {
		ok := true
		for _, a := range []string{net.JoinHostPort(b4, "53"), net.JoinHostPort(b4, "80"), net.JoinHostPort(b4, "8088")} {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			c, err := p.A.Dial(ctx, "tcp", a)
			cancel()
			if err != nil {
				ok = false
				continue
			}
			c.Close()
		}
		return ok
	})

	file := filepath.Join(dir, "live.pcap")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cap := p.A.Command(ctx, tcpdump, "-i", p.A.Link, "-U", "--immediate-mode", "-n", "-w", file, "tcp port 53 or udp port 53 or tcp port 80 or tcp port 8088")
	capLog := &porttest.LogBuffer{}
	cap.Stdout, cap.Stderr = capLog, capLog
	if err := cap.Start(); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(capLog.String(), "listening on") })

	run := func(name string, args ...string) string {
		t.Helper()
		cmd := p.A.Command(ctx, name, args...)
		cmd.Env = append(os.Environ(), "http_proxy=", "HTTPS_PROXY=", "https_proxy=", "ALL_PROXY=", "all_proxy=", "NO_PROXY=", "no_proxy=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
		return string(out)
	}
	for _, q := range [][]string{
		{"@" + b4, "a.test", "A"}, {"@" + b4, "h.a.test", "AAAA"}, {"@" + b4, "a.test", "MX"},
		{"@" + b4, "a.test", "TXT"}, {"@" + b4, "www.a.test", "A"}, {"@" + b6, "h.a.test", "A"},
		{"@" + b4, "+tcp", "h.a.test", "A"}, {"@" + b6, "+tcp", "a.test", "MX"},
	} {
		run(dig, append([]string{"+time=5", "+tries=2"}, q...)...)
	}
	for _, u := range []string{"http://" + b4 + "/", "http://" + b4 + "/missing", "http://" + b4 + ":8088/index.html"} {
		run(curl, "-s", "-o", "/dev/null", "--noproxy", "*", "--max-time", "15", u)
	}
	// Both tools read the same file: whatever tcpdump caught of the
	// last FINs is compared too.
	cap.Process.Signal(syscall.SIGINT)
	cap.Wait()

	want := tcpdumpOut(t, file)
	got := decodeOut(t, file)
	diffLines(t, file, got, want)
	all := strings.Join(want, "\n")
	for _, s := range []string{
		"A? a.test.", "* 1/0/1 A 192.0.2.10 (", "AAAA 2001:db8::11", "MX mail.a.test. 10", `TXT "v=spf1 -all" "second string"`,
		"CNAME h.a.test., A 192.0.2.11", "HTTP: GET / HTTP/1.1", "HTTP: HTTP/1.0 200 OK", "HTTP: HTTP/1.0 404 File not found",
		"> " + b4 + ".8088: Flags [P.]",
	} {
		if !strings.Contains(all, s) {
			t.Errorf("tcpdump's lines lack %q: the exchange did not happen as planned:\n%s\ndnsmasq: %s", s, all, dns)
		}
	}
	if n := countApp(want); n < 20 {
		t.Errorf("only %d DNS and HTTP lines", n)
	}
	// tshark's fields, packet by packet: 8 queries, 8 answers, 3
	// requests, 3 responses.
	if n := appAsTshark(t, porttest.LookTool(t, "tshark", "tshark"), file); n != 22 {
		t.Errorf("compared %d packets with tshark, want 22", n)
	}
}
