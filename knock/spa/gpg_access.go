package spa

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// GPGConfig is a stanza's GnuPG settings as access.conf gives them
// (see NewGPGDecrypt).
type GPGConfig struct {
	HomeDir   string // GPG_HOME_DIR; "" means ~/.gnupg
	DecryptID string // GPG_DECRYPT_ID: the key to decrypt with; "" means every private key of the home
	DecryptPW string // GPG_DECRYPT_PW: its passphrase
	AllowNoPW bool   // GPG_ALLOW_NO_PW: the key has none

	RequireSig, DisableSig  bool     // GPG_REQUIRE_SIG, GPG_DISABLE_SIG
	IgnoreSigError          bool     // GPG_IGNORE_SIG_VERIFY_ERROR
	RemoteIDs, Fingerprints []string // GPG_REMOTE_ID, GPG_FINGERPRINT_ID
	Exe                     string   // GPG_EXE: read, of no use (ports does not run gpg)
}

// gpgConf is a stanza's GPG_* lines, as read.
type gpgConf struct {
	GPGConfig
	first string // the first GPG_* key seen, for messages
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
		c.HomeDir = value
	case "GPG_DECRYPT_ID":
		c.DecryptID = value
	case "GPG_DECRYPT_PW":
		c.DecryptPW = value
	case "GPG_ALLOW_NO_PW":
		c.AllowNoPW, err = yesNo(value)
	case "GPG_REQUIRE_SIG":
		c.RequireSig, err = yesNo(value)
	case "GPG_DISABLE_SIG":
		c.DisableSig, err = yesNo(value)
	case "GPG_IGNORE_SIG_VERIFY_ERROR":
		c.IgnoreSigError, err = yesNo(value)
	case "GPG_REMOTE_ID":
		c.RemoteIDs = splitList(value)
	case "GPG_FINGERPRINT_ID":
		c.Fingerprints = splitList(value)
	case "GPG_EXE":
		c.Exe = value
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

// loadGPG turns the stanza's GPG_* lines into st.GPG (see
// NewGPGDecrypt). GPG_* lines in a stanza that does not use GnuPG are
// refused, where fwknopd ignores them.
func (st *Stanza) loadGPG() error {
	c := &st.gpg
	if c.DecryptPW == "" && !c.AllowNoPW {
		if c.first != "" {
			return fmt.Errorf("%s without GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y has no effect (fwknopd ignores it)", c.first)
		}
		return nil
	}
	g, err := NewGPGDecrypt(c.GPGConfig)
	st.GPG = g
	return err
}

// NewGPGDecrypt reads the keys c names, with fwknopd's rules: GnuPG is
// used with DecryptPW or AllowNoPW (else it is an error); signatures
// are then required unless DisableSig (fwknopd 2.6.10 turns
// GPG_REQUIRE_SIG N back on without GPG_DISABLE_SIG), and without
// DisableSig RemoteIDs or Fingerprints must be given (fwknopd will not
// start without).
func NewGPGDecrypt(c GPGConfig) (*GPGDecrypt, error) {
	if c.DecryptPW == "" && !c.AllowNoPW {
		return nil, errors.New("GnuPG needs GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y")
	}
	if !c.DisableSig && len(c.RemoteIDs) == 0 && len(c.Fingerprints) == 0 {
		return nil, errors.New("GnuPG signatures are checked (GPG_REQUIRE_SIG, the default unless GPG_DISABLE_SIG Y), so GPG_REMOTE_ID or GPG_FINGERPRINT_ID is needed, as fwknopd requires")
	}
	dir := c.HomeDir
	if dir == "" {
		dir = defaultGPGHome()
	}
	home, err := ReadGPGHome(dir)
	if err != nil {
		return nil, fmt.Errorf("GPG_HOME_DIR: %v", err)
	}
	var dec openpgp.EntityList
	if c.DecryptID != "" {
		e, err := Find(home.Private, c.DecryptID)
		if err != nil {
			return nil, fmt.Errorf("GPG_DECRYPT_ID: %v (among the private keys of %s)", err, filepath.Join(dir, "secring.gpg"))
		}
		dec = openpgp.EntityList{e}
	} else {
		dec = home.Private
	}
	if len(dec) == 0 {
		return nil, fmt.Errorf("GnuPG: %s has no private key to decrypt with", filepath.Join(dir, "secring.gpg"))
	}
	for _, e := range dec {
		if err := Unlock(e, []byte(c.DecryptPW)); err != nil {
			return nil, fmt.Errorf("GPG_DECRYPT_PW: %v", err)
		}
	}
	return &GPGDecrypt{
		Keys:           append(append(openpgp.EntityList{}, dec...), home.Public...),
		RequireSig:     c.RequireSig || !c.DisableSig,
		IgnoreSigError: c.IgnoreSigError,
		RemoteIDs:      c.RemoteIDs,
		Fingerprints:   c.Fingerprints,
	}, nil
}
