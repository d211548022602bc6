package cli

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/knock/spa"
)

// gpgTestKey makes a GnuPG home dir/name with an RSA key (passphrase
// pw), runs setup in it, then exports its keys to pubring.gpg and
// secring.gpg; it returns the home and the key's fingerprint.
func gpgTestKey(t *testing.T, dir, name, pw string) (string, string) {
	t.Helper()
	home := filepath.Join(dir, name)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run() })
	gpgTest(t, home, pw, nil, "--quick-gen-key", name+" <"+name+"@example.invalid>", "rsa2048", "sign,cert,encr", "never")
	fpr := ""
	for _, l := range strings.Split(string(gpgTest(t, home, pw, nil, "--with-colons", "--list-keys", name)), "\n") {
		if f := strings.Split(l, ":"); len(f) > 9 && f[0] == "fpr" && fpr == "" {
			fpr = f[9]
		}
	}
	return home, fpr
}

func gpgTest(t *testing.T, home, pw string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", pw}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func gpgExport(t *testing.T, home, pw string) {
	t.Helper()
	os.WriteFile(filepath.Join(home, "pubring.gpg"), gpgTest(t, home, pw, nil, "--export"), 0o600)
	os.WriteFile(filepath.Join(home, "secring.gpg"), gpgTest(t, home, pw, nil, "--export-secret-keys"), 0o600)
}

// TestKnockSPAGPG: ports knock --spa -g sends a GnuPG-encrypted packet,
// signed with --gpg-signer, that a server with the GPG_* stanza of the
// same keys grants; the same from an fwknoprc stanza (USE_GPG Y,
// GPG_RECIPIENT, GPG_SIGNER, GPG_HOMEDIR, GPG_SIGNING_PW_BASE64); an
// unsigned one (no signer) is refused by that stanza; missing keys and
// passphrases are usage errors of one line.
func TestKnockSPAGPG(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("needs gpg (Debian package gnupg)")
	}
	dir := t.TempDir()
	srvHome, srvFpr := gpgTestKey(t, dir, "srv", "pw-srv")
	cliHome, cliFpr := gpgTestKey(t, dir, "cli", "pw-cli")
	gpgTest(t, cliHome, "pw-cli", gpgTest(t, srvHome, "pw-srv", nil, "--export"), "--import")
	gpgTest(t, srvHome, "pw-srv", gpgTest(t, cliHome, "pw-cli", nil, "--export"), "--import")
	gpgExport(t, srvHome, "pw-srv")
	gpgExport(t, cliHome, "pw-cli")
	hk := base64.StdEncoding.EncodeToString([]byte("the HMAC key of the GnuPG test"))
	conf := fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22\nHMAC_KEY_BASE64 %s\nGPG_HOME_DIR %s\nGPG_DECRYPT_PW pw-srv\nGPG_REMOTE_ID %s\n", hk, srvHome, cliFpr[32:])
	access, err := spa.ParseAccessFile(strings.NewReader(conf), "access.conf")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(c.LocalAddr().(*net.UDPAddr).Port)
	grants, rejects := make(chan spa.Grant, 4), make(chan string, 4)
	srv, err := spa.NewServer(spa.ServerConfig{Access: access, OnGrant: func(g spa.Grant) { grants <- g }})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := srv.Handle(buf[:n], from.(*net.UDPAddr).AddrPort()); err != nil {
				rejects <- err.Error()
			}
		}
	}()
	defer c.Close()
	wait := func(what, want string) {
		t.Helper()
		select {
		case g := <-grants:
			if want == "" || g.AllowIP.String() != want {
				t.Errorf("%s: granted %v, want %s", what, g.AllowIP, want)
			}
		case r := <-rejects:
			if want != "" {
				t.Errorf("%s: refused (%s), want a grant for %s", what, r, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no answer from the server", what)
		}
	}
	common := []string{"knock", "--spa", "--spa-port", port, "-A", "tcp/22", "--hmac-key-base64", hk}
	if code, _, stderr := run(t, append(common, "-a", "127.0.0.7", "-g", "--gpg-recipient", srvFpr, "--gpg-signer", cliFpr,
		"--gpg-home-dir", cliHome, "--gpg-signing-pw", "pw-cli", "127.0.0.1")...); code != 0 {
		t.Fatalf("knock --spa -g: exit %d: %s", code, stderr)
	}
	wait("signed by the flags", "127.0.0.7")

	rc := filepath.Join(dir, "fwknoprc")
	os.WriteFile(rc, []byte(fmt.Sprintf("[srv]\nUSE_GPG Y\nGPG_RECIPIENT srv@example.invalid\nGPG_SIGNER <cli@example.invalid>\nGPG_HOMEDIR %s\nGPG_SIGNING_PW_BASE64 %s\nHMAC_KEY_BASE64 %s\nACCESS tcp/22\nALLOW_IP 127.0.0.8\nSPA_SERVER 127.0.0.1\nSPA_SERVER_PORT %s\n",
		cliHome, base64.StdEncoding.EncodeToString([]byte("pw-cli")), hk, port)), 0o600)
	if code, _, stderr := run(t, "knock", "--spa", "--rc-file", rc, "-n", "srv"); code != 0 {
		t.Fatalf("knock --spa --rc-file: exit %d: %s", code, stderr)
	}
	wait("signed by the rc stanza", "127.0.0.8")

	if code, _, stderr := run(t, append(common, "-a", "127.0.0.9", "--gpg-recipient", srvFpr, "--gpg-home-dir", cliHome, "127.0.0.1")...); code != 0 {
		t.Fatalf("knock --spa --gpg-recipient: exit %d: %s", code, stderr)
	}
	wait("unsigned", "")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-g", "--gpg-home-dir", cliHome}, "GnuPG encryption needs the server's key: --gpg-recipient"},
		{[]string{"-g", "--gpg-recipient", srvFpr, "--gpg-signer", cliFpr, "--gpg-home-dir", cliHome}, "the signer's passphrase is needed"},
		{[]string{"-g", "--gpg-recipient", srvFpr, "--gpg-signer", cliFpr, "--gpg-home-dir", cliHome, "--gpg-signing-pw", "wrong"}, "wrong passphrase?"},
		{[]string{"-g", "--gpg-recipient", "nobody@example.invalid", "--gpg-home-dir", cliHome}, `no key "nobody@example.invalid"`},
		{[]string{"-g", "--gpg-recipient", srvFpr, "--gpg-home-dir", dir}, "has neither pubring.gpg nor secring.gpg"},
		{[]string{"--gpg-home-dir", cliHome}, "--gpg-* options need -g"},
	} {
		code, _, stderr := run(t, append(append(common, "-a", "127.0.0.10"), append(tc.args, "127.0.0.1")...)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}
