package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// lockedBuffer is a goroutine-safe output sink.
type lockedBuffer = porttest.LogBuffer

// TestIntegrationKnockdSPANftSet runs `ports knockd --spa --nft-set` in
// namespace B; an SPA packet from A adds A's address to the nftables set,
// with the stanza's access timeout.
func TestIntegrationKnockdSPANftSet(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", t.TempDir()) // the default digest file
	p := porttest.NewPair(t, nil)
	for _, args := range [][]string{
		{"add", "table", "inet", "knocktest"},
		{"add", "set", "inet", "knocktest", "knocked", "{ type ipv4_addr; flags timeout; }"},
	} {
		if out, err := p.B.Command(context.Background(), "nft", args...).CombinedOutput(); err != nil {
			t.Skipf("needs nft: %v: %s", err, out)
		}
	}
	keys, _ := spa.GenerateKeys(nil)
	access := filepath.Join(t.TempDir(), "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE %s\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nFW_ACCESS_TIMEOUT 600\nMAX_FW_TIMEOUT 600\n",
		p.Prefix4, base64.StdEncoding.EncodeToString(keys.Enc), base64.StdEncoding.EncodeToString(keys.HMAC))), 0o600)

	listen := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	stderr, waitUntil := startInNetns(t, p.B, "knockd", "--spa", "-c", access, "--listen", listen.String(), "--nft-set", "inet/knocktest/knocked")
	waitUntil("knockd to listen", func() bool { return strings.Contains(stderr.String(), "receiving SPA packets") })
	pkt, err := spa.Encode(&spa.Message{User: "u", Type: spa.AccessMsg, Access: p.A.Addr4.String() + ",tcp/22"}, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.A.Do(func() error { return spa.Send(t.Context(), listen, pkt) }); err != nil {
		t.Fatal(err)
	}
	waitUntil("the address in the set", func() bool {
		out, _ := p.B.Command(context.Background(), "nft", "list", "set", "inet", "knocktest", "knocked").CombinedOutput()
		return strings.Contains(string(out), p.A.Addr4.String()+" timeout 10m")
	})
}

// TestIntegrationKnockdCommand runs `ports knockd -c FILE -i IFACE` in
// namespace B; `ports knock` from A opens the door, whose command runs
// with A's address, and the LogFile of the configuration gets the lines;
// then SIGHUP brings in a new file.
func TestIntegrationKnockdCommand(t *testing.T) {
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	conf := filepath.Join(dir, "knockd.conf")
	logFile := filepath.Join(dir, "knockd.log")
	os.WriteFile(conf, []byte(fmt.Sprintf(`[options]
	LogFile = %[1]s
[openSSH]
	Sequence      = 7000,8000:udp,9000
	TCPFlags      = syn,!ack
	Start_Command = /usr/bin/touch "%[2]s/open %%IP%%"
`, logFile, dir)), 0o600)
	stderr, waitUntil := startInNetns(t, p.B, "knockd", "-c", conf, "-i", p.B.Link)
	waitUntil("knockd to listen", func() bool { return strings.Contains(stderr.String(), "listening on "+p.B.Link+" (filter:") })
	var kout, kerr lockedBuffer
	var code int
	p.A.Do(func() error {
		code = Run(t.Context(), []string{"knock", "-v", p.B.Addr4.String(), "7000", "8000:udp", "9000"}, &kout, &kerr)
		return nil
	})
	if code != 0 {
		t.Fatalf("ports knock: exit %d: %s", code, kerr.String())
	}
	t.Logf("knock said: %s", kout.String())
	opened := filepath.Join(dir, "open "+p.A.Addr4.String())
	waitUntil("the start command", func() bool { _, err := os.Stat(opened); return err == nil })
	logged, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logged), p.A.Addr4.String()+": openSSH: OPEN SESAME") {
		t.Errorf("LogFile has:\n%s", logged)
	}

	// SIGHUP reloads the file: the old sequence opens nothing any more,
	// the new one opens the new door, and the socket's filter follows.
	os.WriteFile(conf, []byte(fmt.Sprintf(`[options]
	LogFile = %[1]s
[second]
	Sequence      = 7100,7200:udp
	Start_Command = /usr/bin/touch "%[2]s/second %%IP%%"
`, logFile, dir)), 0o600)
	if err := sendHUP(); err != nil {
		t.Skipf("SIGHUP: %v", err)
	}
	waitUntil("the reload", func() bool { return strings.Contains(stderr.String(), "reloaded the configuration: 1 doors") })
	waitUntil("the new filter", func() bool { return strings.Contains(stderr.String(), "port 7100") })
	for _, seq := range [][]string{{"7000", "8000:udp", "9000"}, {"7100", "7200:udp"}} {
		p.A.Do(func() error {
			code = Run(t.Context(), append([]string{"knock", p.B.Addr4.String()}, seq...), &kout, &kerr)
			return nil
		})
		if code != 0 {
			t.Fatalf("ports knock %v: exit %d: %s", seq, code, kerr.String())
		}
	}
	waitUntil("the new door's command", func() bool {
		_, err := os.Stat(filepath.Join(dir, "second "+p.A.Addr4.String()))
		return err == nil
	})
	// Knocks are handled in the order they arrive, so the old sequence's
	// line would be in the log before the new door's.
	logged, _ = os.ReadFile(logFile)
	if n := strings.Count(string(logged), "openSSH: OPEN SESAME"); n != 1 || !strings.Contains(string(logged), "second: OPEN SESAME") {
		t.Errorf("after the reload, want one openSSH line and a second line; LogFile has:\n%s", logged)
	}
}

// startInNetns runs the ports command line args in h until the test ends,
// when it must exit 0, and returns its standard error and a wait that
// fails with what it said.
func startInNetns(t *testing.T, h *porttest.Host, args ...string) (*lockedBuffer, func(what string, cond func() bool)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout lockedBuffer
	stderr := new(lockedBuffer)
	done := make(chan int, 1)
	go func() {
		var code int
		h.Do(func() error {
			code = Run(ctx, args, &stdout, stderr)
			return nil
		})
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%s exited %d: %s", args[0], code, stderr.String())
		}
	})
	return stderr, func(what string, cond func() bool) {
		t.Helper()
		for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(20 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s; knockd said:\n%s", what, stderr.String())
	}
}
