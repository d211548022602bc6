package spa

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// gpgConf is a stanza's GPG_* lines, as read.
type gpgConf struct {
	homeDir, decryptID, decryptPW, exe string
	hasPW, allowNoPW                   bool
	requireSig, disableSig, ignoreErr  bool
	remoteIDs, fingerprints            []string
	first                              string // the first GPG_* key seen, for messages
}

var errUnknownKey = errors.New("unknown key")

// set reads one GPG_* line.
func (c *gpgConf) set(key, value string) error {
	var err error
	switch key {
	case "GPG_HOME_DIR":
		if fi, serr := os.Stat(value); serr != nil || !fi.IsDir() {
			return fmt.Errorf("directory %q does not exist", value)
		}
		c.homeDir = value
	case "GPG_DECRYPT_ID":
		c.decryptID = value
	case "GPG_DECRYPT_PW":
		c.decryptPW, c.hasPW = value, true
	case "GPG_ALLOW_NO_PW":
		c.allowNoPW, err = yesNo(value)
	case "GPG_REQUIRE_SIG":
		c.requireSig, err = yesNo(value)
	case "GPG_DISABLE_SIG":
		c.disableSig, err = yesNo(value)
	case "GPG_IGNORE_SIG_VERIFY_ERROR":
		c.ignoreErr, err = yesNo(value)
	case "GPG_REMOTE_ID":
		c.remoteIDs = splitList(value)
	case "GPG_FINGERPRINT_ID":
		c.fingerprints = splitList(value)
	case "GPG_EXE":
		c.exe = value
	default:
		return errUnknownKey
	}
	if c.first == "" {
		c.first = key
	}
	return err
}

// splitList splits fwknopd's comma-separated lists.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// defaultGPGHome is GPG_HOME_DIR's default: ~/.gnupg of the user
// running the server (fwknopd's is fwknopd.conf's GPG_HOME_DIR,
// /root/.gnupg).
func defaultGPGHome() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".gnupg"
	}
	return filepath.Join(home, ".gnupg")
}

// loadGPG turns the stanza's GPG_* lines into st.GPG, with fwknopd's
// rules: the stanza uses GnuPG with GPG_DECRYPT_PW or GPG_ALLOW_NO_PW
// Y; signatures are then required unless GPG_DISABLE_SIG Y (fwknopd
// 2.6.10 turns GPG_REQUIRE_SIG N back on without it), and with them
// GPG_REMOTE_ID or GPG_FINGERPRINT_ID (fwknopd will not start
// without). GPG_* lines in a stanza that does not use GnuPG are
// refused, where fwknopd ignores them.
func (st *Stanza) loadGPG() error {
	c := &st.gpg
	if !c.hasPW && !c.allowNoPW {
		if c.first != "" {
			return fmt.Errorf("%s without GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y has no effect (fwknopd ignores it)", c.first)
		}
		return nil
	}
	require := c.requireSig || !c.disableSig
	if !c.disableSig && len(c.remoteIDs) == 0 && len(c.fingerprints) == 0 {
		return errors.New("GnuPG signatures are checked (GPG_REQUIRE_SIG, the default unless GPG_DISABLE_SIG Y), so GPG_REMOTE_ID or GPG_FINGERPRINT_ID is needed, as fwknopd requires")
	}
	dir := c.homeDir
	if dir == "" {
		dir = defaultGPGHome()
	}
	home, err := ReadGPGHome(dir)
	if err != nil {
		return fmt.Errorf("GPG_HOME_DIR: %v", err)
	}
	pass := []byte(c.decryptPW)
	if c.allowNoPW && !c.hasPW {
		pass = nil
	}
	var dec openpgp.EntityList
	if c.decryptID != "" {
		e, err := Find(home.Private, c.decryptID)
		if err != nil {
			return fmt.Errorf("GPG_DECRYPT_ID: %v (among the private keys of %s)", err, filepath.Join(dir, "secring.gpg"))
		}
		dec = openpgp.EntityList{e}
	} else {
		dec = home.Private
	}
	if len(dec) == 0 {
		return fmt.Errorf("GnuPG: %s has no private key to decrypt with", filepath.Join(dir, "secring.gpg"))
	}
	for _, e := range dec {
		if err := Unlock(e, pass); err != nil {
			return fmt.Errorf("GPG_DECRYPT_PW: %v", err)
		}
	}
	st.GPG = &GPGDecrypt{
		Keys:           append(append(openpgp.EntityList{}, dec...), home.Public...),
		RequireSig:     require,
		IgnoreSigError: c.ignoreErr,
		RemoteIDs:      c.remoteIDs,
		Fingerprints:   c.fingerprints,
	}
	return nil
}
