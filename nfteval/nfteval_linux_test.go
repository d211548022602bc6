package nfteval_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/nfteval"
)

// loadRuleset reads h's ruleset over netlink.
func loadRuleset(t *testing.T, h *porttest.Host) *nfteval.Ruleset {
	t.Helper()
	var rs *nfteval.Ruleset
	if err := h.Do(func() error {
		var err error
		rs, err = nfteval.Load()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rs
}

// nftLoad loads rules into h with nft -f.
func nftLoad(t *testing.T, h *porttest.Host, rules string) {
	t.Helper()
	nft := porttest.LookTool(t, "nft", "nftables")
	cmd := h.Command(context.Background(), nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s\n%s", err, out, rules)
	}
}

// outcome is what a client sees: a connection, a refusal (a reject), or
// nothing (a drop).
type outcome int

const (
	connected outcome = iota
	refused
	silent
)

func (o outcome) String() string { return [...]string{"connected", "refused", "silent"}[o] }

// listenAll opens a dual-stack TCP listener on every port in A.
func listenAll(t *testing.T, h *porttest.Host, ps []uint16) {
	t.Helper()
	for _, p := range ps {
		l, err := h.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
}

// probe connects from h to each of addrs' ports at once and says what
// came back. A drop shows as no answer before the dial's deadline, which
// only bounds the wait: an answer from the veth comes in microseconds.
func probe(t *testing.T, h *porttest.Host, dst netip.Addr, ps []uint16) map[uint16]outcome {
	t.Helper()
	var mu sync.Mutex
	got := map[uint16]outcome{}
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := h.Dial(ctx, "tcp", netip.AddrPortFrom(dst, p).String())
			o := connected
			switch {
			case err == nil:
				c.Close()
			case errors.Is(err, syscall.ECONNREFUSED):
				o = refused
			case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
				o = silent
			default:
				t.Errorf("dial %s port %d: %v", dst, p, err)
				return
			}
			mu.Lock()
			got[p] = o
			mu.Unlock()
		}()
	}
	wg.Wait()
	return got
}

// agrees checks a verdict against what the kernel did.
func agrees(r nfteval.Result, o outcome) bool {
	switch r.Verdict {
	case nfteval.Accepted:
		return o == connected
	case nfteval.Dropped:
		return r.Reject && o == refused || !r.Reject && o == silent
	}
	return false
}

type want struct {
	port uint16
	v    nfteval.Verdict
}

// TestIntegrationEval loads a ruleset of every kind of rule the
// evaluator understands, and a few it does not, into A of a Pair, and
// checks every verdict against what the kernel does with a connection
// from B, over IPv4 and IPv6.
func TestIntegrationEval(t *testing.T) {
	t.Parallel()
	p := porttest.NewPair(t, nil)
	rules := fmt.Sprintf(`
table inet t {
	set okports { type inet_service; flags interval; elements = { 2000-2009, 2020 } }
	set trusted4 { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, %[2]s/32 } }
	set bad4 { type ipv4_addr; elements = { 192.0.2.1 } }
	set ifs { type ifname; elements = { "nosuch0", %[1]q } }
	chain input {
		type filter hook input priority 0; policy drop;
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		ct state invalid counter drop
		ct state established,related accept
		iifname "lo" accept
		ip saddr @bad4 drop
		tcp dport { 1001, 1005, 1006 } accept
		tcp dport 1002 reject with tcp reset
		tcp dport 1003 drop
		tcp dport 1010-1019 counter accept
		tcp dport { 1020, 1022, 1024-1026 } accept
		tcp dport @okports accept
		tcp dport vmap { 1030 : accept, 1031 : drop, 1032 : jump sub }
		ip saddr %[2]s tcp dport 1040 accept
		ip saddr 192.0.2.0/24 tcp dport 1041 accept
		ip saddr @trusted4 tcp dport 1042 accept
		ip6 saddr %[3]s tcp dport 1043 accept
		iifname "nosuch0" tcp dport 1044 accept
		iifname %[1]q tcp dport 1045 accept
		iifname != %[1]q tcp dport 1046 accept
		iifname @ifs tcp dport 1047 accept
		ip saddr != 10.0.0.0/8 tcp dport 1048 reject
		meta l4proto tcp tcp dport 1049 accept
		ip daddr %[2]s tcp dport 1050 accept
		ip daddr %[4]s tcp dport 1051 accept
		ip6 daddr %[5]s tcp dport 1051 accept
		oifname %[1]q tcp dport 1052 accept
		iif %[1]q tcp dport 1053 accept
		tcp dport 1060 jump sub
		tcp dport 1061 goto sub2
		tcp dport 1062 jump sub2
		tcp sport 1234 counter
		tcp dport 1070 limit rate 10/second accept
		tcp dport 1071 meta mark 0x1 accept
	}
	chain raw {
		type filter hook prerouting priority -300; policy accept;
		ct state invalid tcp dport 1005 drop
		ct state new tcp dport 1006 drop
	}
	chain sub {
		tcp dport 1060 accept
		tcp dport 1032 return
	}
	chain sub2 {
		tcp dport 1061 drop
		tcp dport 1062 return
	}
}
table ip pre {
	chain pre {
		type filter hook prerouting priority -150; policy accept;
		tcp dport 1004 drop
		tcp dport 1001 accept
	}
}
`, p.A.Link, p.B.Addr4, p.Prefix6, p.A.Addr4, p.A.Addr6)
	nftLoad(t, p.A, rules)
	A := nfteval.Accepted
	D := nfteval.Dropped
	N := nfteval.NotEvaluated
	wants4 := []want{
		{1001, A}, {1002, D}, {1003, D}, {1004, D}, {1005, D}, {1006, A}, {1010, A}, {1019, A}, {1009, D}, {1020, A}, {1021, D},
		{1025, A}, {2005, A}, {2010, D}, {2020, A}, {1030, A}, {1031, D}, {1032, D}, {1040, A}, {1041, D},
		{1042, A}, {1043, D}, {1044, D}, {1045, A}, {1046, D}, {1047, A}, {1048, D}, {1049, A}, {1060, A}, {1061, D},
		{1062, D}, {1050, D}, {1051, A}, {1052, D}, {1053, A}, {1070, N}, {1071, N}, {1099, D},
	}
	var ps []uint16
	for _, w := range wants4 {
		ps = append(ps, w.port)
	}
	listenAll(t, p.A, ps)
	rs := loadRuleset(t, p.A)
	var idx int
	if err := p.A.Do(func() error {
		ifc, err := net.InterfaceByName(p.A.Link)
		if err == nil {
			idx = ifc.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []struct {
		src, dst netip.Addr
	}{{p.B.Addr4, p.A.Addr4}, {p.B.Addr6, p.A.Addr6}} {
		got := probe(t, p.B, fam.dst, ps)
		for _, w := range wants4 {
			c := nfteval.Conn{IIf: p.A.Link, IIfIdx: idx, Src: fam.src, Dst: fam.dst, Proto: ports.ProtoTCP, DstPort: w.port}
			r := rs.Eval(c)
			v := w.v
			if fam.dst.Is6() {
				// The ip table and the ip saddr rules do not apply.
				switch w.port {
				case 1004, 1042:
					v = D
				case 1043:
					v = A
				case 1040:
					v = D
				}
			}
			if r.Verdict != v {
				t.Errorf("%s port %d: got %v, want %v", fam.dst, w.port, r, v)
				continue
			}
			if v == N {
				if r.Rule.Chain != "input" || r.Rule.Handle == 0 || r.Reason == "" {
					t.Errorf("%s port %d: %v does not name the rule and what was not understood", fam.dst, w.port, r)
				}
				continue
			}
			if !agrees(r, got[w.port]) {
				t.Errorf("%s port %d: evaluator says %v, the kernel's answer was %v", fam.dst, w.port, r, got[w.port])
			}
		}
	}

	// With the source unknown, the first rule on it that could decide,
	// the drop of the set bad4, is not evaluated, whatever the port.
	for _, port := range []uint16{1001, 1099} {
		r := rs.Eval(nfteval.Conn{IIf: p.A.Link, Dst: p.A.Addr4, Proto: ports.ProtoTCP, DstPort: port})
		if r.Verdict != N || !strings.Contains(r.Reason, "ip saddr") || !strings.Contains(r.Reason, "bad4") {
			t.Errorf("any source, port %d: got %v, want not evaluated on ip saddr @bad4", port, r)
		}
	}
	// bad4 is checked before any port: its source is dropped everywhere.
	if r := rs.Eval(nfteval.Conn{IIf: p.A.Link, Src: netip.MustParseAddr("192.0.2.1"), Dst: p.A.Addr4, Proto: ports.ProtoTCP, DstPort: 1001}); r.Verdict != D {
		t.Errorf("192.0.2.1 to port 1001: got %v, want dropped", r)
	}
}

// TestIntegrationEvalUDP checks UDP verdicts: a datagram that arrives
// is accepted, one answered by port unreachable rejected.
func TestIntegrationEvalUDP(t *testing.T) {
	t.Parallel()
	p := porttest.NewPair(t, nil)
	nftLoad(t, p.A, `
table inet t {
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		meta l4proto udp udp dport 1050 accept
		udp dport { 1051, 1052 } reject
		tcp dport 1050 drop
	}
}
`)
	rs := loadRuleset(t, p.A)
	c := nfteval.Conn{IIf: p.A.Link, Src: p.B.Addr4, Dst: p.A.Addr4, Proto: ports.ProtoUDP}
	for _, tc := range []struct {
		port uint16
		v    nfteval.Verdict
	}{{1050, nfteval.Accepted}, {1051, nfteval.Dropped}, {1052, nfteval.Dropped}, {1053, nfteval.Dropped}} {
		c.DstPort = tc.port
		if r := rs.Eval(c); r.Verdict != tc.v || tc.port != 1053 && tc.v == nfteval.Dropped && !r.Reject {
			t.Errorf("udp port %d: got %v, want %v", tc.port, r, tc.v)
		}
	}
	// The kernel's answer for the accepted and the rejected port.
	l, err := p.A.ListenPacket("udp", ":1050")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l1, err := p.A.ListenPacket("udp", ":1051")
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	for _, port := range []uint16{1050, 1051} {
		conn, err := p.B.Dial(context.Background(), "udp", netip.AddrPortFrom(p.A.Addr4, port).String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if port == 1050 {
			l.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 8)
			if _, _, err := l.ReadFrom(buf); err != nil {
				t.Errorf("udp port 1050 (accepted): nothing arrived: %v", err)
			}
			continue
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Read(make([]byte, 8)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("udp port 1051 (rejected): read got %v, want connection refused", err)
		}
	}
}

// TestIntegrationEvalIptables checks iptables-nft's rules, which are
// nftables rules with xtables matches and targets mixed in.
func TestIntegrationEvalIptables(t *testing.T) {
	t.Parallel()
	ipt := porttest.LookTool(t, "iptables-nft", "iptables")
	p := porttest.NewPair(t, nil)
	for _, args := range [][]string{
		{"-P", "INPUT", "DROP"},
		{"-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "INPUT", "-i", "lo", "-j", "ACCEPT"},
		{"-A", "INPUT", "-p", "tcp", "--dport", "1101", "-j", "ACCEPT"},
		{"-A", "INPUT", "-p", "tcp", "--dport", "1102", "-j", "REJECT", "--reject-with", "tcp-reset"},
		{"-A", "INPUT", "-s", p.B.Addr4.String() + "/32", "-p", "tcp", "--dport", "1103", "-j", "ACCEPT"},
		{"-A", "INPUT", "-s", "192.0.2.0/24", "-p", "tcp", "--dport", "1107", "-j", "ACCEPT"},
		{"-A", "INPUT", "-i", p.A.Link, "-p", "tcp", "--dport", "1104", "-j", "ACCEPT"},
		{"-A", "INPUT", "-p", "tcp", "--dport", "1110:1119", "-j", "ACCEPT"},
		{"-A", "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "1105,1106", "-j", "ACCEPT"},
	} {
		if out, err := p.A.Command(context.Background(), ipt, args...).CombinedOutput(); err != nil {
			t.Fatalf("iptables-nft %v: %v: %s", args, err, out)
		}
	}
	A, D, N := nfteval.Accepted, nfteval.Dropped, nfteval.NotEvaluated
	wants := []want{{1101, A}, {1102, D}, {1103, A}, {1104, A}, {1107, N}, {1110, A}, {1119, A}, {1120, N}, {1105, N}}
	var ps []uint16
	for _, w := range wants {
		ps = append(ps, w.port)
	}
	listenAll(t, p.A, ps)
	rs := loadRuleset(t, p.A)
	got := probe(t, p.B, p.A.Addr4, ps)
	for _, w := range wants {
		r := rs.Eval(nfteval.Conn{IIf: p.A.Link, Src: p.B.Addr4, Dst: p.A.Addr4, Proto: ports.ProtoTCP, DstPort: w.port})
		if r.Verdict != w.v {
			t.Errorf("port %d: got %v, want %v", w.port, r, w.v)
			continue
		}
		if w.v == N {
			if !strings.Contains(r.Reason, "multiport") || r.Rule.Table != "filter" || r.Rule.Chain != "INPUT" || r.Rule.Handle == 0 {
				t.Errorf("port %d: %v does not name the multiport rule", w.port, r)
			}
			continue
		}
		if !agrees(r, got[w.port]) {
			t.Errorf("port %d: evaluator says %v, the kernel's answer was %v", w.port, r, got[w.port])
		}
	}
}

// TestIfIndexUnknown: without the interface's index, "iif" is not
// evaluated; "iifname" still is.
func TestIntegrationEvalIfIndex(t *testing.T) {
	t.Parallel()
	p := porttest.NewPair(t, nil)
	nftLoad(t, p.A, fmt.Sprintf(`
table inet t {
	chain input {
		type filter hook input priority 0; policy drop;
		iifname %[1]q tcp dport 1 accept
		iif %[1]q tcp dport 2 accept
	}
}
`, p.A.Link))
	rs := loadRuleset(t, p.A)
	c := nfteval.Conn{IIf: p.A.Link, Src: p.B.Addr4, Dst: p.A.Addr4, Proto: ports.ProtoTCP, DstPort: 1}
	if r := rs.Eval(c); r.Verdict != nfteval.Accepted {
		t.Errorf("port 1: %v", r)
	}
	c.DstPort = 2
	if r := rs.Eval(c); r.Verdict != nfteval.NotEvaluated || !strings.Contains(r.Reason, "meta iif") {
		t.Errorf("port 2 without the index: %v, want not evaluated on meta iif", r)
	}
}
