package spa_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports/knock/spa"
)

// gpgHome is a GnuPG home made by the test, with one RSA key (2048
// bits, for signing and encryption) protected by pass; export writes
// its keys to pubring.gpg and secring.gpg for ports (see spa.GPGHome).
type gpgHome struct {
	dir, pass, fpr string
}

// gpgRun runs gpg on h's home, in batch mode with the passphrase given
// by loopback, never asking an agent's pinentry.
func (h *gpgHome) gpg(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	a := append([]string{"--homedir", h.dir, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", h.pass}, args...)
	cmd := exec.Command("gpg", a...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// newGPGHome makes a home under dir/name with a key for name@example.invalid.
func newGPGHome(t *testing.T, dir, name, pass string) *gpgHome {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("needs gpg (Debian package gnupg)")
	}
	h := &gpgHome{dir: filepath.Join(dir, name), pass: pass}
	if err := os.Mkdir(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// fwknop's gpgme gives the passphrase through a callback, which
	// GnuPG 2 takes only in loopback mode.
	if err := os.WriteFile(filepath.Join(h.dir, "gpg.conf"), []byte("pinentry-mode loopback\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uid := name + " <" + name + "@example.invalid>"
	h.gpg(t, nil, "--quick-gen-key", uid, "rsa2048", "sign,cert,encr", "never")
	for _, l := range strings.Split(string(h.gpg(t, nil, "--with-colons", "--list-keys", uid)), "\n") {
		if f := strings.Split(l, ":"); len(f) > 9 && f[0] == "fpr" && h.fpr == "" {
			h.fpr = f[9]
		}
	}
	return h
}

// export writes pubring.gpg and secring.gpg from GnuPG's own files.
func (h *gpgHome) export(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, "pubring.gpg"), h.gpg(t, nil, "--export"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "secring.gpg"), h.gpg(t, nil, "--export-secret-keys"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// trust imports other's public key into h and certifies it with h's
// key, so that GnuPG takes its signatures as valid (fwknopd refuses a
// signature whose key is not).
func (h *gpgHome) trust(t *testing.T, other *gpgHome) {
	t.Helper()
	h.gpg(t, other.gpg(t, nil, "--export", other.fpr), "--import")
	h.gpg(t, nil, "--yes", "--quick-lsign-key", other.fpr)
}

// gpgKeys are the homes the GnuPG tests share (RSA keys take GnuPG
// seconds each to make): srv, the server's, which has certified cli's
// and eve's keys; cli, eve and stranger (unknown to srv) have srv's
// public key. Made by the first test that needs them, removed by
// TestMain.
type gpgKeys struct{ srv, cli, eve, stranger *gpgHome }

var (
	gpgOnce    sync.Once
	gpgShared  *gpgKeys
	gpgDir     string
	gpgMadeBad bool
)

func sharedGPG(t *testing.T) *gpgKeys {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("needs gpg (Debian package gnupg)")
	}
	gpgOnce.Do(func() {
		gpgMadeBad = true
		var err error
		if gpgDir, err = os.MkdirTemp("", "spa-gpg-"); err != nil {
			t.Fatal(err)
		}
		k := &gpgKeys{}
		k.srv = newGPGHome(t, gpgDir, "srv", "pw-srv")
		k.cli = newGPGHome(t, gpgDir, "cli", "pw-cli")
		k.eve = newGPGHome(t, gpgDir, "eve", "pw-eve")
		k.stranger = newGPGHome(t, gpgDir, "stranger", "pw-x")
		k.srv.trust(t, k.cli)
		k.srv.trust(t, k.eve)
		for _, h := range []*gpgHome{k.cli, k.eve, k.stranger} {
			h.gpg(t, k.srv.gpg(t, nil, "--export", k.srv.fpr), "--import")
		}
		for _, h := range []*gpgHome{k.srv, k.cli, k.eve, k.stranger} {
			h.export(t)
		}
		gpgShared, gpgMadeBad = k, false
	})
	if gpgMadeBad {
		t.Fatal("the GnuPG keys could not be made (see the first test that needed them)")
	}
	return gpgShared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gpgDir != "" {
		if gpgShared != nil {
			for _, h := range []*gpgHome{gpgShared.srv, gpgShared.cli, gpgShared.eve, gpgShared.stranger} {
				exec.Command("gpgconf", "--homedir", h.dir, "--kill", "gpg-agent").Run()
			}
		}
		os.RemoveAll(gpgDir)
	}
	os.Exit(code)
}

// entity reads h's key from its exported files, unlocked.
func (h *gpgHome) entity(t *testing.T, private bool) *openpgp.Entity {
	t.Helper()
	home, err := spa.ReadGPGHome(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	list := home.Public
	if private {
		list = home.Private
	}
	e, err := spa.Find(list, h.fpr)
	if err != nil {
		t.Fatal(err)
	}
	if private {
		if err := spa.Unlock(e, []byte(h.pass)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// TestGPGGnuPGReadsOurs: a packet from spa.EncodeGPG, its "hQ" put back
// and its HMAC checked as fwknopd does, is decrypted by gpg (the
// oracle) to the plaintext fwknop would encrypt, and gpg finds the
// signature good and by the client's key; unsigned, gpg finds none.
func TestGPGGnuPGReadsOurs(t *testing.T) {
	dir := t.TempDir()
	k := sharedGPG(t)
	srv, cli := k.srv, k.cli
	keys := spa.Keys{HMAC: []byte("an HMAC key")}
	m := &spa.Message{Rand: "1234567890123456", User: "alice", Timestamp: 1700000000, Type: spa.AccessMsg, Access: "198.18.0.1,tcp/22"}
	for _, signed := range []bool{true, false} {
		g := spa.GPGEncrypt{Recipient: srv.entity(t, false)}
		if signed {
			g.Signer = cli.entity(t, true)
		}
		pkt, err := spa.EncodeGPG(m, g, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkt) < 400 || len(pkt) > 1500 {
			t.Errorf("signed %v: packet of %d bytes, want 400 to 1500", signed, len(pkt))
		}
		enc := pkt[:len(pkt)-43]
		raw, err := base64.RawStdEncoding.DecodeString("hQ" + enc)
		if err != nil {
			t.Fatal(err)
		}
		status := filepath.Join(dir, "status")
		plain := srv.gpg(t, raw, "--status-file", status, "--decrypt")
		want := "1234567890123456:YWxpY2U:1700000000:3.0.0:1:MTk4LjE4LjAuMSx0Y3AvMjI:"
		if !strings.HasPrefix(string(plain), want) {
			t.Errorf("signed %v: gpg decrypted %q, want %q and the digest", signed, plain, want)
		}
		st, _ := os.ReadFile(status)
		good := strings.Contains(string(st), "[GNUPG:] VALIDSIG "+cli.fpr)
		if good != signed {
			t.Errorf("signed %v: gpg's status has VALIDSIG %s: %v:\n%s", signed, cli.fpr, good, st)
		}
	}
}

// gnupgPacket makes the packet fwknop -g makes: gpg encrypts (and with
// signer, signs) the plaintext, base64 without '=' and the first two
// characters, then the HMAC.
func gnupgPacket(t *testing.T, srv, signer *gpgHome, plain string, hmacKey []byte) string {
	t.Helper()
	args := []string{"--trust-model", "always", "--encrypt", "-r", srv.fpr}
	from := srv
	if signer != nil {
		args = append([]string{"--sign", "-u", signer.fpr}, args...)
		from = signer
	}
	raw := from.gpg(t, []byte(plain), args...)
	b := base64.RawStdEncoding.EncodeToString(raw)
	if !strings.HasPrefix(b, "hQ") {
		t.Fatalf("gpg's message starts with %q", b[:2])
	}
	return b[2:] + hmac256(hmacKey, "hQ"+b[2:])
}

// TestGPGDecodeGnuPGs: the packets gpg makes as fwknop does are decoded
// by spa.DecodeGPG to their message, and refused when unsigned with
// RequireSig, signed by a key not in GPG_REMOTE_ID or
// GPG_FINGERPRINT_ID, signed by a key the server does not have, or
// with a wrong HMAC.
func TestGPGDecodeGnuPGs(t *testing.T) {
	k := sharedGPG(t)
	srv, cli, eve, stranger := k.srv, k.cli, k.eve, k.stranger
	hk := []byte("an HMAC key")
	m := &spa.Message{Rand: "1234567890123456", User: "alice", Timestamp: 1700000000, Version: "3.0.0", Type: spa.AccessMsg, Access: "198.18.0.1,tcp/22"}
	plain := "1234567890123456:YWxpY2U:1700000000:3.0.0:1:MTk4LjE4LjAuMSx0Y3AvMjI"
	sum := sha256.Sum256([]byte(plain))
	plain += ":" + base64.RawStdEncoding.EncodeToString(sum[:])
	home, err := spa.ReadGPGHome(srv.dir)
	if err != nil {
		t.Fatal(err)
	}
	me, err := spa.Find(home.Private, srv.fpr)
	if err != nil {
		t.Fatal(err)
	}
	if err := spa.Unlock(me, []byte(srv.pass)); err != nil {
		t.Fatal(err)
	}
	keyring := append(openpgp.EntityList{me}, home.Public...)
	cliID := cli.fpr[len(cli.fpr)-8:]
	for _, c := range []struct {
		name   string
		signer *gpgHome
		g      spa.GPGDecrypt
		hmac   []byte
		want   error // nil: decoded
	}{
		{"signed, ID listed", cli, spa.GPGDecrypt{RequireSig: true, RemoteIDs: []string{"0BADC0DE", cliID}}, hk, nil},
		{"signed, fingerprint listed", cli, spa.GPGDecrypt{RequireSig: true, Fingerprints: []string{cli.fpr}}, hk, nil},
		{"signed, ID in lower case", cli, spa.GPGDecrypt{RequireSig: true, RemoteIDs: []string{strings.ToLower(cliID)}}, hk, spa.ErrDenied},
		{"signed by another key of the keyring", eve, spa.GPGDecrypt{RequireSig: true, RemoteIDs: []string{cliID}}, hk, spa.ErrDenied},
		{"signed by a key the server lacks", stranger, spa.GPGDecrypt{RequireSig: true, RemoteIDs: []string{cliID}}, hk, spa.ErrGPG},
		{"signed by a key the server lacks, errors ignored, its ID listed", stranger, spa.GPGDecrypt{RequireSig: true, IgnoreSigError: true, RemoteIDs: []string{stranger.fpr[32:]}}, hk, nil},
		{"unsigned, signature required", nil, spa.GPGDecrypt{RequireSig: true, RemoteIDs: []string{cliID}}, hk, spa.ErrGPG},
		{"unsigned, none required", nil, spa.GPGDecrypt{}, hk, nil},
		{"signed by anyone, none required", stranger, spa.GPGDecrypt{}, hk, nil},
		{"wrong HMAC key", cli, spa.GPGDecrypt{RequireSig: true, RemoteIDs: []string{cliID}}, []byte("another"), spa.ErrHMAC},
	} {
		t.Run(c.name, func(t *testing.T) {
			pkt := gnupgPacket(t, srv, c.signer, plain, hk)
			c.g.Keys = keyring
			got, err := spa.DecodeGPG(pkt, &c.g, spa.Keys{HMAC: c.hmac}, time.Now())
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("DecodeGPG: %v, want %v", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := *m
			want.DigestType = spa.DigestSHA256
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("DecodeGPG (-want +got):\n%s", diff)
			}
		})
	}
	// The prefix put back is refused, as fwknopd refuses it.
	pkt := gnupgPacket(t, srv, cli, plain, hk)
	enc := "hQ" + pkt[:len(pkt)-43]
	if _, err := spa.DecodeGPG(enc+hmac256(hk, "hQ"+enc), &spa.GPGDecrypt{Keys: keyring}, spa.Keys{HMAC: hk}, time.Now()); !errors.Is(err, spa.ErrFormat) {
		t.Errorf("a packet with hQ in front: %v, want %v", err, spa.ErrFormat)
	}
}

// hmac256 is fwknop's HMAC-SHA256 in unpadded base64.
func hmac256(key []byte, s string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil))
}

// TestGPGAccessFile: access.conf's GPG_* lines with fwknopd 2.6.10's
// rules: signatures required unless GPG_DISABLE_SIG (GPG_REQUIRE_SIG N
// alone changes nothing), then GPG_REMOTE_ID or GPG_FINGERPRINT_ID
// needed; a stanza may have GnuPG only (no KEY) but needs an HMAC key;
// a key that the passphrase does not unlock, a protected key with
// GPG_ALLOW_NO_PW, a missing home and GPG_* lines without GnuPG are
// refused at load with the stanza's line.
func TestGPGAccessFile(t *testing.T) {
	k := sharedGPG(t)
	base := fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22\nHMAC_KEY_BASE64 aG1hYw==\nGPG_HOME_DIR %s\n", k.srv.dir)
	cliID := k.cli.fpr[32:]
	for _, c := range []struct {
		name, extra string
		require     bool   // GPG.RequireSig, if loaded
		want        string // the error, if refused
	}{
		{"decrypt pw and remote ID", "GPG_DECRYPT_PW pw-srv\nGPG_REMOTE_ID " + cliID + "\n", true, ""},
		{"GPG_REQUIRE_SIG N alone", "GPG_DECRYPT_PW pw-srv\nGPG_REQUIRE_SIG N\nGPG_REMOTE_ID " + cliID + "\n", true, ""},
		{"GPG_DISABLE_SIG Y", "GPG_DECRYPT_PW pw-srv\nGPG_DISABLE_SIG Y\n", false, ""},
		{"GPG_DECRYPT_ID by mail", "GPG_DECRYPT_PW pw-srv\nGPG_DECRYPT_ID <srv@example.invalid>\nGPG_FINGERPRINT_ID " + k.cli.fpr + "\n", true, ""},
		{"no remote ID", "GPG_DECRYPT_PW pw-srv\n", false, ":1: GnuPG signatures are checked"},
		{"wrong passphrase", "GPG_DECRYPT_PW nope\nGPG_DISABLE_SIG Y\n", false, ":1: GPG_DECRYPT_PW: spa: GnuPG: key " + k.srv.fpr + ": wrong passphrase?"},
		{"protected key, GPG_ALLOW_NO_PW", "GPG_ALLOW_NO_PW Y\nGPG_DISABLE_SIG Y\n", false, "is protected by a passphrase, and none is given"},
		{"unknown GPG_DECRYPT_ID", "GPG_DECRYPT_PW pw-srv\nGPG_DISABLE_SIG Y\nGPG_DECRYPT_ID 0BADC0DE\n", false, `GPG_DECRYPT_ID: spa: GnuPG: no key "0BADC0DE"`},
		{"GPG_REMOTE_ID without GnuPG", "KEY k\nGPG_REMOTE_ID " + cliID + "\n", false, ":1: GPG_HOME_DIR without GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y has no effect"},
		{"unknown GPG key", "GPG_DECRYPT_PW pw-srv\nGPG_AGENT_INFO x\n", false, ":6: GPG_AGENT_INFO is not supported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := spa.ParseAccessFile(strings.NewReader(base+c.extra), "access.conf")
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "access.conf:") {
					t.Fatalf("got %v, want an error with %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st[0].GPG == nil || st[0].GPG.RequireSig != c.require || len(st[0].Keys.Enc) != 0 {
				t.Fatalf("GPG %+v, Enc %q; want RequireSig %v", st[0].GPG, st[0].Keys.Enc, c.require)
			}
		})
	}
	if _, err := spa.ParseAccessFile(strings.NewReader(fmt.Sprintf("SOURCE ANY\nOPEN_PORTS tcp/22\nGPG_HOME_DIR %s\nGPG_DECRYPT_PW pw-srv\nGPG_DISABLE_SIG Y\n", k.srv.dir)), "access.conf"); err == nil || !strings.Contains(err.Error(), "ports requires an HMAC for GnuPG-encrypted packets too") {
		t.Errorf("GnuPG without an HMAC key: %v", err)
	}
	if _, err := spa.ParseAccessFile(strings.NewReader("SOURCE ANY\nOPEN_PORTS tcp/22\nHMAC_KEY h\nGPG_HOME_DIR /nonexistent\n"), "access.conf"); err == nil || !strings.Contains(err.Error(), `access.conf:4: GPG_HOME_DIR: directory "/nonexistent" does not exist`) {
		t.Errorf("a missing GPG_HOME_DIR: %v", err)
	}
}
