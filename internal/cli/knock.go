package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/cfgfile"
	"github.com/portkit/ports/internal/ratelog"
	"github.com/portkit/ports/knock"
	"github.com/portkit/ports/knock/spa"
)

// Environment variables holding SPA keys, base64 as fwknop prints them.
const (
	envSPAKey  = "PORTS_SPA_KEY_BASE64"
	envSPAHMAC = "PORTS_SPA_HMAC_KEY_BASE64"
)

type spaKeyFlags struct {
	key, hmacKey, keyB64, hmacB64, keyFile, stanza string
	hmacType, mode                                 string
	file                                           *spa.RC // the file's stanza, once read
}

func (f *spaKeyFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.key, "key", "", "SPA: the Rijndael key as a passphrase (at most 32 bytes)")
	fs.StringVar(&f.hmacKey, "hmac-key", "", "SPA: the HMAC key as a passphrase")
	fs.StringVar(&f.keyB64, "key-base64", "", "SPA: the Rijndael key in base64 (fwknop's KEY_BASE64)")
	fs.StringVar(&f.hmacB64, "hmac-key-base64", "", "SPA: the HMAC key in base64 (fwknop's HMAC_KEY_BASE64)")
	fs.StringVar(&f.keyFile, "key-file", "", "SPA: read the keys (KEY_BASE64, HMAC_KEY_BASE64, KEY, HMAC_KEY) and the stanza's other settings from this fwknop rc file (~/.fwknoprc)")
	fs.StringVar(&f.keyFile, "rc-file", "", "SPA: the same as --key-file")
	fs.StringVarP(&f.stanza, "stanza", "n", "", "SPA: with --key-file, the [stanza] to read (after [default]), as fwknop -n")
	fs.StringVarP(&f.mode, "encryption-mode", "M", "", "SPA: the Rijndael mode: CBC, ECB, CFB, OFB or CTR (default: the key file's ENCRYPTION_MODE, else CBC), as fwknop -M")
	fs.StringVar(&f.hmacType, "hmac-digest-type", "", "SPA: the HMAC's hash: MD5, SHA1, SHA256, SHA384, SHA512, SHA3_256 or SHA3_512 (default: the key file's HMAC_DIGEST_TYPE, else SHA256)")
}

// rc reads the rc file's stanza (an empty one without --key-file).
func (f *spaKeyFlags) rc() (*spa.RC, error) {
	if f.file != nil {
		return f.file, nil
	}
	if f.keyFile == "" {
		if f.stanza != "" {
			return nil, usagef("--stanza needs --key-file")
		}
		f.file = &spa.RC{}
		return f.file, nil
	}
	data, err := cfgfile.Read(f.keyFile, 0)
	if err != nil {
		return nil, usagef("--key-file %v", err)
	}
	rc, err := spa.ParseRCFile(bytes.NewReader(data), f.keyFile, f.stanza)
	if err != nil {
		return nil, usagef("%v", err)
	}
	f.file = rc
	return rc, nil
}

// keys gathers the keys: flags first, then the file, then the
// environment.
func (f *spaKeyFlags) keys() (spa.Keys, error) { return f.keysFor(false) }

// keysFor is keys; for a GnuPG-encrypted packet (gpg), only the HMAC
// key is needed.
func (f *spaKeyFlags) keysFor(gpg bool) (spa.Keys, error) {
	var err error
	rc, err := f.rc()
	if err != nil {
		return spa.Keys{}, err
	}
	k := rc.Keys
	if f.key != "" && f.keyB64 != "" {
		return k, usagef("--key conflicts with --key-base64")
	}
	if f.hmacKey != "" && f.hmacB64 != "" {
		return k, usagef("--hmac-key conflicts with --hmac-key-base64")
	}
	switch {
	case f.key != "":
		k.Enc = []byte(f.key)
	case f.keyB64 != "":
		if k.Enc, err = spa.DecodeKey(f.keyB64, "--key-base64"); err != nil {
			return k, usagef("%v", err)
		}
	case k.Enc == nil && os.Getenv(envSPAKey) != "":
		if k.Enc, err = spa.DecodeKey(os.Getenv(envSPAKey), envSPAKey); err != nil {
			return k, usagef("%v", err)
		}
	}
	switch {
	case f.hmacKey != "":
		k.HMAC = []byte(f.hmacKey)
	case f.hmacB64 != "":
		if k.HMAC, err = spa.DecodeKey(f.hmacB64, "--hmac-key-base64"); err != nil {
			return k, usagef("%v", err)
		}
	case k.HMAC == nil && os.Getenv(envSPAHMAC) != "":
		if k.HMAC, err = spa.DecodeKey(os.Getenv(envSPAHMAC), envSPAHMAC); err != nil {
			return k, usagef("%v", err)
		}
	}
	if f.hmacType != "" {
		if k.HMACType, err = spa.ParseDigestType(f.hmacType); err != nil {
			return k, usagef("--hmac-digest-type: %v", err)
		}
	}
	if f.mode != "" {
		if k.Mode, err = spa.ParseEncryptionMode(f.mode); err != nil {
			return k, usagef("-M: %v", err)
		}
	}
	if len(k.Enc) == 0 && !gpg {
		return k, usagef("missing the SPA key: --key, --key-base64, --key-file or $%s", envSPAKey)
	}
	if len(k.HMAC) == 0 {
		return k, usagef("missing the SPA HMAC key: --hmac-key, --hmac-key-base64, --key-file or $%s", envSPAHMAC)
	}
	if len(k.Enc) > 32 {
		return k, usagef("the SPA key has %d bytes, at most 32", len(k.Enc))
	}
	return k, nil
}

func newKnockCmd() *cobra.Command {
	var (
		delay          int
		udp, v4, v6    bool
		verbose        bool
		connect        bool
		useSPA, keyGen bool
		access         []string
		allowIP        string
		sourceIP       bool
		spaPort        int
		userName       string
		clientTimeout  int
		digestType     string
		serverCmd      string
		natAccess      string
		natLocal       bool
		natPort        int
		kf             spaKeyFlags
		gf             gpgFlags
	)
	cmd := &cobra.Command{
		Use:   "knock HOST PORT[:tcp|:udp]...",
		Short: "Knock on ports (knockd's knock client), or send an fwknop SPA packet (--spa)",
		Long: `Knock on HOST's ports in order, with the same packets as knockd's knock
client: a TCP knock is a non-blocking connect closed at once (one SYN), a
UDP knock a datagram holding one zero byte. --connect completes each TCP
connection instead, for servers that watch plain sockets (a knock gate).

With --spa, send one fwknop single packet authorization (protocol 3.0.0,
Rijndael with an HMAC; --digest-type and --hmac-digest-type choose the
hashes as fwknop's options do, SHA256 by default) asking for access to the -A ports for the
address given by -a (or, with -s, the address the server sees), by UDP
to port 62201. Keys come from --key/--key-base64 and --hmac-key/
--hmac-key-base64, a file (--key-file or --rc-file: KEY_BASE64: and
HMAC_KEY_BASE64: lines as fwknop --key-gen writes them, or an fwknoprc,
whose [default] and -n/--stanza sections also give SPA_SERVER (HOST),
SPA_SERVER_PORT, ACCESS, ALLOW_IP, FW_TIMEOUT, SPOOF_USER, DIGEST_TYPE and
HMAC_DIGEST_TYPE, the command line overriding them; a setting ports
cannot honour, such as NAT_RAND_PORT Y or USE_GPG_AGENT Y, is refused), or $` + envSPAKey + ` and
$` + envSPAHMAC + `. --key-gen prints a new key pair, or with --key-file
writes it to a new file only its owner may read (an existing file is
never overwritten). -C CMD sends a command message instead (the server
runs CMD if its stanza has ENABLE_CMD_EXEC Y), -N IP[:PORT] a NAT access
request (the server forwards the first -A port to IP:PORT), --nat-local
(with --nat-port N) a local NAT request (the server forwards its port N
to its own first -A port), as fwknop's options do.

-g encrypts with GnuPG instead (fwknop -g): to the server's key
(--gpg-recipient), signed with yours if --gpg-signer is given (its
passphrase from --gpg-signing-pw or the rc file's GPG_SIGNING_PW), with
the HMAC key as for Rijndael. The keys are read from --gpg-home-dir
(default ~/.gnupg): its pubring.gpg and secring.gpg, GnuPG 1's keyring
files; with GnuPG 2, export them there once (gpg --export >pubring.gpg,
gpg --export-secret-keys >secring.gpg).`,
		Example: `  ports knock server.example 7000 8000:udp 9000
  ports knock -u -d 200 server.example 1111 2222 3333
  ports knock --key-gen --key-file ~/.ports-spa-keys
  ports knock --spa --key-file ~/.ports-spa-keys -A tcp/22 -a 198.51.100.7 server.example`,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if keyGen {
				if len(args) > 0 {
					return usagef("--key-gen takes no arguments")
				}
				k, err := spa.GenerateKeys(nil)
				if err != nil {
					return err
				}
				if kf.keyFile == "" {
					_, err = io.WriteString(out, k.Format())
					return err
				}
				return writeKeyFile(kf.keyFile, k.Format())
			}
			network := "ip"
			switch {
			case v4 && v6:
				return usagef("-4 conflicts with -6")
			case v4:
				network = "ip4"
			case v6:
				network = "ip6"
			}
			if delay < 0 {
				return usagef("-d must not be negative, not %d", delay)
			}
			if len(args) == 0 && !useSPA {
				return usagef("missing HOST")
			}
			if len(args) > 0 {
				// An fwknoprc stanza may name the host (SPA_SERVER) instead.
				if _, err := ports.ParseHost(args[0]); err != nil {
					return usagef("%v", err)
				}
			}
			ctx := cmd.Context()
			if useSPA {
				if len(args) > 1 {
					return usagef("--spa takes one HOST and the ports with -A, not %q", args[1])
				}
				host := ""
				if len(args) == 1 {
					host = args[0]
				}
				return sendSPA(ctx, cmd, host, network, spaOpts{access: access, allowIP: allowIP, sourceIP: sourceIP,
					port: spaPort, user: userName, clientTimeout: clientTimeout, digestType: digestType, serverCmd: serverCmd, natAccess: natAccess, natLocal: natLocal, natPort: natPort, portSet: cmd.Flags().Changed("spa-port"), keys: &kf, gpg: &gf, verbose: verbose})
			}
			if len(access) > 0 || allowIP != "" || sourceIP || digestType != "" || kf.hmacType != "" || kf.mode != "" || serverCmd != "" || natAccess != "" || natLocal || natPort != 0 || gf.set() {
				return usagef("-A, -a, -s, -C, -N, --nat-local, --nat-port, -M, -g, --gpg-*, --digest-type and --hmac-digest-type need --spa")
			}
			if len(args) < 2 {
				return usagef("missing PORT: knock HOST PORT[:tcp|:udp]...")
			}
			def := ports.ProtoTCP
			if udp {
				def = ports.ProtoUDP
			}
			var seq knock.Sequence
			for _, a := range args[1:] {
				k, err := knock.ParseKnock(a, def)
				if err != nil {
					return usagef("%v", err)
				}
				seq = append(seq, k)
			}
			cfg := &knock.SendConfig{Delay: time.Duration(delay) * time.Millisecond, Network: network, Connect: connect}
			if verbose {
				cfg.OnKnock = func(k knock.Knock, to netip.AddrPort) {
					fmt.Fprintf(out, "hitting %s %s\n", k.Proto, to)
				}
			}
			return knock.Send(ctx, args[0], seq, cfg)
		},
	}
	fs := cmd.Flags()
	fs.IntVarP(&delay, "delay", "d", 0, "wait this many milliseconds between knocks")
	fs.BoolVarP(&udp, "udp", "u", false, "knock with UDP where a port names no protocol (default TCP)")
	fs.BoolVarP(&v4, "ipv4", "4", false, "use IPv4 only")
	fs.BoolVarP(&v6, "ipv6", "6", false, "use IPv6 only")
	fs.BoolVarP(&verbose, "verbose", "v", false, "say what is sent")
	fs.BoolVar(&connect, "connect", false, "complete each TCP connection (for a knock gate; space the knocks with -d) instead of sending a lone SYN")
	fs.BoolVar(&useSPA, "spa", false, "send an fwknop SPA packet instead of knocks")
	fs.BoolVar(&keyGen, "key-gen", false, "print a new SPA key pair in fwknop's format (or write it to a new --key-file) and exit")
	fs.StringSliceVarP(&access, "access", "A", nil, "SPA: the ports to open, proto/port (tcp/22,udp/53)")
	fs.StringVarP(&allowIP, "allow-ip", "a", "", "SPA: the IPv4 address to let in")
	fs.BoolVarP(&sourceIP, "source-ip", "s", false, "SPA: let in the address the server sees the packet from (sends 0.0.0.0)")
	fs.IntVar(&spaPort, "spa-port", spa.DefaultPort, "SPA: the server's UDP port")
	fs.StringVar(&userName, "user", "", "SPA: the user name in the packet (default: the current user)")
	fs.IntVar(&clientTimeout, "fw-timeout", 0, "SPA: ask for access for this many seconds (the server may grant less)")
	fs.StringVar(&digestType, "digest-type", "", "SPA: the message digest's hash: MD5, SHA1, SHA256, SHA384, SHA512, SHA3_256 or SHA3_512 (default SHA256)")
	fs.StringVarP(&serverCmd, "server-cmd", "C", "", "SPA: ask the server to run this command (fwknop -C; its access.conf stanza needs ENABLE_CMD_EXEC Y) instead of opening ports")
	fs.StringVarP(&natAccess, "nat-access", "N", "", "SPA: ask to be forwarded to this internal IPv4 address and port (IP[:PORT], default the first -A port), as fwknop -N; the server needs NAT (fwknopd's ENABLE_IPT_FORWARDING, ports knockd --spa --nat-map)")
	fs.BoolVar(&natLocal, "nat-local", false, "SPA: ask for local NAT (fwknop --nat-local): connections to --nat-port on the server go to the first -A port of the server itself (its ENABLE_IPT_LOCAL_NAT; ports knockd --spa --nat-map)")
	fs.IntVar(&natPort, "nat-port", 0, "SPA: with --nat-local, the port to connect to on the server (default the -A port), as fwknop --nat-port")
	kf.add(cmd)
	gf.add(cmd)
	return cmd
}

type spaOpts struct {
	access        []string
	allowIP       string
	sourceIP      bool
	port          int
	user          string
	clientTimeout int
	digestType    string
	serverCmd     string
	natAccess     string
	natLocal      bool
	natPort       int
	portSet       bool
	keys          *spaKeyFlags
	gpg           *gpgFlags
	verbose       bool
}

func sendSPA(ctx context.Context, cmd *cobra.Command, host, network string, o spaOpts) error {
	// The rc file's stanza fills in what the command line does not say.
	rc, err := o.keys.rc()
	if err != nil {
		return err
	}
	if host == "" {
		host = rc.Server
	}
	if host == "" {
		return usagef("missing HOST (or SPA_SERVER in the --key-file stanza)")
	}
	if o.serverCmd == "" && len(o.access) == 0 {
		o.serverCmd = rc.ServerCmd
	}
	if o.serverCmd != "" && len(o.access) > 0 {
		return usagef("--server-cmd conflicts with -A: a command message opens no ports")
	}
	if len(o.access) == 0 && o.serverCmd == "" {
		o.access = rc.Access
	}
	if o.allowIP == "" && !o.sourceIP {
		if rc.AllowIP == "source" {
			o.sourceIP = true
		} else {
			o.allowIP = rc.AllowIP
		}
	}
	if !o.portSet && rc.ServerPort != 0 {
		o.port = rc.ServerPort
	}
	if o.clientTimeout == 0 {
		o.clientTimeout = rc.FWTimeout
	}
	if o.user == "" {
		o.user = rc.User
	}
	if len(o.access) == 0 && o.serverCmd == "" {
		return usagef("--spa needs -A proto/port: the ports to open (or -C, a command for the server)")
	}
	if o.serverCmd != "" && len(spa.SplitServerCommand(o.serverCmd)) == 0 {
		return usagef("--server-cmd is empty")
	}
	if o.natAccess == "" && o.serverCmd == "" {
		o.natAccess = rc.NATAccess
	}
	if o.serverCmd != "" && o.natAccess != "" {
		return usagef("--server-cmd conflicts with --nat-access")
	}
	var nat netip.AddrPort
	if o.natAccess != "" {
		first, _ := spa.ParsePortSpec(o.access[0]) // checked above
		if ap, err := netip.ParseAddrPort(o.natAccess); err == nil {
			nat = ap
		} else if a, err := netip.ParseAddr(o.natAccess); err == nil {
			nat = netip.AddrPortFrom(a, uint16(first.Port))
		} else {
			return usagef("--nat-access %q is not IP or IP:PORT", o.natAccess)
		}
		if !nat.Addr().Is4() || nat.Port() == 0 {
			return usagef("--nat-access %q: want an IPv4 address (fwknop's NAT access is IPv4) and a port from 1 to 65535", o.natAccess)
		}
	}
	o.natLocal = o.natLocal || rc.NATLocal
	if o.natPort == 0 {
		o.natPort = rc.NATPort
	}
	if o.natPort != 0 && !o.natLocal {
		return usagef("--nat-port needs --nat-local")
	}
	if o.natPort < 0 || o.natPort > 65535 {
		return usagef("--nat-port must be from 1 to 65535, not %d", o.natPort)
	}
	if o.natLocal && o.serverCmd != "" {
		return usagef("--server-cmd conflicts with --nat-local")
	}
	if o.serverCmd != "" && o.clientTimeout > 0 {
		// fwknop drops the timeout from a command message without a word.
		return usagef("--fw-timeout has no meaning with --server-cmd")
	}
	var specs []string
	for _, a := range o.access {
		ps, err := spa.ParsePortSpec(a)
		if err != nil {
			return usagef("-A: %v", err)
		}
		specs = append(specs, ps.String())
	}
	// Local NAT, as fwknop builds it: the request names the port to
	// connect to (--nat-port, else the -A port) and the NAT access the
	// server's address (HOST, resolved) and the first -A port, unless -N
	// gives them.
	var localPort spa.PortSpec
	if o.natLocal {
		localPort, _ = spa.ParsePortSpec(specs[0])
		if o.natPort != 0 {
			specs = []string{spa.PortSpec{Proto: localPort.Proto, Port: ports.Port(o.natPort)}.String()}
		} else {
			specs = specs[:1]
		}
	}
	if o.port < 1 || o.port > 65535 {
		return usagef("--spa-port must be from 1 to 65535, not %d", o.port)
	}
	if o.clientTimeout < 0 {
		return usagef("--fw-timeout must not be negative, not %d", o.clientTimeout)
	}
	ip := "0.0.0.0"
	switch {
	case o.allowIP != "" && o.sourceIP:
		return usagef("-a conflicts with -s")
	case o.allowIP != "":
		a, err := netip.ParseAddr(o.allowIP)
		if err != nil || !a.Unmap().Is4() {
			return usagef("-a %q is not an IPv4 address (fwknop's access requests carry IPv4)", o.allowIP)
		}
		ip = a.Unmap().String()
	case !o.sourceIP:
		return usagef("--spa needs -a IP (the address to let in) or -s (the address the server sees)")
	}
	dt := rc.DigestType
	if o.digestType != "" {
		var err error
		if dt, err = spa.ParseDigestType(o.digestType); err != nil {
			return usagef("--digest-type: %v", err)
		}
	}
	var ge *spa.GPGEncrypt
	if o.gpg != nil {
		rcg := rc.GPG
		if len(rcg.SigningPW) == 0 {
			// fwknop: in GnuPG mode KEY is the signing passphrase.
			rcg.SigningPW = rc.Keys.Enc
		}
		if ge, err = o.gpg.encrypt(rcg); err != nil {
			return err
		}
	}
	keys, err := o.keys.keysFor(ge != nil)
	if err != nil {
		return err
	}
	if ge != nil && (o.keys.key != "" || o.keys.keyB64 != "" || o.keys.mode != "") {
		return usagef("--key, --key-base64 and -M are for Rijndael, not with GnuPG encryption (-g)")
	}
	name := o.user
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		} else {
			name = "nobody"
		}
	}
	m := &spa.Message{User: name, Type: spa.AccessMsg, Access: ip + "," + strings.Join(specs, ","), DigestType: dt}
	switch {
	case o.serverCmd != "":
		m.Type, m.Access = spa.CommandMsg, ip+","+o.serverCmd
	case o.natLocal:
		m.Type = spa.LocalNATAccessMsg
		if o.clientTimeout > 0 {
			m.Type, m.ClientTimeout = spa.ClientTimeoutLocalNATAccess, o.clientTimeout
		}
		if nat.IsValid() {
			m.NATAccess = nat.Addr().String() + "," + strconv.Itoa(int(nat.Port()))
		} else {
			m.NATAccess = "SERVER," + strconv.Itoa(int(localPort.Port)) // the address once HOST is resolved
		}
	case nat.IsValid() && o.clientTimeout > 0:
		m.Type, m.ClientTimeout = spa.ClientTimeoutNATAccessMsg, o.clientTimeout
		m.NATAccess = nat.Addr().String() + "," + strconv.Itoa(int(nat.Port()))
	case nat.IsValid():
		m.Type, m.NATAccess = spa.NATAccessMsg, nat.Addr().String()+","+strconv.Itoa(int(nat.Port()))
	case o.clientTimeout > 0:
		m.Type, m.ClientTimeout = spa.ClientTimeoutAccessMsg, o.clientTimeout
	}
	addr, err := knock.Resolve(ctx, host, network, nil)
	if err != nil {
		return err
	}
	if strings.HasPrefix(m.NATAccess, "SERVER,") {
		if !addr.Unmap().Is4() {
			return usagef("--nat-local: the server's address %v is not IPv4 (fwknop's NAT access is IPv4): give -N IP:PORT", addr)
		}
		m.NATAccess = addr.Unmap().String() + strings.TrimPrefix(m.NATAccess, "SERVER")
	}
	var pkt string
	if ge != nil {
		pkt, err = spa.EncodeGPG(m, *ge, keys, nil)
	} else {
		pkt, err = spa.Encode(m, keys, nil)
	}
	if err != nil {
		return err
	}
	to := netip.AddrPortFrom(addr, uint16(o.port))
	if o.verbose {
		fmt.Fprintf(cmd.OutOrStdout(), "sending SPA (%d bytes) for %s to udp %s\n", len(pkt), m.Access, to)
	}
	return spa.Send(ctx, to, pkt)
}

// lineHandler is a slog handler writing "TIME message" lines, like
// knockd's log.
type lineHandler struct {
	mu *sync.Mutex
	w  []io.Writer
}

func newLineLogger(w ...io.Writer) *slog.Logger {
	return slog.New(&lineHandler{mu: new(sync.Mutex), w: w})
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *lineHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *lineHandler) WithGroup(string) slog.Handler                { return h }
func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	line := "[" + r.Time.Format("2006-01-02 15:04:05") + "] " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ratelog.KindKey {
			return true // for the rate limit, not for the reader
		}
		line += " " + a.Key + "=" + strconv.Quote(a.Value.String())
		return true
	})
	line += "\n"
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.w {
		io.WriteString(w, line)
	}
	return nil
}

// writeKeyFile creates name, readable by its owner only, and writes the
// keys to it. It refuses an existing file: keys are not thrown away by
// mistake. A failed write leaves no file behind.
func writeKeyFile(name, keys string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("--key-file %s exists: not overwriting its keys", name)
	}
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, keys)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}
