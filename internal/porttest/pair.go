package porttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// netnsDir is where ip(8) keeps named network namespaces; /run on Debian.
const netnsDir = "/var/run/netns"

// lossTable is the nftables table that SetLoss owns in each namespace.
const lossTable = "porttest_loss"

// PairConfig configures [NewPair]. A nil *PairConfig means the zero value.
type PairConfig struct {
	// Loss is the fraction, from 0 to 1, of packets that each namespace
	// drops as they arrive on its veth; it is rounded to thousandths. A
	// datagram is lost with this probability, a round trip with about
	// twice it. Zero, the default, installs no rules. Non-zero needs nft.
	Loss float64
}

// Pair is two network namespaces joined by a veth pair and nothing else.
// Its fields must not be changed.
type Pair struct {
	A, B *Host

	Prefix4 netip.Prefix // the IPv4 /30 holding A.Addr4 and B.Addr4
	Prefix6 netip.Prefix // the IPv6 /64 holding A.Addr6 and B.Addr6
}

// Host is one side of a [Pair]: a named network namespace with lo and one
// end of the veth pair up. Its fields must not be changed.
type Host struct {
	Name  string     // namespace name, as in "ip netns list"
	Link  string     // name of the veth inside the namespace
	Addr4 netip.Addr // IPv4 address on Link
	Addr6 netip.Addr // IPv6 address on Link, usable at once (no DAD)
}

// NewPair creates two network namespaces joined by a veth pair, each end
// with an IPv4 and an IPv6 address, and removes them when the test ends.
// Neither namespace has a default route. Call it from the test goroutine.
//
// It skips the test on systems other than Linux, without the ip command,
// or without the privilege to create namespaces (root or CAP_SYS_ADMIN),
// and, if cfg asks for loss, without nft.
func NewPair(t testing.TB, cfg *PairConfig) *Pair {
	t.Helper()
	if cfg == nil {
		cfg = &PairConfig{}
	}
	perMille := lossPerMille(t, cfg.Loss)
	if runtime.GOOS != "linux" {
		t.Skipf("porttest: network namespaces need linux, not %s", runtime.GOOS)
	}
	if _, err := ipPath(); err != nil {
		t.Skipf("porttest: needs the ip command from iproute2 to create network namespaces: %v", err)
	}
	var nft string
	if perMille > 0 {
		nft = requireNft(t)
	}

	id := fmt.Sprintf("%08x", rand.Uint32())
	p4 := randomPrefix4()
	p6 := randomPrefix6()
	p := &Pair{
		A: &Host{
			Name:  "ptest-" + id + "-a",
			Link:  "pt-" + id + "-a", // 13 bytes; link names may have 15
			Addr4: p4.Addr().Next(),
			Addr6: p6.Addr().Next(),
		},
		Prefix4: p4,
		Prefix6: p6,
	}
	p.B = &Host{
		Name:  "ptest-" + id + "-b",
		Link:  "pt-" + id + "-b",
		Addr4: p.A.Addr4.Next(),
		Addr6: p.A.Addr6.Next(),
	}

	for i, h := range []*Host{p.A, p.B} {
		if _, err := runIP("", "netns", "add", h.Name); err != nil {
			// Only the first attempt tells us about privileges; after it
			// succeeded, any failure is a real one.
			if i == 0 && isPermission(err) {
				t.Skipf("porttest: needs root or CAP_SYS_ADMIN to create network namespaces: %v", err)
			}
			t.Fatalf("porttest: %v", err)
		}
		// Deleting the namespace also deletes its veth end, the other end
		// and any nftables rules, so this is the only cleanup needed.
		t.Cleanup(func() {
			if _, err := runIP("", "netns", "delete", h.Name); err != nil {
				t.Errorf("porttest: %v", err)
			}
		})
	}

	// Create both ends directly inside the namespaces, so that nothing
	// ever appears in the host's namespace, even briefly.
	mustIP(t, "link", "add", p.A.Link, "netns", p.A.Name, "type", "veth",
		"peer", "name", p.B.Link, "netns", p.B.Name)
	for _, h := range []*Host{p.A, p.B} {
		mustIP(t, "-n", h.Name, "link", "set", "lo", "up")
		mustIP(t, "-n", h.Name, "addr", "add",
			netip.PrefixFrom(h.Addr4, p4.Bits()).String(), "dev", h.Link)
		// nodad: the address is usable at once instead of tentative.
		mustIP(t, "-n", h.Name, "addr", "add",
			netip.PrefixFrom(h.Addr6, p6.Bits()).String(), "dev", h.Link, "nodad")
		mustIP(t, "-n", h.Name, "link", "set", h.Link, "up")
	}
	for _, h := range []*Host{p.A, p.B} {
		waitReady(t, h)
	}

	// The safety of every test using the pair rests on this.
	for _, h := range []*Host{p.A, p.B} {
		for _, family := range []string{"-4", "-6"} {
			out := mustIP(t, "-n", h.Name, family, "route", "show", "default")
			if strings.TrimSpace(out) != "" {
				t.Fatalf("porttest: namespace %s has a default route (ip %s): %s", h.Name, family, out)
			}
		}
	}

	if perMille > 0 {
		p.setLoss(t, nft, perMille)
	}
	return p
}

// SetLoss makes each namespace drop the fraction frac (0 to 1) of packets
// arriving on its veth, replacing any earlier setting; 0 removes the rules.
// Neighbour discovery is exempt (as ARP is, not being IP), so that address
// resolution stays reliable. It skips the test if nft is missing, unless
// frac is 0: without nft there can be no rules to remove.
func (p *Pair) SetLoss(t testing.TB, frac float64) {
	t.Helper()
	perMille := lossPerMille(t, frac)
	if _, err := nftPath(); err != nil && perMille == 0 {
		return
	}
	p.setLoss(t, requireNft(t), perMille)
}

func (p *Pair) setLoss(t testing.TB, nft string, perMille int) {
	t.Helper()
	for _, h := range []*Host{p.A, p.B} {
		// Declaring the table before deleting it makes the delete valid
		// whether or not it exists; nft applies the file atomically.
		rules := fmt.Sprintf("table inet %[1]s\ndelete table inet %[1]s\n", lossTable)
		if perMille > 0 {
			// nft refuses "mod 1000 < 1000": total loss drops outright.
			drop := fmt.Sprintf("numgen random mod 1000 < %d drop", perMille)
			if perMille >= 1000 {
				drop = "drop"
			}
			rules += fmt.Sprintf(`table inet %s {
	chain input {
		type filter hook input priority 0; policy accept;
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		iifname %q %s
	}
}
`, lossTable, h.Link, drop)
		}
		if _, err := runIP(rules, "netns", "exec", h.Name, nft, "-f", "-"); err != nil {
			t.Fatalf("porttest: set loss in %s: %v", h.Name, err)
		}
	}
}

// Do runs fn inside h's network namespace and returns fn's error. Sockets
// that fn creates belong to the namespace for good and may be used from
// any goroutine after Do returns; that is the way to get a listener or a
// connection inside the namespace.
//
// fn runs on a goroutine of its own, locked to an OS thread that is
// switched into the namespace and back, so it must not call t.FailNow
// (t.Fatal and friends); it should return an error instead. A panic in fn
// is raised again in the caller. Goroutines that fn starts do not run in
// the namespace. If the thread cannot be switched back, it is left locked,
// so that the runtime terminates it rather than reuse it.
func (h *Host) Do(fn func() error) error {
	return h.do(fn)
}

// Command returns a command that runs name with args inside h's network
// namespace, through "ip netns exec". ctx must not be nil; it kills the
// command as in [exec.CommandContext].
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	ip, err := ipPath()
	if err != nil {
		ip = "ip" // NewPair succeeded, so this is unreachable; let Start report it
	}
	return exec.CommandContext(ctx, ip, append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Listen is [net.Listen] inside h's namespace. address should be a
// literal; there is no name service in the namespace.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// ListenPacket is [net.ListenPacket] inside h's namespace. address should
// be a literal.
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Dial is [net.Dialer.DialContext] inside h's namespace. address should be
// a literal.
func (h *Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// waitReady waits until h's veth can carry traffic. The kernel notices
// the carrier of a veth up to a second late (linkwatch), and until then
// IPv6 drops multicast, neighbour solicitations included, so the first
// connection would stall for a retransmission. IPv6 adds its ff00::/8
// route to the local table once the link is operational with a working
// qdisc, which is also what IPv4 needs.
func waitReady(t testing.TB, h *Host) {
	t.Helper()
	const limit = 10 * time.Second
	var out string
	for start := time.Now(); time.Since(start) < limit; time.Sleep(10 * time.Millisecond) {
		out = mustIP(t, "-n", h.Name, "-6", "route", "show", "table", "local", "dev", h.Link)
		if strings.Contains(out, "multicast ff00::/8") {
			return
		}
	}
	t.Fatalf("porttest: %s in %s not ready after %v; its local IPv6 routes: %s", h.Link, h.Name, limit, out)
}

// lossPerMille checks that frac is a valid loss and converts it to the
// per-mille value the nftables rule uses.
func lossPerMille(t testing.TB, frac float64) int {
	t.Helper()
	if !(frac >= 0 && frac <= 1) { // also rejects NaN
		t.Fatalf("porttest: loss %v is not between 0 and 1", frac)
	}
	return int(math.Round(frac * 1000))
}

// requireNft returns the path of nft, or skips the test.
func requireNft(t testing.TB) string {
	t.Helper()
	path, err := nftPath()
	if err != nil {
		t.Skipf("porttest: packet loss needs nft (Debian package nftables): %v", err)
	}
	return path
}

var (
	ipPath  = sync.OnceValues(func() (string, error) { return lookSbin("ip") })
	nftPath = sync.OnceValues(func() (string, error) { return lookSbin("nft") })
)

// lookSbin is exec.LookPath, falling back to the sbin directories, which
// are often missing from the PATH of users other than root. Without it a
// user would be told that ip is missing rather than that they need root.
func lookSbin(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", err
}

// randomPrefix4 returns a random /30 of 198.18.0.0/15 (RFC 2544).
func randomPrefix4() netip.Prefix {
	const base = 198<<24 | 18<<16
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], base+4*rand.Uint32N(1<<15))
	return netip.PrefixFrom(netip.AddrFrom4(a), 30)
}

// randomPrefix6 returns a random /64 of fd00::/8, as RFC 4193 suggests.
func randomPrefix6() netip.Prefix {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], rand.Uint64())
	a[0] = 0xfd
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// mustIP runs ip with args and fails the test if it fails.
func mustIP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := runIP("", args...)
	if err != nil {
		t.Fatalf("porttest: %v", err)
	}
	return out
}

// runIP runs ip with args and stdin, and returns its standard output. The
// error names the command and quotes its standard error.
func runIP(stdin string, args ...string) (string, error) {
	ip, err := ipPath()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(ip, args...)
	// ip and nft print strerror(3); keep it in English so it can be matched.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// isPermission reports whether a failed command was refused for lack of
// privilege (EPERM or EACCES).
func isPermission(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Operation not permitted") || strings.Contains(msg, "Permission denied")
}

// Behind is a third namespace, C, joined to B of a [Pair] by a veth pair
// of its own: a host behind the gateway B, for forwarding and NAT tests.
// Its fields must not be changed.
type Behind struct {
	C       *Host        // C.Link and C.Addr4 are its end of the link to B
	BLink   string       // B's end of the link to C
	BAddr4  netip.Addr   // B's IPv4 address on BLink
	Prefix4 netip.Prefix // the IPv4 /30 of the link between B and C
}

// AddBehind creates C behind p.B: B forwards IPv4 between its two links,
// and C routes p.Prefix4 (A) through B, so that A can reach C through B
// and C can answer; A has no route to C's link (B must translate, as a
// NAT gateway does). No namespace gets a default route. C and its link
// are removed when the test ends. Call it from the test goroutine.
func (p *Pair) AddBehind(t testing.TB) *Behind {
	t.Helper()
	pre := randomPrefix4()
	for pre.Overlaps(p.Prefix4) {
		pre = randomPrefix4()
	}
	id := strings.TrimSuffix(strings.TrimPrefix(p.A.Name, "ptest-"), "-a")
	bh := &Behind{
		C:       &Host{Name: "ptest-" + id + "-c", Link: "pt-" + id + "-c", Addr4: pre.Addr().Next().Next()},
		BLink:   "pt-" + id + "-x",
		BAddr4:  pre.Addr().Next(),
		Prefix4: pre,
	}
	if _, err := runIP("", "netns", "add", bh.C.Name); err != nil {
		t.Fatalf("porttest: %v", err)
	}
	t.Cleanup(func() {
		if _, err := runIP("", "netns", "delete", bh.C.Name); err != nil {
			t.Errorf("porttest: %v", err)
		}
	})
	mustIP(t, "link", "add", bh.BLink, "netns", p.B.Name, "type", "veth", "peer", "name", bh.C.Link, "netns", bh.C.Name)
	mustIP(t, "-n", bh.C.Name, "link", "set", "lo", "up")
	mustIP(t, "-n", p.B.Name, "addr", "add", netip.PrefixFrom(bh.BAddr4, pre.Bits()).String(), "dev", bh.BLink)
	mustIP(t, "-n", bh.C.Name, "addr", "add", netip.PrefixFrom(bh.C.Addr4, pre.Bits()).String(), "dev", bh.C.Link)
	mustIP(t, "-n", p.B.Name, "link", "set", bh.BLink, "up")
	mustIP(t, "-n", bh.C.Name, "link", "set", bh.C.Link, "up")
	mustIP(t, "-n", bh.C.Name, "route", "add", p.Prefix4.String(), "via", bh.BAddr4.String())
	if err := p.B.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644) }); err != nil {
		t.Fatalf("porttest: enabling forwarding in %s: %v", p.B.Name, err)
	}
	waitReady(t, bh.C)
	for _, family := range []string{"-4", "-6"} {
		if out := mustIP(t, "-n", bh.C.Name, family, "route", "show", "default"); strings.TrimSpace(out) != "" {
			t.Fatalf("porttest: namespace %s has a default route (ip %s): %s", bh.C.Name, family, out)
		}
	}
	return bh
}
