package exposure

import (
	"encoding/csv"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/nfteval"
	"github.com/portkit/ports/registry"
	"github.com/portkit/ports/socktable"
)

// TestTrojansDataset: the embedded dataset parses, and every entry has
// a public source (the parser refuses one without).
func TestTrojansDataset(t *testing.T) {
	tr := DefaultTrojans()
	if tr.Len() < 20 {
		t.Fatalf("%d entries; trojans.csv has more", tr.Len())
	}
	got := tr.Lookup(ports.ProtoTCP, 12345)
	if len(got) != 1 || got[0].Program != "NetBus" || !strings.HasPrefix(got[0].Source, "http") {
		t.Errorf("tcp 12345: %+v", got)
	}
	if got := tr.Lookup(ports.ProtoTCP, 31337); len(got) != 0 {
		t.Errorf("tcp 31337: %+v; the source names Back Orifice on UDP only", got)
	}
}

func TestParseTrojansErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "no header"},
		{"proto,port,name,source\n", "header"},
		{"proto,port,program,source\nsctp,1,x,https://a\n", `protocol "sctp"`},
		{"proto,port,program,source\ntcp,0,x,https://a\n", `port "0"`},
		{"proto,port,program,source\ntcp,70000,x,https://a\n", `port "70000"`},
		{"proto,port,program,source\ntcp,1,,https://a\n", "no program"},
		{"proto,port,program,source\ntcp,1,x,memory\n", `source "memory"`},
		{"proto,port,program,source\ntcp,1,x\n", "wrong number of fields"},
	} {
		_, err := ParseTrojans(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseTrojans(%q): %v, want one line with %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseTrojans(f *testing.F) {
	f.Add(trojansCSV)
	f.Add("proto,port,program,source\ntcp,1,x,https://a\n")
	f.Add("# c\nproto,port,program,source\nudp,65535,\"a,b\",http://x\n")
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTrojans(strings.NewReader(s))
		if err != nil {
			return
		}
		// Every entry is reachable by Lookup and well formed.
		n := 0
		for _, es := range tr.byKey {
			for _, e := range es {
				n++
				if e.Port == 0 || e.Program == "" || (e.Proto != ports.ProtoTCP && e.Proto != ports.ProtoUDP) {
					t.Fatalf("bad entry %+v", e)
				}
			}
		}
		if n != tr.Len() {
			t.Fatalf("Len %d, entries %d", tr.Len(), n)
		}
	})
}

// TestUnauthorizedFlags checks the IANA flags against the registry's CSV
// read here on its own: a port whose own row (not a range) has the
// "Unauthorized Use Reported" column is flagged with that note; a port
// of a range whose note names other ports is not.
func TestUnauthorizedFlags(t *testing.T) {
	f, err := os.Open("../registry/service-names-port-numbers.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][10] != "Unauthorized Use Reported" {
		t.Fatalf("column 10 is %q", rows[0][10])
	}
	reg := registry.Default()
	checked := 0
	for _, r := range rows[1:] {
		if r[10] == "" || strings.Contains(r[1], "-") {
			continue
		}
		p, err := strconv.Atoi(r[1])
		if err != nil {
			continue
		}
		proto := ports.ProtoTCP
		if r[2] == "udp" {
			proto = ports.ProtoUDP
		}
		fl := flags(reg, DefaultTrojans(), proto, ports.Port(p))
		found := false
		for _, x := range fl {
			found = found || x.Kind == FlagUnauthorized && x.Note == r[10]
		}
		if !found && noteNames(r[10], ports.Port(p)) {
			t.Errorf("%s %d: flags %+v lack IANA's note %q", r[2], p, fl, r[10])
		}
		checked++
	}
	if checked < 50 {
		t.Errorf("checked %d rows", checked)
	}
	// x11's range 6000-6063: the note names port 6003 alone.
	if fl := flags(reg, DefaultTrojans(), ports.ProtoTCP, 6000); len(fl) != 0 {
		t.Errorf("tcp 6000: %+v, want none (the note names 6003)", fl)
	}
	if fl := flags(reg, DefaultTrojans(), ports.ProtoTCP, 6003); len(fl) != 1 || fl[0].Kind != FlagUnauthorized {
		t.Errorf("tcp 6003: %+v, want IANA's note", fl)
	}
	// finger's note cites an RFC, which is no port.
	if fl := flags(reg, DefaultTrojans(), ports.ProtoTCP, 79); len(fl) != 1 {
		t.Errorf("tcp 79: %+v, want IANA's note", fl)
	}
	if fl := flags(reg, DefaultTrojans(), ports.ProtoTCP, 22); len(fl) != 0 {
		t.Errorf("tcp 22: %+v, want none", fl)
	}
}

// verdictByIf is a Firewall seam: it accepts on the interfaces named,
// drops elsewhere. The real one is nfteval's, which the integration
// test of ports audit runs.
type verdictByIf map[string]nfteval.Verdict

func (v verdictByIf) Eval(c nfteval.Conn) nfteval.Result {
	return nfteval.Result{Verdict: v[c.IIf]}
}

func TestAuditScopes(t *testing.T) {
	n := &Network{Interfaces: []Interface{
		{Name: "lo", Index: 1, Loopback: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}},
		{Name: "eth0", Index: 2, Up: true, External: true, Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24"), netip.MustParsePrefix("fd00::2/64")}},
		{Name: "eth1", Index: 3, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("198.19.0.2/24"), netip.MustParsePrefix("fe80::2/64")}},
		// Down: no way in through it, though its address is the
		// machine's (and reached through the others).
		{Name: "eth2", Index: 4, External: true, Addrs: []netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")}},
	}}
	fw := verdictByIf{"eth0": nfteval.Accepted, "eth1": nfteval.Accepted}
	sock := func(proto ports.Proto, ap string, st socktable.State) socktable.Socket {
		return socktable.Socket{Proto: proto, Local: netip.MustParseAddrPort(ap), State: st, UID: 1000}
	}
	es := Audit([]socktable.Socket{
		sock(ports.ProtoTCP, "127.0.0.1:1", socktable.StateListen),
		sock(ports.ProtoTCP, "198.19.0.2:2", socktable.StateListen),
		sock(ports.ProtoTCP, "0.0.0.0:3", socktable.StateListen),
		sock(ports.ProtoTCP, "[::]:4", socktable.StateListen),
		sock(ports.ProtoUDP, "203.0.113.9:5", socktable.StateClose),
		sock(ports.ProtoTCP, "203.0.113.1:8", socktable.StateListen),
		sock(ports.ProtoTCP, "198.18.0.2:6", socktable.StateEstablished), // not a listener
		sock(ports.ProtoTCP, "[::ffff:198.18.0.2]:7", socktable.StateListen),
	}, &Config{Network: n, Firewall: fw, From: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.19.0.9")}})
	if len(es) != 7 {
		t.Fatalf("%d entries, want 7 (the connection is no listener)", len(es))
	}
	want := []struct {
		scope   Scope
		reaches int
		exposed bool
	}{
		{ScopeLoopback, 0, false},
		// eth1's address, from eth1 and, weak host, from eth0.
		{ScopeInterface, 2, true},
		{ScopeWildcard, 6, true}, // 2 interfaces up x 3 IPv4 addresses
		// and the IPv6 ones, eth1's link-local only from eth1
		{ScopeWildcard, 9, true},
		{ScopeUnknown, 0, false},
		{ScopeInterface, 2, true},
	}
	// eth2's address, from eth0 and eth1.
	want = append(want[:5], append([]struct {
		scope   Scope
		reaches int
		exposed bool
	}{{ScopeInterface, 2, true}}, want[5:]...)...)
	for i, w := range want {
		e := es[i]
		if e.Scope != w.scope || len(e.Reaches) != w.reaches || e.Exposed != w.exposed || e.Root {
			t.Errorf("%s: scope %v, %d reaches, exposed %v, root %v; want %v, %d, %v, false", e.Socket.Local, e.Scope, len(e.Reaches), e.Exposed, e.Root, w.scope, w.reaches, w.exposed)
		}
	}
	// The client for eth1 is the From on its network; for eth0, the one
	// on no network (it comes through the default route).
	for _, r := range es[2].Reaches {
		want := map[string]string{"eth0": "192.0.2.1", "eth1": "198.19.0.9"}[r.Interface]
		if r.From.String() != want {
			t.Errorf("reach via %s: from %v, want %s", r.Interface, r.From, want)
		}
	}
	if s := Summarize(es); s.Listening != 7 || s.Exposed != 5 {
		t.Errorf("summary %+v", s)
	}
}
