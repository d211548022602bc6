package spa

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// fuzzKeys are an RSA key pair for the server and one for the client,
// made once per process (RSA 2048, as the GnuPG tests use).
var fuzzKeys = sync.OnceValues(func() (*openpgp.Entity, *openpgp.Entity) {
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048}
	srv, err := openpgp.NewEntity("srv", "", "srv@example.invalid", cfg)
	if err != nil {
		panic(err)
	}
	cli, err := openpgp.NewEntity("cli", "", "cli@example.invalid", cfg)
	if err != nil {
		panic(err)
	}
	return srv, cli
})

// FuzzDecodeGPG feeds GnuPG packets, and the encrypted part after the
// HMAC, to the decoder: it never panics, an error is one line, and a
// message it accepts re-encodes to fields that parse to it again.
func FuzzDecodeGPG(f *testing.F) {
	srv, cli := fuzzKeys()
	hk := []byte("an HMAC key")
	m := &Message{User: "alice", Type: AccessMsg, Access: "198.18.0.1,tcp/22"}
	for _, signer := range []*openpgp.Entity{cli, nil} {
		pkt, err := EncodeGPG(m, GPGEncrypt{Recipient: srv, Signer: signer}, Keys{HMAC: hk}, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pkt)
		f.Add(pkt[:len(pkt)-43]) // the encrypted part
	}
	f.Add("hQ" + strings.Repeat("A", 500))  // the prefix put back
	f.Add(strings.Repeat("wcBMA", 100))     // a new-format header
	f.Add(strings.Repeat("hQEMA/////", 50)) // a session key packet of garbage
	g := &GPGDecrypt{Keys: openpgp.EntityList{srv, cli}, RequireSig: true, RemoteIDs: []string{"0BADC0DE"}}
	open := &GPGDecrypt{Keys: openpgp.EntityList{srv, cli}}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(got *Message, err error) {
			if err != nil {
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error of more than one line: %q", err)
				}
				return
			}
			fields, ferr := got.fields()
			if ferr != nil {
				t.Fatalf("accepted %+v, whose fields do not encode: %v", got, ferr)
			}
			back, perr := ParsePlaintext(fields + ":" + got.DigestType.sumB64(fields))
			if perr != nil || *back != *got {
				t.Fatalf("accepted %+v, re-parsed as %+v, %v", got, back, perr)
			}
		}
		check(DecodeGPG(s, g, Keys{HMAC: hk}, time.Time{}))
		check(DecodeGPG(s, open, Keys{HMAC: hk}, time.Time{}))
		if len(s) <= maxPacket {
			check(decryptGPG(s, open, time.Time{}))
			check(decryptGPG(s, g, time.Time{}))
		}
	})
}

// FuzzParseKeyring: keyring files (GPG_HOME_DIR's pubring.gpg and
// secring.gpg), binary or armored, never panic the reader, and Find
// never panics on what it read.
func FuzzParseKeyring(f *testing.F) {
	srv, _ := fuzzKeys()
	var b strings.Builder
	srv.Serialize(&b)
	f.Add([]byte(b.String()))
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte{0x99, 0x01, 0x0d, 0x04})
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := ParseKeyring(data)
		if err != nil {
			return
		}
		for _, spec := range []string{"srv", "0BADC0DE", "<srv@example.invalid>", "=srv"} {
			Find(el, spec)
		}
	})
}

// FuzzOldFormatFirst: the header rewrite keeps the packet's body and
// length, in the old format with a two-byte length.
func FuzzOldFormatFirst(f *testing.F) {
	f.Add([]byte{0xc1, 0xc0, 0x4c, 1, 2, 3})
	f.Add([]byte{0xc1, 0x05, 1, 2, 3, 4, 5, 6})
	f.Add([]byte{0xc1, 0xff, 0, 0, 0, 2, 9, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := oldFormatFirst(b)
		if err != nil {
			return
		}
		n := int(out[1])<<8 | int(out[2])
		if out[0] != 0x85 || n > gpgLenMax || len(out)-3 > len(b) || !strings.HasSuffix(string(b), string(out[3:])) || 3+n > len(out) {
			t.Fatalf("%x -> %x", b, out)
		}
	})
}
