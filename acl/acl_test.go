package acl_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/internal/porttest"
)

func TestPermit(t *testing.T) {
	l, err := acl.ParseList([]string{"192.168.1.0/24", "10.0.0.1", "fd00::/8"}, []string{"192.168.1.13"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"192.168.1.1", true},
		{"192.168.1.13", false}, // Deny wins
		{"::ffff:192.168.1.1", true},
		{"::ffff:192.168.1.13", false},
		{"10.0.0.1", true},
		{"10.0.0.2", false},
		{"fd00::1", true},
		{"fd00::1%eth0", true},
		{"fe80::1", false},
		{"8.8.8.8", false},
	} {
		if got := l.Permit(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Permit(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	var empty acl.List
	var nilList *acl.List
	if empty.Permit(netip.MustParseAddr("127.0.0.1")) || nilList.Permit(netip.MustParseAddr("127.0.0.1")) || l.Permit(netip.Addr{}) {
		t.Error("an empty or nil List, or an invalid address, was permitted")
	}
}

func TestParseListErrors(t *testing.T) {
	for _, tc := range []struct {
		allow, deny []string
		want        string
	}{
		{[]string{"192.168.1.1/24"}, nil, `allow: invalid CIDR prefix "192.168.1.1/24": host bits set (did you mean 192.168.1.0/24?)`},
		{[]string{"10.0.0.0/33"}, nil, `allow: invalid CIDR prefix "10.0.0.0/33"`},
		{nil, []string{"bogus"}, `deny: invalid CIDR prefix "bogus": not an address or prefix`},
		{[]string{""}, nil, `allow: invalid CIDR prefix "": empty`},
		// No Go calls in the message.
		{nil, []string{"300.0.0.0/8"}, `deny: invalid CIDR prefix "300.0.0.0/8": IPv4 field has value >255`},
		{[]string{"fe80::1%eth0"}, nil, "zones are not allowed"},
	} {
		_, err := acl.ParseList(tc.allow, tc.deny)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, acl.ErrBadPrefix) {
			t.Errorf("ParseList(%q, %q) = %v, want an ErrBadPrefix containing %q", tc.allow, tc.deny, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
	}
	l, err := acl.ParseList([]string{"::ffff:10.0.0.0/104", " 10.1.0.0/16 "}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Allow[0] != netip.MustParsePrefix("10.0.0.0/8") || l.Allow[1] != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("parsed %v", l.Allow)
	}
}

func TestPolicyCheck(t *testing.T) {
	var p acl.Policy
	for _, tc := range []struct {
		addr   string
		reason string // "" for permitted
	}{
		{"1.1.1.1", ""},
		{"2606:4700::1111", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"0.0.0.0", "unspecified"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.32.0.1", ""},
		{"192.168.0.1", "private"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.1", "CGNAT"},
		{"100.128.0.1", ""},
		{"224.0.0.1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"198.18.0.1", "benchmarking"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%lo", "link-local"},
		{"fd12::1", "unique local"},
		{"fc00::1", "unique local"},
		{"ff02::1", "multicast"},
		{"2001:db8::1", "documentation"},
		{"::ffff:127.0.0.1", "IPv4-mapped loopback"},
		{"::ffff:10.0.0.1", "IPv4-mapped private"},
		{"::ffff:1.1.1.1", ""},
		{"::127.0.0.1", "IPv4-compatible loopback"},
		{"::10.0.0.1", "IPv4-compatible private"},
		{"::1.1.1.1", "IPv4-compatible (deprecated)"},
		{"64:ff9b::7f00:1", "NAT64 loopback"},
		{"64:ff9b::a9fe:a9fe", "NAT64 link-local"},
		{"64:ff9b::101:101", ""},
		{"2002:7f00:1::1", "6to4 loopback"},
		{"2002:c0a8:101::1", "6to4 private"},
		{"2002:101:101::1", ""},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo loopback"}, // client 127.0.0.1 inverted
		{"64:ff9b:1::1", "local-use NAT64"},
		{"100::1", "discard-only"},
		{"4000::1", "not global unicast"},
	} {
		err := p.Check(netip.MustParseAddr(tc.addr))
		if tc.reason == "" {
			if err != nil {
				t.Errorf("Check(%s) = %v, want nil", tc.addr, err)
			}
			continue
		}
		var de *acl.DeniedError
		if !errors.As(err, &de) || !errors.Is(err, acl.ErrDenied) || !strings.Contains(de.Reason, tc.reason) {
			t.Errorf("Check(%s) = %v, want a DeniedError for %q", tc.addr, err, tc.reason)
		}
	}
	if err := (*acl.Policy)(nil).Check(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Error("a nil Policy permits loopback")
	}
	if err := p.Check(netip.Addr{}); err == nil {
		t.Error("the zero Addr was permitted")
	}

	// Allow prefixes open exactly what they cover, in all forms.
	allow := acl.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fd00:1::/32")}}
	for _, a := range []string{"127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "fd00:1::5"} {
		if err := allow.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("allowed %s: %v", a, err)
		}
	}
	for _, a := range []string{"::1", "10.0.0.1", "fd00:2::1", "::ffff:10.0.0.1"} {
		if err := allow.Check(netip.MustParseAddr(a)); err == nil {
			t.Errorf("%s permitted by an Allow that does not cover it", a)
		}
	}
}

func TestDialerRefusesAtConnect(t *testing.T) {
	addr := porttest.ServeTCP(t, func(net.Conn) {})
	ctx := context.Background()
	port := addr.Port()
	// "localhost" is a name: the check sees the address it resolves to.
	for _, target := range []string{addr.String(), net.JoinHostPort("localhost", itoa(port))} {
		_, err := (&acl.Dialer{}).DialContext(ctx, "tcp", target)
		var de *acl.DeniedError
		if !errors.As(err, &de) || !de.Addr.IsLoopback() {
			t.Errorf("default Dialer to %s: %v, want a loopback DeniedError", target, err)
		}
	}
	controlRan := false
	d := &acl.Dialer{
		Policy: &acl.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Dialer: net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
			controlRan = true
			return nil
		}},
	}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	defer c.Close()
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("got a %T, want a *net.TCPConn (splice)", c)
	}
	if !controlRan {
		t.Error("the Dialer's own Control did not run")
	}
	if _, err := d.DialContext(ctx, "unix", "/tmp/x"); err == nil {
		t.Error("unix network accepted")
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1", "::ffff:10.0.0.0/104", "fe80::1%eth0", "1.2.3.4/33", "", " ::/0 ", "01.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := acl.ParsePrefix(s)
		if err != nil {
			if !errors.Is(err, acl.ErrBadPrefix) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParsePrefix(%q) = %v", s, p)
		}
		// Round trip through the canonical form.
		q, err := acl.ParsePrefix(p.String())
		if err != nil || q != p {
			t.Fatalf("ParsePrefix(%q) = %v, reparsed %v, %v", s, p, q, err)
		}
		l, err := acl.ParseList([]string{s}, nil)
		if err != nil || !l.Permit(p.Addr()) {
			t.Fatalf("ParseList(%q) = %v, %v: does not permit %v", s, l, err, p.Addr())
		}
	})
}
