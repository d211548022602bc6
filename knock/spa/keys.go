package spa

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// GenerateKeys makes a new key pair as fwknop --key-gen does: 32 random
// bytes for Rijndael and 64 for HMAC-SHA256. rnd nil means crypto/rand.
func GenerateKeys(rnd io.Reader) (Keys, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	k := Keys{Enc: make([]byte, 32), HMAC: make([]byte, 64)}
	if _, err := io.ReadFull(rnd, k.Enc); err != nil {
		return Keys{}, err
	}
	if _, err := io.ReadFull(rnd, k.HMAC); err != nil {
		return Keys{}, err
	}
	return k, nil
}

// Format writes k as fwknop --key-gen prints it (padded base64):
//
//	KEY_BASE64: ...
//	HMAC_KEY_BASE64: ...
func (k Keys) Format() string {
	return "KEY_BASE64: " + base64.StdEncoding.EncodeToString(k.Enc) + "\n" +
		"HMAC_KEY_BASE64: " + base64.StdEncoding.EncodeToString(k.HMAC) + "\n"
}

// ParseKeyFile reads keys from a file in the form of fwknop's ~/.fwknoprc
// or the output of --key-gen: lines "NAME VALUE" or "NAME: VALUE" where
// NAME is KEY_BASE64, HMAC_KEY_BASE64, KEY (a passphrase), HMAC_KEY
// (a passphrase) or HMAC_DIGEST_TYPE; other lines and # comments are
// ignored. With a
// stanza name, only the lines of the [stanza] section count; without,
// the first value of each name in the file. name is used in errors.
func ParseKeyFile(r io.Reader, name, stanza string) (Keys, error) {
	var k Keys
	sc := bufio.NewScanner(r)
	line := 0
	section := ""
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' && t[len(t)-1] == ']' {
			section = t[1 : len(t)-1]
			continue
		}
		if stanza != "" && section != stanza {
			continue
		}
		key, value := splitDirective(t)
		switch key {
		case "KEY_BASE64", "HMAC_KEY_BASE64":
			b, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				return Keys{}, fmt.Errorf("%s:%d: %s is not valid base64", name, line, key)
			}
			if key == "KEY_BASE64" && k.Enc == nil {
				k.Enc = b
			} else if key == "HMAC_KEY_BASE64" && k.HMAC == nil {
				k.HMAC = b
			}
		case "KEY":
			if k.Enc == nil {
				k.Enc = []byte(value)
			}
		case "HMAC_KEY":
			if k.HMAC == nil {
				k.HMAC = []byte(value)
			}
		case "HMAC_DIGEST_TYPE":
			if k.HMACType == 0 {
				t, err := ParseDigestType(value)
				if err != nil {
					return Keys{}, fmt.Errorf("%s:%d: HMAC_DIGEST_TYPE: %v", name, line, err)
				}
				k.HMACType = t
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Keys{}, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

// splitDirective splits "NAME VALUE", "NAME: VALUE" or "NAME  VALUE;"
// into an upper-case name and a value.
func splitDirective(t string) (string, string) {
	i := strings.IndexAny(t, " \t:")
	if i < 0 {
		return strings.ToUpper(t), ""
	}
	key := strings.ToUpper(t[:i])
	value := strings.TrimSpace(t[i:])
	value = strings.TrimSpace(strings.TrimPrefix(value, ":"))
	value = strings.TrimSpace(strings.TrimSuffix(value, ";"))
	return key, value
}

// DecodeKey decodes a base64 key as fwknop's --key-base64-* options
// take it (padded standard base64); what names it in errors.
func DecodeKey(s, what string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s is not valid base64", what)
	}
	return b, nil
}
