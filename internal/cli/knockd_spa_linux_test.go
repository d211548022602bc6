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

// runIn runs the ports command line args in h until stop, which waits
// for it and fails the test unless it exited 0.
func runIn(t *testing.T, h *porttest.Host, args ...string) (stderr *lockedBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = new(lockedBuffer)
	done := make(chan int, 1)
	go func() {
		var stdout lockedBuffer
		h.Do(func() error {
			done <- Run(ctx, args, &stdout, stderr)
			return nil
		})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("ports %s exited %d: %s", strings.Join(args, " "), code, stderr.String())
		}
	}
	t.Cleanup(stop)
	return stderr, stop
}

func waitLog(t *testing.T, what string, log *lockedBuffer, cond func(string) bool) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(20 * time.Millisecond) {
		if cond(log.String()) {
			return
		}
	}
	t.Fatalf("timed out waiting for %s; knockd said:\n%s", what, log.String())
}

// TestIntegrationKnockdSPAReplayAfterRestart: `ports knockd --spa`
// keeps its digest cache in the state directory by default, so a packet
// of the real fwknop client that it accepted is refused when replayed
// after a restart.
func TestIntegrationKnockdSPAReplayAfterRestart(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	state := filepath.Join(t.TempDir(), "state")
	t.Setenv("STATE_DIRECTORY", state)
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE %s\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n",
		p.Prefix4, b64(keys.Enc), b64(keys.HMAC))), 0o600)
	listen := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	args := []string{"knockd", "--spa", "-c", access, "--listen", listen.String()}

	logs, stop := runIn(t, p.B, args...)
	waitLog(t, "knockd to listen", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets") })
	pktFile := filepath.Join(dir, "fwknop.pkt")
	cmd := p.A.Command(context.Background(), fwknop, "-A", "tcp/22", "-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC),
		"--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"), "--save-packet", pktFile)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	waitLog(t, "fwknop's packet accepted", logs, func(s string) bool { return strings.Contains(s, "SPA packet accepted") })
	stop()

	saved, err := os.ReadFile(pktFile)
	if err != nil {
		t.Fatal(err)
	}
	logs, _ = runIn(t, p.B, args...)
	waitLog(t, "knockd to listen again", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets") })
	want := "replay cache in " + filepath.Join(state, "knockd-spa.digest") + " (1 packets remembered)"
	if !strings.Contains(logs.String(), want) {
		t.Errorf("after the restart, no line %q:\n%s", want, logs)
	}
	if err := p.A.Do(func() error { return spa.Send(t.Context(), listen, strings.TrimSpace(string(saved))) }); err != nil {
		t.Fatal(err)
	}
	waitLog(t, "the replay refused", logs, func(s string) bool {
		return strings.Contains(s, p.A.Addr4.String()+": SPA packet rejected: spa: replayed packet")
	})
	if strings.Contains(logs.String(), "SPA packet accepted") {
		t.Errorf("the replay was accepted after a restart:\n%s", logs)
	}
}

// TestIntegrationKnockdSPATCP: `ports knockd --spa --tcp-listen` takes
// the real fwknop client's packet over TCP (-P tcp).
func TestIntegrationKnockdSPATCP(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE %s\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n",
		p.Prefix4, b64(keys.Enc), b64(keys.HMAC))), 0o600)
	listen := netip.AddrPortFrom(p.B.Addr4, spa.DefaultPort)
	logs, _ := runIn(t, p.B, "knockd", "--spa", "-c", access, "--listen", listen.String(), "--tcp-listen", listen.String())
	waitLog(t, "knockd to listen on tcp", logs, func(s string) bool { return strings.Contains(s, "receiving SPA packets on tcp") })
	cmd := p.A.Command(context.Background(), fwknop, "-P", "tcp", "-A", "tcp/22", "-a", p.A.Addr4.String(), "-D", p.B.Addr4.String(),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	waitLog(t, "the packet over TCP accepted", logs, func(s string) bool { return strings.Contains(s, "SPA packet accepted") })
}

// TestIntegrationKnockdSPASniffPortICMP: `ports knockd --spa -i IFACE
// --spa-port 4444 --icmp` takes the real fwknop client's packets sent to
// UDP 4444 and in ICMP (-P icmp), with one line each.
func TestIntegrationKnockdSPASniffPortICMP(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	p := porttest.NewPair(t, nil)
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE %s\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n",
		p.Prefix4, b64(keys.Enc), b64(keys.HMAC))), 0o600)
	logs, _ := runIn(t, p.B, "knockd", "--spa", "-c", access, "-i", p.B.Link, "--spa-port", "4444", "--icmp")
	waitLog(t, "knockd to sniff", logs, func(s string) bool { return strings.Contains(s, "filter: udp dst port 4444 or icmp") })
	for i, extra := range [][]string{{"-p", "4444"}, {"-P", "icmp"}} {
		allow := fmt.Sprintf("127.0.7.%d", i+1)
		cmd := p.A.Command(context.Background(), fwknop, append([]string{"-A", "tcp/22", "-a", allow, "-D", p.B.Addr4.String(),
			"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc")}, extra...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fwknop %v: %v: %s", extra, err, out)
		}
		waitLog(t, "fwknop "+strings.Join(extra, " ")+" accepted", logs, func(s string) bool { return strings.Contains(s, "open to "+allow) })
	}
}
