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

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// matrixCase is one packet of TestIntegrationInteropMatrix: the stanza
// it is for (its user), the request and how it is built.
type matrixCase struct {
	name    string
	user    string
	allow   string // -a, or "" for -s
	ports   string // -A
	digest  string // --digest-type; "" for the default
	hmac    string // --hmac-digest-type
	mode    string // -M
	timeout int    // --fw-timeout
	offset  int    // seconds subtracted from the timestamp
	pass    bool   // passphrase keys (KEY, HMAC_KEY) instead of base64 ones
	badKey  bool   // encrypted with other keys
	replay  bool   // the previous case's packet again
	nat     string // -N IP:PORT
	local   bool   // --nat-local
	command string // -C
}

// TestIntegrationInteropMatrix sends each case's packet, made once by the
// real fwknop client and once by ours, to fwknopd 2.6.10 and to ours
// (the same packet to both, in namespace B, with the same access.conf),
// and checks that ours grants exactly what fwknopd grants (the address,
// the ports, the timeout within 2 s) or that both refuse, ours with a log
// line. The cases span the digest and HMAC types, the encryption modes,
// key forms, ports allowed or not, client timeouts, -s, stale packets,
// wrong keys, unknown users, NAT, local NAT and command messages to a
// server that allows none, and replays; it logs the rate of agreement
// in each direction and fails below 100%. (Server commands, the command
// cycle, TCP/HTTP/ICMP and restarts have their own tests beside it.)
func TestIntegrationInteropMatrix(t *testing.T) {
	p := porttest.NewPair(t, nil)
	keys, _ := spa.GenerateKeys(nil)
	other, _ := spa.GenerateKeys(nil)
	const pass, hpass = "a passphrase", "an HMAC passphrase"
	modes := []string{"CBC", "ECB", "CFB", "OFB", "CTR"}
	conf := func(string) string {
		var b strings.Builder
		stanza := func(user, extra string) {
			fmt.Fprintf(&b, "SOURCE ANY\nREQUIRE_USERNAME %s\nOPEN_PORTS tcp/22,udp/53,tcp/8080\n%s\n", user, extra)
		}
		k := fmt.Sprintf("KEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", b64(keys.Enc), b64(keys.HMAC))
		for _, h := range allDigests {
			stanza("h"+h, k+"HMAC_DIGEST_TYPE "+h+"\n")
		}
		for _, m := range modes {
			stanza("m"+m, k+"ENCRYPTION_MODE "+m+"\n")
		}
		stanza("pass", fmt.Sprintf("KEY %s\nHMAC_KEY %s\n", pass, hpass))
		stanza("t", k+"FW_ACCESS_TIMEOUT 20\nMAX_FW_TIMEOUT 60\n")
		stanza("req", k+"REQUIRE_SOURCE_ADDRESS Y\n")
		return b.String()
	}
	o := newOracle(t, p, conf)

	var cases []matrixCase
	n := 0
	next := func() string { n++; return fmt.Sprintf("127.0.%d.%d", 20+n/250, 1+n%250) }
	for _, d := range allDigests {
		for _, h := range allDigests {
			cases = append(cases, matrixCase{name: "digest " + d + " hmac " + h, user: "h" + h, allow: next(), ports: "tcp/22", digest: d, hmac: h})
		}
	}
	for _, m := range modes {
		cases = append(cases, matrixCase{name: "mode " + m, user: "m" + m, allow: next(), ports: "tcp/22", mode: m})
	}
	cases = append(cases,
		matrixCase{name: "passphrase keys", user: "pass", allow: next(), ports: "tcp/22", pass: true},
		matrixCase{name: "two ports", user: "hSHA256", allow: next(), ports: "tcp/22,udp/53"},
		matrixCase{name: "three ports", user: "hSHA256", allow: next(), ports: "tcp/22,udp/53,tcp/8080"},
		matrixCase{name: "a port not in OPEN_PORTS", user: "hSHA256", allow: next(), ports: "tcp/23"},
		matrixCase{name: "one port of two not in OPEN_PORTS", user: "hSHA256", allow: next(), ports: "tcp/22,tcp/23"},
		matrixCase{name: "FW_ACCESS_TIMEOUT", user: "t", allow: next(), ports: "tcp/22"},
		matrixCase{name: "client timeout under the maximum", user: "t", allow: next(), ports: "tcp/22", timeout: 10},
		matrixCase{name: "client timeout over MAX_FW_TIMEOUT", user: "t", allow: next(), ports: "tcp/22", timeout: 100},
		matrixCase{name: "client timeout, default stanza", user: "hSHA256", allow: next(), ports: "tcp/22", timeout: 45},
		matrixCase{name: "-s with REQUIRE_SOURCE_ADDRESS", user: "req", ports: "tcp/22"},
		matrixCase{name: "-a with REQUIRE_SOURCE_ADDRESS", user: "req", allow: next(), ports: "tcp/22"},
		matrixCase{name: "-s", user: "hSHA256", ports: "udp/53"},
		matrixCase{name: "stale by 5 minutes", user: "hSHA256", allow: next(), ports: "tcp/22", offset: 300},
		matrixCase{name: "wrong keys", user: "hSHA256", allow: next(), ports: "tcp/22", badKey: true},
		matrixCase{name: "unknown user", user: "mallory", allow: next(), ports: "tcp/22"},
		matrixCase{name: "HMAC type the stanza does not use", user: "hSHA256", allow: next(), ports: "tcp/22", hmac: "SHA512"},
		matrixCase{name: "-N to a server without NAT", user: "hSHA256", allow: next(), ports: "tcp/22", nat: "192.0.2.7:22"},
		matrixCase{name: "-N with a client timeout, server without NAT", user: "hSHA256", allow: next(), ports: "tcp/22", nat: "192.0.2.7:2222", timeout: 10},
		matrixCase{name: "--nat-local", user: "hSHA256", allow: next(), ports: "tcp/22", local: true},
		matrixCase{name: "-C to stanzas without ENABLE_CMD_EXEC", user: "hSHA256", allow: next(), command: "/usr/bin/touch /nonexistent/x"},
		matrixCase{name: "granted packet", user: "hSHA256", allow: next(), ports: "tcp/8080"},
		matrixCase{name: "replay of it", replay: true},
	)

	fwknop := porttest.LookTool(t, "fwknop", "fwknop-client")
	rc := filepath.Join(o.dir, "matrix-fwknoprc")
	// fwknop's packet for c, saved (sent to a closed port of B).
	fwknopPacket := func(c matrixCase) string {
		t.Helper()
		pkt := filepath.Join(o.dir, "pkt")
		os.Remove(pkt)
		allow := []string{"-s"}
		if c.allow != "" {
			allow = []string{"-a", c.allow}
		}
		args := append([]string{"-D", p.B.Addr4.String(), "-p", "9", "--no-save-args", "--rc-file", rc,
			"--spoof-user", c.user, "--save-packet", pkt}, allow...)
		k := keys
		if c.badKey {
			k = other
		}
		if c.pass {
			args = append(args, "--key-rijndael", pass, "--key-hmac", hpass)
		} else {
			args = append(args, "--key-base64-rijndael", b64(k.Enc), "--key-base64-hmac", b64(k.HMAC))
		}
		if c.command != "" {
			args = append(args, "-C", c.command)
		} else {
			args = append(args, "-A", c.ports)
		}
		if c.nat != "" {
			args = append(args, "-N", c.nat)
		}
		if c.local {
			args = append(args, "--nat-local")
		}
		if c.digest != "" {
			args = append(args, "--digest-type", c.digest)
		}
		if c.hmac != "" {
			args = append(args, "--hmac-digest-type", c.hmac)
		}
		if c.mode != "" {
			args = append(args, "-M", strings.ToLower(c.mode))
		}
		if c.timeout > 0 {
			args = append(args, "--fw-timeout", strconv.Itoa(c.timeout))
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
	// Ours for c.
	ourPacket := func(c matrixCase) string {
		t.Helper()
		k := keys
		switch {
		case c.badKey:
			k = other
		case c.pass:
			k = spa.Keys{Enc: []byte(pass), HMAC: []byte(hpass)}
		}
		var err error
		if c.hmac != "" {
			k.HMACType, _ = spa.ParseDigestType(c.hmac)
		}
		if c.mode != "" {
			k.Mode, _ = spa.ParseEncryptionMode(c.mode)
		}
		allow := c.allow
		if allow == "" {
			allow = "0.0.0.0"
		}
		m := spa.Message{User: c.user, Type: spa.AccessMsg, Access: allow + "," + c.ports}
		if c.digest != "" {
			m.DigestType, _ = spa.ParseDigestType(c.digest)
		}
		if c.timeout > 0 {
			m.Type, m.ClientTimeout = spa.ClientTimeoutAccessMsg, c.timeout
		}
		switch {
		case c.command != "":
			m.Type, m.Access = spa.CommandMsg, allow+","+c.command
		case c.nat != "":
			m.NATAccess = strings.Replace(c.nat, ":", ",", 1)
			m.Type = spa.NATAccessMsg
			if c.timeout > 0 {
				m.Type = spa.ClientTimeoutNATAccessMsg
			}
		case c.local:
			m.Type, m.NATAccess = spa.LocalNATAccessMsg, allow+","+strings.TrimPrefix(c.ports, "tcp/")
		}
		if c.offset > 0 {
			m.Timestamp = time.Now().Unix() - int64(c.offset)
		}
		pkt, err := spa.Encode(&m, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		return pkt
	}

	// fwknopd's grants: one line per port.
	rule := regexp.MustCompile(`Added access rule to FWKNOP_INPUT for (\S+) -> \S+ (\S+), expires at (\d+)`)
	type grant struct {
		ip    string
		ports []string
		secs  int // how long it lasts, from when it was sent
	}
	fwkdGrants := func(from int, sent time.Time) (map[string]*grant, int) {
		log := o.fwkdLog.String()
		out := map[string]*grant{}
		for _, m := range rule.FindAllStringSubmatch(log[from:], -1) {
			g := out[m[1]]
			if g == nil {
				g = &grant{ip: m[1]}
				out[m[1]] = g
			}
			// fwknopd 2.6.10 adds one rule per port, each logged with the
			// whole list of the request.
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
	ourGrants := func(from int, sent time.Time) (map[string]*grant, int) {
		gs := o.ourGrants()
		out := map[string]*grant{}
		for _, g := range gs[from:] {
			x := &grant{ip: g.AllowIP.String(), secs: int(g.Timeout / time.Second)}
			for _, ps := range g.Ports {
				x.ports = append(x.ports, ps.String())
			}
			out[x.ip] = x
		}
		return out, len(gs)
	}
	sentinels := 0
	fwkdFrom, ourFrom := 0, 0
	send := func(to int, pkt string) {
		t.Helper()
		if err := p.A.Do(func() error {
			return spa.Send(context.Background(), netip.AddrPortFrom(p.B.Addr4, uint16(to)), pkt)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// run sends pkt to both, then a sentinel that both grant, and returns
	// what each granted for pkt.
	//
	// slack is how long after sending both grants were seen, in whole
	// seconds: fwknopd's expiry counts from when it took the packet,
	// which under load may be that much after it was sent.
	run := func(pkt string) (fwkd, ours map[string]*grant, rejected bool, slack int) {
		t.Helper()
		rejects := strings.Count(o.ourLog.String(), "SPA packet rejected")
		sent := time.Now()
		send(spa.DefaultPort, pkt)
		send(ourPort, pkt)
		sentinels++
		sentinel := fmt.Sprintf("127.1.%d.%d", sentinels/250, 1+sentinels%250)
		sp := ourPacket(matrixCase{user: "hSHA256", allow: sentinel, ports: "tcp/22"})
		send(spa.DefaultPort, sp)
		send(ourPort, sp)
		porttest.WaitFor(t, "both to grant the sentinel "+sentinel, func() bool {
			f, _ := fwkdGrants(fwkdFrom, sent)
			u, _ := ourGrants(ourFrom, sent)
			return f[sentinel] != nil && u[sentinel] != nil
		})
		slack = int(time.Since(sent)/time.Second) + 1
		fwkd, fwkdFrom = fwkdGrants(fwkdFrom, sent)
		ours, ourFrom = ourGrants(ourFrom, sent)
		delete(fwkd, sentinel)
		delete(ours, sentinel)
		return fwkd, ours, strings.Count(o.ourLog.String(), "SPA packet rejected") > rejects, slack
	}
	// same compares the grants; fwknopd's may last up to slack seconds
	// longer, counted from the sending (see run).
	same := func(f, u map[string]*grant, slack int) bool {
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
	show := func(m map[string]*grant) string {
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
	for _, dir := range []struct {
		name string
		make func(matrixCase) string
	}{{"fwknop's packets", fwknopPacket}, {"our packets", ourPacket}} {
		agree, granted := 0, 0
		last := ""
		for _, c := range cases {
			pkt := last
			if !c.replay {
				pkt = dir.make(c)
			}
			last = pkt
			f, u, rejected, slack := run(pkt)
			switch {
			case !same(f, u, slack):
				t.Errorf("%s, %s: fwknopd: %s; ours: %s", dir.name, c.name, show(f), show(u))
			case len(u) == 0 && !rejected:
				t.Errorf("%s, %s: both refused, ours without a log line", dir.name, c.name)
			default:
				agree++
				if len(u) > 0 {
					granted++
				}
			}
		}
		t.Logf("%s: %d of %d cases agree with fwknopd (%.1f%%; %d granted by both, %d refused by both)",
			dir.name, agree, len(cases), 100*float64(agree)/float64(len(cases)), granted, agree-granted)
	}
}
