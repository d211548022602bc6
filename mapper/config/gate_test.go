package config_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock"
	"github.com/portkit/ports/knock/spa"
	"github.com/portkit/ports/mapper"
	"github.com/portkit/ports/mapper/config"
)

// greeter is a backend that writes "hello" to every connection.
func greeter(t *testing.T) string {
	t.Helper()
	return porttest.ServeTCP(t, func(c net.Conn) { c.Write([]byte("hello")) }).String()
}

// fetchAfterGrant fetches from listen as 127.0.0.1 until the mapping
// answers, for about a second: the gate takes a grant on a goroutine of
// its own (the last knock, the SPA packet), after the sender returns.
func fetchAfterGrant(t *testing.T, listen string) string {
	t.Helper()
	var got string
	for range 100 {
		if got = fetch(t, "127.0.0.1", listen); got != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return got
}

// fetch connects to addr from src and returns what the mapping passed
// on: "hello" when the gate let src in, "" when it closed the
// connection without a word.
func fetch(t *testing.T, src, addr string) string {
	t.Helper()
	d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read from %s via %s: %v", addr, src, err)
	}
	return string(b)
}

func startRules(t *testing.T, conf string) (*mapper.Server, *porttest.LogBuffer) {
	t.Helper()
	rules, err := config.Parse("gate.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	var logs porttest.LogBuffer
	srv := mapper.New(&mapper.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(func() { srv.Close() })
	if err := srv.Apply(rules); err != nil {
		t.Fatal(err)
	}
	return srv, &logs
}

func TestKnockGatedMapping(t *testing.T) {
	backend := greeter(t)
	p := porttest.FreePorts(t, 4)
	listen := fmt.Sprintf("127.0.0.1:%d", p[0])
	seq := fmt.Sprintf("%d,%d:udp,%d", p[1], p[2], p[3])
	conf := fmt.Sprintf(`[[rule]]
name = "gated"
type = "tcp"
listen = %q
to = [%q]
knock = %q
knock_window = "2s"
`, listen, backend, seq)
	srv, logs := startRules(t, conf)
	// The gate opens its knock ports in its own goroutine when the rule
	// starts: wait for the last one, probing from an address that is not
	// used afterwards (for the gate, that is a wrong knock of 127.0.0.3).
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
	for range 200 {
		c, err := d.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", p[3]))
		if err == nil {
			c.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	if got := fetch(t, "127.0.0.1", listen); got != "" {
		t.Fatalf("before the knock: got %q, want the connection closed", got)
	}
	s, err := knock.ParseSequence(seq)
	if err != nil {
		t.Fatal(err)
	}
	if err := knock.Send(t.Context(), "127.0.0.1", s, &knock.SendConfig{Connect: true, Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	got := fetchAfterGrant(t, listen)
	if got != "hello" {
		t.Fatalf("after the knock: got %q, want hello", got)
	}
	if got := fetch(t, "127.0.0.2", listen); got != "" {
		t.Errorf("from an address that did not knock: got %q, want the connection closed", got)
	}

	// A reload with the same file keeps the rule, its gate and whom the
	// gate let in.
	rules, err := config.Parse("gate.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Apply(rules); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, "127.0.0.1", listen); got != "hello" {
		t.Errorf("after a reload of the same rules: got %q, want hello", got)
	}

	time.Sleep(2500 * time.Millisecond) // past knock_window
	if got := fetch(t, "127.0.0.1", listen); got != "" {
		t.Errorf("after the window: got %q, want the connection closed", got)
	}
	if !strings.Contains(logs.String(), "gate") {
		t.Errorf("no log line names the gate refusals:\n%s", logs.String())
	}
}

func TestSPAGatedMapping(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", t.TempDir()) // the default digest file
	backend := greeter(t)
	p := porttest.FreePorts(t, 2)
	listen := fmt.Sprintf("127.0.0.1:%d", p[0])
	spaAddr := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", p[1]))
	keys := spa.Keys{Enc: make([]byte, 32), HMAC: make([]byte, 64)}
	rand.Read(keys.Enc)
	rand.Read(keys.HMAC)
	b64 := base64.StdEncoding.EncodeToString
	conf := fmt.Sprintf(`[[rule]]
name = "spa"
type = "tcp"
listen = %q
to = [%q]
spa = { key_base64 = %q, hmac_key_base64 = %q, listen = [%q], access_timeout = "30s" }
`, listen, backend, b64(keys.Enc), b64(keys.HMAC), spaAddr.String())
	startRules(t, conf)

	if got := fetch(t, "127.0.0.1", listen); got != "" {
		t.Fatalf("before the SPA packet: got %q, want the connection closed", got)
	}
	send := func(keys spa.Keys, access string) {
		t.Helper()
		pkt, err := spa.Encode(&spa.Message{User: "test", Type: spa.AccessMsg, Access: access}, keys, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		if err := spa.Send(ctx, spaAddr, pkt); err != nil {
			t.Fatal(err)
		}
	}
	// A packet with the wrong HMAC key, and one for another port, open
	// nothing.
	bad := spa.Keys{Enc: keys.Enc, HMAC: make([]byte, 64)}
	send(bad, fmt.Sprintf("127.0.0.1,tcp/%d", p[0]))
	send(keys, fmt.Sprintf("127.0.0.1,tcp/%d", p[0]+1))
	time.Sleep(200 * time.Millisecond) // let the gate read both
	if got := fetch(t, "127.0.0.1", listen); got != "" {
		t.Fatalf("after bad SPA packets: got %q, want the connection closed", got)
	}
	send(keys, fmt.Sprintf("127.0.0.1,tcp/%d", p[0]))
	got := fetchAfterGrant(t, listen)
	if got != "hello" {
		t.Fatalf("after the SPA packet: got %q, want hello", got)
	}
	if got := fetch(t, "127.0.0.2", listen); got != "" {
		t.Errorf("from another address: got %q, want the connection closed", got)
	}
}

// TestSPAGateFwknopReplayAfterRestart: a packet from the real fwknop
// client opens the gate; after a restart of the server (a new process
// would read the same file), the same packet sent again is refused: the
// gate keeps its digest cache in the state directory by default. The
// packet has fwknop's SHA3-256 message digest, HMAC-SHA512
// (hmac_digest_type) and CTR mode (encryption_mode).
func TestSPAGateFwknopReplayAfterRestart(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	state := t.TempDir()
	t.Setenv("STATE_DIRECTORY", filepath.Join(state, "ports")) // made by the gate
	dir := t.TempDir()
	backend := greeter(t)
	p := porttest.FreePorts(t, 2)
	listen := fmt.Sprintf("127.0.0.1:%d", p[0])
	spaAddr := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", p[1]))
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	conf := fmt.Sprintf(`[[rule]]
name = "ssh/spa"
type = "tcp"
listen = %q
to = [%q]
spa = { key_base64 = %q, hmac_key_base64 = %q, listen = [%q], access_timeout = "60s", hmac_digest_type = "SHA512", encryption_mode = "ctr" }
`, listen, backend, b64(keys.Enc), b64(keys.HMAC), spaAddr.String())
	keys.HMACType, keys.Mode = spa.DigestSHA512, spa.ModeCTR
	srv, _ := startRules(t, conf)

	pktFile := filepath.Join(dir, "fwknop.pkt")
	cmd := exec.Command(fwknop, "-A", fmt.Sprintf("tcp/%d", p[0]), "-a", "127.0.0.1", "-D", "127.0.0.1", "-p", strconv.Itoa(int(p[1])),
		"--key-base64-rijndael", b64(keys.Enc), "--key-base64-hmac", b64(keys.HMAC), "--hmac-digest-type", "SHA512", "--digest-type", "SHA3_256", "-M", "ctr",
		"--no-save-args", "--rc-file", filepath.Join(dir, "fwknoprc"), "--save-packet", pktFile)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	saved, err := os.ReadFile(pktFile)
	if err != nil {
		t.Fatal(err)
	}
	packet := strings.TrimSpace(string(saved))
	send := func(pkt string) {
		t.Helper()
		if err := spa.Send(t.Context(), spaAddr, pkt); err != nil {
			t.Fatal(err)
		}
	}
	// fwknop sent it once; the gate may not have been listening yet, so
	// send it again until it is in (copies are replays, refused).
	porttest.WaitFor(t, "fwknop's packet to open the gate", func() bool {
		send(packet)
		return fetch(t, "127.0.0.1", listen) == "hello"
	})
	digestFile := filepath.Join(state, "ports", "spa-ssh%2Fspa.digest")
	if data, err := os.ReadFile(digestFile); err != nil || strings.Count(string(data), "\n") != 3 {
		t.Errorf("the default digest file %s: %v, want the header, the floor and one packet:\n%s", digestFile, err, data)
	}

	srv.Close()
	startRules(t, conf)
	// The restarted gate is listening once a fresh packet gets through
	// (for 127.0.0.5); then the replay, then another fresh packet (for
	// 127.0.0.6), handled in order: once .6 is in, the replay was
	// handled, and 127.0.0.1 must not be in.
	fresh := func(ip string) string {
		pkt, err := spa.Encode(&spa.Message{User: "t", Type: spa.AccessMsg, Access: fmt.Sprintf("%s,tcp/%d", ip, p[0])}, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		return pkt
	}
	five := fresh("127.0.0.5")
	porttest.WaitFor(t, "the restarted gate", func() bool {
		send(five)
		return fetch(t, "127.0.0.5", listen) == "hello"
	})
	send(packet)
	six := fresh("127.0.0.6")
	porttest.WaitFor(t, "a fresh packet after the replay", func() bool {
		send(six)
		return fetch(t, "127.0.0.6", listen) == "hello"
	})
	if got := fetch(t, "127.0.0.1", listen); got != "" {
		t.Errorf("fwknop's packet replayed after a restart opened the gate (got %q)", got)
	}
}

func TestGateConfigErrors(t *testing.T) {
	for _, tc := range []struct{ extra, want string }{
		{`knock = "7000,x"`, "knock"},
		{`knock_window = "30s"`, "knock_window: without knock"},
		{"knock = \"7000\"\nspa = { key_base64 = \"AAAA\", hmac_key_base64 = \"AAAA\" }", "not both"},
		{`spa = { hmac_key_base64 = "AAAA" }`, "key_base64 is missing"},
		{`spa = { key_base64 = "!!", hmac_key_base64 = "AAAA" }`, "base64"},
		{`spa = { key_base64 = "AAAA", hmac_key_base64 = "AAAA", hmac_digest_type = "SHA224" }`, `hmac_digest_type: digest type "SHA224" is not one of`},
		{`spa = { key_base64 = "AAAA", hmac_key_base64 = "AAAA", access_timeout = "60s", max_timeout = "30s" }`, "max_timeout 30s is shorter than access_timeout 1m0s"},
		{`knock = "7000"` + "\nknock_window = \"-1s\"", "knock_window"},
		{`spa = { hmac_key_base64 = "AAAA", gpg_decrypt_pw = "x" }`, "GPG_REMOTE_ID or GPG_FINGERPRINT_ID is needed"},
		{`spa = { key_base64 = "AAAA", hmac_key_base64 = "AAAA", gpg_remote_id = ["0BADC0DE"] }`, "gpg_* keys without gpg_decrypt_pw or gpg_allow_no_pw have no effect"},
		{`spa = { hmac_key_base64 = "AAAA", gpg_decrypt_pw = "x", gpg_disable_sig = true, gpg_home_dir = "/nonexistent" }`, "has neither pubring.gpg nor secring.gpg"},
	} {
		conf := "[[rule]]\nname = \"r\"\ntype = \"tcp\"\nlisten = \"127.0.0.1:9\"\nto = [\"127.0.0.1:10\"]\n" + tc.extra + "\n"
		_, err := config.Parse("g.toml", []byte(conf))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.extra, err, tc.want)
		}
	}
}
