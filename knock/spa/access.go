package spa

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/knock"
)

// DefaultAccessTimeout is fwknopd's FW_ACCESS_TIMEOUT default.
const DefaultAccessTimeout = 30 * time.Second

// DefaultMaxTimeout is fwknopd's MAX_FW_TIMEOUT default: the longest
// access a client's timeout may ask for.
const DefaultMaxTimeout = 300 * time.Second

// Stanza is one stanza of fwknopd's access.conf: who may ask, with which
// keys, for what.
type Stanza struct {
	Line int // where its SOURCE line is, for messages

	// Sources is SOURCE: the packet's source must be in one of these
	// prefixes; nil means ANY.
	Sources []netip.Prefix

	// OpenPorts is OPEN_PORTS: every port of a request must be listed.
	// Unlike fwknopd, a stanza without OPEN_PORTS grants nothing (and
	// ParseAccessFile refuses it), and
	// OPEN_PORTS holds for a stanza with CMD_CYCLE_OPEN too (fwknopd 2.6
	// runs the command for any port asked).
	OpenPorts []PortSpec

	// Keys: KEY or KEY_BASE64, HMAC_KEY or HMAC_KEY_BASE64, and
	// HMAC_DIGEST_TYPE (default SHA256). Both keys are required (packets
	// without HMAC are not accepted).
	Keys Keys

	// AccessTimeout is FW_ACCESS_TIMEOUT (seconds): how long access
	// lasts when the packet asks for no timeout; 0 means
	// DefaultAccessTimeout.
	AccessTimeout time.Duration

	// MaxTimeout is MAX_FW_TIMEOUT (seconds): as fwknopd, access lasts
	// the client's timeout if the packet has one (fwknop --fw-timeout),
	// else AccessTimeout, and never longer than MaxTimeout; 0 means
	// DefaultMaxTimeout.
	MaxTimeout time.Duration

	// RequireSourceAddress is REQUIRE_SOURCE_ADDRESS: refuse requests for
	// 0.0.0.0 (fwknop -s), which otherwise mean the packet's source.
	RequireSourceAddress bool

	// RequireUsername is REQUIRE_USERNAME: the packet's user must be this.
	RequireUsername string

	// CmdCycleOpen, CmdCycleClose and CmdCycleTimer are CMD_CYCLE_OPEN,
	// CMD_CYCLE_CLOSE ("NONE" or empty: none) and CMD_CYCLE_TIMER
	// (seconds; 0: the access timeout). As in fwknopd 2.6.10 (checked by
	// running it), the open command runs once, for the first port of the
	// request, and the close command after the packet's client timeout
	// if it has one (bounded by MAX_FW_TIMEOUT here, not in fwknopd),
	// else after CMD_CYCLE_TIMER; the variables are $IP and $SRC (the
	// address let in), $PKT_SRC (the packet's source), $DST (its
	// destination), $PORT, $PROTO (the protocol number: 6, 17), $TIMEOUT
	// (the packet's timestamp plus the time until the close command) and
	// $CLIENT_TIMEOUT (the time until the close command: the client's
	// timeout, else CMD_CYCLE_TIMER). $DST is the real destination with a
	// socket too (fwknopd's UDP server mode gives 0.0.0.0; its sniffer,
	// the address). They are substituted after the command
	// is split into words (see knock.SplitCommand), which run without a
	// shell.
	CmdCycleOpen, CmdCycleClose string
	CmdCycleTimer               time.Duration

	// EnableCmdExec is ENABLE_CMD_EXEC: the stanza runs the command of a
	// command message (fwknop --server-cmd) instead of refusing it. As
	// fwknopd 2.6.10 does, the command is split into words at blanks
	// only (no quotes, no escapes: fwknopd's strtoargv) and run without
	// a shell, with an empty environment, in /, for at most
	// CommandTimeout; OPEN_PORTS does not apply to it.
	EnableCmdExec bool

	// CmdExecUser and CmdExecGroup are CMD_EXEC_USER and CMD_EXEC_GROUP:
	// the command runs as this user (empty or root: as the server) and
	// group (empty: the user's primary group), with no supplementary
	// groups (fwknopd keeps its own). ParseAccessFile looks them up.
	CmdExecUser, CmdExecGroup string
	cmdCred                   *credential // from CmdExecUser, CmdExecGroup; nil: as the server

	// EnableCmdSudoExec is ENABLE_CMD_SUDO_EXEC: a command message's
	// command runs through sudo, as fwknopd 2.6.10 builds it: the words
	// of ServerConfig.SudoExe (SUDO_EXE), then "-u CmdSudoExecUser"
	// (CMD_SUDO_EXEC_USER) and "-g CmdSudoExecGroup"
	// (CMD_SUDO_EXEC_GROUP), then the command, all run as CMD_EXEC_USER
	// as without sudo. A user or group whose name starts with "root" in
	// any case is left out (fwknopd compares 4 letters): sudo's default
	// is root. fwknopd passes -g only when CMD_EXEC_GROUP is set too, so
	// ParseAccessFile refuses CMD_SUDO_EXEC_GROUP without it, and
	// CMD_EXEC_GROUP without CMD_SUDO_EXEC_GROUP under
	// ENABLE_CMD_SUDO_EXEC (fwknopd reads a group that is not there).
	EnableCmdSudoExec                 bool
	CmdSudoExecUser, CmdSudoExecGroup string

	// GPG is the stanza's GnuPG settings, for packets of 400 bytes or
	// more (fwknop -g); nil for a stanza without GPG_DECRYPT_PW or
	// GPG_ALLOW_NO_PW Y, which reads Rijndael packets only. A stanza
	// may have both. ParseAccessFile reads the keys from GPG_HOME_DIR
	// (see GPGHome) and applies fwknopd's defaults: signatures are
	// required (GPG_REQUIRE_SIG) unless GPG_DISABLE_SIG Y, and then
	// GPG_REMOTE_ID or GPG_FINGERPRINT_ID must be given.
	GPG *GPGDecrypt
	gpg gpgConf // the GPG_* lines, until the end of the file

	// ForceNAT is FORCE_NAT ("IP PORT"): every access request granted by
	// the stanza is forwarded to this address instead (a NAT access to
	// it, whatever the packet asks), as fwknopd; it needs
	// ServerConfig.NAT.
	ForceNAT netip.AddrPort
}

// timeout is how long access lasts for a packet with this client
// timeout (0: none), as fwknopd computes it.
func (s *Stanza) timeout(client int) time.Duration {
	t := s.AccessTimeout
	if t <= 0 {
		t = DefaultAccessTimeout
	}
	if client > 0 {
		t = time.Duration(client) * time.Second
	}
	limit := s.MaxTimeout
	if limit <= 0 {
		limit = DefaultMaxTimeout
	}
	return min(t, limit)
}

// allowsSource reports whether src may use the stanza.
func (s *Stanza) allowsSource(src netip.Addr) bool {
	if s.Sources == nil {
		return true
	}
	for _, p := range s.Sources {
		if p.Contains(src.Unmap()) {
			return true
		}
	}
	return false
}

// allowsPort reports whether p is in OPEN_PORTS.
func (s *Stanza) allowsPort(p PortSpec) bool {
	for _, o := range s.OpenPorts {
		if o == p {
			return true
		}
	}
	return false
}

// ParseAccessFile parses the subset of fwknopd's access.conf described
// by Stanza: lines "NAME VALUE" (or "NAME: VALUE"), # comments, each
// SOURCE line starting a stanza. Other fwknopd variables are refused by
// name, so that nothing is silently ignored. name is used in errors: a
// problem of the content is an error whose FileProblems method gives
// the file, line and message, as the other configuration parsers of
// this module do.
func ParseAccessFile(r io.Reader, name string) ([]Stanza, error) {
	var out []Stanza
	sc := bufio.NewScanner(r)
	line := 0
	fail := func(format string, args ...any) error {
		return cfgfile.Problems{{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}}
	}
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		key, value := splitDirective(t)
		if value == "" {
			return nil, fail("%s has no value", key)
		}
		if key == "SOURCE" {
			out = append(out, Stanza{Line: line})
			if strings.EqualFold(value, "ANY") {
				continue
			}
			st := &out[len(out)-1]
			st.Sources = []netip.Prefix{}
			for item := range strings.SplitSeq(value, ",") {
				item = strings.TrimSpace(item)
				p, err := netip.ParsePrefix(item)
				if err != nil {
					a, aerr := netip.ParseAddr(item)
					if aerr != nil {
						return nil, fail("SOURCE %q is not ANY, an address or a prefix", item)
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				st.Sources = append(st.Sources, p.Masked())
			}
			continue
		}
		if len(out) == 0 {
			return nil, fail("%s before the first SOURCE line", key)
		}
		st := &out[len(out)-1]
		var err error
		switch key {
		case "OPEN_PORTS":
			for item := range strings.SplitSeq(value, ",") {
				ps, perr := ParsePortSpec(item)
				if perr != nil {
					return nil, fail("OPEN_PORTS: %v", perr)
				}
				st.OpenPorts = append(st.OpenPorts, ps)
			}
		case "KEY":
			st.Keys.Enc = []byte(value)
		case "KEY_BASE64":
			st.Keys.Enc, err = DecodeKey(value, "KEY_BASE64")
		case "HMAC_KEY":
			st.Keys.HMAC = []byte(value)
		case "HMAC_KEY_BASE64":
			st.Keys.HMAC, err = DecodeKey(value, "HMAC_KEY_BASE64")
		case "HMAC_DIGEST_TYPE":
			st.Keys.HMACType, err = ParseDigestType(value)
		case "ENCRYPTION_MODE":
			st.Keys.Mode, err = ParseEncryptionMode(value)
		case "FW_ACCESS_TIMEOUT":
			st.AccessTimeout, err = seconds(value)
		case "MAX_FW_TIMEOUT":
			st.MaxTimeout, err = seconds(value)
		case "CMD_CYCLE_TIMER":
			st.CmdCycleTimer, err = seconds(value)
		case "REQUIRE_SOURCE_ADDRESS":
			st.RequireSourceAddress, err = yesNo(value)
		case "REQUIRE_USERNAME":
			st.RequireUsername = value
		case "CMD_CYCLE_OPEN":
			st.CmdCycleOpen = value
			_, err = knock.SplitCommand(value)
		case "FORCE_NAT":
			st.ForceNAT, err = parseForceNAT(value)
		case "ENABLE_CMD_EXEC":
			st.EnableCmdExec, err = yesNo(value)
		case "CMD_EXEC_USER":
			st.CmdExecUser = value
		case "CMD_EXEC_GROUP":
			st.CmdExecGroup = value
		case "ENABLE_CMD_SUDO_EXEC":
			st.EnableCmdSudoExec, err = yesNo(value)
		case "CMD_SUDO_EXEC_USER":
			st.CmdSudoExecUser, err = value, lookupUser(value)
		case "CMD_SUDO_EXEC_GROUP":
			st.CmdSudoExecGroup, err = value, lookupGroup(value)
		case "CMD_CYCLE_CLOSE":
			st.CmdCycleClose = value
			if value != "NONE" {
				_, err = knock.SplitCommand(value)
			}
		default:
			if strings.HasPrefix(key, "GPG_") {
				err = st.gpg.set(key, value)
				if errors.Is(err, errUnknownKey) {
					return nil, fail("%s is not supported (the GnuPG keys ports reads: GPG_HOME_DIR, GPG_DECRYPT_ID, GPG_DECRYPT_PW, GPG_ALLOW_NO_PW, GPG_REQUIRE_SIG, GPG_DISABLE_SIG, GPG_IGNORE_SIG_VERIFY_ERROR, GPG_REMOTE_ID, GPG_FINGERPRINT_ID, GPG_EXE)", key)
				}
				break
			}
			return nil, fail("%s is not supported (ports reads a subset of access.conf: SOURCE, OPEN_PORTS, KEY, KEY_BASE64, HMAC_KEY, HMAC_KEY_BASE64, HMAC_DIGEST_TYPE, ENCRYPTION_MODE, FW_ACCESS_TIMEOUT, MAX_FW_TIMEOUT, REQUIRE_SOURCE_ADDRESS, REQUIRE_USERNAME, CMD_CYCLE_OPEN, CMD_CYCLE_CLOSE, CMD_CYCLE_TIMER, ENABLE_CMD_EXEC, CMD_EXEC_USER, CMD_EXEC_GROUP, ENABLE_CMD_SUDO_EXEC, CMD_SUDO_EXEC_USER, CMD_SUDO_EXEC_GROUP, FORCE_NAT, GPG_*)", key)
		}
		if err != nil {
			return nil, fail("%s: %v", key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, cfgfile.Problems{{File: name, Msg: "no SOURCE stanza"}}
	}
	for i := range out {
		st := &out[i]
		if st.CmdExecUser != "" || st.CmdExecGroup != "" {
			cred, err := lookupCredential(st.CmdExecUser, st.CmdExecGroup)
			if err != nil {
				return nil, cfgfile.Problems{{File: name, Line: st.Line, Msg: err.Error()}}
			}
			st.cmdCred = cred
		}
		if st.EnableCmdSudoExec && st.CmdSudoExecGroup != "" && st.CmdExecGroup == "" {
			return nil, cfgfile.Problems{{File: name, Line: st.Line, Msg: "CMD_SUDO_EXEC_GROUP without CMD_EXEC_GROUP: fwknopd 2.6.10 then leaves sudo's -g out (set CMD_EXEC_GROUP too, or drop CMD_SUDO_EXEC_GROUP)"}}
		}
		if st.EnableCmdSudoExec && st.CmdExecGroup != "" && st.CmdSudoExecGroup == "" {
			return nil, cfgfile.Problems{{File: name, Line: st.Line, Msg: "CMD_EXEC_GROUP with ENABLE_CMD_SUDO_EXEC needs CMD_SUDO_EXEC_GROUP (fwknopd 2.6.10 reads it for sudo's -g whenever CMD_EXEC_GROUP is set)"}}
		}
		if err := st.loadGPG(); err != nil {
			return nil, cfgfile.Problems{{File: name, Line: st.Line, Msg: err.Error()}}
		}
		switch {
		case len(st.Keys.HMAC) == 0 && st.GPG != nil:
			return nil, cfgfile.Problems{{File: name, Line: st.Line, Msg: "the stanza needs HMAC_KEY or HMAC_KEY_BASE64: ports requires an HMAC for GnuPG-encrypted packets too (fwknop -g --use-hmac)"}}
		case len(st.Keys.HMAC) == 0 || len(st.Keys.Enc) == 0 && st.GPG == nil:
			return nil, cfgfile.Problems{{File: name, Line: st.Line, Msg: "the stanza needs KEY or KEY_BASE64 (or GPG_DECRYPT_PW or GPG_ALLOW_NO_PW Y) and HMAC_KEY or HMAC_KEY_BASE64"}}
		}
		if len(st.Keys.Enc) > 32 {
			return nil, cfgfile.Problems{{File: name, Line: st.Line, Msg: fmt.Sprintf("the encryption key has %d bytes, at most 32", len(st.Keys.Enc))}}
		}
		if len(st.OpenPorts) == 0 && !st.EnableCmdExec {
			return nil, cfgfile.Problems{{File: name, Line: st.Line, Msg: "the stanza has no OPEN_PORTS: fwknopd would grant any port a packet asks for, ports grants only the ports listed (add OPEN_PORTS)"}}
		}
	}
	return out, nil
}

// sudoArgs returns the words put before a command message's command
// for a stanza with ENABLE_CMD_SUDO_EXEC, as fwknopd 2.6.10 puts them
// (see Stanza.EnableCmdSudoExec); sudoExe is SUDO_EXE.
func (s *Stanza) sudoArgs(sudoExe string) []string {
	if !s.EnableCmdSudoExec {
		return nil
	}
	isRoot := func(name string) bool { return len(name) >= 4 && strings.EqualFold(name[:4], "root") }
	argv := SplitServerCommand(sudoExe)
	if s.CmdSudoExecUser != "" && !isRoot(s.CmdSudoExecUser) {
		argv = append(argv, "-u", s.CmdSudoExecUser)
	}
	if s.CmdExecGroup != "" && !isRoot(s.CmdSudoExecGroup) {
		argv = append(argv, "-g", s.CmdSudoExecGroup)
	}
	return argv
}

// parseForceNAT parses FORCE_NAT's "IP PORT".
func parseForceNAT(s string) (netip.AddrPort, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return netip.AddrPort{}, fmt.Errorf("%q is not IP PORT", s)
	}
	a, err := netip.ParseAddr(f[0])
	if err != nil || !a.Is4() {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IPv4 address", f[0])
	}
	n, err := strconv.ParseUint(f[1], 10, 16)
	if err != nil || n == 0 {
		return netip.AddrPort{}, fmt.Errorf("port %q is not from 1 to 65535", f[1])
	}
	return netip.AddrPortFrom(a, uint16(n)), nil
}

func seconds(s string) (time.Duration, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1<<30 {
		return 0, fmt.Errorf("%q is not a whole number of seconds, at least 1", s)
	}
	return time.Duration(n) * time.Second, nil
}

func yesNo(s string) (bool, error) {
	switch strings.ToUpper(s) {
	case "Y", "YES":
		return true, nil
	case "N", "NO":
		return false, nil
	}
	return false, fmt.Errorf("%q is not Y or N", s)
}
