package socktable

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/portkit/ports"
)

func TestParseAddrFilter(t *testing.T) {
	pfx := netip.MustParsePrefix
	for _, tt := range []struct {
		in   string
		want AddrFilter
	}{
		{"127.0.0.1", AddrFilter{Prefix: pfx("127.0.0.1/32")}},
		{"10.1.2.3/8", AddrFilter{Prefix: pfx("10.0.0.0/8")}},
		{"10.0.0.1:80", AddrFilter{pfx("10.0.0.1/32"), ports.Range{First: 80, Last: 80}}},
		{"10.0.0.0/8:8000-8100", AddrFilter{pfx("10.0.0.0/8"), ports.Range{First: 8000, Last: 8100}}},
		{"::1", AddrFilter{Prefix: pfx("::1/128")}},
		{"fd00::/8", AddrFilter{Prefix: pfx("fd00::/8")}},
		{"[::1]:80", AddrFilter{pfx("::1/128"), ports.Range{First: 80, Last: 80}}},
		{"[::1]", AddrFilter{Prefix: pfx("::1/128")}},
		{"[fd00::]/8:443", AddrFilter{pfx("fd00::/8"), ports.Range{First: 443, Last: 443}}},
		{"[fd00::/8]:443", AddrFilter{pfx("fd00::/8"), ports.Range{First: 443, Last: 443}}},
		{"[fd00::]/8", AddrFilter{Prefix: pfx("fd00::/8")}},
		{":22", AddrFilter{Ports: ports.Range{First: 22, Last: 22}}},
		{"*:1-1023", AddrFilter{Ports: ports.Range{First: 1, Last: 1023}}},
		{"::ffff:127.0.0.1", AddrFilter{Prefix: pfx("::ffff:127.0.0.1/128")}},
		{"0.0.0.0/0", AddrFilter{Prefix: pfx("0.0.0.0/0")}},
	} {
		got, err := ParseAddrFilter(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseAddrFilter(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		// String gives back a filter that parses to the same.
		if again, err := ParseAddrFilter(got.String()); err != nil || again != got {
			t.Errorf("%q: String %q parses to %+v, %v", tt.in, got.String(), again, err)
		}
	}
	for _, in := range []string{
		"", "localhost", "example.com:80", "10.0.0.1:", "10.0.0.1:http", "10.0.0.1:70000",
		"10.0.0.0/33", "[::1", "[::1]x", "[::1]:", "fe80::1%eth0", "*", ":", ":0",
		"10.0.0.1:90-80", "1.2.3", "[10.0.0.1]:80x",
	} {
		_, err := ParseAddrFilter(in)
		var fe *AddrFilterError
		if !errors.As(err, &fe) || fe.Input != in {
			t.Errorf("ParseAddrFilter(%q): error %v, want an AddrFilterError naming the input", in, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "address filter") {
			t.Errorf("ParseAddrFilter(%q): error %q is not one line naming the filter", in, msg)
		}
	}
}

func TestAddrFilterMatch(t *testing.T) {
	f, _ := ParseAddrFilter("127.0.0.0/8:80")
	for _, tt := range []struct {
		ap   string
		want bool
	}{
		{"127.1.2.3:80", true},
		{"127.1.2.3:81", false},
		{"10.0.0.1:80", false},
		{"[::ffff:127.0.0.1]:80", true}, // IPv4-mapped, as the kernel matches it
		{"[::1]:80", false},
	} {
		if got := f.Match(netip.MustParseAddrPort(tt.ap)); got != tt.want {
			t.Errorf("%v matches %s: %v, want %v", f, tt.ap, got, tt.want)
		}
	}
	f, _ = ParseAddrFilter("::/0")
	if f.Match(netip.MustParseAddrPort("127.0.0.1:1")) {
		t.Errorf("::/0 matches an IPv4 socket")
	}
}

// TestBytecodeAddrs runs the compiled filters in runBytecode (the
// kernel's interpreter and audit, in Go) on random sockets and checks
// that they agree with match. TestIntegrationAddrFilters checks the
// kernel itself against ss.
func TestBytecodeAddrs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	addrs := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.1.0.9"),
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::1"),
		netip.MustParseAddr("::"), netip.MustParseAddr("fd00::5"), netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("::ffff:127.0.0.2"), netip.MustParseAddr("::ffff:10.0.0.1"),
	}
	parse := func(list ...string) []AddrFilter {
		var fs []AddrFilter
		for _, s := range list {
			f, err := ParseAddrFilter(s)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		return fs
	}
	for _, o := range []Options{
		{LocalAddrs: parse("127.0.0.2")},
		{LocalAddrs: parse("127.0.0.0/8", "::1")},
		{RemoteAddrs: parse("127.0.0.1:80")},
		{RemoteAddrs: parse("[::1]:80-90", "10.0.0.0/8:1000-2000", ":22")},
		{LocalAddrs: parse("127.0.0.0/24"), RemoteAddrs: parse("[fd00::]/8")},
		{LocalAddrs: parse("0.0.0.0/0"), LocalPorts: []ports.Range{{First: 80, Last: 90}}, RemotePorts: []ports.Range{{First: 1, Last: 1000}}},
		{LocalAddrs: parse("::/0", "127.0.0.1:80", "*:7-9"), RemoteAddrs: parse("fe80::/10", "127.0.0.0/30:5")},
		{LocalAddrs: parse("127.0.0.1", "*:1-65535")}, // matches any port but 0: still compiled
	} {
		bc := o.bytecode()
		if bc == nil {
			t.Fatalf("%+v: no bytecode", o)
		}
		pass := 0
		for i := 0; i < 20000; i++ {
			pick := func() netip.AddrPort {
				port := uint16(rng.IntN(8))
				switch rng.IntN(4) {
				case 0:
					port = uint16(rng.IntN(65536))
				case 1:
					port = []uint16{1, 5, 22, 80, 90, 91, 1000, 2000}[rng.IntN(8)]
				}
				return netip.AddrPortFrom(addrs[rng.IntN(len(addrs))], port)
			}
			s := Socket{Local: pick(), Remote: pick()}
			if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
				continue // one socket has one family
			}
			got, want := runBytecode(t, bc, s.Local, s.Remote), o.match(&s)
			if got != want {
				t.Fatalf("%+v: %v -> %v: bytecode %v, match %v", o, s.Local, s.Remote, got, want)
			}
			if got {
				pass++
			}
		}
		if pass == 0 {
			t.Errorf("%+v: no socket passed", o)
		}
	}
	// A filter that matches any endpoint needs no code.
	if bc := (&Options{LocalAddrs: parse("127.0.0.1"), RemoteAddrs: []AddrFilter{{}}}).bytecode(); len(bc) != 12+4 {
		t.Errorf("the any-endpoint group was compiled: %d bytes", len(bc))
	}
	// Too many filters for the 16-bit offsets: none, matched in user space.
	many := make([]AddrFilter, 3000)
	for i := range many {
		many[i] = AddrFilter{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}), 128)}
	}
	if bc := (&Options{LocalAddrs: many}).bytecode(); bc != nil {
		t.Errorf("3000 IPv6 filters: %d bytes of bytecode, want none", len(bc))
	}
}

func FuzzParseAddrFilter(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "10.0.0.0/8:80", "[::1]:80", "[fd00::]/8:1-2", "[fd00::/8]:3", ":22", "*:1-9",
		"::ffff:1.2.3.4", "[", "]", "[]:1", "1.2.3.4:", "a:b:c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddrFilter(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("%q: error has a newline: %q", s, err)
			}
			return
		}
		b, err := ParseAddrFilter(a.String())
		if err != nil || a != b {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, a, a.String(), b, err)
		}
		// The compiled filter passes the kernel's audit (runBytecode).
		ap := netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), 80)
		runBytecode(t, (&Options{LocalAddrs: []AddrFilter{a}, RemoteAddrs: []AddrFilter{a, a}}).bytecode(), ap, ap)
	})
}
