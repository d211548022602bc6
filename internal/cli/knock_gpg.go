package cli

import (
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/spf13/cobra"

	"github.com/portkit/ports/knock/spa"
)

// gpgFlags are ports knock --spa's GnuPG options, fwknop's -g and
// --gpg-*.
type gpgFlags struct {
	use                         bool
	recipient, signer, home, pw string
	noPW                        bool
	changed                     func() bool
}

func (g *gpgFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVarP(&g.use, "gpg-encryption", "g", false, "SPA: encrypt with GnuPG to the server's key (fwknop -g) instead of Rijndael; keys come from --gpg-home-dir's pubring.gpg and secring.gpg")
	fs.StringVar(&g.recipient, "gpg-recipient", "", "SPA: the server's GnuPG key (a key ID, fingerprint, <mail> or part of its user ID), fwknop's --gpg-recipient-key; implies -g")
	fs.StringVar(&g.recipient, "gpg-recipient-key", "", "SPA: the same as --gpg-recipient")
	fs.StringVar(&g.signer, "gpg-signer", "", "SPA: sign with this GnuPG key of yours (fwknop's --gpg-signer-key)")
	fs.StringVar(&g.signer, "gpg-signer-key", "", "SPA: the same as --gpg-signer")
	fs.StringVar(&g.home, "gpg-home-dir", "", "SPA: the GnuPG home whose exported keyrings (pubring.gpg, secring.gpg) hold the keys (default ~/.gnupg)")
	fs.StringVar(&g.pw, "gpg-signing-pw", "", "SPA: the passphrase of the --gpg-signer key (fwknoprc's GPG_SIGNING_PW)")
	fs.BoolVar(&g.noPW, "gpg-no-signing-pw", false, "SPA: the signer's key has no passphrase (fwknop's --gpg-no-signing-pw)")
	fs.MarkHidden("gpg-recipient-key")
	fs.MarkHidden("gpg-signer-key")
	g.changed = func() bool {
		for _, n := range []string{"gpg-encryption", "gpg-recipient", "gpg-recipient-key", "gpg-signer", "gpg-signer-key", "gpg-home-dir", "gpg-signing-pw", "gpg-no-signing-pw"} {
			if fs.Changed(n) {
				return true
			}
		}
		return false
	}
}

// set reports whether any GnuPG option was given.
func (g *gpgFlags) set() bool { return g.changed != nil && g.changed() }

// encrypt gathers the keys for a GnuPG-encrypted packet from the flags
// and the rc stanza (the flags first); nil, nil when neither asks for
// GnuPG.
func (g *gpgFlags) encrypt(rc spa.RCGPG) (*spa.GPGEncrypt, error) {
	recipient, signer, home, pw := g.recipient, g.signer, g.home, []byte(g.pw)
	if recipient == "" {
		recipient = rc.Recipient
	}
	if !g.use && !rc.Use && g.recipient == "" {
		if g.set() {
			return nil, usagef("--gpg-* options need -g (or --gpg-recipient)")
		}
		return nil, nil
	}
	if recipient == "" {
		return nil, usagef("GnuPG encryption needs the server's key: --gpg-recipient (or GPG_RECIPIENT in the rc stanza)")
	}
	if signer == "" {
		signer = rc.Signer
	}
	if home == "" {
		home = rc.HomeDir
	}
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, usagef("--gpg-home-dir: %v", err)
		}
		home = filepath.Join(h, ".gnupg")
	}
	if len(pw) == 0 {
		pw = rc.SigningPW
	}
	noPW := g.noPW || rc.NoSigningPW
	gh, err := spa.ReadGPGHome(home)
	if err != nil {
		return nil, usagef("%v", err)
	}
	all := append(append(openpgp.EntityList{}, gh.Public...), gh.Private...)
	to, err := spa.Find(gh.Public, recipient)
	if err != nil {
		if to, err = spa.Find(all, recipient); err != nil {
			return nil, usagef("--gpg-recipient: %v", err)
		}
	}
	ge := &spa.GPGEncrypt{Recipient: to}
	if signer != "" {
		if len(pw) == 0 && !noPW {
			return nil, usagef("the signer's passphrase is needed: --gpg-signing-pw (or GPG_SIGNING_PW), or --gpg-no-signing-pw for a key without one")
		}
		if ge.Signer, err = spa.Find(gh.Private, signer); err != nil {
			return nil, usagef("--gpg-signer: %v", err)
		}
		if err := spa.Unlock(ge.Signer, pw); err != nil {
			return nil, usagef("--gpg-signer: %v", err)
		}
	}
	return ge, nil
}
