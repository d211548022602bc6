package spa

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"strconv"
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

// RC is what a stanza of fwknop's client rc file (~/.fwknoprc) says
// about the packet to send; zero fields were not set.
type RC struct {
	Keys       Keys       // KEY, KEY_BASE64, HMAC_KEY, HMAC_KEY_BASE64, HMAC_DIGEST_TYPE, ENCRYPTION_MODE
	DigestType DigestType // DIGEST_TYPE
	Server     string     // SPA_SERVER
	ServerPort int        // SPA_SERVER_PORT
	Access     []string   // ACCESS: "tcp/22,udp/53" split at the commas
	AllowIP    string     // ALLOW_IP: an address, or "source" (fwknop -s)
	FWTimeout  int        // FW_TIMEOUT (or CLIENT_TIMEOUT), seconds
	User       string     // SPOOF_USER
	ServerCmd  string     // SERVER_CMD (fwknop -C)
	NATAccess  string     // NAT_ACCESS (fwknop -N): IP or IP:PORT
	NATLocal   bool       // NAT_LOCAL Y (fwknop --nat-local)
	NATPort    int        // NAT_PORT (fwknop --nat-port)
	GPG        RCGPG      // USE_GPG, GPG_*
}

// RCGPG is what an fwknoprc stanza says about GnuPG encryption (fwknop
// -g); zero fields were not set.
type RCGPG struct {
	Use         bool   // USE_GPG Y
	Recipient   string // GPG_RECIPIENT
	Signer      string // GPG_SIGNER
	HomeDir     string // GPG_HOMEDIR
	SigningPW   []byte // GPG_SIGNING_PW, GPG_SIGNING_PW_BASE64
	NoSigningPW bool   // GPG_NO_SIGNING_PW Y
}

// rcIgnored are fwknoprc settings that change nothing in the packet, or
// only when they have their default value: for those, the value it must
// have.
var rcIgnored = map[string]string{
	"NO_SAVE_ARGS": "", "VERBOSE": "", "USE_HMAC": "Y", "USE_GPG_AGENT": "N", "GPG_EXE": "",
	"SPA_SERVER_PROTO": "UDP", "TIME_OFFSET": "0", "RAND_PORT": "N",
	"NAT_RAND_PORT": "N",
}

// ParseRCFile reads the stanza of an fwknop client rc file: lines "NAME
// VALUE" (or "NAME: VALUE") in "[stanza]" sections, # comments. As fwknop
// does, the [default] section applies first and the named stanza
// overrides it; without a stanza name, the lines before any section and
// [default] count (the form of --key-gen's output). Every setting that
// shapes the packet is read (see RC); one ports cannot honour (GnuPG,
// local NAT, another mode or transport, ALLOW_IP resolve, ...)
// is refused with its line, never ignored. name is used in errors.
func ParseRCFile(r io.Reader, name, stanza string) (*RC, error) {
	rc := &RC{}
	sc := bufio.NewScanner(r)
	line := 0
	section := ""
	found := stanza == ""
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	// Values of the named stanza override [default]'s whatever their
	// order in the file: collect both, apply default first.
	type kv struct {
		line       int
		key, value string
	}
	var def, named []kv
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' && t[len(t)-1] == ']' {
			section = strings.TrimSpace(t[1 : len(t)-1])
			found = found || section == stanza
			continue
		}
		key, value := splitDirective(t)
		switch {
		case section == "default" || section == "" && stanza == "":
			def = append(def, kv{line, key, value})
		case stanza != "" && section == stanza:
			named = append(named, kv{line, key, value})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !found {
		return nil, fmt.Errorf("%s: no [%s] stanza", name, stanza)
	}
	for _, x := range append(def, named...) {
		line = x.line
		key, value := x.key, x.value
		var err error
		switch key {
		case "KEY_BASE64":
			rc.Keys.Enc, err = DecodeKey(value, key)
		case "HMAC_KEY_BASE64":
			rc.Keys.HMAC, err = DecodeKey(value, key)
		case "KEY":
			rc.Keys.Enc = []byte(value)
		case "HMAC_KEY":
			rc.Keys.HMAC = []byte(value)
		case "HMAC_DIGEST_TYPE":
			rc.Keys.HMACType, err = ParseDigestType(value)
		case "DIGEST_TYPE":
			rc.DigestType, err = ParseDigestType(value)
		case "ENCRYPTION_MODE":
			rc.Keys.Mode, err = ParseEncryptionMode(value)
		case "SPA_SERVER":
			rc.Server = value
		case "SPA_SERVER_PORT":
			rc.ServerPort, err = strconv.Atoi(value)
			if err != nil || rc.ServerPort < 1 || rc.ServerPort > 65535 {
				err = fmt.Errorf("%q is not a port from 1 to 65535", value)
			}
		case "ACCESS":
			rc.Access = nil
			for _, a := range strings.Split(value, ",") {
				if _, perr := ParsePortSpec(a); perr != nil {
					err = perr
					break
				}
				rc.Access = append(rc.Access, strings.TrimSpace(a))
			}
		case "ALLOW_IP":
			switch v := strings.ToLower(value); {
			case v == "source":
				rc.AllowIP = "source"
			case v == "resolve":
				err = fmt.Errorf("resolve is not supported (ports never asks a web service for its address): give the address, or source")
			default:
				a, aerr := netip.ParseAddr(value)
				if aerr != nil || !a.Unmap().Is4() {
					err = fmt.Errorf("%q is not an IPv4 address, source or resolve", value)
				}
				rc.AllowIP = value
			}
		case "FW_TIMEOUT", "CLIENT_TIMEOUT":
			rc.FWTimeout, err = strconv.Atoi(value)
			if err != nil || rc.FWTimeout < 0 {
				err = fmt.Errorf("%q is not a number of seconds", value)
			}
		case "SPOOF_USER":
			rc.User = value
		case "SERVER_CMD":
			rc.ServerCmd = value
		case "NAT_ACCESS":
			rc.NATAccess = value
		case "NAT_LOCAL":
			rc.NATLocal, err = yesNo(value)
		case "NAT_PORT":
			rc.NATPort, err = strconv.Atoi(value)
			if err != nil || rc.NATPort < 1 || rc.NATPort > 65535 {
				err = fmt.Errorf("%q is not a port from 1 to 65535", value)
			}
		case "USE_GPG":
			rc.GPG.Use, err = yesNo(value)
		case "GPG_RECIPIENT":
			rc.GPG.Recipient = value
		case "GPG_SIGNER":
			rc.GPG.Signer = value
		case "GPG_HOMEDIR":
			rc.GPG.HomeDir = value
		case "GPG_SIGNING_PW":
			rc.GPG.SigningPW = []byte(value)
		case "GPG_SIGNING_PW_BASE64":
			rc.GPG.SigningPW, err = DecodeKey(value, key)
		case "GPG_NO_SIGNING_PW":
			rc.GPG.NoSigningPW, err = yesNo(value)
		default:
			want, ok := rcIgnored[key]
			if !ok {
				return nil, fail("%s is not supported by ports knock --spa", key)
			}
			if want != "" && !strings.EqualFold(value, want) && !(want == "Y" && strings.EqualFold(value, "yes")) && !(want == "N" && strings.EqualFold(value, "no")) {
				return nil, fail("%s %s is not supported by ports knock --spa (only %s)", key, value, want)
			}
		}
		if err != nil {
			return nil, fail("%s: %v", key, err)
		}
	}
	return rc, nil
}

// ParseKeyFile reads the keys of an fwknop client rc file, or of the
// output of --key-gen; see ParseRCFile.
func ParseKeyFile(r io.Reader, name, stanza string) (Keys, error) {
	rc, err := ParseRCFile(r, name, stanza)
	if err != nil {
		return Keys{}, err
	}
	return rc.Keys, nil
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
