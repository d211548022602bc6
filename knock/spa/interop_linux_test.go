package spa_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// oracle is the real fwknopd and our server, both in namespace B with
// the same access.conf, fwknopd on UDP 62201 and ours on 62202, each
// touching files in its own directory from CMD_CYCLE_OPEN.
type oracle struct {
	t          *testing.T
	p          *porttest.Pair
	dir        string
	ours, fwkd string // the directories their commands write to
	ourLog     *porttest.LogBuffer
	fwkdLog    *porttest.LogBuffer

	mu     sync.Mutex
	grants []spa.Grant // ours, in order
}

func (o *oracle) ourGrants() []spa.Grant {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.grants)
}

const ourPort = spa.DefaultPort + 1

// newOracle starts both with the access.conf made by conf from the
// directory the commands must write to (the same text otherwise).
func newOracle(t *testing.T, p *porttest.Pair, conf func(dir string) string) *oracle {
	return newOracleMode(t, p, conf, false)
}

// newOracleMode is newOracle with fwknopd sniffing (pcap) instead of
// running its UDP server: fwknopd knows the packet's destination ($DST)
// only then.
func newOracleMode(t *testing.T, p *porttest.Pair, conf func(dir string) string, pcap bool) *oracle {
	t.Helper()
	fwknopd := porttest.LookTool(t, "fwknopd", "fwknop-server")
	o := &oracle{t: t, p: p, dir: t.TempDir()}
	o.ours, o.fwkd = filepath.Join(o.dir, "ours"), filepath.Join(o.dir, "fwknopd")
	run := filepath.Join(o.dir, "run")
	for _, d := range []string{o.ours, o.fwkd, run} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, s string) string {
		path := filepath.Join(o.dir, name)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	server := fmt.Sprintf("ENABLE_UDP_SERVER Y;\nUDPSERV_PORT %d;\n", spa.DefaultPort)
	ready := "Kicking off UDP server"
	if pcap {
		server, ready = fmt.Sprintf("PCAP_FILTER udp dst port %d;\n", spa.DefaultPort), "Starting fwknopd"
	}
	fconf := write("fwknopd.conf", fmt.Sprintf("PCAP_INTF %s;\n%sFWKNOP_RUN_DIR %s;\n", p.B.Link, server, run))
	facc := write("access-fwknopd.conf", conf(o.fwkd))
	args := []string{"-f", "-c", fconf, "-a", facc, "-d", filepath.Join(run, "digest.cache"), "-p", filepath.Join(run, "fwknopd.pid")}
	if !pcap {
		args = append(args, "-U")
	}
	o.fwkdLog = p.B.Start(t, fwknopd, args...)

	access, err := spa.ParseAccessFile(strings.NewReader(conf(o.ours)), "access.conf")
	if err != nil {
		t.Fatal(err)
	}
	o.ourLog = &porttest.LogBuffer{}
	srv, err := spa.NewServer(spa.ServerConfig{Access: access, Logger: slog.New(slog.NewTextHandler(o.ourLog, nil)),
		OnGrant: func(g spa.Grant) { o.mu.Lock(); o.grants = append(o.grants, g); o.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.B.ListenPacket("udp4", netip.AddrPortFrom(p.B.Addr4, ourPort).String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, conn); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	porttest.WaitFor(t, "fwknopd to listen", func() bool { return strings.Contains(o.fwkdLog.String(), ready) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fwknopd said:\n%s\nours said:\n%s", o.fwkdLog, o.ourLog)
		}
	})
	return o
}

// fwknop runs the real fwknop client in A, once for each server, with
// args (which must give the address: -a or -s).
func (o *oracle) fwknop(args ...string) {
	o.t.Helper()
	fwknop := porttest.LookTool(o.t, "fwknop", "fwknop-client")
	for _, port := range []int{spa.DefaultPort, ourPort} {
		a := append([]string{"-D", o.p.B.Addr4.String(), "-p", fmt.Sprint(port), "--no-save-args",
			"--rc-file", filepath.Join(o.dir, "fwknoprc")}, args...)
		cmd := o.p.A.Command(context.Background(), fwknop, a...)
		cmd.Env = append(os.Environ(), "HOME="+o.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			o.t.Fatalf("fwknop %s: %v: %s", strings.Join(a, " "), err, out)
		}
	}
}

// waitBoth waits for the file name to be made by both servers.
func (o *oracle) waitBoth(name string) {
	o.t.Helper()
	porttest.WaitFor(o.t, "fwknopd and ours to make "+name, func() bool {
		return porttest.Exists(filepath.Join(o.fwkd, name)) && porttest.Exists(filepath.Join(o.ours, name))
	})
}

// same checks that both servers made the same files, and that these
// are want.
func (o *oracle) same(want ...string) {
	o.t.Helper()
	list := func(d string) []string {
		es, _ := os.ReadDir(d)
		var s []string
		for _, e := range es {
			s = append(s, e.Name())
		}
		return s
	}
	slices.Sort(want)
	if f, ours := list(o.fwkd), list(o.ours); !slices.Equal(f, ours) || !slices.Equal(f, want) {
		o.t.Errorf("fwknopd ran its commands for %q, ours for %q; want %q", f, ours, want)
	}
}

// TestIntegrationStanzasSharingKeys: with stanzas that share keys and
// differ by REQUIRE_USERNAME, REQUIRE_SOURCE_ADDRESS and SOURCE, a packet
// that one stanza refuses is tried on the next, as fwknopd does; ours
// grants what fwknopd grants for the real fwknop client's packets,
// stanza by stanza.
//
// (fwknopd skips OPEN_PORTS for a stanza with CMD_CYCLE_OPEN, so a port
// refusal is not among the cases: ours checks OPEN_PORTS always.)
func TestIntegrationStanzasSharingKeys(t *testing.T) {
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	k := fmt.Sprintf("OPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 10\n", b64(keys.Enc), b64(keys.HMAC))
	a := p.A.Addr4.String()
	o := newOracle(t, p, func(dir string) string {
		return "SOURCE ANY\nREQUIRE_USERNAME alice\nREQUIRE_SOURCE_ADDRESS Y\n" + k + "CMD_CYCLE_OPEN /usr/bin/touch " + dir + "/s1-$SRC-$PORT\n\n" +
			"SOURCE ANY\nREQUIRE_USERNAME bob\n" + k + "CMD_CYCLE_OPEN /usr/bin/touch " + dir + "/s2-$SRC-$PORT\n\n" +
			"SOURCE " + a + "\nREQUIRE_USERNAME dave\n" + k + "CMD_CYCLE_OPEN /usr/bin/touch " + dir + "/s3-$SRC-$PORT\n"
	})
	send := func(user string, allow ...string) {
		o.fwknop(append([]string{"-A", "tcp/22", "--spoof-user", user,
			"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC)}, allow...)...)
	}
	send("alice", "-a", "127.0.0.1")
	o.waitBoth("s1-127.0.0.1-22")
	send("bob", "-a", "127.0.0.2") // s1 refuses the user
	o.waitBoth("s2-127.0.0.2-22")
	send("carol", "-a", "127.0.0.4") // every stanza refuses the user
	send("alice", "-s")              // s1 refuses 0.0.0.0, s2 and s3 the user
	send("dave", "-s")               // s1 and s2 refuse the user, s3 (A's address only) grants; after carol's
	o.waitBoth("s3-" + a + "-22")
	o.same("s1-127.0.0.1-22", "s2-127.0.0.2-22", "s3-"+a+"-22")
	for _, want := range []string{`user \"carol\" is not \"alice\"`, `user \"carol\" is not \"bob\"`, `user \"carol\" is not \"dave\"`} {
		if !strings.Contains(o.ourLog.String(), want) {
			t.Errorf("our refusal of carol's packet does not say %q:\n%s", want, o.ourLog)
		}
	}
}

var allDigests = []string{"MD5", "SHA1", "SHA256", "SHA384", "SHA512", "SHA3_256", "SHA3_512"}

// TestIntegrationDigestTypes: the real fwknop client's packets with each
// --digest-type and each --hmac-digest-type are granted by fwknopd and
// by ours alike (one stanza per HMAC_DIGEST_TYPE, sharing the keys), and
// our packets of each type are granted by fwknopd.
func TestIntegrationDigestTypes(t *testing.T) {
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	o := newOracle(t, p, func(dir string) string {
		var b strings.Builder
		for _, h := range allDigests {
			fmt.Fprintf(&b, "SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nHMAC_DIGEST_TYPE %s\n"+
				"CMD_CYCLE_OPEN /usr/bin/touch %s/hmac-%s-$SRC\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 10\n\n",
				b64(keys.Enc), b64(keys.HMAC), h, dir, h)
		}
		return b.String()
	})
	var want []string
	n := 0
	for _, d := range allDigests {
		for _, h := range allDigests {
			if d != "SHA256" && h != "SHA256" {
				continue // each type once, with the other at its default
			}
			n++
			allow := fmt.Sprintf("127.0.1.%d", n)
			o.fwknop("-A", "tcp/22", "-a", allow, "--digest-type", d, "--hmac-digest-type", h,
				"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC))
			name := "hmac-" + h + "-" + allow
			o.waitBoth(name)
			want = append(want, name)
		}
	}
	o.same(want...)
	if !strings.Contains(o.ourLog.String(), "SPA packet accepted") || strings.Contains(o.ourLog.String(), "rejected") {
		t.Errorf("our log:\n%s", o.ourLog)
	}

	// Ours to fwknopd.
	to := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	for _, d := range allDigests {
		for _, h := range allDigests {
			if d != "SHA256" && h != "SHA256" {
				continue
			}
			n++
			dt, _ := spa.ParseDigestType(d)
			ht, _ := spa.ParseDigestType(h)
			allow := fmt.Sprintf("127.0.1.%d", n)
			k := keys
			k.HMACType = ht
			pkt, err := spa.Encode(&spa.Message{User: "u", Type: spa.AccessMsg, Access: allow + ",tcp/22", DigestType: dt}, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.A.Do(func() error { return spa.Send(context.Background(), to, pkt) }); err != nil {
				t.Fatal(err)
			}
			name := "hmac-" + h + "-" + allow
			porttest.WaitFor(t, "fwknopd to grant our "+d+"/HMAC-"+h+" packet", func() bool { return porttest.Exists(filepath.Join(o.fwkd, name)) })
		}
	}
}

// TestIntegrationClientTimeout: the access lasts the client's
// --fw-timeout, longer or shorter than FW_ACCESS_TIMEOUT, up to
// MAX_FW_TIMEOUT, as fwknopd grants it (its own iptables rules, in the
// namespace: the expiry it logs, within a second and the time it took).
func TestIntegrationClientTimeout(t *testing.T) {
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	o := newOracle(t, p, func(string) string {
		return fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nFW_ACCESS_TIMEOUT 30\nMAX_FW_TIMEOUT 100\n", b64(keys.Enc), b64(keys.HMAC))
	})
	expires := regexp.MustCompile(`Added access rule to FWKNOP_INPUT for (\S+) .*expires at (\d+)`)
	for i, tc := range []struct {
		fwTimeout string
		want      time.Duration
	}{
		{"", 30 * time.Second},
		{"10", 10 * time.Second},
		{"60", 60 * time.Second},
		{"500", 100 * time.Second},
	} {
		allow := fmt.Sprintf("127.0.2.%d", i+1)
		args := []string{"-A", "tcp/22", "-a", allow, "--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC)}
		if tc.fwTimeout != "" {
			args = append(args, "--fw-timeout", tc.fwTimeout)
		}
		sent := time.Now()
		o.fwknop(args...)
		var fwkd, late time.Duration // fwknopd's expiry from sent; how long after sent it was seen
		porttest.WaitFor(t, "fwknopd's rule for "+allow, func() bool {
			for _, m := range expires.FindAllStringSubmatch(o.fwkdLog.String(), -1) {
				if m[1] == allow {
					at, _ := strconv.ParseInt(m[2], 10, 64)
					fwkd, late = time.Unix(at, 0).Sub(sent), time.Since(sent)
					return true
				}
			}
			return false
		})
		var ours time.Duration
		porttest.WaitFor(t, "our grant for "+allow, func() bool {
			for _, g := range o.ourGrants() {
				if g.AllowIP.String() == allow {
					ours = g.Timeout
					return true
				}
			}
			return false
		})
		// fwknopd's expiry is its clock (in whole seconds) when it took
		// the packet, between sent and late, plus its timeout.
		if fwkd < tc.want-time.Second || fwkd > tc.want+late+time.Second {
			t.Errorf("--fw-timeout %q: fwknopd granted about %v, the test expected %v", tc.fwTimeout, fwkd.Round(time.Second), tc.want)
		}
		if ours != tc.want {
			t.Errorf("--fw-timeout %q: ours granted %v, fwknopd about %v", tc.fwTimeout, ours, fwkd.Round(time.Second))
		}

		// Our packet with the same client timeout, to fwknopd.
		allow = fmt.Sprintf("127.0.3.%d", i+1)
		m := spa.Message{User: "u", Type: spa.AccessMsg, Access: allow + ",tcp/22"}
		if tc.fwTimeout != "" {
			m.Type, m.ClientTimeout = spa.ClientTimeoutAccessMsg, int(tc.want/time.Second)
			if tc.want == 100*time.Second {
				m.ClientTimeout = 500
			}
		}
		// Before Encode: fwknopd may count from the packet's timestamp,
		// in whole seconds, which must not be before sent.
		sent = time.Now()
		pkt, err := spa.Encode(&m, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.A.Do(func() error {
			return spa.Send(context.Background(), netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort), pkt)
		}); err != nil {
			t.Fatal(err)
		}
		porttest.WaitFor(t, "fwknopd's rule for our "+allow, func() bool {
			for _, m := range expires.FindAllStringSubmatch(o.fwkdLog.String(), -1) {
				if m[1] == allow {
					at, _ := strconv.ParseInt(m[2], 10, 64)
					fwkd, late = time.Unix(at, 0).Sub(sent), time.Since(sent)
					return true
				}
			}
			return false
		})
		if fwkd < tc.want-time.Second || fwkd > tc.want+late+time.Second {
			t.Errorf("our client timeout %d: fwknopd granted about %v, want %v", m.ClientTimeout, fwkd.Round(time.Second), tc.want)
		}
	}
}

// TestIntegrationCommandCycle: CMD_CYCLE_OPEN and CMD_CYCLE_CLOSE run
// with the values fwknopd gives $SRC, $PKT_SRC, $DST, $PORT, $PROTO,
// $TIMEOUT and $CLIENT_TIMEOUT for the same packet of the real fwknop
// client (sent to fwknopd, then to ours), once for the first port of
// the request, the close command no sooner than the client's timeout.
func TestIntegrationCommandCycle(t *testing.T) {
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	vars := "$SRC_$PKT_SRC_$DST_$PORT_$PROTO_$TIMEOUT_$CLIENT_TIMEOUT"
	o := newOracleMode(t, p, func(dir string) string {
		return fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22,udp/53\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nCMD_CYCLE_TIMER 20\nFW_ACCESS_TIMEOUT 40\n"+
			"CMD_CYCLE_OPEN /usr/bin/touch %s/open_%s\nCMD_CYCLE_CLOSE /usr/bin/touch %s/close_%s\n",
			b64(keys.Enc), b64(keys.HMAC), dir, vars, dir, vars)
	}, true)
	for i, extra := range [][]string{{"-a", "127.0.4.1"}, {"-s", "--fw-timeout", "2"}} {
		pktFile := filepath.Join(o.dir, fmt.Sprintf("pkt%d", i))
		args := append([]string{"-A", "tcp/22,udp/53", "-D", p.B.Addr4.String(), "--no-save-args", "--rc-file", filepath.Join(o.dir, "fwknoprc"),
			"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--save-packet", pktFile}, extra...)
		cmd := p.A.Command(context.Background(), fwknop, args...)
		cmd.Env = append(os.Environ(), "HOME="+o.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fwknop: %v: %s", err, out)
		}
		saved, err := os.ReadFile(pktFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.A.Do(func() error {
			return spa.Send(context.Background(), netip.AddrPortFrom(p.B.Addr4, ourPort), strings.TrimSpace(string(saved)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(d, prefix string) []string {
		es, _ := os.ReadDir(d)
		var s []string
		for _, e := range es {
			if strings.HasPrefix(e.Name(), prefix) {
				s = append(s, e.Name())
			}
		}
		return s
	}
	porttest.WaitFor(t, "both open commands of both servers", func() bool {
		return len(list(o.fwkd, "open_")) == 2 && len(list(o.ours, "open_")) == 2
	})
	porttest.WaitFor(t, "the close command after the 2 s client timeout, on both", func() bool {
		return len(list(o.fwkd, "close_")) == 1 && len(list(o.ours, "close_")) == 1
	})
	for _, prefix := range []string{"open_", "close_"} {
		if f, ours := list(o.fwkd, prefix), list(o.ours, prefix); !slices.Equal(f, ours) {
			t.Errorf("fwknopd ran %q, ours %q", f, ours)
		}
	}
	want := fmt.Sprintf("open_%s_%s_%s_22_6_", p.A.Addr4, p.A.Addr4, p.B.Addr4)
	if got := list(o.ours, want); len(got) != 1 || !strings.HasSuffix(got[0], "_2") {
		t.Errorf("our -s packet's open command: %q, want %s..._2", list(o.ours, "open_"), want)
	}
	for _, d := range []string{o.fwkd, o.ours} {
		open, _ := os.Stat(filepath.Join(d, strings.Replace(list(d, "close_")[0], "close_", "open_", 1)))
		closed, _ := os.Stat(filepath.Join(d, list(d, "close_")[0]))
		if open == nil || closed == nil || closed.ModTime().Sub(open.ModTime()) < time.Second {
			t.Errorf("%s: the close command ran less than the client timeout after the open one", d)
		}
	}
}

// TestIntegrationTCPAndHTTP: the real fwknop client's packets over TCP
// (-P tcp) and HTTP (-P http) are received by our TCP server (ServeTCP)
// and granted, as fwknopd grants them with ENABLE_TCP_SERVER and
// ENABLE_SPA_OVER_HTTP; an HTTP request that is not fwknop's is refused
// with a log line.
func TestIntegrationTCPAndHTTP(t *testing.T) {
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	fwknopd := porttest.LookTool(t, "fwknopd", "fwknop-server")
	dir := t.TempDir()
	ours, fwkd := filepath.Join(dir, "ours"), filepath.Join(dir, "fwknopd")
	os.Mkdir(ours, 0o700)
	os.Mkdir(fwkd, 0o700)
	conf := func(d string) string {
		return fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nCMD_CYCLE_OPEN /usr/bin/touch %s/open-$SRC\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 10\n",
			b64(keys.Enc), b64(keys.HMAC), d)
	}
	// fwknopd: its TCP server only accepts; its sniffer reads the data.
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o700)
	fconf := filepath.Join(dir, "fwknopd.conf")
	facc := filepath.Join(dir, "access-fwknopd.conf")
	os.WriteFile(fconf, []byte(fmt.Sprintf("PCAP_INTF %s;\nENABLE_TCP_SERVER Y;\nTCPSERV_PORT %d;\nENABLE_SPA_OVER_HTTP Y;\nPCAP_FILTER tcp dst port %d;\nFWKNOP_RUN_DIR %s;\n",
		p.B.Link, spa.DefaultPort, spa.DefaultPort, run)), 0o600)
	os.WriteFile(facc, []byte(conf(fwkd)), 0o600)
	flog := p.B.Start(t, fwknopd, "-f", "-c", fconf, "-a", facc, "-d", filepath.Join(run, "digest.cache"), "-p", filepath.Join(run, "fwknopd.pid"))

	access, err := spa.ParseAccessFile(strings.NewReader(conf(ours)), "access.conf")
	if err != nil {
		t.Fatal(err)
	}
	logs := &porttest.LogBuffer{}
	srv, err := spa.NewServer(spa.ServerConfig{Access: access, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := p.B.Listen("tcp4", netip.AddrPortFrom(p.B.Addr4, ourPort).String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.ServeTCP(ctx, ln); close(done) }()
	defer func() { cancel(); <-done; srv.Close() }()
	porttest.WaitFor(t, "fwknopd to sniff", func() bool { return strings.Contains(flog.String(), "main event loop") })
	defer func() {
		if t.Failed() {
			t.Logf("fwknopd said:\n%s\nours said:\n%s", flog, logs)
		}
	}()
	for i, proto := range []string{"tcp", "http"} {
		allow := fmt.Sprintf("127.0.5.%d", i+1)
		for _, port := range []int{spa.DefaultPort, ourPort} {
			cmd := p.A.Command(context.Background(), fwknop, "-P", proto, "-A", "tcp/22", "-a", allow, "-D", p.B.Addr4.String(), "-p", fmt.Sprint(port),
				"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"))
			cmd.Env = append(os.Environ(), "HOME="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("fwknop -P %s: %v: %s", proto, err, out)
			}
		}
		porttest.WaitFor(t, "fwknopd and ours to grant the -P "+proto+" packet", func() bool {
			return porttest.Exists(filepath.Join(fwkd, "open-"+allow)) && porttest.Exists(filepath.Join(ours, "open-"+allow))
		})
	}
	// Not fwknop's HTTP request: refused with a line.
	if err := p.A.Do(func() error {
		c, err := net.Dial("tcp4", netip.AddrPortFrom(p.B.Addr4, ourPort).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("GET /index.html HTTP/1.0\r\nUser-Agent: curl\r\n\r\n"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	porttest.WaitFor(t, "the refusal", func() bool { return strings.Contains(logs.String(), "an HTTP request without fwknop's User-Agent") })
}

// TestIntegrationICMPSniffed: the real fwknop client's packet in an ICMP
// message (-P icmp: an echo reply) is granted by our sniffer with SniffICMP, as by
// fwknopd sniffing with PCAP_FILTER icmp; a plain ping is ignored
// without a line.
func TestIntegrationICMPSniffed(t *testing.T) {
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	fwknopd := porttest.LookTool(t, "fwknopd", "fwknop-server")
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o700)
	fconf := filepath.Join(dir, "fwknopd.conf")
	facc := filepath.Join(dir, "access.conf")
	os.WriteFile(fconf, []byte(fmt.Sprintf("PCAP_INTF %s;\nPCAP_FILTER icmp;\nFWKNOP_RUN_DIR %s;\n", p.B.Link, run)), 0o600)
	os.WriteFile(facc, []byte(fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nCMD_CYCLE_OPEN /usr/bin/touch %s/fwknopd-$SRC\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 10\n",
		b64(keys.Enc), b64(keys.HMAC), dir)), 0o600)
	flog := p.B.Start(t, fwknopd, "-f", "-c", fconf, "-a", facc, "-d", filepath.Join(run, "digest.cache"), "-p", filepath.Join(run, "fwknopd.pid"))

	grants := make(chan spa.Grant, 4)
	logs := &porttest.LogBuffer{}
	srv, err := spa.NewServer(spa.ServerConfig{
		Access:    []spa.Stanza{{OpenPorts: []spa.PortSpec{{Proto: 6, Port: 22}}, Keys: keys}},
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
		OnGrant:   func(g spa.Grant) { grants <- g },
		SniffICMP: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.B.Do(func() error { return srv.Sniff(ctx, p.B.Link, spa.DefaultPort) }) }()
	defer func() { cancel(); <-done }()
	porttest.WaitFor(t, "the sniffers", func() bool {
		return strings.Contains(logs.String(), "sniffing SPA packets on "+p.B.Link) && strings.Contains(flog.String(), "main event loop")
	})
	// A plain ping first (an echo request with non-base64 data).
	if err := p.A.Do(func() error {
		c, err := icmp.ListenPacket("ip4:icmp", p.A.Addr4.String())
		if err != nil {
			return err
		}
		defer c.Close()
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 7, Seq: 1, Data: []byte(strings.Repeat("ping!", 20))}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		_, err = c.WriteTo(b, &net.IPAddr{IP: p.B.Addr4.AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cmd := p.A.Command(context.Background(), fwknop, "-P", "icmp", "-A", "tcp/22", "-a", "127.0.6.1", "-D", p.B.Addr4.String(),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop -P icmp: %v: %s", err, out)
	}
	select {
	case g := <-grants:
		if g.AllowIP.String() != "127.0.6.1" || g.PacketSrc.Addr() != p.A.Addr4 {
			t.Errorf("grant %+v", g)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no grant; log:\n%s\nfwknopd:\n%s", logs, flog)
	}
	porttest.WaitFor(t, "fwknopd to grant it too", func() bool { return porttest.Exists(filepath.Join(dir, "fwknopd-127.0.6.1")) })
	if strings.Contains(logs.String(), "rejected") {
		t.Errorf("the ping got a line:\n%s", logs)
	}
}

// TestIntegrationEncryptionModes: the real fwknop client's packets in
// each -M mode that works with an HMAC are granted by fwknopd and ours
// alike (one stanza per ENCRYPTION_MODE, sharing the keys), and our
// packets of each mode by fwknopd.
func TestIntegrationEncryptionModes(t *testing.T) {
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	modes := []string{"CBC", "ECB", "CFB", "OFB", "CTR"}
	o := newOracle(t, p, func(dir string) string {
		var b strings.Builder
		for _, m := range modes {
			fmt.Fprintf(&b, "SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nENCRYPTION_MODE %s\n"+
				"CMD_CYCLE_OPEN /usr/bin/touch %s/mode-%s-$SRC\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 10\n\n",
				b64(keys.Enc), b64(keys.HMAC), m, dir, m)
		}
		return b.String()
	})
	var want []string
	for i, m := range modes {
		allow := fmt.Sprintf("127.0.8.%d", i+1)
		o.fwknop("-A", "tcp/22", "-a", allow, "-M", strings.ToLower(m), "--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC))
		name := "mode-" + m + "-" + allow
		o.waitBoth(name)
		want = append(want, name)
	}
	o.same(want...)
	to := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	for i, m := range modes {
		allow := fmt.Sprintf("127.0.9.%d", i+1)
		k := keys
		var err error
		if k.Mode, err = spa.ParseEncryptionMode(m); err != nil {
			t.Fatal(err)
		}
		pkt, err := spa.Encode(&spa.Message{User: "u", Type: spa.AccessMsg, Access: allow + ",tcp/22"}, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.A.Do(func() error { return spa.Send(context.Background(), to, pkt) }); err != nil {
			t.Fatal(err)
		}
		porttest.WaitFor(t, "fwknopd to grant our "+m+" packet", func() bool { return porttest.Exists(filepath.Join(o.fwkd, "mode-"+m+"-"+allow)) })
	}
}
