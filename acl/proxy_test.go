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
	l, addr := porttest.ListenTCP(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx := context.Background()
	if c, err := acl.DialOrDefault(nil)(ctx, "tcp", addr.String()); !errors.Is(err, acl.ErrDenied) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("default dial to %v: %v, want acl.ErrDenied", addr, err)
	}
	var d net.Dialer
	c, err := acl.DialOrDefault(d.DialContext)(ctx, "tcp", addr.String())
	if err != nil {
		t.Fatalf("given dial to %v: %v", addr, err)
	}
	c.Close()
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
