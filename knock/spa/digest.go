package spa

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"fmt"
	"hash"
	"strings"
)

// DigestType is a hash fwknop can use for the message digest inside a
// packet (--digest-type) or for its HMAC (--hmac-digest-type,
// HMAC_DIGEST_TYPE), numbered as fwknop numbers them. The zero value
// means SHA256, fwknop's default for both.
type DigestType int

// The digest types of fwknop 2.6.
const (
	DigestMD5      DigestType = 1
	DigestSHA1     DigestType = 2
	DigestSHA256   DigestType = 3
	DigestSHA384   DigestType = 4
	DigestSHA512   DigestType = 5
	DigestSHA3_256 DigestType = 6
	DigestSHA3_512 DigestType = 7
)

var digestNames = [...]string{DigestMD5: "MD5", DigestSHA1: "SHA1", DigestSHA256: "SHA256", DigestSHA384: "SHA384",
	DigestSHA512: "SHA512", DigestSHA3_256: "SHA3_256", DigestSHA3_512: "SHA3_512"}

// orDefault is t, or SHA256 for the zero value.
func (t DigestType) orDefault() DigestType {
	if t == 0 {
		return DigestSHA256
	}
	return t
}

// String is fwknop's name: MD5, SHA1, SHA256, SHA384, SHA512, SHA3_256,
// SHA3_512.
func (t DigestType) String() string {
	t = t.orDefault()
	if t < DigestMD5 || t > DigestSHA3_512 {
		return fmt.Sprintf("digest type %d", int(t))
	}
	return digestNames[t]
}

// ParseDigestType parses a name as fwknop takes it, in any case (MD5,
// SHA1, SHA256, SHA384, SHA512, SHA3_256, SHA3_512; "SHA3-256" too).
func ParseDigestType(s string) (DigestType, error) {
	u := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "-", "_")
	for t := DigestMD5; t <= DigestSHA3_512; t++ {
		if digestNames[t] == u {
			return t, nil
		}
	}
	return 0, fmt.Errorf("digest type %q is not one of MD5, SHA1, SHA256, SHA384, SHA512, SHA3_256, SHA3_512", s)
}

func (t DigestType) newHash() func() hash.Hash {
	switch t.orDefault() {
	case DigestMD5:
		return md5.New
	case DigestSHA1:
		return sha1.New
	case DigestSHA384:
		return sha512.New384
	case DigestSHA512:
		return sha512.New
	case DigestSHA3_256:
		return func() hash.Hash { return sha3.New256() }
	case DigestSHA3_512:
		return func() hash.Hash { return sha3.New512() }
	}
	return sha256.New
}

func (t DigestType) valid() bool { t = t.orDefault(); return t >= DigestMD5 && t <= DigestSHA3_512 }

// b64Len is the length of the digest in unpadded base64.
func (t DigestType) b64Len() int { return b64.EncodedLen(t.newHash()().Size()) }

func (t DigestType) sumB64(s string) string {
	h := t.newHash()()
	h.Write([]byte(s))
	return b64enc(h.Sum(nil))
}

func (t DigestType) hmacB64(key []byte, s ...string) string {
	mac := hmac.New(t.newHash(), key)
	for _, x := range s {
		mac.Write([]byte(x))
	}
	return b64enc(mac.Sum(nil))
}

// digestsOfLen are the message digest types whose base64 has n
// characters: SHA-256 and SHA3-256 share 43, SHA-512 and SHA3-512 86.
func digestsOfLen(n int) []DigestType {
	var out []DigestType
	for t := DigestMD5; t <= DigestSHA3_512; t++ {
		if t.b64Len() == n {
			out = append(out, t)
		}
	}
	return out
}
