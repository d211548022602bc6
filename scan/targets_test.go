package scan

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tgtFakeResolver answers from a map; other names fail like NXDOMAIN.
type tgtFakeResolver struct {
	hosts map[string][]string
	calls []string // "network host"
}

var errTgtNoSuchHost = errors.New("no such host")

func (r *tgtFakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.calls = append(r.calls, network+" "+host)
	addrs, ok := r.hosts[host]
	if !ok {
		return nil, fmt.Errorf("lookup %s: %w", host, errTgtNoSuchHost)
	}
	var out []netip.Addr
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		if network == "ip4" && !a.Unmap().Is4() || network == "ip6" && a.Unmap().Is4() {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

func tgtTestResolver() *tgtFakeResolver {
	return &tgtFakeResolver{hosts: map[string][]string{
		"dual.test":   {"2001:db8::10", "192.0.2.10", "192.0.2.11", "2001:db8::10"},
		"v6only.test": {"2001:db8::20"},
		"mapped.test": {"::ffff:198.51.100.7"},
		"db.test":     {"192.0.2.3"},
	}}
}

// tgtCollect runs ParseTargets and renders targets and errors as strings.
func tgtCollect(specs []string, opts *TargetOptions) []string {
	var out []string
	for t, err := range ParseTargets(context.Background(), specs, opts) {
		switch {
		case err != nil:
			out = append(out, "error: "+err.Error())
		case t.Name != "":
			out = append(out, t.Name+"="+t.Addr.String())
		default:
			out = append(out, t.Addr.String())
		}
	}
	return out
}

func TestParseTargets(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		opts  TargetOptions
		want  []string
	}{
		{"ipv4", []string{"192.0.2.1"}, TargetOptions{}, []string{"192.0.2.1"}},
		{"ipv6", []string{"2001:db8::1", "[2001:db8::2]"}, TargetOptions{}, []string{"2001:db8::1", "2001:db8::2"}},
		{"zone", []string{"fe80::1%eth0"}, TargetOptions{}, []string{"fe80::1%eth0"}},
		{"mapped literal", []string{"::ffff:192.0.2.9"}, TargetOptions{}, []string{"192.0.2.9"}},
		{"cidr30 keeps network and broadcast", []string{"192.0.2.0/30"}, TargetOptions{}, []string{"192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3"}},
		{"cidr unmasked", []string{"192.0.2.5/31"}, TargetOptions{}, []string{"192.0.2.4", "192.0.2.5"}},
		{"cidr32", []string{"192.0.2.5/32"}, TargetOptions{}, []string{"192.0.2.5"}},
		{"ipv6 cidr", []string{"2001:db8::/126"}, TargetOptions{}, []string{"2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3"}},
		{"top of v4 space", []string{"255.255.255.254/31"}, TargetOptions{}, []string{"255.255.255.254", "255.255.255.255"}},
		{"octet range", []string{"10.0.0.1-3"}, TargetOptions{}, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
		{"octet list", []string{"10.0.0.5,1,3"}, TargetOptions{}, []string{"10.0.0.1", "10.0.0.3", "10.0.0.5"}},
		{"two octets", []string{"10.0-1.1.1"}, TargetOptions{}, []string{"10.0.1.1", "10.1.1.1"}},
		{"open ends", []string{"10.0.0.254-", "10.0.0.-1"}, TargetOptions{}, []string{"10.0.0.254", "10.0.0.255", "10.0.0.0", "10.0.0.1"}},
		{"mixed list", []string{"10.0.0.1,7-8"}, TargetOptions{}, []string{"10.0.0.1", "10.0.0.7", "10.0.0.8"}},
		{"host first ipv4", []string{"dual.test"}, TargetOptions{}, []string{"dual.test=192.0.2.10"}},
		{"host all addrs", []string{"dual.test"}, TargetOptions{AllAddrs: true}, []string{"dual.test=2001:db8::10", "dual.test=192.0.2.10", "dual.test=192.0.2.11"}},
		{"host family 6", []string{"dual.test"}, TargetOptions{Family: 6}, []string{"dual.test=2001:db8::10"}},
		{"host v6 only", []string{"v6only.test"}, TargetOptions{}, []string{"v6only.test=2001:db8::20"}},
		{"host mapped", []string{"mapped.test"}, TargetOptions{}, []string{"mapped.test=198.51.100.7"}},
		{"host v6 only with family 4", []string{"v6only.test", "192.0.2.1"}, TargetOptions{Family: 4}, []string{
			`error: unknown host "v6only.test": no addresses`, "192.0.2.1"}},
		{"unknown host continues", []string{"nosuchhost.invalid", "192.0.2.1"}, TargetOptions{}, []string{
			`error: unknown host "nosuchhost.invalid": lookup nosuchhost.invalid: no such host`, "192.0.2.1"}},
		{"exclude address", []string{"192.0.2.0/30"}, TargetOptions{Exclude: []string{"192.0.2.1"}}, []string{"192.0.2.0", "192.0.2.2", "192.0.2.3"}},
		{"exclude cidr and range", []string{"192.0.2.0/29"}, TargetOptions{Exclude: []string{"192.0.2.0/30", "192.0.2.5-6"}}, []string{"192.0.2.4", "192.0.2.7"}},
		{"exclude host", []string{"192.0.2.0/30"}, TargetOptions{Exclude: []string{"db.test"}}, []string{"192.0.2.0", "192.0.2.1", "192.0.2.2"}},
		{"exclude everything", []string{"192.0.2.1"}, TargetOptions{Exclude: []string{"0.0.0.0/0"}}, nil},
		{"exclude resolved host", []string{"dual.test"}, TargetOptions{AllAddrs: true, Exclude: []string{"192.0.2.10", "2001:db8::/64"}}, []string{"dual.test=192.0.2.11"}},
		{"exclude ipv6 wide prefix is fine", []string{"2001:db8::1"}, TargetOptions{Exclude: []string{"2001:db8::/32"}}, nil},

		// Errors.
		{"no targets", nil, TargetOptions{}, []string{"error: no targets given"}},
		{"bad prefix", []string{"10.0.0.0/33"}, TargetOptions{}, []string{`error: bad CIDR prefix length in "10.0.0.0/33" at position 10`}},
		{"bad prefix text", []string{"10.0.0.0/x"}, TargetOptions{}, []string{`error: bad CIDR prefix length in "10.0.0.0/x" at position 10`}},
		{"bad prefix sign", []string{"10.0.0.0/+8"}, TargetOptions{}, []string{`error: bad CIDR prefix length in "10.0.0.0/+8" at position 10`}},
		{"bad prefix empty", []string{"10.0.0.0/"}, TargetOptions{}, []string{`error: bad CIDR prefix length in "10.0.0.0/" at position 10`}},
		{"cidr of a name", []string{"host.test/24"}, TargetOptions{}, []string{`error: CIDR base is not an IP address in "host.test/24" at position 1`}},
		{"syntax errors stop everything", []string{"192.0.2.1", "10.0.0.300", "10.0.0", "10.0.0.0.1"}, TargetOptions{}, []string{
			`error: octet out of range 0-255 in "10.0.0.300" at position 8`,
			`error: fewer than four octets in "10.0.0" at position 7`,
			`error: more than four octets in "10.0.0.0.1" at position 9`,
		}},
		{"backwards", []string{"10.0.0.20-1"}, TargetOptions{}, []string{`error: octet range runs backwards in "10.0.0.20-1" at position 8`}},
		{"empty item", []string{"10.0.0.1,,2"}, TargetOptions{}, []string{`error: empty item in octet list in "10.0.0.1,,2" at position 10`}},
		{"empty octet", []string{"10..0.1"}, TargetOptions{}, []string{`error: empty octet in "10..0.1" at position 4`}},
		{"bad host", []string{"bad host!"}, TargetOptions{}, []string{`error: not an address, CIDR block, range or host name in "bad host!" at position 4`}},
		{"empty spec", []string{""}, TargetOptions{}, []string{`error: empty target ""`}},
		{"bracketed ipv4", []string{"[192.0.2.1]"}, TargetOptions{}, []string{`error: brackets must hold an IPv6 address in "[192.0.2.1]" at position 2`}},
		{"ipv6 prefix too big", []string{"2001:db8::/64"}, TargetOptions{}, []string{
			`error: IPv6 prefix shorter than /112 (set TargetOptions.MaxHosts to allow more addresses) in "2001:db8::/64" at position 12`}},
		{"ipv6 prefix allowed by MaxHosts", []string{"2001:db8::/110"}, TargetOptions{MaxHosts: 1 << 18, Exclude: []string{"2001:db8::/111", "2001:db8::2:0/111"}}, nil},
		{"family mismatch", []string{"2001:db8::1"}, TargetOptions{Family: 4}, []string{`error: IPv6 target with family 4 in "2001:db8::1" at position 1`}},
		{"family mismatch range", []string{"10.0.0.*"}, TargetOptions{Family: 6}, []string{`error: IPv4 target with family 6 in "10.0.0.*" at position 1`}},
		{"max hosts", []string{"10.0.0.0/30", "10.0.1.0/30"}, TargetOptions{MaxHosts: 6}, []string{
			`error: more than 6 addresses in "10.0.0.0/30 10.0.1.0/30": too many targets (see TargetOptions.MaxHosts)`}},
		{"max hosts default /7", []string{"10.0.0.0/7"}, TargetOptions{}, []string{
			`error: more than 16777216 addresses in "10.0.0.0/7": too many targets (see TargetOptions.MaxHosts)`}},
		{"max hosts resolved", []string{"192.0.2.1", "dual.test"}, TargetOptions{MaxHosts: 3, AllAddrs: true}, []string{
			"192.0.2.1", `error: more than 3 addresses with "dual.test": too many targets (see TargetOptions.MaxHosts)`}},
		{"bad exclude", []string{"192.0.2.1"}, TargetOptions{Exclude: []string{"10.0.0.0/40"}}, []string{
			`error: exclude: bad CIDR prefix length in "10.0.0.0/40" at position 10`}},
		{"unresolvable exclude stops", []string{"192.0.2.1"}, TargetOptions{Exclude: []string{"gone.test"}}, []string{
			`error: exclude: unknown host "gone.test": lookup gone.test: no such host`}},
		{"bad family", []string{"192.0.2.1"}, TargetOptions{Family: 5}, []string{"error: target family must be 4, 6 or 0, not 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Resolver = tgtTestResolver()
			got := tgtCollect(tt.specs, &opts)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseTargets(%q) (-want +got):\n%s", tt.specs, diff)
			}
		})
	}
}

func TestParseTargetsErrorValues(t *testing.T) {
	r := tgtTestResolver()
	for _, err := range ParseTargets(context.Background(), []string{"nosuchhost.invalid"}, &TargetOptions{Resolver: r}) {
		var te *TargetError
		if !errors.As(err, &te) || te.Spec != "nosuchhost.invalid" || te.Pos != -1 || !errors.Is(err, errTgtNoSuchHost) {
			t.Errorf("error = %#v, want a *TargetError wrapping the resolver's error", err)
		}
	}
	for _, err := range ParseTargets(context.Background(), nil, nil) {
		if !errors.Is(err, ErrNoTargets) {
			t.Errorf("no specs: error = %v, want ErrNoTargets", err)
		}
	}
	for _, err := range ParseTargets(context.Background(), []string{"0.0.0.0/0"}, nil) {
		if !errors.Is(err, ErrTooManyTargets) {
			t.Errorf("0.0.0.0/0: error = %v, want ErrTooManyTargets", err)
		}
	}
}

func TestParseTargetsLiteralsNeedNoResolver(t *testing.T) {
	r := tgtTestResolver()
	tgtCollect([]string{"192.0.2.1", "10.0.0.0/30", "10.0.0.1-2", "[::1]", "2001:db8::/127"},
		&TargetOptions{Resolver: r, Exclude: []string{"10.0.0.1", "::/0"}})
	if len(r.calls) != 0 {
		t.Errorf("resolver called for literals: %q", r.calls)
	}
	tgtCollect([]string{"dual.test"}, &TargetOptions{Resolver: r, Family: 4})
	if want := []string{"ip4 dual.test"}; !cmp.Equal(r.calls, want) {
		t.Errorf("resolver calls = %q, want %q", r.calls, want)
	}
}

func TestParseTargetsCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var last error
	for _, err := range ParseTargets(ctx, []string{"10.0.0.0/16"}, nil) {
		if err != nil {
			last = err
			break
		}
		if n++; n == 10 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) || n > 10+256 {
		t.Errorf("after cancel: %d targets, error %v; want context.Canceled within 256 targets", n, last)
	}
}

func TestParseTargetsSlash16(t *testing.T) {
	for _, spec := range []string{"172.16.0.0/16", "172.16.*.*"} {
		n := 0
		next := netip.MustParseAddr("172.16.0.0")
		for tg, err := range ParseTargets(context.Background(), []string{spec}, nil) {
			if err != nil || tg.Addr != next {
				t.Fatalf("%s: target %d = %v, %v; want %v", spec, n, tg.Addr, err, next)
			}
			next = next.Next()
			n++
		}
		if n != 1<<16 {
			t.Errorf("%s: %d targets, want 65536", spec, n)
		}
	}
}

// TestParseTargetsSlash8Streams checks that a /8 is enumerated lazily:
// taking its first ten addresses costs a handful of allocations, not 16M.
func TestParseTargetsSlash8Streams(t *testing.T) {
	specs := []string{"10.0.0.0/8", "10.*.*.*"}
	var got []netip.Addr
	allocs := testing.AllocsPerRun(20, func() {
		for _, spec := range specs {
			got = got[:0]
			for tg, err := range ParseTargets(context.Background(), []string{spec}, nil) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, tg.Addr)
				if len(got) == 10 {
					break
				}
			}
		}
	})
	if allocs > 40 {
		t.Errorf("ParseTargets(/8) then break after 10: %v allocations, want a handful", allocs)
	}
	if got[9] != netip.MustParseAddr("10.0.0.9") {
		t.Errorf("10th target = %v, want 10.0.0.9", got[9])
	}
}

func TestReadTargetFile(t *testing.T) {
	in := "# scan list\n192.0.2.1 192.0.2.2\t10.0.0.0/24\r\n\n  host.test # the db\n#all commented 1.2.3.4\n2001:db8::1"
	got, err := ReadTargetFile(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.1", "192.0.2.2", "10.0.0.0/24", "host.test", "2001:db8::1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadTargetFile (-want +got):\n%s", diff)
	}
}

// tgtOracleContains is an independent, naive check that a lies in spec,
// written without the parser: netip for addresses and CIDR, string
// splitting for octet ranges.
func tgtOracleContains(spec string, a netip.Addr) bool {
	if strings.HasPrefix(spec, "[") && strings.HasSuffix(spec, "]") {
		spec = spec[1 : len(spec)-1]
	}
	if b, err := netip.ParseAddr(spec); err == nil {
		return a == b.Unmap()
	}
	if p, err := netip.ParsePrefix(spec); err == nil {
		return p.Contains(a)
	}
	if !a.Is4() {
		return false
	}
	octs := strings.Split(spec, ".")
	if len(octs) != 4 {
		return false
	}
	b := a.As4()
	for i, o := range octs {
		if o == "*" {
			continue
		}
		ok := false
		for _, item := range strings.Split(o, ",") {
			lo, hi := 0, 255
			if l, h, found := strings.Cut(item, "-"); found {
				if l != "" {
					lo, _ = strconv.Atoi(l)
				}
				if h != "" {
					hi, _ = strconv.Atoi(h)
				}
			} else {
				lo, _ = strconv.Atoi(item)
				hi = lo
			}
			ok = ok || lo <= int(b[i]) && int(b[i]) <= hi
		}
		if !ok {
			return false
		}
	}
	return true
}

func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{
		"192.0.2.1", "2001:db8::1", "[2001:db8::1]", "fe80::1%eth0", "::ffff:1.2.3.4",
		"10.0.0.0/24", "10.0.0.0/33", "10.0.0.0/0", "2001:db8::/120", "2001:db8::/64",
		"10.0.0.1-20", "10.0-1.1.1", "10.0.0.*", "10.0.0.1,3,5", "10.0.0.-5", "10.0.0.250-",
		"10.0.0.20-1", "10.0.0", "1.2.3.4.5", "300.1.1.1", "...", "1.2.3.4/", "[::1",
		"dual.test", "nosuchhost.invalid", "bad host", "-x", "a..b", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		r := tgtTestResolver()
		opts := &TargetOptions{Resolver: r, AllAddrs: true, MaxHosts: 1 << 12}
		n := 0
		for tg, err := range ParseTargets(context.Background(), []string{spec}, opts) {
			if err != nil {
				var te *TargetError
				if !errors.As(err, &te) {
					t.Fatalf("ParseTargets(%q): error %v (%T) is not a *TargetError", spec, err, err)
				}
				if te.Pos > len(te.Spec) {
					t.Fatalf("ParseTargets(%q): error position %d beyond the spec", spec, te.Pos)
				}
				continue
			}
			if !tg.Addr.IsValid() || tg.Addr.Is4In6() {
				t.Fatalf("ParseTargets(%q) yielded %v", spec, tg.Addr)
			}
			if tg.Name != "" {
				ok := false
				for _, s := range r.hosts[tg.Name] {
					ok = ok || netip.MustParseAddr(s).Unmap() == tg.Addr
				}
				if !ok || tg.Name != spec {
					t.Fatalf("ParseTargets(%q) yielded %v for %q, not one of its addresses", spec, tg.Addr, tg.Name)
				}
			} else if !tgtOracleContains(spec, tg.Addr) {
				t.Fatalf("ParseTargets(%q) yielded %v, outside the spec", spec, tg.Addr)
			}
			if n++; n > 1<<12 {
				t.Fatalf("ParseTargets(%q) yielded more than MaxHosts", spec)
			}
		}
	})
}

// TestParseTargetsAddressShapedNoLookup: a target written like an
// address that is not one is a syntax error (ending the sequence before
// anything is scanned), never a name for the resolver (13.9).
func TestParseTargetsAddressShapedNoLookup(t *testing.T) {
	for _, spec := range []string{"300.1.1.1", "1.2.3", "10.0.0.256", "::gg", "0x7f.0.0.1", "1.2.3.0x10", "[::gg]"} {
		r := tgtTestResolver()
		got := tgtCollect([]string{spec, "dual.test"}, &TargetOptions{Resolver: r})
		if len(r.calls) != 0 {
			t.Errorf("%s: resolver called: %q", spec, r.calls)
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], "error: ") {
			t.Errorf("%s: got %q, want one syntax error", spec, got)
		}
	}
}
