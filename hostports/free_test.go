package hostports

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
)

var (
	errBusy  = errors.New("fake: address in use")
	errOther = errors.New("fake: cannot assign requested address")
)

// fakeEnv is a freeEnv whose binds succeed unless busy or fail say
// otherwise; it records the binds.
type fakeEnv struct {
	eph    ports.Range
	ephErr error
	busy   func(network string, p ports.Port) bool
	fail   func(network string, p ports.Port) bool

	mu    sync.Mutex
	binds []string // "network address"
}

func (f *fakeEnv) env() freeEnv {
	return freeEnv{
		ephemeral: func() (ports.Range, error) { return f.eph, f.ephErr },
		bind: func(ctx context.Context, network, address string) error {
			f.mu.Lock()
			f.binds = append(f.binds, network+" "+address)
			f.mu.Unlock()
			ap, err := netip.ParseAddrPort(address)
			if err != nil { // ":port"
				n, err := strconv.Atoi(address[1:])
				if err != nil {
					return err
				}
				ap = netip.AddrPortFrom(netip.Addr{}, uint16(n))
			}
			p := ports.Port(ap.Port())
			if f.fail != nil && f.fail(network, p) {
				return errOther
			}
			if f.busy != nil && f.busy(network, p) {
				return errBusy
			}
			return nil
		},
		skip: func(err error) bool { return errors.Is(err, errBusy) },
	}
}

type result struct {
	Port ports.Port
	Err  error
}

// collect ranges over seq, stopping after limit results if limit > 0.
func collect(seq func(func(ports.Port, error) bool), limit int) []result {
	var got []result
	for p, err := range seq {
		got = append(got, result{p, err})
		if limit > 0 && len(got) == limit {
			break
		}
	}
	return got
}

// portsOf returns the ports of rs, sorted, and fails on errors.
func portsOf(t *testing.T, rs []result) []ports.Port {
	t.Helper()
	var ps []ports.Port
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("Free yielded error: %v", r.Err)
		}
		ps = append(ps, r.Port)
	}
	slices.Sort(ps)
	return ps
}

// ranges compresses sorted ports into ranges.
func ranges(ps []ports.Port) []ports.Range {
	var rs []ports.Range
	for _, p := range ps {
		if n := len(rs); n > 0 && rs[n-1].Last+1 == p {
			rs[n-1].Last = p
			continue
		}
		rs = append(rs, ports.Range{First: p, Last: p})
	}
	return rs
}

func TestFreeVisitsEachCandidateOnce(t *testing.T) {
	for _, r := range []ports.Range{{First: 1, Last: 1}, {First: 0, Last: 3}, {First: 100, Last: 1099}, {First: 65000, Last: 65535}, {First: 1, Last: 65535}} {
		t.Run(r.String(), func(t *testing.T) {
			f := &fakeEnv{}
			got := portsOf(t, collect(free(t.Context(), FreeConfig{Range: r}, f.env()), 0))
			want := []ports.Range{{First: max(r.First, 1), Last: r.Last}}
			if diff := cmp.Diff(want, ranges(got)); diff != "" {
				t.Errorf("ports yielded (-want +got):\n%s", diff)
			}
			if len(got) != len(f.binds) {
				t.Errorf("%d binds for %d ports", len(f.binds), len(got))
			}
		})
	}
}

func TestFreeOrder(t *testing.T) {
	order := func(seed uint64) []ports.Port {
		var ps []ports.Port
		cfg := FreeConfig{Range: ports.Range{First: 20000, Last: 20999}, Rand: rand.New(rand.NewPCG(seed, 1))}
		for p, err := range free(t.Context(), cfg, (&fakeEnv{}).env()) {
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		return ps
	}
	a, a2, b := order(1), order(1), order(2)
	if !slices.Equal(a, a2) {
		t.Errorf("same seed gave different orders")
	}
	if slices.Equal(a, b) {
		t.Errorf("different seeds gave the same order")
	}
	if slices.IsSorted(a) {
		t.Errorf("order is sorted: not random")
	}
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	if same > 10 {
		t.Errorf("two orders agree at %d of %d positions", same, len(a))
	}
	// Without Rand, two calls should start differently: the first three
	// of 1000 ports agree by chance about once in 10^9 runs.
	first := func() []ports.Port {
		return portsOf(t, collect(free(t.Context(), FreeConfig{Range: ports.Range{First: 20000, Last: 20999}}, (&fakeEnv{}).env()), 3))
	}
	if x, y := first(), first(); slices.Equal(x, y) {
		t.Errorf("two calls without Rand started with the same ports %v", x)
	}
}

func TestFreeDefaultRange(t *testing.T) {
	tests := []struct {
		name   string
		eph    ports.Range
		ephErr error
		want   []ports.Range
	}{
		{"linux", ports.Range{First: 32768, Last: 60999}, nil, []ports.Range{{First: 1024, Last: 32767}, {First: 61000, Last: 65535}}},
		{"windows", ports.Range{First: 49152, Last: 65535}, nil, []ports.Range{{First: 1024, Last: 49151}}},
		{"low", ports.Range{First: 1024, Last: 5000}, nil, []ports.Range{{First: 5001, Last: 65535}}},
		{"below 1024", ports.Range{First: 600, Last: 1023}, nil, []ports.Range{{First: 1024, Last: 65535}}},
		{"straddles 1024", ports.Range{First: 600, Last: 2000}, nil, []ports.Range{{First: 2001, Last: 65535}}},
		{"everything", ports.Range{First: 1, Last: 65535}, nil, nil},
		{"unreadable", ports.Range{}, ErrNotImplemented, []ports.Range{{First: 1024, Last: 49151}}},
		{"invalid", ports.Range{First: 9, Last: 1}, nil, []ports.Range{{First: 1024, Last: 49151}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEnv{eph: tt.eph, ephErr: tt.ephErr}
			got := ranges(portsOf(t, collect(free(t.Context(), FreeConfig{}, f.env()), 0)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ports yielded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFreeProtocols(t *testing.T) {
	busy := func(network string, p ports.Port) bool {
		return network == "tcp" && p == 3 || network == "udp" && p == 4
	}
	tcp, udp := ports.ProtoTCP, ports.ProtoUDP
	tests := []struct {
		name  string
		proto []ports.Proto
		want  []ports.Port
	}{
		{"default", nil, []ports.Port{1, 2, 4, 5}},
		{"tcp", []ports.Proto{tcp}, []ports.Port{1, 2, 4, 5}},
		{"udp", []ports.Proto{udp}, []ports.Port{1, 2, 3, 5}},
		{"both", []ports.Proto{udp, tcp}, []ports.Port{1, 2, 5}},
		{"repeated", []ports.Proto{tcp, udp, tcp, udp}, []ports.Port{1, 2, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEnv{busy: busy}
			cfg := FreeConfig{Range: ports.Range{First: 1, Last: 5}, Proto: tt.proto}
			got := portsOf(t, collect(free(t.Context(), cfg, f.env()), 0))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ports yielded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFreeAddress(t *testing.T) {
	tests := []struct {
		addr netip.Addr
		want string
	}{
		{netip.Addr{}, "tcp :1234"},
		{netip.MustParseAddr("0.0.0.0"), "tcp 0.0.0.0:1234"},
		{netip.MustParseAddr("::"), "tcp [::]:1234"},
		{netip.MustParseAddr("127.0.0.1"), "tcp 127.0.0.1:1234"},
		{netip.MustParseAddr("::1"), "tcp [::1]:1234"},
		{netip.MustParseAddr("fe80::1%eth0"), "tcp [fe80::1%eth0]:1234"},
	}
	for _, tt := range tests {
		f := &fakeEnv{}
		cfg := FreeConfig{Range: ports.Range{First: 1234, Last: 1234}, Addr: tt.addr}
		collect(free(t.Context(), cfg, f.env()), 0)
		if diff := cmp.Diff([]string{tt.want}, f.binds); diff != "" {
			t.Errorf("Addr %v: binds (-want +got):\n%s", tt.addr, diff)
		}
	}
}

func TestFreeBindError(t *testing.T) {
	f := &fakeEnv{
		busy: func(_ string, p ports.Port) bool { return p%2 == 0 },
		fail: func(network string, p ports.Port) bool { return network == "udp" && p == 51 },
	}
	cfg := FreeConfig{Range: ports.Range{First: 1, Last: 100}, Proto: []ports.Proto{ports.ProtoTCP, ports.ProtoUDP}}
	got := collect(free(t.Context(), cfg, f.env()), 0)
	last := got[len(got)-1]
	if last.Port != 0 || !errors.Is(last.Err, errOther) {
		t.Fatalf("last result = %+v, want the bind error", last)
	}
	for _, r := range got[:len(got)-1] {
		if r.Err != nil || r.Port%2 == 0 || r.Port == 51 {
			t.Errorf("result %+v: want an odd port other than 51, no error", r)
		}
	}
	if len(got) > 50 {
		t.Errorf("%d results, want at most 49 ports and the error", len(got))
	}
}

func TestFreeConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  FreeConfig
		is   error
	}{
		{"sctp", FreeConfig{Proto: []ports.Proto{ports.ProtoTCP, ports.ProtoSCTP}}, errors.ErrUnsupported},
		{"any", FreeConfig{Proto: []ports.Proto{ports.ProtoAny}}, errors.ErrUnsupported},
		{"reversed range", FreeConfig{Range: ports.Range{First: 10, Last: 5}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEnv{}
			got := collect(free(t.Context(), tt.cfg, f.env()), 0)
			if len(got) != 1 || got[0].Err == nil {
				t.Fatalf("results %+v, want one error", got)
			}
			t.Logf("error: %v", got[0].Err)
			if tt.is != nil && !errors.Is(got[0].Err, tt.is) {
				t.Errorf("error %v is not %v", got[0].Err, tt.is)
			}
			if len(f.binds) != 0 {
				t.Errorf("bound %v for an invalid config", f.binds)
			}
		})
	}
}

func TestFreeContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := &fakeEnv{}
	var got []result
	for p, err := range free(ctx, FreeConfig{Range: ports.Range{First: 1, Last: 100}}, f.env()) {
		got = append(got, result{p, err})
		if len(got) == 3 {
			cancel()
		}
	}
	if len(got) != 4 || !errors.Is(got[3].Err, context.Canceled) {
		t.Fatalf("results %+v, want 3 ports and context.Canceled", got)
	}
	if len(f.binds) != 3 {
		t.Errorf("%d binds, want 3", len(f.binds))
	}

	// Already done: no bind at all.
	f = &fakeEnv{}
	got = collect(free(ctx, FreeConfig{}, f.env()), 0)
	if len(got) != 1 || !errors.Is(got[0].Err, context.Canceled) || len(f.binds) != 0 {
		t.Errorf("done ctx: results %+v after %d binds, want context.Canceled alone", got, len(f.binds))
	}
}

func TestFreeBreak(t *testing.T) {
	f := &fakeEnv{}
	got := collect(free(t.Context(), FreeConfig{}, f.env()), 2)
	if len(got) != 2 || len(f.binds) != 2 {
		t.Errorf("break after 2: %d results, %d binds", len(got), len(f.binds))
	}
}

func TestPermutation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 100, 1000, 1024, 1025, 49152, 64512, 65535} {
		for range 5 {
			p := newPermutation(n, r.Uint64)
			if int(p.size()) < n || int(p.size()) >= 2*n && n > 1 {
				t.Fatalf("n=%d: size %d", n, p.size())
			}
			seen := make([]bool, p.size())
			count := 0
			for i := range p.size() {
				j := p.at(i)
				if seen[j] {
					t.Fatalf("n=%d %+v: %d visited twice", n, p, j)
				}
				seen[j] = true
				if j < uint32(n) {
					count++
				}
			}
			if count != n {
				t.Fatalf("n=%d %+v: visited %d", n, p, count)
			}
		}
	}
}

func TestOutside(t *testing.T) {
	all := ports.Range{First: 1024, Last: 65535}
	tests := []struct {
		ex   ports.Range
		want []ports.Range
	}{
		{ports.Range{First: 32768, Last: 60999}, []ports.Range{{First: 1024, Last: 32767}, {First: 61000, Last: 65535}}},
		{ports.Range{First: 1, Last: 1023}, []ports.Range{all}},
		{ports.Range{First: 1, Last: 1024}, []ports.Range{{First: 1025, Last: 65535}}},
		{ports.Range{First: 1024, Last: 1024}, []ports.Range{{First: 1025, Last: 65535}}},
		{ports.Range{First: 65535, Last: 65535}, []ports.Range{{First: 1024, Last: 65534}}},
		{ports.Range{First: 0, Last: 65535}, nil},
	}
	for _, tt := range tests {
		c := outside(all, tt.ex)
		got := c.r[:c.nr]
		if len(got) == 0 {
			got = nil
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("outside(%v, %v) (-want +got):\n%s", all, tt.ex, diff)
		}
		n := 0
		for _, r := range tt.want {
			n += r.Len()
		}
		if c.n != n {
			t.Errorf("outside(%v, %v).n = %d, want %d", all, tt.ex, c.n, n)
		}
	}
}

// occupied holds a real socket on host:P for the test and returns P. It
// picks P so that P+1 binds on each of check, with host checkHost.
func occupied(t *testing.T, network, host, checkHost string, check ...string) ports.Port {
	t.Helper()
	for range 50 {
		var lc net.ListenConfig
		var closer interface{ Close() error }
		var port int
		if network == "udp" {
			c, err := lc.ListenPacket(t.Context(), "udp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			closer, port = c, c.LocalAddr().(*net.UDPAddr).Port
		} else {
			l, err := lc.Listen(t.Context(), "tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			closer, port = l, l.Addr().(*net.TCPAddr).Port
		}
		ok := port < 65535
		for _, nw := range check {
			if !ok {
				break
			}
			ok = bindClose(t.Context(), nw, net.JoinHostPort(checkHost, strconv.Itoa(port+1))) == nil
		}
		if ok {
			t.Cleanup(func() { closer.Close() })
			return ports.Port(port)
		}
		closer.Close()
	}
	t.Skip("no port found whose neighbour is free")
	return 0
}

func TestFreeLoopback(t *testing.T) {
	loopback := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name string
		addr netip.Addr
	}{
		{"127.0.0.1", loopback},
		// The wildcard conflicts with a listener on 127.0.0.1.
		{"wildcard", netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := ""
			if tt.addr.IsValid() {
				host = tt.addr.String()
			}
			p := occupied(t, "tcp", "127.0.0.1", host, "tcp")
			cfg := FreeConfig{Range: ports.Range{First: p, Last: p + 1}, Addr: tt.addr}
			got := portsOf(t, collect(Free(t.Context(), cfg), 0))
			if diff := cmp.Diff([]ports.Port{p + 1}, got); diff != "" {
				t.Errorf("Free with %v busy (-want +got):\n%s", p, diff)
			}
		})
	}
}

func TestFreeTCPAndUDP(t *testing.T) {
	loopback := netip.MustParseAddr("127.0.0.1")
	// UDP is busy on p; TCP must be free on p and both on p+1.
	p := occupied(t, "udp", "127.0.0.1", "127.0.0.1", "tcp", "udp")
	if err := bindClose(t.Context(), "tcp", net.JoinHostPort("127.0.0.1", p.String())); err != nil {
		t.Skipf("tcp port %v is busy too: %v", p, err)
	}
	tcp, udp := ports.ProtoTCP, ports.ProtoUDP
	tests := []struct {
		proto []ports.Proto
		want  []ports.Port
	}{
		{[]ports.Proto{tcp, udp}, []ports.Port{p + 1}},
		{[]ports.Proto{udp}, []ports.Port{p + 1}},
		{[]ports.Proto{tcp}, []ports.Port{p, p + 1}},
	}
	for _, tt := range tests {
		cfg := FreeConfig{Range: ports.Range{First: p, Last: p + 1}, Proto: tt.proto, Addr: loopback}
		got := portsOf(t, collect(Free(t.Context(), cfg), 0))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Free %v with udp %v busy (-want +got):\n%s", tt.proto, p, diff)
		}
	}
}

// BenchmarkFree measures finding one free TCP port on 127.0.0.1.
func BenchmarkFree(b *testing.B) {
	b.ReportAllocs()
	cfg := FreeConfig{Addr: netip.MustParseAddr("127.0.0.1")}
	for b.Loop() {
		for _, err := range Free(b.Context(), cfg) {
			if err != nil {
				b.Fatal(err)
			}
			break
		}
	}
}

// BenchmarkFreeOrder measures the visiting order alone, over the whole
// default range, with binds faked.
func BenchmarkFreeOrder(b *testing.B) {
	b.ReportAllocs()
	env := freeEnv{
		ephemeral: func() (ports.Range, error) { return ports.Range{First: 32768, Last: 60999}, nil },
		bind:      func(context.Context, string, string) error { return nil },
		skip:      func(error) bool { return false },
	}
	n := 0
	for b.Loop() {
		for range free(b.Context(), FreeConfig{}, env) {
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ports/s")
}

// TestFreeWholeRange binds every port of the default range on 127.0.0.1,
// to check that a full pass ends without error.
func TestFreeWholeRange(t *testing.T) {
	if testing.Short() {
		t.Skip("binds about 36,000 ports")
	}
	n := 0
	for _, err := range Free(t.Context(), FreeConfig{Addr: netip.MustParseAddr("127.0.0.1")}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	t.Logf("%d free ports", n)
	if n == 0 {
		t.Errorf("no free port")
	}
}
