package config_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// gpgKey makes a GnuPG home under dir with an RSA key for name
// (passphrase pw, loopback pinentry as fwknop's gpgme needs), imports
// the public keys of others, and exports the keys to pubring.gpg and
// secring.gpg for ports; it returns the home and the fingerprint.
func gpgKey(t *testing.T, dir, name, pw string) (string, string) {
	t.Helper()
	home := filepath.Join(dir, name)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, "gpg.conf"), []byte("pinentry-mode loopback\n"), 0o600)
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run() })
	gpgIn(t, home, pw, nil, "--quick-gen-key", name+" <"+name+"@example.invalid>", "rsa2048", "sign,cert,encr", "never")
	fpr := ""
	for _, l := range strings.Split(string(gpgIn(t, home, pw, nil, "--with-colons", "--list-keys", name)), "\n") {
		if f := strings.Split(l, ":"); len(f) > 9 && f[0] == "fpr" && fpr == "" {
			fpr = f[9]
		}
	}
	return home, fpr
}

func gpgIn(t *testing.T, home, pw string, stdin []byte, args ...string) []byte {
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

// TestSPAGateFwknopGPG: the real fwknop client's GnuPG-encrypted
// packets (fwknop -g, signed by the client's key) open a rule's spa
// gate configured with gpg_home_dir, gpg_decrypt_pw and gpg_remote_id;
// an unsigned packet and one signed by a key not in gpg_remote_id open
// nothing.
func TestSPAGateFwknopGPG(t *testing.T) {
	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("needs gpg (Debian package gnupg)")
	}
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	dir := t.TempDir()
	srv, srvFpr := gpgKey(t, dir, "srv", "pw-srv")
	cli, cliFpr := gpgKey(t, dir, "cli", "pw-cli")
	gpgIn(t, cli, "pw-cli", gpgIn(t, srv, "pw-srv", nil, "--export"), "--import")
	gpgIn(t, srv, "pw-srv", gpgIn(t, cli, "pw-cli", nil, "--export"), "--import")
	os.WriteFile(filepath.Join(srv, "pubring.gpg"), gpgIn(t, srv, "pw-srv", nil, "--export"), 0o600)
	os.WriteFile(filepath.Join(srv, "secring.gpg"), gpgIn(t, srv, "pw-srv", nil, "--export-secret-keys"), 0o600)

	backend := greeter(t)
	p := porttest.FreePorts(t, 2)
	listen := fmt.Sprintf("127.0.0.1:%d", p[0])
	spaAddr := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", p[1]))
	hmacKey := make([]byte, 64)
	copy(hmacKey, "an HMAC key for the GnuPG gate")
	b64 := base64.StdEncoding.EncodeToString
	conf := fmt.Sprintf(`[[rule]]
name = "gpg"
type = "tcp"
listen = %q
to = [%q]
spa = { hmac_key_base64 = %q, listen = [%q], gpg_home_dir = %q, gpg_decrypt_pw = "pw-srv", gpg_remote_id = [%q] }
`, listen, backend, b64(hmacKey), spaAddr.String(), srv, cliFpr[32:])
	startRules(t, conf)

	rc := filepath.Join(dir, "fwknoprc")
	os.WriteFile(rc, []byte("[cli]\nGPG_SIGNING_PW pw-cli\n[srv]\nGPG_SIGNING_PW pw-srv\n"), 0o600)
	packet := func(allow string, signer, home string) string {
		t.Helper()
		pkt := filepath.Join(dir, "pkt")
		os.Remove(pkt)
		args := []string{"-A", fmt.Sprintf("tcp/%d", p[0]), "-a", allow, "-D", "127.0.0.1", "-p", strconv.Itoa(int(p[1])),
			"--gpg-encryption", "--gpg-recipient-key", srvFpr, "--gpg-home-dir", home, "--key-base64-hmac", b64(hmacKey),
			"--no-save-args", "--rc-file", rc, "--save-packet", pkt}
		if signer != "" {
			args = append(args, "--gpg-signer-key", signer, "-n", filepath.Base(home))
		} else {
			args = append(args, "--gpg-no-signing-pw")
		}
		cmd := exec.Command(fwknop, args...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fwknop: %v: %s", err, out)
		}
		b, err := os.ReadFile(pkt)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	unsigned := packet("127.0.0.2", "", cli)
	bySrv := packet("127.0.0.3", srvFpr, srv) // a key the gate has, not in gpg_remote_id
	good := packet("127.0.0.1", cliFpr, cli)
	send := func(pkt string) {
		t.Helper()
		if err := spa.Send(t.Context(), spaAddr, pkt); err != nil {
			t.Fatal(err)
		}
	}
	// The gate handles packets in order: once the good one is in, the
	// others were handled.
	porttest.WaitFor(t, "fwknop's signed packet to open the gate", func() bool {
		send(unsigned)
		send(bySrv)
		send(good)
		return fetch(t, "127.0.0.1", listen) == "hello"
	})
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		if got := fetch(t, ip, listen); got != "" {
			t.Errorf("%s: got %q, want the connection closed (its packet is unsigned or by a key not in gpg_remote_id)", ip, got)
		}
	}
}
