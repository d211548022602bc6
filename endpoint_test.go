package ports_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/portkit/ports"
	"github.com/portkit/ports/registry"
)

// These tests parse only; nothing here resolves names or opens sockets.

func TestParseEndpoint(t *testing.T) {
	reg := registry.Default()
	withDefault := func(p ports.Port) *ports.EndpointOptions {
		return &ports.EndpointOptions{DefaultPort: p, HasDefault: true}
	}
	withRegistry := &ports.EndpointOptions{Services: reg}
	addr := netip.MustParseAddr
	tests := []struct {
		in   string
		opts *ports.EndpointOptions
		want ports.Endpoint
	}{
		{"host:80", nil, ports.Endpoint{Host: "host", Port: 80}},
		{"example.com:443", nil, ports.Endpoint{Host: "example.com", Port: 443}},
		{"under_score-host.example:1", nil, ports.Endpoint{Host: "under_score-host.example", Port: 1}},
		{"host:0", nil, ports.Endpoint{Host: "host", Port: 0}},
		{"host:65535", nil, ports.Endpoint{Host: "host", Port: 65535}},
		{"host:080", nil, ports.Endpoint{Host: "host", Port: 80}},
		{"192.0.2.1:80", nil, ports.Endpoint{Host: "192.0.2.1", Addr: addr("192.0.2.1"), Port: 80}},
		{"[2001:db8::1]:443", nil, ports.Endpoint{Host: "2001:db8::1", Addr: addr("2001:db8::1"), Port: 443}},
		{"[2001:DB8::1]:443", nil, ports.Endpoint{Host: "2001:DB8::1", Addr: addr("2001:db8::1"), Port: 443}}, // Host as written
		{"[::ffff:192.0.2.1]:80", nil, ports.Endpoint{Host: "::ffff:192.0.2.1", Addr: addr("::ffff:192.0.2.1"), Port: 80}},
		{"[fe80::1%eth0]:22", nil, ports.Endpoint{Host: "fe80::1%eth0", Addr: addr("fe80::1%eth0"), Port: 22}},
		{":8080", nil, ports.Endpoint{Port: 8080}},
		{"host:80", withDefault(8080), ports.Endpoint{Host: "host", Port: 80}}, // an explicit port beats the default

		// Bare hosts take the default.
		{"2001:db8::1", withDefault(8443), ports.Endpoint{Host: "2001:db8::1", Addr: addr("2001:db8::1"), Port: 8443, PortFrom: ports.PortDefault}},
		{"fe80::1%eth0", withDefault(22), ports.Endpoint{Host: "fe80::1%eth0", Addr: addr("fe80::1%eth0"), Port: 22, PortFrom: ports.PortDefault}},
		{"::", withDefault(1), ports.Endpoint{Host: "::", Addr: addr("::"), Port: 1, PortFrom: ports.PortDefault}},
		{"[::1]", withDefault(53), ports.Endpoint{Host: "::1", Addr: addr("::1"), Port: 53, PortFrom: ports.PortDefault}},
		{"example.com", withDefault(80), ports.Endpoint{Host: "example.com", Port: 80, PortFrom: ports.PortDefault}},
		{"192.0.2.1", withDefault(0), ports.Endpoint{Host: "192.0.2.1", Addr: addr("192.0.2.1"), Port: 0, PortFrom: ports.PortDefault}},

		// Service names as ports.
		{"host:http", withRegistry, ports.Endpoint{Host: "host", Port: 80}},
		{"host:HTTPS", withRegistry, ports.Endpoint{Host: "host", Port: 443}},
		{"host:domain", withRegistry, ports.Endpoint{Host: "host", Port: 53}},
		{"[::1]:ssh", withRegistry, ports.Endpoint{Host: "::1", Addr: addr("::1"), Port: 22}},

		// URLs.
		{"https://example.com/x", nil, ports.Endpoint{Scheme: "https", Host: "example.com", Port: 443, PortFrom: ports.PortScheme}},
		{"https://example.com:2222/x", nil, ports.Endpoint{Scheme: "https", Host: "example.com", Port: 2222}},
		{"HTTPS://Example.COM/", nil, ports.Endpoint{Scheme: "https", Host: "Example.COM", Port: 443, PortFrom: ports.PortScheme}},
		{"http://[::1]/", nil, ports.Endpoint{Scheme: "http", Host: "::1", Addr: addr("::1"), Port: 80, PortFrom: ports.PortScheme}},
		{"http://[fe80::1%25eth0]:8080/", nil, ports.Endpoint{Scheme: "http", Host: "fe80::1%eth0", Addr: addr("fe80::1%eth0"), Port: 8080}},
		{"http://192.0.2.1", nil, ports.Endpoint{Scheme: "http", Host: "192.0.2.1", Addr: addr("192.0.2.1"), Port: 80, PortFrom: ports.PortScheme}},
		{"http://h:/", nil, ports.Endpoint{Scheme: "http", Host: "h", Port: 80, PortFrom: ports.PortScheme}}, // empty port: the scheme's
		{"redis://h", nil, ports.Endpoint{Scheme: "redis", Host: "h", Port: 6379, PortFrom: ports.PortScheme}},
		{"irc://h", nil, ports.Endpoint{Scheme: "irc", Host: "h", Port: 6667, PortFrom: ports.PortScheme}},
		{"ftp://u:p@h/f", nil, ports.Endpoint{Scheme: "ftp", Host: "h", Port: 21, PortFrom: ports.PortScheme}},
		{"ssh://git@example.com:2222", nil, ports.Endpoint{Scheme: "ssh", Host: "example.com", Port: 2222}},
		{"wss://h/chat?x=1#y", nil, ports.Endpoint{Scheme: "wss", Host: "h", Port: 443, PortFrom: ports.PortScheme}},
		{"finger://h", withRegistry, ports.Endpoint{Scheme: "finger", Host: "h", Port: 79, PortFrom: ports.PortScheme}}, // from the registry
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ports.ParseEndpoint(tt.in, tt.opts)
			if err != nil {
				t.Fatalf("ParseEndpoint(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("ParseEndpoint(%q) (-want +got):\n%s", tt.in, diff)
			}
			if got.Addr.IsValid() {
				if ap := got.AddrPort(); ap.Addr() != got.Addr || ap.Port() != uint16(got.Port) {
					t.Errorf("AddrPort() = %v", ap)
				}
			} else if got.AddrPort().IsValid() {
				t.Errorf("AddrPort() = %v for a host name, want invalid", got.AddrPort())
			}
		})
	}
}

func TestParseEndpointErrors(t *testing.T) {
	reg := registry.Default()
	withRegistry := &ports.EndpointOptions{Services: reg}
	tests := []struct {
		in          string
		opts        *ports.EndpointOptions
		what        string
		pos         int // -1: any
		msg         string
		unknownName bool
	}{
		{"", nil, "endpoint", 0, "empty", false},
		{"example.com", nil, "endpoint", 11, "missing port", false},
		{"2001:db8::1", nil, "endpoint", 11, "missing port", false},
		{"[::1]", nil, "endpoint", 5, "missing port", false},
		{"[::1", nil, "endpoint", 0, "missing ']'", false},
		{"[1.2.3.4]:80", nil, "endpoint", 1, "brackets must hold an IPv6 address", false},
		{"[host]:80", nil, "endpoint", 1, "brackets must hold an IPv6 address", false},
		{"[::1]80", nil, "endpoint", 5, "want ':' after ']'", false},
		{"[::1]:", nil, "endpoint", 6, "missing port after ':'", false},
		{"host:99999", nil, "endpoint", 5, `"99999" is not a port number`, false},
		{"host:8x", nil, "endpoint", 5, `"8x" is not a port number`, false},
		{"host:", nil, "endpoint", 5, "missing port after ':'", false},
		{"a b:80", nil, "endpoint", 0, "is not a host name or address", false},
		{"a/b:80", nil, "endpoint", 0, "is not a host name or address", false},
		{"1:2:3", nil, "endpoint", 0, "not an IPv6 address", false},
		{"host:80:90", nil, "endpoint", 0, "not an IPv6 address", false},
		{"host:http", nil, "endpoint", 5, `unknown service name "http"`, true}, // no resolver
		{"host:nosuch", withRegistry, "endpoint", 5, `unknown service name "nosuch"`, true},
		{"host:ftp*", withRegistry, "endpoint", 5, "unknown service name", true}, // no wildcards in endpoints
		{"host:-1", withRegistry, "endpoint", 5, "unknown service name", true},
		{"foo://h", nil, "URL", -1, `scheme "foo" has no default port`, false},
		{"finger://h", nil, "URL", -1, `scheme "finger" has no default port`, false}, // needs the registry
		{"file:///etc/passwd", nil, "URL", 7, "missing host", false},
		{"http://h:99999/", nil, "URL", 9, `"99999" is not a port number`, false},
		{"http://h:8x/", nil, "URL", -1, "", false},
		{"http://[::1/", nil, "URL", -1, "", false},
		// net/url's message without net/netip's Go call.
		{"http://[::gg]:80/", nil, "URL", -1, `invalid host: each colon-separated field must have at least one digit (at "gg")`, false},
		// Found by FuzzParseEndpoint: "://" after the first byte sends the
		// input to url.Parse, which takes "//host:port" without a scheme,
		// and the URL branch checks neither the scheme nor the host name.
		{"//!:0#://", nil, "", -1, "", false},
		{"//host:80/#://", nil, "", -1, "", false},
		// Found by FuzzParseEndpoint: a zone holding a bracket cannot be
		// written back as [addr%zone]:port, so it is refused.
		{"fe80::1%a[b", &ports.EndpointOptions{HasDefault: true, DefaultPort: 8080}, "endpoint", 0, "not an IPv6 address", false},
		{"::%]", &ports.EndpointOptions{HasDefault: true, DefaultPort: 8080}, "endpoint", 0, "not an IPv6 address", false},
		{"fe80::1%]", &ports.EndpointOptions{HasDefault: true, DefaultPort: 8080}, "endpoint", 0, "not an IPv6 address", false},
		{"[fe80::1%]]:1", nil, "endpoint", 10, "want ':' after ']'", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ports.ParseEndpoint(tt.in, tt.opts)
			if err == nil {
				t.Fatalf("ParseEndpoint(%q) = %+v, want an error", tt.in, got)
			}
			wantParseError(t, err, tt.what, tt.in, tt.pos, tt.msg)
			if is := errors.Is(err, ports.ErrUnknownService); is != tt.unknownName {
				t.Errorf("errors.Is(%v, ErrUnknownService) = %v, want %v", err, is, tt.unknownName)
			}
			if diff := cmp.Diff(ports.Endpoint{}, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("endpoint returned with the error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndpointString(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"host:80", "host:80"},
		{"192.0.2.1:80", "192.0.2.1:80"},
		{"[2001:db8::1]:443", "[2001:db8::1]:443"},
		{"[fe80::1%eth0]:22", "[fe80::1%eth0]:22"},
		{":8080", ":8080"},
		{"https://example.com/x", "example.com:443"},
		{"http://[::1]/", "[::1]:80"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := ports.ParseEndpoint(tt.in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEndpointStringRoundTrip checks that String gives what ParseEndpoint
// reads back as the same host and port. netip accepts any bytes in an IPv6
// zone, ']' included, but the bracket form ends at the first ']'.
func TestEndpointStringRoundTrip(t *testing.T) {
	opts := &ports.EndpointOptions{DefaultPort: 8080, HasDefault: true}
	for _, in := range []string{
		"host:80", ":1", "192.0.2.1:80", "[2001:db8::1]:443", "2001:db8::1", "[::ffff:192.0.2.1]:1",
		"fe80::1%eth0", "[fe80::1%eth0]:22", "[fe80::1%a:b]:1",
	} {
		t.Run(in, func(t *testing.T) {
			e, err := ports.ParseEndpoint(in, opts)
			if err != nil {
				t.Fatalf("ParseEndpoint(%q): %v", in, err)
			}
			s := e.String()
			e2, err := ports.ParseEndpoint(s, nil)
			if err != nil {
				t.Fatalf("ParseEndpoint(%q).String() = %q, which does not parse: %v", in, s, err)
			}
			if e2.Host != e.Host || e2.Port != e.Port || e2.Addr != e.Addr {
				t.Errorf("ParseEndpoint(%q) = %+v; String() %q parses as %+v", in, e, s, e2)
			}
		})
	}
}

func TestSchemePort(t *testing.T) {
	for _, tt := range []struct {
		scheme string
		want   ports.Port
		ok     bool
	}{
		{"http", 80, true}, {"HTTP", 80, true}, {"https", 443, true}, {"ws", 80, true},
		{"wss", 443, true}, {"ftp", 21, true}, {"ssh", 22, true}, {"redis", 6379, true},
		{"postgres", 5432, true}, {"irc", 6667, true}, {"foo", 0, false}, {"", 0, false},
	} {
		got, ok := ports.SchemePort(tt.scheme)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SchemePort(%q) = %d, %v; want %d, %v", tt.scheme, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPortSource(t *testing.T) {
	for _, tt := range []struct {
		s    ports.PortSource
		want string
	}{
		{ports.PortExplicit, "explicit"}, {ports.PortScheme, "scheme"}, {ports.PortDefault, "default"},
		{ports.PortSource(9), "PortSource(9)"},
	} {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("PortSource(%d).String() = %q, want %q", tt.s, got, tt.want)
		}
		if b, _ := tt.s.MarshalText(); string(b) != tt.want {
			t.Errorf("PortSource(%d).MarshalText() = %q, want %q", tt.s, b, tt.want)
		}
	}
}

// FuzzParseEndpoint checks that ParseEndpoint does not panic, that errors
// are ParseErrors about the input, and that for inputs that are not URLs
// the String of the result parses back to the same host, address and
// port.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{
		"host:80", "192.0.2.1:80", "[2001:db8::1]:443", ":8080", // host:port forms
		"2001:db8::1", "example.com", "::", "[::1]", // bare hosts
		"[fe80::1%eth0]:22", "fe80::1%eth0", "[fe80::1%a:b]:1", "[fe80::1%]:1", // zones
		"host:http", "host:odd", "host:nosuch", "host:ftp*", // service names
		"https://example.com:2222/x", "http://[::1]/", "redis://h", "foo://h", "ftp://u:p@h/f", "file:///x", // URLs
		"[::1", "[1.2.3.4]:80", "host:99999", "host:", "a b:80", "[::1]80", "", ":", "[]:1", "://x", "a://", // bad
		"[::ffff:1.2.3.4]:1", "1.2.3.4%x:1", "host:-1", "[::1]:0", "host:65535",
		"::%]",      // a zone holding ']': String gives "[::%]]:8080" (found by this fuzzer)
		"//!:0#://", // no scheme, yet parsed as a URL with host "!" (found by this fuzzer)
	} {
		f.Add(s)
	}
	opts := &ports.EndpointOptions{DefaultPort: 8080, HasDefault: true, Services: fakeResolver{}}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := ports.ParseEndpoint(in, opts)
		if err != nil {
			var pe *ports.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseEndpoint(%q) error %v is a %T, not a *ParseError", in, err, err)
			}
			if pe.Input != in || pe.Pos < -1 || pe.Pos > len(in) {
				t.Fatalf("ParseEndpoint(%q) error has Input %q, Pos %d", in, pe.Input, pe.Pos)
			}
			return
		}
		if e.Addr.IsValid() && e.Addr.WithZone("") != netip.MustParseAddr(e.Addr.WithZone("").String()) {
			t.Fatalf("ParseEndpoint(%q) address %v does not round-trip", in, e.Addr)
		}
		if e.Scheme != "" {
			return // URLs are url.Parse's business
		}
		s := e.String()
		e2, err := ports.ParseEndpoint(s, nil) // no default: the port must be in s
		if err != nil {
			t.Fatalf("ParseEndpoint(%q) = %+v, String() = %q, which does not parse: %v", in, e, s, err)
		}
		if e2.Host != e.Host || e2.Port != e.Port || e2.Addr != e.Addr || e2.Scheme != "" || e2.PortFrom != ports.PortExplicit {
			t.Fatalf("ParseEndpoint(%q) = %+v; its String() %q parses as %+v", in, e, s, e2)
		}
	})
}
