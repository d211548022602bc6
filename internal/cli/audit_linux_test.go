package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/internal/render"
)

// TestIntegrationAudit is issue 16's test of `ports audit`: a machine X
// with an external interface (its default route goes to Router) and an
// internal one (to Peer, no route beyond), listeners on loopback, on
// each interface's address and on the wildcard, and a ruleset of its
// own. For every way in that audit reports, its verdict must be what
// nmap's connect scan from the namespace on the other side finds, and
// the rule beyond the evaluator must be "not evaluated".
func TestIntegrationAudit(t *testing.T) {
	nmap := porttest.LookTool(t, "nmap", "nmap")
	nft := porttest.LookTool(t, "nft", "nftables")
	ex := porttest.NewExposed(t)
	ctx := context.Background()
	const (
		pAll      = 20001 // wildcard, accepted everywhere
		pInternal = 20002 // IPv4 wildcard, accepted on the internal link only
		pReject   = 20003 // X's external address, rejected
		pDrop     = 20004 // X's internal address, dropped
		pRouter   = 20005 // wildcard, accepted from the router's IPv4 address only
		pLimit    = 20006 // wildcard, behind a rate limit: beyond the evaluator
		pPolicy   = 20007 // wildcard, no rule: the policy drops it
		pV6       = 20008 // X's external IPv6 address, accepted
		pLoop     = 20009 // loopback
		pTrojan   = 12345 // wildcard, accepted: NetBus's port, flagged
		pUDP      = 20010 // UDP wildcard, accepted
		pUDPDrop  = 20011 // UDP wildcard, dropped by the policy
	)
	rules := fmt.Sprintf(`
table inet audit {
	chain input {
		type filter hook input priority 0; policy drop;
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		ct state established,related accept
		iifname "lo" accept
		tcp dport { %[1]d, %[8]d, %[9]d } accept
		iifname %[2]q tcp dport %[3]d accept
		tcp dport %[4]d reject with tcp reset
		tcp dport %[5]d counter drop
		ip saddr %[6]s tcp dport %[7]d accept
		tcp dport %[10]d limit rate 1000/second accept
		udp dport %[11]d accept
	}
}
`, pAll, ex.XPeer.Link, pInternal, pReject, pDrop, ex.Router.Addr4, pRouter, pV6, pTrojan, pLimit, pUDP)
	cmd := ex.X.Command(ctx, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	var udpConns []net.PacketConn
	listen := func(network, addr string) {
		t.Helper()
		if strings.HasPrefix(network, "udp") {
			c, err := ex.X.ListenPacket(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			udpConns = append(udpConns, c)
			return
		}
		l, err := ex.X.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	ap := func(a netip.Addr, p int) string { return netip.AddrPortFrom(a, uint16(p)).String() }
	listen("tcp", fmt.Sprintf(":%d", pAll))
	listen("tcp4", fmt.Sprintf("0.0.0.0:%d", pInternal))
	listen("tcp", ap(ex.X.Addr4, pReject))
	listen("tcp", ap(ex.XPeer.Addr4, pDrop))
	listen("tcp", fmt.Sprintf(":%d", pRouter))
	listen("tcp", fmt.Sprintf(":%d", pLimit))
	listen("tcp", fmt.Sprintf(":%d", pPolicy))
	listen("tcp", ap(ex.X.Addr6, pV6))
	listen("tcp", fmt.Sprintf("127.0.0.1:%d", pLoop))
	listen("tcp", fmt.Sprintf(":%d", pTrojan))
	listen("udp", fmt.Sprintf(":%d", pUDP))
	listen("udp", fmt.Sprintf(":%d", pUDPDrop))

	inX := func(name string, args ...string) *exec.Cmd { return ex.X.Command(ctx, name, args...) }
	audit := func(args ...string) (render.AuditV1, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		c := childCommand(t, inX, append([]string{"audit", "--format", "json"}, args...)...)
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var a render.AuditV1
		if err := json.Unmarshal(stdout.Bytes(), &a); err != nil {
			t.Fatalf("ports audit %v: exit %d: %v\n%s\n%s", args, code, err, stdout.String(), stderr.String())
		}
		return a, code
	}
	a, code := audit("--from", ex.Router.Addr4.String(), "--from", ex.Router.Addr6.String(),
		"--from", ex.Peer.Addr4.String(), "--from", ex.Peer.Addr6.String())
	if code != ExitFailure {
		t.Errorf("exit %d, want 1: port %d (a trojan's) is exposed", code, pTrojan)
	}

	// The ground truth: nmap -sT from each side, on the addresses X has
	// on that side, and from the router (which routes the internal
	// network through X) on the internal ones too: Linux takes a packet
	// for any of its addresses on any interface.
	truth := map[string]map[netip.AddrPort]string{ex.X.Link: {}, ex.XPeer.Link: {}}
	tcpPorts := fmt.Sprintf("%d-%d,%d", pAll, pLoop, pTrojan)
	for _, side := range []struct {
		from *porttest.Host
		link string // X's end of the link it arrives on
		to   []netip.Addr
	}{
		{ex.Router, ex.X.Link, []netip.Addr{ex.X.Addr4, ex.X.Addr6, ex.XPeer.Addr4, ex.XPeer.Addr6}},
		{ex.Peer, ex.XPeer.Link, []netip.Addr{ex.XPeer.Addr4, ex.XPeer.Addr6}},
	} {
		for _, to := range side.to {
			args := []string{"-n", "-Pn", "-sT", "-p", tcpPorts, "-oG", "-", to.String()}
			if to.Is6() {
				args = append([]string{"-6"}, args...)
			}
			out, err := side.from.Command(ctx, nmap, args...).Output()
			if err != nil {
				t.Fatalf("nmap %v: %v", args, err)
			}
			for port, state := range grepablePorts(t, out) {
				truth[side.link][netip.AddrPortFrom(to, port)] = state
			}
		}
	}

	byPort := map[string]render.AuditPortV1{}
	for _, p := range a.Ports {
		byPort[fmt.Sprintf("%s/%s", p.Proto, p.Local)] = p
	}
	find := func(proto string, addr string, port int) render.AuditPortV1 {
		t.Helper()
		p, ok := byPort[fmt.Sprintf("%s/%s", proto, render.AddrPortV1{Addr: addr, Port: uint16(port)})]
		if !ok {
			t.Fatalf("audit does not list %s %s port %d; it lists %v", proto, addr, port, keys(byPort))
		}
		return p
	}
	checked := 0
	for _, p := range a.Ports {
		if p.Proto != "tcp" {
			continue
		}
		for _, r := range p.Reaches {
			dst := netip.AddrPortFrom(netip.MustParseAddr(r.Addr), p.Local.Port)
			state, ok := truth[r.Interface][dst]
			if !ok {
				continue // a link-local address, which nmap did not scan
			}
			checked++
			switch r.Verdict {
			case "accepted":
				if state != "open" {
					t.Errorf("%s via %s: audit says accepted, nmap says %s", dst, r.Interface, state)
				}
			case "dropped":
				want := "filtered"
				if r.Reject {
					want = "closed"
				}
				if state != want {
					t.Errorf("%s via %s: audit says %s (reject %v), nmap says %s, want %s", dst, r.Interface, r.Verdict, r.Reject, state, want)
				}
			default:
				if p.Local.Port != pLimit {
					t.Errorf("%s via %s: audit says %s (%s: %s); only port %d's rule is beyond it", dst, r.Interface, r.Verdict, r.Rule, r.Reason, pLimit)
				}
			}
			if p.Local.Port == pLimit && (r.Verdict != "not evaluated" || !strings.Contains(r.Reason, "limit") || !strings.Contains(r.Rule, "table inet audit chain input handle")) {
				t.Errorf("%s via %s: audit says %s (%s: %s); want not evaluated, naming the limit rule", dst, r.Interface, r.Verdict, r.Rule, r.Reason)
			}
		}
	}
	t.Logf("%d ways in compared with nmap's connect scan", checked)
	// Every TCP way in nmap could take: from the router 10 ports' worth
	// of X's four addresses less those a listener is not on, from the
	// peer the internal two.
	if checked < 37 {
		t.Errorf("only %d ways in compared with nmap, want 37; audit listed %d ports", checked, len(a.Ports))
	}

	// Where each listens, and what is exposed.
	if p := find("tcp", "127.0.0.1", pLoop); p.Listens != "loopback" || len(p.Reaches) != 0 || p.Exposed {
		t.Errorf("loopback listener: %+v", p)
	}
	if p := find("tcp", ex.XPeer.Addr4.String(), pDrop); p.Listens != "interface" || len(p.Interfaces) != 1 || p.Interfaces[0] != ex.XPeer.Link || len(p.Reaches) != 2 || p.Exposed {
		t.Errorf("internal address listener: %+v", p)
	}
	if p := find("tcp", ex.X.Addr4.String(), pReject); p.Listens != "interface" || len(p.Interfaces) != 1 || p.Interfaces[0] != ex.X.Link || p.Exposed {
		t.Errorf("external address listener (rejected): %+v", p)
	}
	if p := find("tcp", "0.0.0.0", pInternal); p.Listens != "wildcard" || p.Exposed {
		t.Errorf("IPv4 wildcard accepted on the internal link only: %+v", p)
	}
	if p := find("tcp", "::", pLimit); !p.MaybeExposed || p.Exposed {
		t.Errorf("the rate-limited port: %+v", p)
	}
	tro := find("tcp", "::", pTrojan)
	if !tro.Exposed || len(tro.Flags) == 0 || tro.Flags[len(tro.Flags)-1].Kind != "trojan" || tro.Flags[len(tro.Flags)-1].Note != "NetBus" || !tro.Root {
		t.Errorf("port %d: %+v; want exposed, flagged as NetBus's, root's", pTrojan, tro)
	}
	if p := find("tcp", "::", pAll); !p.Exposed || len(p.Processes) == 0 {
		t.Errorf("port %d: %+v; want exposed with its process", pAll, p)
	}
	// UDP: the accepted port gets a datagram from the router, and the
	// policy drops the other.
	for _, r := range find("udp", "::", pUDP).Reaches {
		if r.Verdict != "accepted" {
			t.Errorf("udp %d via %s %s: %s, want accepted", pUDP, r.Interface, r.Addr, r.Verdict)
		}
	}
	for _, r := range find("udp", "::", pUDPDrop).Reaches {
		if r.Verdict != "dropped" || r.Reject {
			t.Errorf("udp %d via %s %s: %s, want dropped", pUDPDrop, r.Interface, r.Addr, r.Verdict)
		}
	}
	// The kernel's side: a datagram from the router arrives.
	uc, err := ex.Router.Dial(ctx, "udp", ap(ex.X.Addr4, pUDP))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if _, err := uc.Write([]byte("audit")); err != nil {
		t.Fatal(err)
	}
	udpConns[0].SetReadDeadline(time.Now().Add(20 * time.Second)) // bounds a hang only
	buf := make([]byte, 16)
	if n, from, err := udpConns[0].ReadFrom(buf); err != nil || string(buf[:n]) != "audit" {
		t.Errorf("udp %d: the router's datagram did not arrive: %q from %v, %v", pUDP, buf[:n], from, err)
	}
	s := a.Summary
	// Exposed: pAll, pRouter (from the router's IPv4 address), pV6,
	// pTrojan, pUDP; maybe: pLimit.
	if s.Exposed != 5 || s.MaybeExposed != 1 || s.Flagged != 1 {
		t.Errorf("summary %+v, want 5 exposed, 1 maybe, 1 flagged", s)
	}

	// Without --from, the rule on the router's address is not
	// evaluated for its port, and only for it.
	a2, _ := audit()
	for _, p := range a2.Ports {
		for _, r := range p.Reaches {
			if r.Verdict == "not evaluated" && p.Local.Port != pRouter && p.Local.Port != pLimit {
				t.Errorf("without --from: %s port %d via %s: not evaluated (%s: %s)", p.Proto, p.Local.Port, r.Interface, r.Rule, r.Reason)
			}
			if p.Local.Port == pRouter && r.Addr == ex.X.Addr4.String() && (r.Verdict != "not evaluated" || !strings.Contains(r.Reason, "ip saddr")) {
				t.Errorf("without --from: port %d via %s: %s (%s); want not evaluated on ip saddr", pRouter, r.Addr, r.Verdict, r.Reason)
			}
		}
	}

	// The table: the summary line and the not-evaluated rule.
	var stdout bytes.Buffer
	c := childCommand(t, inX, "audit")
	c.Stdout = &stdout
	c.Run()
	t.Logf("ports audit:\n%s", stdout.String())
	if !regexp.MustCompile(`(?m)^\d+ listening, \d+ exposed to the outside, \d+ maybe exposed`).Match(stdout.Bytes()) ||
		!strings.Contains(stdout.String(), "not evaluated: table inet audit chain input handle") {
		t.Errorf("table output lacks the summary or the not-evaluated rule:\n%s", stdout.String())
	}
}

// grepablePorts parses nmap -oG's Ports: field.
func grepablePorts(t *testing.T, out []byte) map[uint16]string {
	t.Helper()
	got := map[uint16]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		_, ps, ok := strings.Cut(sc.Text(), "Ports: ")
		if !ok {
			continue
		}
		ps, _, _ = strings.Cut(ps, "\t")
		for _, f := range strings.Split(ps, ", ") {
			parts := strings.Split(f, "/")
			var port uint16
			if len(parts) < 2 {
				continue
			}
			fmt.Sscan(parts[0], &port)
			got[port] = parts[1]
		}
	}
	if len(got) == 0 {
		t.Fatalf("no ports in nmap's output:\n%s", out)
	}
	return got
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
