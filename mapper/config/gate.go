package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/statedir"
	"github.com/portkit/ports/knock"
	"github.com/portkit/ports/knock/spa"
	"github.com/portkit/ports/mapper"
)

// SPAConfig is a rule's spa table: the rule lets in only the source
// addresses that sent a valid fwknop SPA packet asking for the rule's
// port (tcp/PORT, or udp/PORT for a udp rule), for the access timeout.
type SPAConfig struct {
	KeyBase64     string   `toml:"key_base64"`       // fwknop's KEY_BASE64 (required)
	HMACKeyBase64 string   `toml:"hmac_key_base64"`  // HMAC_KEY_BASE64 (required)
	Listen        []string `toml:"listen"`           // UDP ADDR:PORT to receive SPA on; default the rule's listen host, port 62201
	Source        []string `toml:"source"`           // SOURCE: the packets' sources allowed; default any
	AccessTimeout string   `toml:"access_timeout"`   // FW_ACCESS_TIMEOUT; default 30s
	MaxTimeout    string   `toml:"max_timeout"`      // MAX_FW_TIMEOUT, the longest a client's --fw-timeout gets; default 300s, or access_timeout if longer
	MaxAge        string   `toml:"max_age"`          // oldest packet accepted; default 120s
	DigestFile    string   `toml:"digest_file"`      // the replay cache, kept across restarts; default spa-NAME.digest in the state directory
	HMACType      string   `toml:"hmac_digest_type"` // HMAC_DIGEST_TYPE; default SHA256
	Mode          string   `toml:"encryption_mode"`  // ENCRYPTION_MODE; default CBC

	// GnuPG-encrypted packets (fwknop -g), as access.conf's GPG_* keys
	// (see spa.GPGConfig); with gpg_decrypt_pw or gpg_allow_no_pw,
	// key_base64 may be left out (the gate then reads GnuPG packets only).
	GPGHomeDir        string   `toml:"gpg_home_dir"`                // GPG_HOME_DIR (its pubring.gpg and secring.gpg); default ~/.gnupg
	GPGDecryptID      string   `toml:"gpg_decrypt_id"`              // GPG_DECRYPT_ID
	GPGDecryptPW      string   `toml:"gpg_decrypt_pw"`              // GPG_DECRYPT_PW
	GPGAllowNoPW      bool     `toml:"gpg_allow_no_pw"`             // GPG_ALLOW_NO_PW
	GPGRequireSig     bool     `toml:"gpg_require_sig"`             // GPG_REQUIRE_SIG (the default unless gpg_disable_sig)
	GPGDisableSig     bool     `toml:"gpg_disable_sig"`             // GPG_DISABLE_SIG
	GPGIgnoreSigError bool     `toml:"gpg_ignore_sig_verify_error"` // GPG_IGNORE_SIG_VERIFY_ERROR
	GPGRemoteID       []string `toml:"gpg_remote_id"`               // GPG_REMOTE_ID
	GPGFingerprintID  []string `toml:"gpg_fingerprint_id"`          // GPG_FINGERPRINT_ID
}

// usesGPG reports whether the gate reads GnuPG-encrypted packets.
func (s *SPAConfig) usesGPG() bool { return s.GPGDecryptPW != "" || s.GPGAllowNoPW }

// knockGate and spaGate carry the key that lets a reload keep a gate,
// and the sources it let in, when its rule did not change (see
// mapper.Gate). The embedded gates give Allow and Run.
type knockGate struct {
	*knock.Gate
	key string
}

func (g knockGate) GateKey() string { return g.key }

type spaGate struct {
	*spa.Gate
	key string
}

func (g spaGate) GateKey() string { return g.key }

// gateHosts are the addresses a rule's gate listens on: the rule's
// listen host if it is an IP address, the addresses of its interface if
// it names one, and nil (every address) if it is empty.
func gateHosts(listen string) ([]netip.Addr, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return nil, nil // a bad listen is reported under its own key
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	aps, err := mapper.ListenAddrs(listen)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ap := range aps {
		out = append(out, ap.Addr())
	}
	return out, nil
}

// gate builds the knock or SPA gate of a rule, or returns nil if it
// has none. bad reports a problem with a key.
func gate(rc RuleConfig, t mapper.Type, dur func(key, s string) time.Duration, bad func(key string, err error)) mapper.Gate {
	if rc.Knock == "" && rc.SPA == nil {
		if rc.KnockWindow != "" {
			bad("knock_window", errors.New("without knock"))
		}
		if rc.KnockTimeout != "" {
			bad("knock_timeout", errors.New("without knock"))
		}
		return nil
	}
	if rc.Knock != "" && rc.SPA != nil {
		bad("spa", errors.New("a rule takes knock or spa, not both"))
		return nil
	}
	hosts, err := gateHosts(rc.Listen)
	if err != nil {
		bad("listen", err)
	}
	hostKey := fmt.Sprint(hosts)
	if rc.Knock != "" {
		// Every value is checked, so that a bad knock does not hide a
		// bad knock_window.
		window, timeout := dur("knock_window", rc.KnockWindow), dur("knock_timeout", rc.KnockTimeout)
		seq, serr := knock.ParseSequence(rc.Knock)
		if serr != nil {
			bad("knock", serr)
		}
		if err != nil || serr != nil {
			return nil
		}
		g, err := knock.NewGate(knock.GateConfig{Sequence: seq, Window: window, SeqTimeout: timeout, Listen: hosts})
		if err != nil {
			bad("knock", err)
			return nil
		}
		return knockGate{g, strings.Join([]string{"knock", seq.String(), window.String(), timeout.String(), hostKey}, "|")}
	}
	if err != nil {
		return nil
	}
	s := rc.SPA
	ok := true
	key := func(name, v string) []byte {
		if v == "" {
			bad("spa", fmt.Errorf("%s is missing", name))
			ok = false
			return nil
		}
		b, err := spa.DecodeKey(v, name)
		if err != nil {
			bad("spa", err)
			ok = false
		}
		return b
	}
	keys := spa.Keys{HMAC: key("hmac_key_base64", s.HMACKeyBase64)}
	if s.KeyBase64 != "" || !s.usesGPG() {
		keys.Enc = key("key_base64", s.KeyBase64)
	}
	var gpg *spa.GPGDecrypt
	if s.usesGPG() {
		var err error
		gpg, err = spa.NewGPGDecrypt(spa.GPGConfig{HomeDir: s.GPGHomeDir, DecryptID: s.GPGDecryptID, DecryptPW: s.GPGDecryptPW,
			AllowNoPW: s.GPGAllowNoPW, RequireSig: s.GPGRequireSig, DisableSig: s.GPGDisableSig, IgnoreSigError: s.GPGIgnoreSigError,
			RemoteIDs: s.GPGRemoteID, Fingerprints: s.GPGFingerprintID})
		if err != nil {
			bad("spa", err)
			ok = false
		}
	} else if s.GPGHomeDir != "" || s.GPGDecryptID != "" || s.GPGRequireSig || s.GPGDisableSig || s.GPGIgnoreSigError || len(s.GPGRemoteID) > 0 || len(s.GPGFingerprintID) > 0 {
		bad("spa", errors.New("gpg_* keys without gpg_decrypt_pw or gpg_allow_no_pw have no effect"))
		ok = false
	}
	if s.Mode != "" {
		m, err := spa.ParseEncryptionMode(s.Mode)
		if err != nil {
			bad("spa", fmt.Errorf("encryption_mode: %w", err))
			ok = false
		}
		keys.Mode = m
	}
	if s.HMACType != "" {
		t, err := spa.ParseDigestType(s.HMACType)
		if err != nil {
			bad("spa", fmt.Errorf("hmac_digest_type: %w", err))
			ok = false
		}
		keys.HMACType = t
	}
	var listen []netip.AddrPort
	for _, l := range s.Listen {
		ap, err := netip.ParseAddrPort(l)
		if err != nil {
			bad("spa", fmt.Errorf("listen %q is not ADDR:PORT", l))
			ok = false
			continue
		}
		listen = append(listen, ap)
	}
	if len(s.Listen) == 0 {
		for _, h := range hosts {
			listen = append(listen, netip.AddrPortFrom(h, spa.DefaultPort))
		}
	}
	var sources []netip.Prefix
	for _, src := range s.Source {
		p, err := netip.ParsePrefix(src)
		if err != nil {
			a, err2 := netip.ParseAddr(src)
			if err2 != nil {
				bad("spa", fmt.Errorf("source %q is not an address or CIDR prefix", src))
				ok = false
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		sources = append(sources, p)
	}
	access, maxAge, maxTimeout := dur("spa", s.AccessTimeout), dur("spa", s.MaxAge), dur("spa", s.MaxTimeout)
	if maxTimeout == 0 {
		maxTimeout = max(access, spa.DefaultMaxTimeout)
	} else if maxTimeout < access {
		bad("spa", fmt.Errorf("max_timeout %v is shorter than access_timeout %v", maxTimeout, access))
		return nil
	}
	_, portStr, _ := net.SplitHostPort(rc.Listen)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		bad("spa", fmt.Errorf("needs a rule listening on a fixed port, not %q", rc.Listen))
		return nil
	}
	proto := ports.ProtoTCP
	if t == mapper.UDP {
		proto = ports.ProtoUDP
	}
	spec := spa.PortSpec{Proto: proto, Port: ports.Port(port)}
	if !ok {
		return nil
	}
	digestFile := s.DigestFile
	if digestFile == "" {
		// One file per rule: a cache's file is locked while it runs.
		dir, err := statedir.Dir()
		digestFile = filepath.Join(dir, "spa-"+url.PathEscape(rc.Name)+".digest")
		if err != nil {
			bad("spa", fmt.Errorf("digest_file: %w", err))
			return nil
		}
	} else if st, err := os.Stat(digestFile); err == nil && !st.Mode().IsRegular() {
		bad("spa", fmt.Errorf("digest_file %s is not a regular file", digestFile))
		return nil
	}
	g, err := spa.NewGate(spa.GateConfig{
		Access: []spa.Stanza{{Sources: sources, OpenPorts: []spa.PortSpec{spec}, Keys: keys, GPG: gpg, AccessTimeout: access, MaxTimeout: maxTimeout}},
		Port:   spec, Listen: listen, MaxAge: maxAge, DigestFile: digestFile, MakeDigestDir: s.DigestFile == "",
	})
	if err != nil {
		bad("spa", err)
		return nil
	}
	sum := sha256.Sum256(append(append([]byte{byte(keys.HMACType), byte(keys.Mode)}, keys.Enc...), keys.HMAC...))
	if gpg != nil {
		// A reload keeps the gate only if its GnuPG settings are the same
		// (the keys themselves are read again by a new gate).
		sum = sha256.Sum256(fmt.Appendf(sum[:], "%q", []any{s.GPGHomeDir, s.GPGDecryptID, s.GPGDecryptPW, s.GPGAllowNoPW, s.GPGRequireSig,
			s.GPGDisableSig, s.GPGIgnoreSigError, s.GPGRemoteID, s.GPGFingerprintID}))
	}
	return spaGate{g, strings.Join([]string{"spa", hex.EncodeToString(sum[:8]), spec.String(), fmt.Sprint(listen, sources),
		access.String(), maxTimeout.String(), maxAge.String(), digestFile}, "|")}
}
