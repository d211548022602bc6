package ports_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/portkit/ports"
)

// TestParseHostAddressShaped: a host written like an address that is not
// one is ErrBadAddress, never a name (13.9: 300.1.1.1 was looked up).
func TestParseHostAddressShaped(t *testing.T) {
	for _, s := range []string{"300.1.1.1", "1.2.3", "10.0.0.256", "::gg", "1.2.3.4.5", "127.1", "0x7f.0.0.1",
		"010.0.0.1", "1..2.3", "1.2.3.4.", "fe80::1%", "1:2", "999", "a.b.300", "example.0x10"} {
		_, err := ports.ParseHost(s)
		if !errors.Is(err, ports.ErrBadAddress) {
			t.Errorf("ParseHost(%q) = %v, want ErrBadAddress", s, err)
		}
	}
}

func TestParseHost(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want netip.Addr // zero: a name
	}{
		{"192.0.2.1", netip.MustParseAddr("192.0.2.1")},
		{"2001:db8::1", netip.MustParseAddr("2001:db8::1")},
		{"::ffff:192.0.2.1", netip.MustParseAddr("192.0.2.1")},
		{"fe80::1%eth0", netip.MustParseAddr("fe80::1%eth0")},
		{"example.org", netip.Addr{}},
		{"3com.example", netip.Addr{}},
		{"1password.com", netip.Addr{}},
		{"localhost", netip.Addr{}},
		{"example.org.", netip.Addr{}},
		{"x-1.example_2", netip.Addr{}},
	} {
		got, err := ports.ParseHost(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseHost(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, s := range []string{"", "a b", "ex!ample", "/x"} {
		if _, err := ports.ParseHost(s); err == nil || errors.Is(err, ports.ErrBadAddress) {
			t.Errorf("ParseHost(%q) = %v, want a host name error", s, err)
		}
	}
	_, err := ports.ParseHost("300.1.1.1")
	if want := `invalid host "300.1.1.1" at position 1: not an IPv4 address: 300 is out of range 0-255`; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"300.1.1.1", "::1", "example.org", "0x7f.1", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ports.ParseHost(s)
		if err == nil && a.IsValid() {
			if b, perr := netip.ParseAddr(s); perr != nil || b.Unmap() != a {
				t.Fatalf("ParseHost(%q) = %v, but netip reads %v, %v", s, a, b, perr)
			}
		}
	})
}

// TestParseEndpointAddressShaped: an endpoint whose host is shaped like
// an address but is not one is refused, not taken for a host name.
func TestParseEndpointAddressShaped(t *testing.T) {
	for _, s := range []string{"300.1.1.1:80", "1.2.3:22", "10.0.0.256:443", "http://1.2.3/"} {
		_, err := ports.ParseEndpoint(s, nil)
		if !errors.Is(err, ports.ErrBadAddress) {
			t.Errorf("ParseEndpoint(%q) = %v, want ErrBadAddress", s, err)
		}
	}
}
