//go:build unix

package cli

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// TestSPAConfigFileKinds: access.conf (knockd --spa -c), the key file
// (knock --spa --key-file) and the digest file (knockd --digest-file)
// must be regular files: a FIFO, /dev/zero or a directory is refused
// with one line naming it and exit 2, without blocking or reading on.
func TestSPAConfigFileKinds(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE_DIRECTORY", filepath.Join(dir, "state"))
	t.Setenv(envSPAKey, "")
	t.Setenv(envSPAHMAC, "")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	k := base64.StdEncoding.EncodeToString(make([]byte, 32))
	access := filepath.Join(dir, "access.conf")
	os.WriteFile(access, []byte(fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", k, k)), 0o600)
	for _, f := range []struct{ path, kind string }{
		{fifo, "a named pipe"},
		{"/dev/zero", "a character device"},
		{dir, "a directory"},
	} {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"knockd", "--spa", "-c", f.path}, f.path + ": not a regular file (" + f.kind + ")"},
			{[]string{"knock", "--spa", "-A", "tcp/22", "-s", "--key-file", f.path, "127.0.0.1"}, "--key-file " + f.path + ": not a regular file (" + f.kind + ")"},
			{[]string{"knockd", "--spa", "-c", access, "--listen", "127.0.0.1:0", "--digest-file", f.path}, "digest file " + f.path + ": not a regular file (" + f.kind + ")"},
		} {
			code, _, stderr := run(t, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("ports %q: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
			}
		}
	}
}

// TestKnockSPADigestFlags: --digest-type and --hmac-digest-type (or the
// key file's HMAC_DIGEST_TYPE) make the packet with those hashes; a bad
// name is a usage error listing the types.
func TestKnockSPADigestFlags(t *testing.T) {
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	keyFile := filepath.Join(t.TempDir(), "fwknoprc")
	os.WriteFile(keyFile, []byte("[server]\nKEY_BASE64 "+b64(keys.Enc)+"\nHMAC_KEY_BASE64 "+b64(keys.HMAC)+"\nHMAC_DIGEST_TYPE SHA384\n"), 0o600)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
	for _, tc := range []struct {
		args       []string
		digest, hm spa.DigestType
	}{
		{[]string{"--digest-type", "SHA3_256", "--hmac-digest-type", "sha512", "--key-base64", b64(keys.Enc), "--hmac-key-base64", b64(keys.HMAC)}, spa.DigestSHA3_256, spa.DigestSHA512},
		{[]string{"--digest-type", "md5", "--key-file", keyFile, "--stanza", "server"}, spa.DigestMD5, spa.DigestSHA384},
		{[]string{"--hmac-digest-type", "SHA3_512", "--key-file", keyFile, "--stanza", "server"}, spa.DigestSHA256, spa.DigestSHA3_512},
	} {
		args := append([]string{"knock", "--spa", "-A", "tcp/22", "-a", "127.0.0.5", "--spa-port", port}, tc.args...)
		if code, _, stderr := run(t, append(args, "127.0.0.1")...); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 2048)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		k := keys
		k.HMACType = tc.hm
		m, err := spa.Decode(string(buf[:n]), k)
		if err != nil || m.DigestType != tc.digest {
			t.Errorf("%q: Decode with HMAC %v: %+v, %v; want digest %v", tc.args, tc.hm, m, err, tc.digest)
		}
	}
	// -M: the mode.
	if code, _, stderr := run(t, "knock", "--spa", "-A", "tcp/22", "-a", "127.0.0.5", "--spa-port", port, "-M", "ctr", "--key-file", keyFile, "-n", "server", "127.0.0.1"); code != 0 {
		t.Fatalf("-M ctr: exit %d: %s", code, stderr)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	k := keys
	k.HMACType, k.Mode = spa.DigestSHA384, spa.ModeCTR
	if _, err := spa.Decode(string(buf[:n]), k); err != nil {
		t.Errorf("-M ctr: %v", err)
	}
	code, _, stderr := run(t, "knock", "--spa", "-A", "tcp/22", "-s", "--digest-type", "SHA224", "--key-file", keyFile, "127.0.0.1")
	if code != ExitUsage || !strings.Contains(stderr, `--digest-type: digest type "SHA224" is not one of MD5, SHA1, SHA256, SHA384, SHA512, SHA3_256, SHA3_512`) {
		t.Errorf("--digest-type SHA224: exit %d, %q", code, stderr)
	}
}

// TestKnockSPARCFile: the settings of an fwknoprc stanza ([default],
// then the named one) shape the packet of `ports knock --spa --rc-file
// F -n NAME` as they shape the real fwknop client's, read from the same
// file: both packets decode to the same request; settings ports cannot
// honour are refused with their line.
func TestKnockSPARCFile(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	dir := t.TempDir()
	keys, _ := spa.GenerateKeys(nil)
	b64 := base64.StdEncoding.EncodeToString
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	rcFile := filepath.Join(dir, "fwknoprc")
	os.WriteFile(rcFile, []byte(fmt.Sprintf(`[default]
DIGEST_TYPE         sha512
SPA_SERVER_PORT     %d
FW_TIMEOUT          30

[server]
SPA_SERVER          127.0.0.1
ACCESS              tcp/22,udp/53
ALLOW_IP            127.0.0.9
FW_TIMEOUT          45
SPOOF_USER          bob
KEY_BASE64          %s
HMAC_KEY_BASE64     %s
HMAC_DIGEST_TYPE    SHA384
USE_HMAC            Y
`, port, b64(keys.Enc), b64(keys.HMAC))), 0o600)
	keys.HMACType = spa.DigestSHA384

	if code, _, stderr := run(t, "knock", "--spa", "--rc-file", rcFile, "-n", "server"); code != 0 {
		t.Fatalf("ports knock: exit %d: %s", code, stderr)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := spa.Decode(string(buf[:n]), keys)
	if err != nil {
		t.Fatalf("our packet: %v", err)
	}
	pktFile := filepath.Join(dir, "fwknop.pkt")
	cmd := exec.Command(fwknop, "--rc-file", rcFile, "-n", "server", "--no-save-args", "--test", "--save-packet", pktFile)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fwknop: %v: %s", err, out)
	}
	saved, err := os.ReadFile(pktFile)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := spa.Decode(strings.TrimSpace(string(saved)), keys)
	if err != nil {
		t.Fatalf("fwknop's packet: %v", err)
	}
	ours.Rand, ours.Timestamp = theirs.Rand, theirs.Timestamp
	if *ours != *theirs || theirs.DigestType != spa.DigestSHA512 || theirs.ClientTimeout != 45 {
		t.Errorf("from the same rc stanza, ours %+v, fwknop's %+v", ours, theirs)
	}

	for _, tc := range []struct{ line, want string }{
		{"NAT_RAND_PORT Y", ":2: NAT_RAND_PORT Y is not supported by ports knock --spa (only N)"},
		{"HTTP_PROXY 192.0.2.1", ":2: HTTP_PROXY is not supported by ports knock --spa"},
		{"USE_HMAC N", ":2: USE_HMAC N is not supported by ports knock --spa (only Y)"},
		{"ALLOW_IP resolve", ":2: ALLOW_IP: resolve is not supported"},
		{"ENCRYPTION_MODE legacy", ":2: ENCRYPTION_MODE: encryption mode legacy cannot be used with an HMAC"},
		{"USE_GPG_AGENT Y", ":2: USE_GPG_AGENT Y is not supported by ports knock --spa (only N)"},
	} {
		bad := filepath.Join(dir, "bad")
		os.WriteFile(bad, []byte("[s]\n"+tc.line+"\n"), 0o600)
		code, _, stderr := run(t, "knock", "--spa", "--rc-file", bad, "-n", "s", "-A", "tcp/22", "-s", "127.0.0.1")
		if code != ExitUsage || !strings.Contains(stderr, bad+tc.want) {
			t.Errorf("%s: exit %d, %q; want exit 2 and %q", tc.line, code, stderr, tc.want)
		}
	}
	code, _, stderr := run(t, "knock", "--spa", "--rc-file", rcFile, "-n", "nope")
	if code != ExitUsage || !strings.Contains(stderr, "no [nope] stanza") {
		t.Errorf("a missing stanza: exit %d, %q", code, stderr)
	}
}

// TestKnockdSPANoOpenPorts: an access.conf stanza without OPEN_PORTS is
// refused at load (fwknopd would grant any port asked), never loaded to
// refuse every packet.
func TestKnockdSPANoOpenPorts(t *testing.T) {
	access := filepath.Join(t.TempDir(), "access.conf")
	k := base64.StdEncoding.EncodeToString(make([]byte, 32))
	os.WriteFile(access, []byte("SOURCE ANY\nKEY_BASE64 "+k+"\nHMAC_KEY_BASE64 "+k+"\n"), 0o600)
	code, _, stderr := run(t, "knockd", "--spa", "-c", access)
	if code != ExitUsage || !strings.Contains(stderr, access+":1: the stanza has no OPEN_PORTS") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// TestKnockdSPAStanzaRefusals: a stanza with FORCE_NAT needs --nat-map,
// and CMD_EXEC_USER and CMD_SUDO_EXEC_USER a user that exists; each is
// refused at load with its line, as fwknopd refuses them at start; so
// are the sudo group settings fwknopd 2.6.10 mishandles.
func TestKnockdSPAStanzaRefusals(t *testing.T) {
	dir := t.TempDir()
	k := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct{ stanza, want string }{
		{"OPEN_PORTS tcp/22\nFORCE_NAT 192.0.2.7 22\n", ":1: FORCE_NAT needs --nat-map"},
		{"OPEN_PORTS tcp/22\nFORCE_NAT 192.0.2.7\n", `:3: FORCE_NAT: "192.0.2.7" is not IP PORT`},
		{"ENABLE_CMD_EXEC Y\nCMD_EXEC_USER no-such-user-here\n", `:1: CMD_EXEC_USER "no-such-user-here": user: unknown user no-such-user-here`},
		{"ENABLE_CMD_EXEC maybe\n", `:2: ENABLE_CMD_EXEC: "maybe" is not Y or N`},
		{"ENABLE_CMD_EXEC Y\nENABLE_CMD_SUDO_EXEC Y\nCMD_SUDO_EXEC_USER no-such-user-here\n", `:4: CMD_SUDO_EXEC_USER: user: unknown user no-such-user-here`},
		{"ENABLE_CMD_EXEC Y\nENABLE_CMD_SUDO_EXEC Y\nCMD_SUDO_EXEC_GROUP nogroup\n", `:1: CMD_SUDO_EXEC_GROUP without CMD_EXEC_GROUP: fwknopd 2.6.10 then leaves sudo's -g out`},
		{"ENABLE_CMD_EXEC Y\nENABLE_CMD_SUDO_EXEC Y\nCMD_EXEC_USER nobody\nCMD_EXEC_GROUP nogroup\n", `:1: CMD_EXEC_GROUP with ENABLE_CMD_SUDO_EXEC needs CMD_SUDO_EXEC_GROUP`},
	} {
		access := filepath.Join(dir, "access.conf")
		os.WriteFile(access, []byte("SOURCE ANY\n"+tc.stanza+"KEY_BASE64 "+k+"\nHMAC_KEY_BASE64 "+k+"\n"), 0o600)
		code, _, stderr := run(t, "knockd", "--spa", "-c", access)
		if code != ExitUsage || !strings.Contains(stderr, access+tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, %q; want exit 2 and %q", tc.stanza, code, stderr, tc.want)
		}
	}
}
