package spa_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// spaServer runs our SPA server in namespace B on B.Addr4:62201.
type spaServer struct {
	logs *porttest.LogBuffer
	stop func()
}

func startServer(t *testing.T, p *porttest.Pair, access []spa.Stanza, cacheFile string) *spaServer {
	t.Helper()
	replay, err := spa.OpenReplayCache(cacheFile, 0)
	if err != nil {
		t.Fatal(err)
	}
	logs := &porttest.LogBuffer{}
	srv, err := spa.NewServer(spa.ServerConfig{Access: access, Replay: replay, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.B.ListenPacket("udp4", netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort).String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		srv.Serve(ctx, conn)
		close(done)
	}()
	return &spaServer{logs: logs, stop: func() {
		cancel()
		<-done
		srv.Close()
		replay.Close()
	}}
}

// TestIntegrationFwknopOpensOurServer: the real fwknop client opens
// access on our server; then replays (also after a restart), a stale
// timestamp, a bad HMAC and a port not allowed are refused with a
// log line saying why.
func TestIntegrationFwknopOpensOurServer(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	accessConf := fmt.Sprintf(`# access.conf for the test
SOURCE          %s
OPEN_PORTS      tcp/22
KEY_BASE64      %s
HMAC_KEY_BASE64 %s
FW_ACCESS_TIMEOUT 30
CMD_CYCLE_OPEN  /usr/bin/touch %s/spa-$IP-$PROTO-$PORT
CMD_CYCLE_CLOSE NONE
`, p.Prefix4, b64(keys.Enc), b64(keys.HMAC), dir)
	access, err := spa.ParseAccessFile(strings.NewReader(accessConf), "access.conf")
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "digest.cache")
	s := startServer(t, p, access, cache)
	defer func() { s.stop() }()

	pktFile := filepath.Join(dir, "fwknop.pkt")
	cmd := p.A.Command(context.Background(), fwknop, "-A", "tcp/22", "-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC),
		"--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"), "--save-packet", pktFile)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	opened := filepath.Join(dir, "spa-"+p.A.Addr4.String()+"-6-22")
	porttest.WaitFor(t, "the CMD_CYCLE_OPEN command", func() bool { return porttest.Exists(opened) })
	if !strings.Contains(s.logs.String(), "SPA packet accepted") {
		t.Errorf("log:\n%s", s.logs)
	}
	saved, err := os.ReadFile(pktFile)
	if err != nil {
		t.Fatal(err)
	}
	packet := strings.TrimSpace(string(saved))

	sendFromA := func(pkt string) {
		t.Helper()
		err := p.A.Do(func() error {
			return spa.Send(context.Background(), netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort), pkt)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	expectReject := func(what, pkt, reason string) {
		t.Helper()
		before := strings.Count(s.logs.String(), reason)
		sendFromA(pkt)
		porttest.WaitFor(t, what+": log "+reason, func() bool { return strings.Count(s.logs.String(), reason) > before })
	}

	expectReject("replay", packet, "rejected: spa: replayed packet")
	s.stop()
	s = startServer(t, p, access, cache)
	expectReject("replay after a restart", packet, "rejected: spa: replayed packet")

	mk := func(m spa.Message, k spa.Keys) string {
		pkt, err := spa.Encode(&m, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		return pkt
	}
	req := "," + "tcp/22"
	stale := mk(spa.Message{User: "t", Type: spa.AccessMsg, Access: p.A.Addr4.String() + req, Timestamp: time.Now().Add(-10 * time.Minute).Unix()}, keys)
	expectReject("stale timestamp", stale, "rejected: spa: timestamp out of range")
	good := mk(spa.Message{User: "t", Type: spa.AccessMsg, Access: "198.18.255.254" + req}, keys)
	bad := []byte(good)
	if bad[len(bad)-3] == 'A' { // another base64 letter: only the HMAC is wrong
		bad[len(bad)-3] = 'B'
	} else {
		bad[len(bad)-3] = 'A'
	}
	expectReject("bad HMAC", string(bad), "rejected: spa: bad HMAC")
	other, _ := spa.GenerateKeys(nil)
	expectReject("wrong keys", mk(spa.Message{User: "t", Type: spa.AccessMsg, Access: "198.18.255.254" + req}, other), "rejected: spa: bad HMAC")
	expectReject("port not allowed", mk(spa.Message{User: "t", Type: spa.AccessMsg, Access: "198.18.255.254,tcp/23"}, keys),
		"rejected: spa: access not allowed: tcp/23 is not in OPEN_PORTS")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "spa-") && e.Name() != filepath.Base(opened) {
			t.Errorf("a rejected packet ran the command: %s", e.Name())
		}
	}
	// The good packet, sent as is, is accepted (the HMAC flip was the
	// only thing wrong with the other).
	sendFromA(good)
	porttest.WaitFor(t, "the good packet", func() bool { return porttest.Exists(filepath.Join(dir, "spa-198.18.255.254-6-22")) })
}

// TestIntegrationOurSPAOpensFwknopd: our packets are accepted by the real
// fwknopd (UDP server mode, CMD_CYCLE_OPEN instead of a firewall).
func TestIntegrationOurSPAOpensFwknopd(t *testing.T) {
	fwknopd := porttest.LookTool(t, "fwknopd", "fwknop-server")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	keys, _ := spa.GenerateKeys(nil)
	conf := filepath.Join(dir, "fwknopd.conf")
	access := filepath.Join(dir, "access.conf")
	write := func(name, s string) {
		if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(conf, fmt.Sprintf("PCAP_INTF %s;\nENABLE_UDP_SERVER Y;\nUDPSERV_PORT %d;\nFWKNOP_RUN_DIR %s;\n", p.B.Link, spa.DefaultPort, run))
	write(access, fmt.Sprintf(`SOURCE ANY
REQUIRE_SOURCE_ADDRESS Y
KEY_BASE64 %s
HMAC_KEY_BASE64 %s
CMD_CYCLE_OPEN /usr/bin/touch %s/fw-$IP-$PROTO-$PORT
CMD_CYCLE_CLOSE NONE
CMD_CYCLE_TIMER 10
`, b64(keys.Enc), b64(keys.HMAC), dir))
	out := p.B.Start(t, fwknopd, "-f", "-U", "-c", conf, "-a", access,
		"-d", filepath.Join(run, "digest.cache"), "-p", filepath.Join(run, "fwknopd.pid"))
	porttest.WaitFor(t, "fwknopd to listen", func() bool { return strings.Contains(out.String(), "Kicking off UDP server") })

	to := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	send := func(m spa.Message) {
		t.Helper()
		pkt, err := spa.Encode(&m, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.A.Do(func() error { return spa.Send(context.Background(), to, pkt) }); err != nil {
			t.Fatal(err)
		}
	}
	a := p.A.Addr4.String()
	defer func() {
		if t.Failed() {
			t.Logf("fwknopd said:\n%s", out.String())
		}
	}()
	send(spa.Message{User: "alice", Type: spa.AccessMsg, Access: a + ",tcp/22"})
	porttest.WaitFor(t, "fwknopd to accept our access request", func() bool { return porttest.Exists(filepath.Join(dir, "fw-"+a+"-6-22")) })
	send(spa.Message{User: "alice", Type: spa.ClientTimeoutAccessMsg, Access: a + ",udp/53", ClientTimeout: 45})
	porttest.WaitFor(t, "fwknopd to accept our client-timeout request", func() bool { return porttest.Exists(filepath.Join(dir, "fw-"+a+"-17-53")) })
}

// TestIntegrationFwknopSniffed: with no socket on the port, our server
// sniffing B's veth accepts the real fwknop client's packet.
func TestIntegrationFwknopSniffed(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	grants := make(chan spa.Grant, 1)
	logs := &porttest.LogBuffer{}
	srv, err := spa.NewServer(spa.ServerConfig{
		Access:  []spa.Stanza{{OpenPorts: []spa.PortSpec{{Proto: 6, Port: 22}}, Keys: keys}},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		OnGrant: func(g spa.Grant) { grants <- g },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.B.Do(func() error { return srv.Sniff(ctx, p.B.Link, spa.DefaultPort) }) }()
	defer func() {
		cancel()
		<-done
	}()
	porttest.WaitFor(t, "the sniffer", func() bool { return strings.Contains(logs.String(), "sniffing SPA packets on "+p.B.Link) })
	cmd := p.A.Command(context.Background(), fwknop, "-A", "tcp/22", "-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC),
		"--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	select {
	case g := <-grants:
		if g.AllowIP != p.A.Addr4 || g.PacketSrc.Addr() != p.A.Addr4 {
			t.Errorf("grant %+v", g)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no grant; log:\n%s", logs)
	}
}
