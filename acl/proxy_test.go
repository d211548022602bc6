package acl_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"

	"github.com/portkit/ports"
	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/internal/porttest"
)

// TestDialOrDefault: a nil hook is the zero Policy, which refuses a
// loopback listener that a given hook reaches.
func TestDialOrDefault(t *testing.T) {
	addr := porttest.ServeTCP(t, func(net.Conn) {})
	var d net.Dialer
	for _, tc := range []struct {
		name string
		dial acl.DialFunc
		want error
	}{
		{"nil", nil, acl.ErrDenied},
		{"given", d.DialContext, nil},
	} {
		c, err := acl.DialOrDefault(tc.dial)(context.Background(), "tcp", addr.String())
		if c != nil {
			c.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s dial to %v: %v, want %v", tc.name, addr, err, tc.want)
		}
	}
}

func TestLoggerOrDiscard(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	if acl.LoggerOrDiscard(l) != l {
		t.Error("a given logger was replaced")
	}
	d := acl.LoggerOrDiscard(nil)
	if d == nil || d.Enabled(context.Background(), slog.LevelError) {
		t.Errorf("nil gave %v, want a logger that discards", d)
	}
}

// TestDialerAddressShapedNoLookup: a destination host written like an
// address that is not one (a SOCKS or HTTP proxy client's "300.1.1.1")
// is refused before any DNS query.
func TestDialerAddressShapedNoLookup(t *testing.T) {
	queries := 0
	d := &acl.Dialer{}
	d.Dialer.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		queries++
		return nil, errors.New("test: no DNS here")
	}}
	for _, a := range []string{"300.1.1.1:80", "1.2.3:80", "[::gg]:80", "10.0.0.256:443"} {
		_, err := d.DialContext(t.Context(), "tcp", a)
		if !errors.Is(err, ports.ErrBadAddress) {
			t.Errorf("dial %s: %v, want ErrBadAddress", a, err)
		}
	}
	if queries != 0 {
		t.Errorf("%d DNS queries for address-shaped hosts", queries)
	}
	if _, err := d.DialContext(t.Context(), "tcp", "acl.invalid:80"); err == nil || queries == 0 {
		t.Errorf("dial a name: %v after %d queries: the test resolver is not used", err, queries)
	}
}
