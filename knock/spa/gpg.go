package spa

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// GnuPG-encrypted SPA (fwknop -g, access.conf GPG_*).
//
// fwknop encrypts the same plaintext as for Rijndael (the fields, ':'
// and the message digest) to the server's key with GnuPG, optionally
// signed, unarmored; the binary message is base64-encoded without '='
// and the first two characters, always "hQ" (an old-format public-key
// session key packet with a two-byte length: 0x85 0x0?), are dropped;
// the HMAC is computed over the message with "hQ" in front and
// appended, as for Rijndael over "U2FsdGVkX1". fwknopd takes any packet
// of MIN_GNUPG_MSG_SIZE (400) bytes or more for GnuPG-encrypted, adds
// "hQ" back, and ignores one that still starts with "hQ" (a prefix
// put back by someone replaying a packet). The OpenPGP work is
// github.com/ProtonMail/go-crypto's; only the framing is written here.
//
// Since fwknop always strips two characters that must be "hQ", it works
// only for keys whose session key packet is 256 to 4095 bytes long in
// GnuPG's encoding: RSA keys of 2048 bits or more (an ECC key's packet
// is shorter, GnuPG gives it a one-byte length, "hF...", and fwknop's
// packets then never decrypt). EncodeGPG writes the packet with a
// two-byte length whatever its size, so ports' packets decrypt with any
// key GnuPG reads; DecodeGPG takes what fwknopd takes.

const (
	b64GPGPrefix = "hQ"
	gpgLenMax    = 0x0fff // longest first packet whose two-byte old-format header gives "hQ"
)

// ErrGPG is wrapped by the errors of GnuPG-encrypted packets: keys
// that cannot be read, decryption, and signature checks.
var ErrGPG = errors.New("spa: GnuPG")

// GPGEncrypt is what a client needs to make a GnuPG-encrypted packet:
// the server's public key (fwknop --gpg-recipient-key) and, to sign it,
// the client's private key, already decrypted (--gpg-signer-key).
type GPGEncrypt struct {
	Recipient *openpgp.Entity
	Signer    *openpgp.Entity // nil: not signed
}

// GPGDecrypt is a stanza's GnuPG settings (access.conf), for a server.
type GPGDecrypt struct {
	// Keys are the private keys that may decrypt (GPG_DECRYPT_ID's,
	// decrypted with GPG_DECRYPT_PW), and the public keys whose
	// signatures are checked (the keyring of GPG_HOME_DIR).
	Keys openpgp.EntityList

	// RequireSig is GPG_REQUIRE_SIG: the packet must be signed, by a key
	// in Keys, with a good signature (unless IgnoreSigError), by a key
	// whose fingerprint is in Fingerprints (if any) and whose ID is in
	// RemoteIDs (if any). Without it, signatures are not looked at, as
	// in fwknopd.
	RequireSig bool

	// IgnoreSigError is GPG_IGNORE_SIG_VERIFY_ERROR: a signature that
	// does not verify (or by a key not in Keys) still counts, and the
	// ID checks use the key ID the signature names.
	IgnoreSigError bool

	// RemoteIDs is GPG_REMOTE_ID: signers' short key IDs, the last 8 hex
	// digits of the fingerprint, in capitals (fwknopd compares them as
	// strings, as GnuPG prints them).
	RemoteIDs []string

	// Fingerprints is GPG_FINGERPRINT_ID: signers' fingerprints, 40 hex
	// digits in capitals without blanks.
	Fingerprints []string
}

// EncodeGPG builds a GnuPG-encrypted SPA packet for m, as fwknop -g
// does, with its HMAC (keys.HMAC, keys.HMACType; keys.Enc and Mode are
// not used). rnd nil means crypto/rand.
func EncodeGPG(m *Message, g GPGEncrypt, keys Keys, rnd io.Reader) (string, error) {
	if g.Recipient == nil {
		return "", fmt.Errorf("%w: no recipient key", ErrGPG)
	}
	if len(keys.HMAC) == 0 {
		return "", fmt.Errorf("%w: the HMAC key is needed", ErrNoKey)
	}
	if !keys.HMACType.valid() || !m.DigestType.valid() {
		return "", fmt.Errorf("%w: HMAC %v, message digest %v", ErrDigestType, keys.HMACType, m.DigestType)
	}
	plain, err := m.plaintext(rnd)
	if err != nil {
		return "", err
	}
	cfg := &packet.Config{Rand: rnd}
	var buf bytes.Buffer
	w, err := openpgp.Encrypt(&buf, []*openpgp.Entity{g.Recipient}, g.Signer, &openpgp.FileHints{IsBinary: true}, cfg)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrGPG, err)
	}
	if _, err := io.WriteString(w, plain); err != nil {
		return "", fmt.Errorf("%w: %v", ErrGPG, err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("%w: %v", ErrGPG, err)
	}
	raw, err := oldFormatFirst(buf.Bytes())
	if err != nil {
		return "", err
	}
	full := b64enc(raw)
	if !strings.HasPrefix(full, b64GPGPrefix) {
		return "", fmt.Errorf("%w: the message does not start with %q", ErrGPG, b64GPGPrefix)
	}
	enc := full[len(b64GPGPrefix):]
	pkt := enc + keys.HMACType.hmacB64(keys.HMAC, b64GPGPrefix, enc)
	if len(pkt) > maxPacket {
		return "", fmt.Errorf("%w: the packet would have %d bytes, more than fwknopd's %d (a smaller key, or fewer ports)", ErrFormat, len(pkt), maxPacket)
	}
	if len(pkt) < gnupgPacket {
		return "", fmt.Errorf("%w: the packet would have %d bytes: fwknopd takes one under %d for Rijndael", ErrFormat, len(pkt), gnupgPacket)
	}
	return pkt, nil
}

// oldFormatFirst rewrites the header of b's first packet (a public-key
// encrypted session key, which go-crypto writes in the new format) in
// the old format with a two-byte length, as GnuPG writes it: the form
// whose base64 starts with "hQ".
func oldFormatFirst(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0xc0|1 {
		return nil, fmt.Errorf("%w: the message does not start with a public-key session key packet", ErrGPG)
	}
	var n, hdr int
	switch l := int(b[1]); {
	case l < 192:
		n, hdr = l, 2
	case l < 224 && len(b) >= 3:
		n, hdr = (l-192)<<8+int(b[2])+192, 3
	case l == 255 && len(b) >= 6:
		n, hdr = int(b[2])<<24|int(b[3])<<16|int(b[4])<<8|int(b[5]), 6
	default:
		return nil, fmt.Errorf("%w: bad length in the session key packet", ErrGPG)
	}
	if n > gpgLenMax || hdr+n > len(b) {
		return nil, fmt.Errorf("%w: a session key packet of %d bytes (fwknop's framing needs at most %d: a smaller key)", ErrGPG, n, gpgLenMax)
	}
	out := make([]byte, 0, len(b)+3)
	out = append(out, 0x80|1<<2|1, byte(n>>8), byte(n))
	return append(out, b[hdr:]...), nil
}

// plaintext is what is encrypted: the fields, ':' and the digest, with
// the random value, time and version filled in as Encode does.
func (m *Message) plaintext(rnd io.Reader) (string, error) {
	mm, err := m.filled(rnd)
	if err != nil {
		return "", err
	}
	fields, err := mm.fields()
	if err != nil {
		return "", err
	}
	return fields + ":" + mm.DigestType.sumB64(fields), nil
}

// verifyGPGHMAC is verifyHMAC for a GnuPG packet: the HMAC is over
// "hQ" and the message. It also refuses a packet that starts with "hQ"
// itself, as fwknopd does (someone put the prefix back).
func verifyGPGHMAC(packet string, hmacKey []byte, t DigestType) (string, error) {
	if len(hmacKey) == 0 {
		return "", fmt.Errorf("%w: no HMAC key", ErrNoKey)
	}
	if len(packet) < gnupgPacket || len(packet) > maxPacket {
		return "", fmt.Errorf("%w: %d bytes (a GnuPG packet has %d to %d)", ErrFormat, len(packet), gnupgPacket, maxPacket)
	}
	if !isB64(packet) {
		return "", fmt.Errorf("%w: not base64", ErrFormat)
	}
	n := t.b64Len()
	enc, tag := packet[:len(packet)-n], packet[len(packet)-n:]
	if !hmac.Equal([]byte(t.hmacB64(hmacKey, b64GPGPrefix, enc)), []byte(tag)) {
		return "", ErrHMAC
	}
	if strings.HasPrefix(enc, b64GPGPrefix) {
		return "", fmt.Errorf("%w: the packet starts with %q, which fwknop always strips (a replay with the prefix put back?)", ErrFormat, b64GPGPrefix)
	}
	return enc, nil
}

// maxGPGPlain bounds the decrypted (and decompressed) plaintext.
const maxGPGPlain = maxPacket

// DecodeGPG checks and decrypts a GnuPG-encrypted packet: the HMAC
// first (keys.HMAC, keys.HMACType), then decryption with g.Keys, the
// signature as g says, and the inner digest. now is for the keys'
// validity (zero: the current time).
func DecodeGPG(packet string, g *GPGDecrypt, keys Keys, now time.Time) (*Message, error) {
	if !keys.HMACType.valid() {
		return nil, fmt.Errorf("%w: HMAC %v", ErrDigestType, keys.HMACType)
	}
	enc, err := verifyGPGHMAC(packet, keys.HMAC, keys.HMACType)
	if err != nil {
		return nil, err
	}
	return decryptGPG(enc, g, now)
}

func decryptGPG(enc string, g *GPGDecrypt, now time.Time) (*Message, error) {
	raw, err := b64dec(b64GPGPrefix + enc)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypted data has a bad encoding", ErrFormat)
	}
	if now.IsZero() {
		now = time.Now()
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	md, err := openpgp.ReadMessage(bytes.NewReader(raw), g.Keys, nil, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decrypt: %v", ErrDecrypt, err)
	}
	if md.IsSymmetricallyEncrypted && md.DecryptedWith.PrivateKey == nil {
		return nil, fmt.Errorf("%w: not encrypted to a key of the stanza", ErrDecrypt)
	}
	plain, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, maxGPGPlain+1))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decrypt: %v", ErrDecrypt, err)
	}
	if len(plain) > maxGPGPlain {
		return nil, fmt.Errorf("%w: the decrypted message has more than %d bytes", ErrFormat, maxGPGPlain)
	}
	if g.RequireSig {
		if err := g.checkSig(md); err != nil {
			return nil, err
		}
	}
	return ParsePlaintext(string(plain))
}

// checkSig applies GPG_REQUIRE_SIG, GPG_IGNORE_SIG_VERIFY_ERROR,
// GPG_FINGERPRINT_ID and GPG_REMOTE_ID to a read message, as fwknopd.
func (g *GPGDecrypt) checkSig(md *openpgp.MessageDetails) error {
	if !md.IsSigned {
		return fmt.Errorf("%w: the packet is not signed (GPG_REQUIRE_SIG)", ErrGPG)
	}
	// GnuPG names the signer by its fingerprint when it has the key,
	// else by the long key ID the signature gives.
	fpr := fmt.Sprintf("%016X", md.SignedByKeyId)
	if md.SignedBy != nil {
		fpr = fmt.Sprintf("%X", md.SignedBy.PublicKey.Fingerprint)
	}
	if !g.IgnoreSigError {
		switch {
		case md.SignedBy == nil:
			return fmt.Errorf("%w: signed by %s, a key not in the keyring", ErrGPG, fpr)
		case md.SignatureError != nil:
			return fmt.Errorf("%w: bad signature by %s: %v", ErrGPG, fpr, md.SignatureError)
		}
	}
	if len(g.Fingerprints) > 0 && !contains(g.Fingerprints, fpr) {
		return fmt.Errorf("%w: signed by %s, a fingerprint not in GPG_FINGERPRINT_ID", ErrDenied, fpr)
	}
	if id := fpr[len(fpr)-8:]; len(g.RemoteIDs) > 0 && !contains(g.RemoteIDs, id) {
		return fmt.Errorf("%w: signed by ID %s, which is not in GPG_REMOTE_ID", ErrDenied, id)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// GPGHome is a GnuPG home directory's keys, as ports reads them: the
// OpenPGP keyring files pubring.gpg (public keys) and secring.gpg
// (private keys), binary or armored, which is GnuPG 1's layout. GnuPG
// 2.1 and later keep public keys in pubring.kbx and private ones in
// private-keys-v1.d, formats of its own that go-crypto does not read;
// for those, export the keys next to them once (the passphrase stays on
// the private keys):
//
//	gpg --homedir DIR --export >DIR/pubring.gpg
//	gpg --homedir DIR --export-secret-keys >DIR/secring.gpg
//
// (GnuPG 2 itself goes on using its own files: it reads pubring.gpg
// only when there is no pubring.kbx, and secring.gpg never once it has
// migrated.)
type GPGHome struct {
	Dir     string
	Public  openpgp.EntityList // pubring.gpg
	Private openpgp.EntityList // secring.gpg, still encrypted
}

// maxKeyring bounds each keyring file.
const maxKeyring = 16 << 20

// ReadGPGHome reads dir's pubring.gpg and secring.gpg; either may be
// missing, not both.
func ReadGPGHome(dir string) (*GPGHome, error) {
	h := &GPGHome{Dir: dir}
	found := false
	for _, f := range []struct {
		name string
		dst  *openpgp.EntityList
	}{{"pubring.gpg", &h.Public}, {"secring.gpg", &h.Private}} {
		path := filepath.Join(dir, f.name)
		el, err := readKeyringFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		*f.dst, found = el, true
	}
	if !found {
		hint := ""
		if _, err := os.Stat(filepath.Join(dir, "pubring.kbx")); err == nil {
			hint = " (it is GnuPG 2's: export the keys to pubring.gpg and secring.gpg with gpg --homedir " + dir + " --export and --export-secret-keys)"
		}
		return nil, fmt.Errorf("%w: %s has neither pubring.gpg nor secring.gpg%s", ErrGPG, dir, hint)
	}
	return h, nil
}

func readKeyringFile(path string) (openpgp.EntityList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyring+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGPG, err)
	}
	if len(data) > maxKeyring {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrGPG, path, maxKeyring)
	}
	el, err := ParseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrGPG, path, err)
	}
	return el, nil
}

// ParseKeyring reads OpenPGP keys, binary or armored.
func ParseKeyring(data []byte) (openpgp.EntityList, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		var all openpgp.EntityList
		r := bytes.NewReader(data)
		for {
			block, err := armor.Decode(r)
			if err == io.EOF {
				break
			}
			if err != nil {
				if len(all) > 0 {
					break
				}
				return nil, err
			}
			el, err := openpgp.ReadKeyRing(block.Body)
			if err != nil {
				return nil, err
			}
			all = append(all, el...)
		}
		return all, nil
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}

// Find returns the one key of list that spec names, as GnuPG takes a
// key name: a key ID (8 or 16 hex digits, with or without 0x) or a
// fingerprint (40) of the key or a subkey, "<mail>" for a user ID with
// that address, "=uid" for that exact user ID, else a user ID
// containing spec in any case. None or more than one is an error, as
// fwknop refuses an ambiguous name.
func Find(list openpgp.EntityList, spec string) (*openpgp.Entity, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, fmt.Errorf("%w: empty key name", ErrGPG)
	}
	hex := strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	isHex := (len(hex) == 8 || len(hex) == 16 || len(hex) == 40) && strings.Trim(hex, "0123456789ABCDEF") == ""
	keyMatch := func(pk *packet.PublicKey) bool {
		f := fmt.Sprintf("%X", pk.Fingerprint)
		return strings.HasSuffix(f, hex)
	}
	var found []*openpgp.Entity
	for _, e := range list {
		ok := false
		switch {
		case isHex:
			ok = keyMatch(e.PrimaryKey)
			for _, sk := range e.Subkeys {
				ok = ok || keyMatch(sk.PublicKey)
			}
		default:
			for name, id := range e.Identities {
				switch {
				case strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">"):
					ok = ok || strings.EqualFold(id.UserId.Email, s[1:len(s)-1])
				case strings.HasPrefix(s, "="):
					ok = ok || name == s[1:]
				default:
					ok = ok || strings.Contains(strings.ToLower(name), strings.ToLower(s))
				}
			}
		}
		if ok {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: no key %q", ErrGPG, spec)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: key name %q is ambiguous (%d keys)", ErrGPG, spec, len(found))
}

// Unlock decrypts e's private keys with pass; with pass empty, they
// must not be protected (fwknop --gpg-no-signing-pw, GPG_ALLOW_NO_PW).
func Unlock(e *openpgp.Entity, pass []byte) error {
	if e.PrivateKey == nil {
		return fmt.Errorf("%w: key %X has no private key here (secring.gpg)", ErrGPG, e.PrimaryKey.Fingerprint)
	}
	protected := e.PrivateKey.Encrypted
	for _, sk := range e.Subkeys {
		protected = protected || sk.PrivateKey != nil && sk.PrivateKey.Encrypted
	}
	if !protected {
		return nil
	}
	if len(pass) == 0 {
		return fmt.Errorf("%w: key %X is protected by a passphrase, and none is given", ErrGPG, e.PrimaryKey.Fingerprint)
	}
	if err := e.DecryptPrivateKeys(pass); err != nil {
		return fmt.Errorf("%w: key %X: wrong passphrase? %v", ErrGPG, e.PrimaryKey.Fingerprint, err)
	}
	return nil
}
