// Package spa is single packet authorization compatible with fwknop
// (protocol 3.0.0 of fwknop 2.6): building and sending SPA packets
// ([Encode], [Send]), checking them ([Decode]), fwknop's key files,
// a replay cache that survives restarts and crashes ([ReplayCache]: each
// accepted packet is on disk before it is granted), fwknopd's
// access.conf (a subset) and a server ([Server]) and [Gate] that grant
// what it allows, trying each stanza in turn as fwknopd does; packets
// encrypted with GnuPG (fwknop -g: [EncodeGPG], [DecodeGPG]) too.
//
// # The packet
//
// fwknop builds, for the Rijndael (AES) mode with HMAC:
//
//	fields    = RAND ":" b64(USER) ":" TIME ":" "3.0.0" ":" TYPE ":" b64(ACCESS)
//	            [":" b64(NAT)] [":" b64(SERVER_AUTH)] [":" CLIENT_TIMEOUT]
//	plaintext = fields ":" b64(DIGEST(fields))
//	cipher    = "Salted__" SALT(8) AES-256-CBC(plaintext, PKCS#7 padding)
//	            with key and IV from OpenSSL's EVP_BytesToKey(MD5, 1 round,
//	            the key, SALT)
//	enc       = b64(cipher) without its first 10 characters ("U2FsdGVkX1",
//	            always the same since it encodes "Salted__")
//	packet    = enc b64(HMAC(HMAC_KEY, "U2FsdGVkX1" enc))
//
// DIGEST is SHA-256 unless the client chose another (--digest-type: MD5,
// SHA1, SHA384, SHA512, SHA3_256, SHA3_512): the receiver tells them by
// length, and SHA-256 from SHA3-256 (SHA-512 from SHA3-512) by trying
// both. The HMAC is HMAC-SHA256 unless the client chose another hash
// (--hmac-digest-type, the same list); the receiver must be told which
// (HMAC_DIGEST_TYPE, [Keys].HMACType), as fwknopd is.
//
// where RAND is 16 random decimal digits, TIME the Unix time in seconds,
// TYPE the message type (1: access) and ACCESS "IP,proto/port[,...]";
// b64 is standard base64 with the '=' padding removed. The packet is
// sent as one UDP datagram, to port 62201 by default. The testdata
// directory holds a packet made by the real fwknop client.
//
// A receiver checks the HMAC first (in constant time), and only then
// decrypts, checks the inner digest, the timestamp and the replay cache.
//
// A GnuPG packet (400 to 1500 bytes; fwknop tells the two kinds by
// length) is the same plaintext encrypted, and optionally signed, to the
// server's OpenPGP key, base64 without its first two characters ("hQ"),
// with the HMAC over "hQ" and the rest; see gpg.go. The OpenPGP work is
// github.com/ProtonMail/go-crypto's, a maintained pure-Go library; keys
// are read from a GnuPG home's exported keyrings ([GPGHome]).
//
// # Compatibility with fwknop
//
// docs/SPA.md lists every fwknop option and access.conf and fwknoprc key.
// In short:
//
//	supported   digest types MD5 SHA1 SHA256 SHA384 SHA512 SHA3_256 SHA3_512
//	            (message digest and HMAC, both sides); access.conf SOURCE
//	            OPEN_PORTS KEY KEY_BASE64 HMAC_KEY HMAC_KEY_BASE64
//	            HMAC_DIGEST_TYPE ENCRYPTION_MODE (CBC ECB CFB OFB CTR)
//	            FW_ACCESS_TIMEOUT MAX_FW_TIMEOUT
//	            REQUIRE_USERNAME REQUIRE_SOURCE_ADDRESS CMD_CYCLE_OPEN
//	            CMD_CYCLE_CLOSE CMD_CYCLE_TIMER ENABLE_CMD_EXEC CMD_EXEC_USER
//	            CMD_EXEC_GROUP (server commands, fwknop -C)
//	            ENABLE_CMD_SUDO_EXEC CMD_SUDO_EXEC_USER CMD_SUDO_EXEC_GROUP
//	            (through sudo, ServerConfig.SudoExe); NAT access
//	            (fwknop -N) and FORCE_NAT with ServerConfig.NAT, local NAT
//	            (--nat-local) with ServerConfig.LocalNAT (the caller
//	            applies Grant.NAT); fwknoprc KEY* HMAC_* DIGEST_TYPE
//	            SPA_SERVER SPA_SERVER_PORT ACCESS ALLOW_IP FW_TIMEOUT
//	            SPOOF_USER SERVER_CMD NAT_ACCESS; stanzas tried in turn; a
//	            replay cache that survives restarts; GnuPG (fwknop -g,
//	            --gpg-*; access.conf GPG_HOME_DIR GPG_DECRYPT_ID
//	            GPG_DECRYPT_PW GPG_ALLOW_NO_PW GPG_REQUIRE_SIG
//	            GPG_DISABLE_SIG GPG_IGNORE_SIG_VERIFY_ERROR GPG_REMOTE_ID
//	            GPG_FINGERPRINT_ID; fwknoprc USE_GPG GPG_RECIPIENT
//	            GPG_SIGNER GPG_HOMEDIR GPG_SIGNING_PW*)
//	refused     SNAT, the legacy mode, packets
//	            without HMAC (GnuPG ones too), Rijndael packets of 400 bytes
//	            or more (fwknopd takes them for GnuPG), raw TCP transport (UDP, TCP, HTTP and, when
//	            sniffing, ICMP are read), ALLOW_IP resolve,
//	            every other access.conf and fwknoprc key (named, with its
//	            line), the CMD_SUDO_EXEC_GROUP settings fwknopd 2.6.10
//	            mishandles (without CMD_EXEC_GROUP, or missing with it)
//	different   OPEN_PORTS is required (unless ENABLE_CMD_EXEC) and holds
//	            with CMD_CYCLE_OPEN too; server commands are killed after
//	            CommandTimeout and run with no supplementary groups;
//	            a client timeout is bounded by MAX_FW_TIMEOUT in the command
//	            cycle too; commands run without a shell; $DST is known with
//	            a socket too; GnuPG keys come from exported keyring files
//	            (pubring.gpg, secring.gpg: go-crypto does not read GnuPG 2's
//	            pubring.kbx and private-keys-v1.d), and a key in them is
//	            valid for signatures (no trust database: fwknopd also wants
//	            GnuPG to find the signer's key valid)
//
// This is the product's core, so the framing is written here from the
// format (read in fwknop's lib/fko_*.c) on the standard library's crypto,
// rather than taken from a library: none is maintained in Go.
package spa

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports"
)

// Version is the protocol version this package writes.
const Version = "3.0.0"

// DefaultPort is fwknop's UDP port.
const DefaultPort = 62201

// MessageType is the SPA message type.
type MessageType int

// Message types, as fwknop numbers them.
const (
	CommandMsg                  MessageType = 0
	AccessMsg                   MessageType = 1
	NATAccessMsg                MessageType = 2
	ClientTimeoutAccessMsg      MessageType = 3
	ClientTimeoutNATAccessMsg   MessageType = 4
	LocalNATAccessMsg           MessageType = 5
	ClientTimeoutLocalNATAccess MessageType = 6
)

func (t MessageType) hasNAT() bool {
	return t == NATAccessMsg || t == ClientTimeoutNATAccessMsg || t == LocalNATAccessMsg || t == ClientTimeoutLocalNATAccess
}

func (t MessageType) hasTimeout() bool {
	return t == ClientTimeoutAccessMsg || t == ClientTimeoutNATAccessMsg || t == ClientTimeoutLocalNATAccess
}

// Errors a receiver can test for with errors.Is. Each rejected packet's
// error wraps one of them.
var (
	ErrFormat    = errors.New("spa: malformed packet")
	ErrHMAC      = errors.New("spa: bad HMAC")
	ErrDecrypt   = errors.New("spa: decryption failed (wrong key?)")
	ErrDigest    = errors.New("spa: inner digest mismatch")
	ErrStale     = errors.New("spa: timestamp out of range")
	ErrReplay    = errors.New("spa: replayed packet")
	ErrDenied    = errors.New("spa: access not allowed")
	ErrNoKey     = errors.New("spa: missing key")
	ErrKeyLength = errors.New("spa: key too long")

	ErrDigestType = errors.New("spa: unknown digest type")
)

// Message is the content of an SPA packet.
type Message struct {
	Rand          string      // 16 decimal digits; Encode makes them if empty
	User          string      // the client's user name
	Timestamp     int64       // Unix seconds; Encode uses the current time if 0
	Version       string      // "3.0.0"; Encode writes Version if empty
	Type          MessageType // AccessMsg for "IP,proto/port"
	Access        string      // the request: "198.18.0.1,tcp/22"
	NATAccess     string      // for the NAT types: "IP,port"
	ServerAuth    string      // optional
	ClientTimeout int         // for the client timeout types, seconds

	// DigestType is the hash of the message digest inside the packet
	// (fwknop's --digest-type): Encode uses it (zero: SHA256), Decode
	// says which one the packet had.
	DigestType DigestType
}

// Keys are the two keys: Enc for Rijndael (the bytes behind fwknop's
// KEY_BASE64, or a passphrase, at most 32 bytes) and HMAC (HMAC_KEY_BASE64),
// with the HMAC's hash (HMAC_DIGEST_TYPE; zero: SHA256).
type Keys struct {
	Enc      []byte
	HMAC     []byte
	HMACType DigestType
	Mode     EncryptionMode // ENCRYPTION_MODE, fwknop -M; zero: CBC
}

const (
	saltPrefix    = "Salted__"
	b64SaltPrefix = "U2FsdGVkX1" // base64 of "Salted__" without its last, salt-dependent character
	hmacB64Len    = 43           // base64 of 32 bytes, unpadded
	minPacket     = 64
	maxPacket     = 1500
	// gnupgPacket is fwknop's MIN_GNUPG_MSG_SIZE: a packet this long or
	// longer is taken for GnuPG-encrypted by fwknopd (fko_encryption_type),
	// so it never reads a Rijndael packet that long.
	gnupgPacket = 400
	randLen     = 16
	maxFields   = 10
)

var b64 = base64.RawStdEncoding

func b64enc(b []byte) string { return b64.EncodeToString(b) }

// b64dec decodes standard base64 with or without padding.
func b64dec(s string) ([]byte, error) { return b64.DecodeString(strings.TrimRight(s, "=")) }

// Encode builds the SPA packet for m with keys, as the fwknop client
// does; rnd supplies the salt and the random digits (nil: crypto/rand).
func Encode(m *Message, keys Keys, rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if len(keys.Enc) == 0 || len(keys.HMAC) == 0 {
		return "", fmt.Errorf("%w: both the encryption key and the HMAC key are needed", ErrNoKey)
	}
	if len(keys.Enc) > 32 {
		return "", fmt.Errorf("%w: the encryption key has %d bytes, at most 32", ErrKeyLength, len(keys.Enc))
	}
	if !keys.HMACType.valid() || !m.DigestType.valid() {
		return "", fmt.Errorf("%w: HMAC %v, message digest %v", ErrDigestType, keys.HMACType, m.DigestType)
	}
	if !keys.Mode.valid() {
		return "", fmt.Errorf("spa: %v is not supported", keys.Mode)
	}
	plain, err := m.plaintext(rnd)
	if err != nil {
		return "", err
	}

	var salt [8]byte
	if _, err := io.ReadFull(rnd, salt[:]); err != nil {
		return "", err
	}
	key, iv := deriveKey(keys.Enc, salt[:])
	block, _ := aes.NewCipher(key)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, 0, 16+len(plain)+pad)
	buf = append(buf, saltPrefix...)
	buf = append(buf, salt[:]...)
	start := len(buf)
	buf = append(buf, plain...)
	buf = append(buf, bytes.Repeat([]byte{byte(pad)}, pad)...)
	keys.Mode.crypt(block, iv, buf[start:], true)
	enc := b64enc(buf)[len(b64SaltPrefix):]
	pkt := enc + keys.HMACType.hmacB64(keys.HMAC, b64SaltPrefix, enc)
	if len(pkt) >= gnupgPacket {
		return "", fmt.Errorf("%w: the packet would have %d bytes: fwknopd takes one of %d or more for GnuPG-encrypted and refuses it (ask for fewer ports, or a shorter command)", ErrFormat, len(pkt), gnupgPacket)
	}
	return pkt, nil
}

// filled returns a copy of m with the random value, the time and the
// version filled in where empty, as Encode does.
func (m *Message) filled(rnd io.Reader) (*Message, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	mm := *m
	if mm.Rand == "" {
		n, err := rand.Int(rnd, big.NewInt(9e15))
		if err != nil {
			return nil, err
		}
		mm.Rand = strconv.FormatInt(n.Int64()+1e15, 10)
	}
	if mm.Timestamp == 0 {
		mm.Timestamp = time.Now().Unix()
	}
	if mm.Version == "" {
		mm.Version = Version
	}
	return &mm, nil
}

// deriveKey is OpenSSL's EVP_BytesToKey with MD5 and one round, as
// fwknop's rij_salt_and_key_derivation: 32 bytes of key, 16 of IV.
func deriveKey(pass, salt []byte) (key, iv []byte) {
	var out, prev []byte
	for len(out) < 48 {
		h := md5.New()
		h.Write(prev)
		h.Write(pass)
		h.Write(salt)
		prev = h.Sum(nil)
		out = append(out, prev...)
	}
	return out[:32], out[32:48]
}

// fields joins m's fields as fwknop encodes them, without the digest.
func (m *Message) fields() (string, error) {
	if len(m.Rand) != randLen || !allDigits(m.Rand) {
		return "", fmt.Errorf("%w: random value %q is not 16 digits", ErrFormat, m.Rand)
	}
	if m.User == "" || strings.ContainsAny(m.User, ":\x00") || len(m.User) > 64 {
		return "", fmt.Errorf("%w: user name %q", ErrFormat, m.User)
	}
	if m.Type < 0 || m.Type > 6 {
		return "", fmt.Errorf("%w: message type %d", ErrFormat, m.Type)
	}
	if m.Access == "" {
		return "", fmt.Errorf("%w: empty access request", ErrFormat)
	}
	parts := []string{m.Rand, b64enc([]byte(m.User)), strconv.FormatInt(m.Timestamp, 10), m.Version,
		strconv.Itoa(int(m.Type)), b64enc([]byte(m.Access))}
	if m.Type.hasNAT() {
		if m.NATAccess == "" {
			return "", fmt.Errorf("%w: message type %d needs a NAT access string", ErrFormat, m.Type)
		}
		parts = append(parts, b64enc([]byte(m.NATAccess)))
	}
	if m.ServerAuth != "" {
		parts = append(parts, b64enc([]byte(m.ServerAuth)))
	}
	if m.Type.hasTimeout() {
		parts = append(parts, strconv.Itoa(m.ClientTimeout))
	}
	return strings.Join(parts, ":"), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isB64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// VerifyHMAC checks the HMAC-SHA256 at the end of packet in constant
// time and returns the encrypted part.
func VerifyHMAC(packet string, hmacKey []byte) (string, error) {
	return verifyHMAC(packet, hmacKey, DigestSHA256)
}

// verifyHMAC is VerifyHMAC for an HMAC of type t.
func verifyHMAC(packet string, hmacKey []byte, t DigestType) (string, error) {
	if len(hmacKey) == 0 {
		return "", fmt.Errorf("%w: no HMAC key", ErrNoKey)
	}
	if len(packet) < minPacket || len(packet) > maxPacket {
		return "", fmt.Errorf("%w: %d bytes (want %d to %d)", ErrFormat, len(packet), minPacket, maxPacket)
	}
	if len(packet) >= gnupgPacket {
		return "", fmt.Errorf("%w: %d bytes: fwknop takes a packet of %d bytes or more for GnuPG-encrypted, not Rijndael (see DecodeGPG)", ErrFormat, len(packet), gnupgPacket)
	}
	if !isB64(packet) {
		return "", fmt.Errorf("%w: not base64", ErrFormat)
	}
	n := t.b64Len()
	enc, tag := packet[:len(packet)-n], packet[len(packet)-n:]
	if !hmac.Equal([]byte(t.hmacB64(hmacKey, b64SaltPrefix, enc)), []byte(tag)) {
		return "", ErrHMAC
	}
	return enc, nil
}

// Decrypt decrypts the encrypted part of a packet (after VerifyHMAC),
// in CBC mode, and checks the inner digest, returning the fields.
func Decrypt(enc string, key []byte) (*Message, error) {
	return decrypt(enc, key, ModeCBC)
}

// decrypt is Decrypt in mode m.
func decrypt(enc string, key []byte, m EncryptionMode) (*Message, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: no encryption key", ErrNoKey)
	}
	raw, err := b64dec(b64SaltPrefix + enc)
	if err != nil || len(raw) < 16+aes.BlockSize || (len(raw)-16)%aes.BlockSize != 0 || string(raw[:8]) != saltPrefix {
		return nil, fmt.Errorf("%w: encrypted data has a bad length or encoding", ErrFormat)
	}
	k, iv := deriveKey(key, raw[8:16])
	block, _ := aes.NewCipher(k)
	ct := raw[16:]
	m.crypt(block, iv, ct, false)
	pad := int(ct[len(ct)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, ErrDecrypt
	}
	for _, b := range ct[len(ct)-pad:] {
		if int(b) != pad {
			return nil, ErrDecrypt
		}
	}
	return ParsePlaintext(string(ct[:len(ct)-pad]))
}

// ParsePlaintext parses decrypted SPA data: the fields and the digest
// after the last ':'. It checks the digest (any type fwknop can use,
// told apart by length, then by trying SHA-256 and SHA3-256, or SHA-512
// and SHA3-512, which have the same) and each field's form.
func ParsePlaintext(s string) (*Message, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return nil, fmt.Errorf("%w: no digest", ErrDecrypt)
	}
	fields, digest := s[:i], s[i+1:]
	dt, err := checkDigest(fields, digest)
	if err != nil {
		return nil, err
	}
	f := strings.Split(fields, ":")
	if len(f) < 6 || len(f) > maxFields {
		return nil, fmt.Errorf("%w: %d fields", ErrFormat, len(f))
	}
	m := &Message{Rand: f[0], Version: f[3], DigestType: dt}
	if len(m.Rand) != randLen || !allDigits(m.Rand) {
		return nil, fmt.Errorf("%w: random value is not 16 digits", ErrFormat)
	}
	user, err := b64dec(f[1])
	if err != nil || len(user) == 0 || len(user) > 64 {
		return nil, fmt.Errorf("%w: user name", ErrFormat)
	}
	m.User = string(user)
	if !allDigits(f[2]) || len(f[2]) > 12 {
		return nil, fmt.Errorf("%w: timestamp %q", ErrFormat, f[2])
	}
	m.Timestamp, _ = strconv.ParseInt(f[2], 10, 64)
	if len(m.Version) == 0 || len(m.Version) > 8 {
		return nil, fmt.Errorf("%w: version", ErrFormat)
	}
	if len(f[4]) != 1 || f[4][0] < '0' || f[4][0] > '6' {
		return nil, fmt.Errorf("%w: message type %q", ErrFormat, f[4])
	}
	m.Type = MessageType(f[4][0] - '0')
	acc, err := b64dec(f[5])
	if err != nil || len(acc) == 0 {
		return nil, fmt.Errorf("%w: access request", ErrFormat)
	}
	m.Access = string(acc)
	rest := f[6:]
	if m.Type.hasNAT() {
		if len(rest) == 0 {
			return nil, fmt.Errorf("%w: missing NAT access", ErrFormat)
		}
		nat, err := b64dec(rest[0])
		if err != nil {
			return nil, fmt.Errorf("%w: NAT access", ErrFormat)
		}
		m.NATAccess, rest = string(nat), rest[1:]
	}
	if m.Type.hasTimeout() {
		if len(rest) == 0 || !allDigits(rest[len(rest)-1]) || len(rest[len(rest)-1]) > 9 {
			return nil, fmt.Errorf("%w: client timeout", ErrFormat)
		}
		m.ClientTimeout, _ = strconv.Atoi(rest[len(rest)-1])
		rest = rest[:len(rest)-1]
	}
	if len(rest) == 1 {
		sa, err := b64dec(rest[0])
		if err != nil {
			return nil, fmt.Errorf("%w: server auth", ErrFormat)
		}
		m.ServerAuth, rest = string(sa), nil
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d unexpected fields", ErrFormat, len(rest))
	}
	return m, nil
}

func checkDigest(fields, digest string) (DigestType, error) {
	types := digestsOfLen(len(digest))
	if len(types) == 0 {
		return 0, fmt.Errorf("%w: a message digest of %d characters is of no type fwknop uses", ErrDecrypt, len(digest))
	}
	var names []string
	for _, t := range types {
		if hmac.Equal([]byte(t.sumB64(fields)), []byte(digest)) {
			return t, nil
		}
		names = append(names, t.String())
	}
	return 0, fmt.Errorf("%w: the %d-character message digest is not the %s of the message", ErrDigest, len(digest), strings.Join(names, " or "))
}

// Decode checks and decrypts a packet: HMAC first (of keys.HMACType),
// then decryption and the inner digest. It does not check the timestamp
// or replays; Server does.
func Decode(packet string, keys Keys) (*Message, error) {
	if !keys.HMACType.valid() {
		return nil, fmt.Errorf("%w: HMAC %v", ErrDigestType, keys.HMACType)
	}
	enc, err := verifyHMAC(packet, keys.HMAC, keys.HMACType)
	if err != nil {
		return nil, err
	}
	return decrypt(enc, keys.Enc, keys.Mode)
}

// PortSpec is one "proto/port" of an access request or of OPEN_PORTS.
type PortSpec struct {
	Proto ports.Proto
	Port  ports.Port
}

func (p PortSpec) String() string { return p.Proto.String() + "/" + strconv.Itoa(int(p.Port)) }

// ParsePortSpec parses "tcp/22" or "udp/53".
func ParsePortSpec(s string) (PortSpec, error) {
	proto, port, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return PortSpec{}, fmt.Errorf("port %q is not proto/port", s)
	}
	var ps PortSpec
	switch strings.ToLower(proto) {
	case "tcp":
		ps.Proto = ports.ProtoTCP
	case "udp":
		ps.Proto = ports.ProtoUDP
	default:
		return PortSpec{}, fmt.Errorf("port %q: protocol must be tcp or udp", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return PortSpec{}, fmt.Errorf("port %q: port must be from 1 to 65535", s)
	}
	ps.Port = ports.Port(n)
	return ps, nil
}

// ParseAccess parses an access request, "IP,proto/port[,proto/port...]".
func ParseAccess(s string) (netip.Addr, []PortSpec, error) {
	parts := strings.Split(s, ",")
	if len(parts) < 2 {
		return netip.Addr{}, nil, fmt.Errorf("%w: access request %q is not IP,proto/port", ErrFormat, s)
	}
	ip, err := netip.ParseAddr(parts[0])
	if err != nil || !ip.Is4() {
		return netip.Addr{}, nil, fmt.Errorf("%w: access request %q: %q is not an IPv4 address", ErrFormat, s, parts[0])
	}
	var specs []PortSpec
	for _, p := range parts[1:] {
		ps, err := ParsePortSpec(p)
		if err != nil {
			return netip.Addr{}, nil, fmt.Errorf("%w: access request: %v", ErrFormat, err)
		}
		specs = append(specs, ps)
	}
	return ip, specs, nil
}
