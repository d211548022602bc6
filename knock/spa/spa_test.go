package spa

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fwknopVector reads testdata/fwknop-2.6.10.txt.
func fwknopVector(t testing.TB) (Keys, map[string]string) {
	t.Helper()
	data, err := os.ReadFile("testdata/fwknop-2.6.10.txt")
	if err != nil {
		t.Fatal(err)
	}
	var keyLines []string // the file's other lines are no rc file's
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "KEY_BASE64:") || strings.HasPrefix(l, "HMAC_KEY_BASE64:") {
			keyLines = append(keyLines, l)
		}
	}
	keys, err := ParseKeyFile(strings.NewReader(strings.Join(keyLines, "\n")), "vector", "")
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, val, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(k, "#") {
			v[k] = val
		}
	}
	return keys, v
}

func TestDecodeFwknopVector(t *testing.T) {
	keys, v := fwknopVector(t)
	m, err := Decode(v["PACKET"], keys)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := &Message{Rand: v["RAND"], User: v["USER"], Timestamp: 1795246808, Version: v["VERSION"], Type: AccessMsg, Access: v["ACCESS"], DigestType: DigestSHA256}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("decoded message (-want +got):\n%s", diff)
	}
	// Our encoding of the same fields matches fwknop's byte for byte.
	f, err := m.fields()
	if err != nil || f != v["ENCODED"] {
		t.Errorf("fields = %q, %v; fwknop encoded %q", f, err, v["ENCODED"])
	}
	if got := v["PACKET"][len(v["PACKET"])-hmacB64Len:]; got != v["HMAC"] {
		t.Errorf("HMAC at the end = %q, fwknop printed %q", got, v["HMAC"])
	}
}

func TestDecodeRejects(t *testing.T) {
	keys, v := fwknopVector(t)
	pkt := v["PACKET"]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	other, _ := GenerateKeys(nil)
	tests := []struct {
		name string
		pkt  string
		keys Keys
		want error
	}{
		{"bad HMAC", flip(pkt, len(pkt)-5), keys, ErrHMAC},
		{"tampered ciphertext", flip(pkt, 20), keys, ErrHMAC},
		{"wrong HMAC key", pkt, Keys{Enc: keys.Enc, HMAC: other.HMAC}, ErrHMAC},
		{"wrong encryption key", pkt, Keys{Enc: other.Enc, HMAC: keys.HMAC}, nil}, // ErrDecrypt or ErrDigest or ErrFormat
		{"short", pkt[:40], keys, ErrFormat},
		{"not base64", pkt[:100] + "!" + pkt[101:], keys, ErrFormat},
		{"no HMAC key", pkt, Keys{Enc: keys.Enc}, ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.pkt, tt.keys)
			if err == nil {
				t.Fatalf("Decode accepted it: %+v", m)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if tt.want == nil && !(errors.Is(err, ErrDecrypt) || errors.Is(err, ErrDigest) || errors.Is(err, ErrFormat)) {
				t.Errorf("error %v, want a decryption failure", err)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	keys, _ := GenerateKeys(nil)
	for _, m := range []*Message{
		{User: "alice", Type: AccessMsg, Access: "198.18.0.1,tcp/22"},
		{User: "bob", Type: ClientTimeoutAccessMsg, Access: "0.0.0.0,udp/53,tcp/80", ClientTimeout: 45},
		{User: "carol", Type: NATAccessMsg, Access: "198.18.0.1,tcp/22", NATAccess: "10.0.0.2,22", ServerAuth: "pw"},
	} {
		pkt, err := Encode(m, keys, nil)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", m, err)
		}
		got, err := Decode(pkt, keys)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		want := *m
		want.Rand, want.Timestamp, want.Version, want.DigestType = got.Rand, got.Timestamp, Version, DigestSHA256
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		if len(got.Rand) != 16 {
			t.Errorf("random value %q", got.Rand)
		}
	}
}

// TestDigestTypes: a packet of each message digest type and each HMAC
// type decodes, saying which digest it had (SHA3-256 is told from
// SHA-256, SHA3-512 from SHA-512); with the HMAC type the stanza does not
// expect it is refused on the HMAC; a digest of neither type of its
// length is named as such.
func TestDigestTypes(t *testing.T) {
	keys, _ := GenerateKeys(nil)
	for d := DigestMD5; d <= DigestSHA3_512; d++ {
		for h := DigestMD5; h <= DigestSHA3_512; h++ {
			k := keys
			k.HMACType = h
			pkt, err := Encode(&Message{User: "u", Type: AccessMsg, Access: "127.0.0.1,tcp/22", DigestType: d}, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(pkt, k)
			if err != nil || m.DigestType != d {
				t.Errorf("digest %v, HMAC %v: Decode %+v, %v", d, h, m, err)
			}
			k.HMACType = h%7 + 1
			if _, err := Decode(pkt, k); !errors.Is(err, ErrHMAC) {
				t.Errorf("digest %v, HMAC %v checked as %v: %v, want ErrHMAC", d, h, k.HMACType, err)
			}
		}
	}
	fields := "1234567890123456:dQ:1:3.0.0:1:MTI3LjAuMC4xLHRjcC8yMg"
	_, err := ParsePlaintext(fields + ":" + DigestSHA3_256.sumB64(fields+"x"))
	if !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), "not the SHA256 or SHA3_256 of the message") {
		t.Errorf("a wrong 43-character digest: %v", err)
	}
	if _, err := ParseDigestType("sha3-256"); err != nil {
		t.Error(err)
	}
	if _, err := ParseDigestType("SHA224"); err == nil || !strings.Contains(err.Error(), "SHA3_512") {
		t.Errorf("SHA224: %v, want the list of types", err)
	}
}

// TestEncryptionModes: each mode round-trips, and a packet read in
// another mode is refused (not misread).
func TestEncryptionModes(t *testing.T) {
	keys, _ := GenerateKeys(nil)
	modes := []EncryptionMode{ModeECB, ModeCBC, ModeCFB, ModeOFB, ModeCTR}
	for i, m := range modes {
		k := keys
		k.Mode = m
		pkt, err := Encode(&Message{User: "u", Type: AccessMsg, Access: "127.0.0.1,tcp/22"}, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Decode(pkt, k); err != nil || got.Access != "127.0.0.1,tcp/22" {
			t.Errorf("%v: %+v, %v", m, got, err)
		}
		k.Mode = modes[(i+1)%len(modes)]
		if got, err := Decode(pkt, k); err == nil {
			t.Errorf("%v read as %v: %+v", m, k.Mode, got)
		}
	}
	if _, err := ParseEncryptionMode("legacy"); err == nil || !strings.Contains(err.Error(), "HMAC") {
		t.Errorf("legacy: %v", err)
	}
}

func TestKeyGenFormat(t *testing.T) {
	k, err := GenerateKeys(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeyFile(strings.NewReader(k.Format()), "gen", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Enc, k.Enc) || !bytes.Equal(back.HMAC, k.HMAC) || len(k.Enc) != 32 || len(k.HMAC) != 64 {
		t.Errorf("key-gen output does not read back: %q", k.Format())
	}
}

func FuzzDecode(f *testing.F) {
	keys, v := fwknopVector(f)
	f.Add(v["PACKET"])
	f.Add(v["PACKET"][:80])
	f.Add(strings.Repeat("A", 200))
	f.Fuzz(func(t *testing.T, pkt string) {
		m, err := Decode(pkt, keys)
		if err == nil && m.Access == "" {
			t.Fatalf("accepted a packet with no access request")
		}
	})
}

func FuzzParsePlaintext(f *testing.F) {
	_, v := fwknopVector(f)
	f.Add(v["ENCODED"] + ":" + v["DIGEST"])
	f.Add("1234567890123456:dQ:1:3.0.0:3:MS4yLjMuNCx0Y3AvMjI:30:x")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParsePlaintext(s)
		if err != nil {
			return
		}
		// A message that parsed encodes back to the same fields.
		f, err := m.fields()
		if err != nil {
			return // e.g. a user name with ':' cannot be re-encoded
		}
		m2, err := ParsePlaintext(f + ":" + s[strings.LastIndexByte(s, ':')+1:])
		if err != nil {
			// The digest only fits the original fields; recompute.
			return
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("re-parse (-first +second):\n%s", diff)
		}
	})
}
