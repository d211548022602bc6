package cli

import (
	"context"
	"encoding/base64"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/knock/spa"
)

func TestKnockUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("[open]\nsequence = 7000\ntcpflags = syn,nope\n"), 0o600)
	badAccess := filepath.Join(dir, "access.conf")
	os.WriteFile(badAccess, []byte("SOURCE ANY\nGPG_REMOTE_ID x\n"), 0o600)
	k := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"knock"}, "missing HOST"},
		{[]string{"knock", "127.0.0.1"}, "missing PORT"},
		{[]string{"knock", "127.0.0.1", "7000:icmp"}, `knock protocol must be tcp or udp: "7000:icmp"`},
		{[]string{"knock", "127.0.0.1", "99999"}, `knock port must be a number from 1 to 65535: "99999"`},
		{[]string{"knock", "-4", "-6", "127.0.0.1", "1"}, "-4 conflicts with -6"},
		{[]string{"knock", "-A", "tcp/22", "127.0.0.1", "1"}, "-A, -a, -s, -C, -N, --nat-local, --nat-port, -M, -g, --gpg-*, --digest-type and --hmac-digest-type need --spa"},
		{[]string{"knock", "--spa", "127.0.0.1"}, "--spa needs -A proto/port"},
		{[]string{"knock", "--spa", "-A", "tcp/22", "127.0.0.1"}, "--spa needs -a IP"},
		{[]string{"knock", "--spa", "-A", "icmp/1", "-s", "127.0.0.1"}, `-A: port "icmp/1": protocol must be tcp or udp`},
		{[]string{"knock", "--spa", "-A", "tcp/22", "-a", "fd00::1", "127.0.0.1"}, "is not an IPv4 address"},
		{[]string{"knock", "--spa", "-A", "tcp/22", "-s", "--key-base64", k, "127.0.0.1"}, "missing the SPA HMAC key"},
		{[]string{"knock", "--spa", "-A", "tcp/22", "-s", "--key-base64", "%%", "127.0.0.1"}, "--key-base64 is not valid base64"},
		{[]string{"knock", "--spa", "-C", "/bin/true", "-A", "tcp/22", "-s", "127.0.0.1"}, "--server-cmd conflicts with -A"},
		{[]string{"knock", "--spa", "-C", "/bin/true", "--fw-timeout", "9", "-s", "127.0.0.1"}, "--fw-timeout has no meaning with --server-cmd"},
		{[]string{"knock", "--spa", "-C", " \t", "-s", "127.0.0.1"}, "-C/--server-cmd: empty value"},
		{[]string{"knock", "--spa", "-N", "fd00::1", "-A", "tcp/22", "-s", "127.0.0.1"}, `--nat-access "fd00::1": want an IPv4 address`},
		{[]string{"knock", "--spa", "-N", "10.0.0.1:0", "-A", "tcp/22", "-s", "127.0.0.1"}, `--nat-access "10.0.0.1:0": want an IPv4 address (fwknop's NAT access is IPv4) and a port from 1 to 65535`},
		{[]string{"knockd"}, "missing -c FILE"},
		{[]string{"knockd", "-c", bad}, bad + `:3: TCPFLAGS: unknown TCP flag`},
		{[]string{"knockd", "--spa", "-c", badAccess}, badAccess + ":1: GPG_REMOTE_ID without GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y has no effect"},
		{[]string{"knockd", "-c", bad, "--digest-file", "x"}, "need --spa"},
		{[]string{"knockd", "--spa", "-c", badAccess, "--tcp-listen", "x"}, `--tcp-listen "x" is not ADDR:PORT`},
	}
	for _, tt := range tests {
		t.Setenv(envSPAKey, "")
		t.Setenv(envSPAHMAC, "")
		code, _, stderr := run(t, tt.args...)
		if code != ExitUsage || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("ports %q: exit %d, stderr %q; want exit 2 and one line with %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestKnockUDPPayload(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	code, stdout, stderr := run(t, "knock", "-v", "-u", "127.0.0.1", strconv.Itoa(port))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "hitting udp 127.0.0.1:" + strconv.Itoa(port) + "\n"; stdout != want {
		t.Errorf("stdout %q, want %q (knock -v's wording)", stdout, want)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "\x00" {
		t.Errorf("UDP knock payload %q, want one zero byte as knockd's knock sends", buf[:n])
	}
}

func TestKnockSPAKeyGenAndSend(t *testing.T) {
	code, keyText, stderr := run(t, "knock", "--key-gen")
	if code != 0 {
		t.Fatal(stderr)
	}
	if !regexp.MustCompile(`^KEY_BASE64: [A-Za-z0-9+/]{43}=\nHMAC_KEY_BASE64: [A-Za-z0-9+/]{86}==\n$`).MatchString(keyText) {
		t.Fatalf("--key-gen printed %q, not fwknop's format", keyText)
	}
	// --key-gen --key-file writes a new file, only its owner may read it,
	// and does not overwrite it.
	keyFile := filepath.Join(t.TempDir(), "keys")
	if code, out, stderr := run(t, "knock", "--key-gen", "--key-file", keyFile); code != 0 || out != "" {
		t.Fatalf("--key-gen --key-file: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	written, err := os.ReadFile(keyFile)
	if fi, serr := os.Stat(keyFile); err != nil || serr != nil || fi.Mode().Perm() != 0o600 || !regexp.MustCompile(`^KEY_BASE64: \S{44}\nHMAC_KEY_BASE64: \S{88}\n$`).Match(written) {
		t.Fatalf("key file: %v, %v, %q", err, serr, written)
	}
	code, _, stderr = run(t, "knock", "--key-gen", "--key-file", keyFile)
	if again, _ := os.ReadFile(keyFile); code != ExitFailure || !strings.Contains(stderr, "exists") || string(again) != string(written) {
		t.Errorf("--key-gen over an existing file: exit %d, stderr %q; the file must stay", code, stderr)
	}
	keyText = string(written)
	keys, err := spa.ParseKeyFile(strings.NewReader(keyText), "keys", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grants := make(chan spa.Grant, 4)
	srv, _ := spa.NewServer(spa.ServerConfig{
		Access:  []spa.Stanza{{OpenPorts: []spa.PortSpec{{Proto: 6, Port: 22}, {Proto: 17, Port: 53}}, Keys: keys}},
		OnGrant: func(g spa.Grant) { grants <- g },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, c)
	port := strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)

	// Keys from the file, then from the environment.
	if code, _, stderr := run(t, "knock", "--spa", "-A", "tcp/22", "-a", "127.0.0.5", "--key-file", keyFile, "--spa-port", port, "127.0.0.1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	g := <-grants
	if g.AllowIP != netip.MustParseAddr("127.0.0.5") || len(g.Ports) != 1 || g.Ports[0].String() != "tcp/22" {
		t.Errorf("grant %+v", g)
	}
	t.Setenv(envSPAKey, base64.StdEncoding.EncodeToString(keys.Enc))
	t.Setenv(envSPAHMAC, base64.StdEncoding.EncodeToString(keys.HMAC))
	if code, _, stderr := run(t, "knock", "--spa", "-A", "udp/53", "-s", "--fw-timeout", "5", "--spa-port", port, "127.0.0.1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	g = <-grants
	if g.AllowIP != netip.MustParseAddr("127.0.0.1") || g.Timeout != 5*time.Second || g.Ports[0].String() != "udp/53" {
		t.Errorf("grant with -s and --fw-timeout: %+v", g)
	}
}
