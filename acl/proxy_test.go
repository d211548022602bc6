package acl_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"

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
