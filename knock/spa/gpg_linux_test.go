package spa_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// gpgCase is one packet of TestIntegrationGPGInterop.
type gpgCase struct {
	name    string
	user    string   // the stanza (REQUIRE_USERNAME)
	signer  *gpgHome // nil: unsigned
	ports   string
	timeout int    // --fw-timeout
	digest  string // --digest-type
	badHMAC bool
	replay  bool // the previous case's packet again
	offset  int  // seconds subtracted from the timestamp
	source  bool // -s: the packet's source (0.0.0.0)
}

// TestIntegrationGPGInterop sends GnuPG-encrypted packets (fwknop -g),
// each made once by the real fwknop 2.6.10 client and once by ours
// (spa.EncodeGPG), to fwknopd 2.6.10 and to ours with the same
// access.conf (GPG_HOME_DIR is the same directory for both: GnuPG's
// own files for fwknopd, the keys exported to pubring.gpg and
// secring.gpg for ours), and checks that ours grants what fwknopd
// grants (address, ports, timeout within 2 s) or that both refuse, ours
// with a log line: signed and unsigned packets; signers listed by
// GPG_REMOTE_ID or GPG_FINGERPRINT_ID or not, unknown to the server, or
// let through by GPG_IGNORE_SIG_VERIFY_ERROR; GPG_DISABLE_SIG; message
// digest types; client timeouts; ports outside OPEN_PORTS; a stanza
// with KEY too; -s; a stale packet; a wrong HMAC key and a replay. It logs the rate of agreement in each direction.
func TestIntegrationGPGInterop(t *testing.T) {
	k := sharedGPG(t)
	p := porttest.NewPair(t, nil)
	hmacKeys, _ := spa.GenerateKeys(nil)
	otherHMAC, _ := spa.GenerateKeys(nil)
	hk := b64(hmacKeys.HMAC)
	cliID, strangerID := k.cli.fpr[32:], k.stranger.fpr[32:]
	conf := func(string) string {
		var b strings.Builder
		stanza := func(user, extra string) {
			fmt.Fprintf(&b, "SOURCE ANY\nREQUIRE_USERNAME %s\nOPEN_PORTS tcp/22,udp/53\nHMAC_KEY_BASE64 %s\nGPG_HOME_DIR %s\nGPG_DECRYPT_ID %s\nGPG_DECRYPT_PW %s\n%s\n",
				user, hk, k.srv.dir, k.srv.fpr[24:], k.srv.pass, extra)
		}
		stanza("sig", "GPG_REMOTE_ID "+cliID+"\n")
		stanza("fpr", "GPG_FINGERPRINT_ID "+k.cli.fpr+"\n")
		stanza("nosig", "GPG_DISABLE_SIG Y\n")
		stanza("ignore", "GPG_IGNORE_SIG_VERIFY_ERROR Y\nGPG_REMOTE_ID "+strangerID+"\n")
		stanza("both", "KEY_BASE64 "+b64(hmacKeys.Enc)+"\nGPG_REMOTE_ID "+cliID+"\n")
		// A sentinel stanza for Rijndael packets (see run).
		fmt.Fprintf(&b, "SOURCE ANY\nREQUIRE_USERNAME sentinel\nOPEN_PORTS tcp/22\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", b64(hmacKeys.Enc), hk)
		return b.String()
	}
	o := newOracle(t, p, conf)

	cases := []gpgCase{
		{name: "signed by a GPG_REMOTE_ID key", user: "sig", signer: k.cli, ports: "tcp/22"},
		{name: "replay of it", replay: true},
		{name: "signed, two ports", user: "sig", signer: k.cli, ports: "tcp/22,udp/53"},
		{name: "signed, a port not in OPEN_PORTS", user: "sig", signer: k.cli, ports: "tcp/23"},
		{name: "signed, client timeout", user: "sig", signer: k.cli, ports: "tcp/22", timeout: 45},
		{name: "signed, digest MD5", user: "sig", signer: k.cli, ports: "tcp/22", digest: "MD5"},
		{name: "signed, digest SHA512", user: "sig", signer: k.cli, ports: "tcp/22", digest: "SHA512"},
		{name: "unsigned, signature required", user: "sig", ports: "tcp/22"},
		{name: "signed by a key of the keyring not in GPG_REMOTE_ID", user: "sig", signer: k.eve, ports: "tcp/22"},
		{name: "signed by a key the server lacks", user: "sig", signer: k.stranger, ports: "tcp/22"},
		{name: "wrong HMAC key", user: "sig", signer: k.cli, ports: "tcp/22", badHMAC: true},
		{name: "signed by a GPG_FINGERPRINT_ID key", user: "fpr", signer: k.cli, ports: "tcp/22"},
		{name: "signed by a key not in GPG_FINGERPRINT_ID", user: "fpr", signer: k.eve, ports: "tcp/22"},
		{name: "unsigned, GPG_DISABLE_SIG", user: "nosig", ports: "tcp/22"},
		{name: "signed by anyone, GPG_DISABLE_SIG", user: "nosig", signer: k.stranger, ports: "udp/53"},
		{name: "unknown signer, GPG_IGNORE_SIG_VERIFY_ERROR, its ID listed", user: "ignore", signer: k.stranger, ports: "tcp/22"},
		{name: "known signer, GPG_IGNORE_SIG_VERIFY_ERROR, its ID not listed", user: "ignore", signer: k.cli, ports: "tcp/22"},
		{name: "signed, to a stanza with KEY too", user: "both", signer: k.cli, ports: "udp/53"},
		{name: "signed, stale by 5 minutes", user: "sig", signer: k.cli, ports: "tcp/22", offset: 300},
		{name: "signed, -s", user: "sig", signer: k.cli, ports: "tcp/22", source: true},
	}

	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	rc := filepath.Join(o.dir, "gpg-fwknoprc")
	var rcText strings.Builder
	for _, h := range []*gpgHome{k.cli, k.eve, k.stranger} {
		fmt.Fprintf(&rcText, "[%s]\nGPG_SIGNING_PW %s\n\n", filepath.Base(h.dir), h.pass)
	}
	if err := os.WriteFile(rc, []byte(rcText.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	next := func() string { n++; return fmt.Sprintf("127.0.%d.%d", 40+n/250, 1+n%250) }
	fwknopPacket := func(c gpgCase, allow string) string {
		t.Helper()
		pkt := filepath.Join(o.dir, "pkt")
		os.Remove(pkt)
		h := hmacKeys
		if c.badHMAC {
			h = otherHMAC
		}
		src := []string{"-a", allow}
		if c.source {
			src = []string{"-s"}
		}
		args := []string{"-D", p.B.Addr4.String(), "-p", "9", "--no-save-args", "--rc-file", rc,
			"--spoof-user", c.user, "--save-packet", pkt, src[0], src[len(src)-1], "-A", c.ports,
			"--gpg-encryption", "--gpg-recipient-key", k.srv.fpr, "--key-base64-hmac", b64(h.HMAC)}
		home := k.srv // an unsigned packet needs only the recipient's key
		if c.signer != nil {
			home = c.signer
			args = append(args, "--gpg-signer-key", c.signer.fpr, "-n", filepath.Base(c.signer.dir))
		} else {
			args = append(args, "--gpg-no-signing-pw")
		}
		args = append(args, "--gpg-home-dir", home.dir)
		if c.timeout > 0 {
			args = append(args, "--fw-timeout", strconv.Itoa(c.timeout))
		}
		if c.digest != "" {
			args = append(args, "--digest-type", c.digest)
		}
		if c.offset > 0 {
			args = append(args, "--time-offset-minus", fmt.Sprintf("%dsec", c.offset))
		}
		cmd := p.A.Command(context.Background(), fwknop, args...)
		cmd.Env = append(os.Environ(), "HOME="+o.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fwknop %s: %v: %s", strings.Join(args, " "), err, out)
		}
		b, err := os.ReadFile(pkt)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	srvKey := k.srv.entity(t, false)
	signers := map[*gpgHome]*openpgp.Entity{}
	ourPacket := func(c gpgCase, allow string) string {
		t.Helper()
		h := hmacKeys
		if c.badHMAC {
			h = otherHMAC
		}
		if c.source {
			allow = "0.0.0.0"
		}
		m := spa.Message{User: c.user, Type: spa.AccessMsg, Access: allow + "," + c.ports}
		if c.timeout > 0 {
			m.Type, m.ClientTimeout = spa.ClientTimeoutAccessMsg, c.timeout
		}
		if c.offset > 0 {
			m.Timestamp = time.Now().Unix() - int64(c.offset)
		}
		if c.digest != "" {
			m.DigestType, _ = spa.ParseDigestType(c.digest)
		}
		g := spa.GPGEncrypt{Recipient: srvKey}
		if c.signer != nil {
			if signers[c.signer] == nil {
				signers[c.signer] = c.signer.entity(t, true)
			}
			g.Signer = signers[c.signer]
		}
		pkt, err := spa.EncodeGPG(&m, g, spa.Keys{HMAC: h.HMAC}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return pkt
	}
	sentinel := func(allow string) string {
		pkt, err := spa.Encode(&spa.Message{User: "sentinel", Type: spa.AccessMsg, Access: allow + ",tcp/22"}, hmacKeys, nil)
		if err != nil {
			t.Fatal(err)
		}
		return pkt
	}
	r := newGrantRun(t, o, p, sentinel)
	for _, dir := range []struct {
		name string
		make func(gpgCase, string) string
	}{{"fwknop's packets", fwknopPacket}, {"our packets", ourPacket}} {
		agree, granted := 0, 0
		last := ""
		for _, c := range cases {
			pkt := last
			if !c.replay {
				pkt = dir.make(c, next())
			}
			last = pkt
			f, u, rejected, slack := r.run(pkt)
			switch {
			case !sameGrants(f, u, slack):
				t.Errorf("%s, %s: fwknopd: %s; ours: %s", dir.name, c.name, showGrants(f), showGrants(u))
			case len(u) == 0 && !rejected:
				t.Errorf("%s, %s: both refused, ours without a log line", dir.name, c.name)
			default:
				agree++
				if len(u) > 0 {
					granted++
				}
			}
		}
		t.Logf("GnuPG, %s: %d of %d cases agree with fwknopd (%.1f%%; %d granted by both, %d refused by both)",
			dir.name, agree, len(cases), 100*float64(agree)/float64(len(cases)), granted, agree-granted)
	}
}

// grantRun sends packets to fwknopd and to ours (an oracle) and
// collects what each granted, as TestIntegrationInteropMatrix does.
type grantRun struct {
	t                 *testing.T
	o                 *oracle
	p                 *porttest.Pair
	sentinel          func(allow string) string
	sentinels         int
	fwkdFrom, ourFrom int
}

func newGrantRun(t *testing.T, o *oracle, p *porttest.Pair, sentinel func(string) string) *grantRun {
	return &grantRun{t: t, o: o, p: p, sentinel: sentinel}
}

// oneGrant is what a server granted one address.
type oneGrant struct {
	ip    string
	ports []string
	secs  int // how long it lasts, from when it was sent
}

var fwkdRule = regexp.MustCompile(`Added access rule to FWKNOP_INPUT for (\S+) -> \S+ (\S+), expires at (\d+)`)

func (r *grantRun) fwkdGrants(from int, sent time.Time) (map[string]*oneGrant, int) {
	log := r.o.fwkdLog.String()
	out := map[string]*oneGrant{}
	for _, m := range fwkdRule.FindAllStringSubmatch(log[from:], -1) {
		g := out[m[1]]
		if g == nil {
			g = &oneGrant{ip: m[1]}
			out[m[1]] = g
		}
		for _, ps := range strings.Split(m[2], ",") {
			if !slices.Contains(g.ports, ps) {
				g.ports = append(g.ports, ps)
			}
		}
		at, _ := strconv.ParseInt(m[3], 10, 64)
		g.secs = int(time.Unix(at, 0).Sub(sent).Round(time.Second) / time.Second)
	}
	return out, len(log)
}

func (r *grantRun) ourGrants(from int) (map[string]*oneGrant, int) {
	gs := r.o.ourGrants()
	out := map[string]*oneGrant{}
	for _, g := range gs[from:] {
		x := &oneGrant{ip: g.AllowIP.String(), secs: int(g.Timeout / time.Second)}
		for _, ps := range g.Ports {
			x.ports = append(x.ports, ps.String())
		}
		out[x.ip] = x
	}
	return out, len(gs)
}

func (r *grantRun) send(to int, pkt string) {
	r.t.Helper()
	if err := r.p.A.Do(func() error {
		return spa.Send(context.Background(), netip.AddrPortFrom(r.p.B.Addr4, uint16(to)), pkt)
	}); err != nil {
		r.t.Fatal(err)
	}
}

// run sends pkt to both, then a sentinel packet both grant, and returns
// what each granted for pkt, whether ours logged a refusal, and the
// seconds it took (fwknopd's expiry counts from when it took the
// packet).
func (r *grantRun) run(pkt string) (fwkd, ours map[string]*oneGrant, rejected bool, slack int) {
	r.t.Helper()
	rejects := strings.Count(r.o.ourLog.String(), "SPA packet rejected")
	sent := time.Now()
	r.send(spa.DefaultPort, pkt)
	r.send(ourPort, pkt)
	r.sentinels++
	ip := fmt.Sprintf("127.2.%d.%d", r.sentinels/250, 1+r.sentinels%250)
	sp := r.sentinel(ip)
	r.send(spa.DefaultPort, sp)
	r.send(ourPort, sp)
	porttest.WaitFor(r.t, "both to grant the sentinel "+ip, func() bool {
		f, _ := r.fwkdGrants(r.fwkdFrom, sent)
		u, _ := r.ourGrants(r.ourFrom)
		return f[ip] != nil && u[ip] != nil
	})
	slack = int(time.Since(sent)/time.Second) + 1
	fwkd, r.fwkdFrom = r.fwkdGrants(r.fwkdFrom, sent)
	ours, r.ourFrom = r.ourGrants(r.ourFrom)
	delete(fwkd, ip)
	delete(ours, ip)
	return fwkd, ours, strings.Count(r.o.ourLog.String(), "SPA packet rejected") > rejects, slack
}

// sameGrants compares the grants; fwknopd's may last up to slack
// seconds longer, counted from the sending.
func sameGrants(f, u map[string]*oneGrant, slack int) bool {
	if len(f) != len(u) {
		return false
	}
	for ip, g := range f {
		h := u[ip]
		if h == nil || !slices.Equal(slices.Sorted(slices.Values(g.ports)), slices.Sorted(slices.Values(h.ports))) || g.secs-h.secs > 2+slack || h.secs-g.secs > 2 {
			return false
		}
	}
	return true
}

func showGrants(m map[string]*oneGrant) string {
	if len(m) == 0 {
		return "refused"
	}
	var s []string
	for _, g := range m {
		s = append(s, fmt.Sprintf("%s %s for %ds", g.ip, strings.Join(g.ports, ","), g.secs))
	}
	slices.Sort(s)
	return strings.Join(s, "; ")
}
