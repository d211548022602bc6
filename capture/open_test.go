package capture_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/filter"
)

// TestOpenErrors checks the errors that Open finds before it opens a
// socket, so they need no privileges.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if runtime.GOOS != "linux" {
		_, err := capture.Open(ctx, "lo", nil)
		if !errors.Is(err, capture.ErrNotImplemented) || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Open on %s = %v, want ErrNotImplemented", runtime.GOOS, err)
		}
		return
	}

	for _, tc := range []struct {
		name, iface string
		cfg         *capture.Config
		is          error  // errors.Is target, or nil
		contains    string // in the message
	}{
		{"unknown interface", "nosuch0", nil, capture.ErrNoSuchInterface, `"nosuch0"`},
		{"name too long", strings.Repeat("x", 40), nil, capture.ErrNoSuchInterface, "xxxx"},
		{"no name", "", nil, nil, `"any"`},
		{"negative snaplen", "lo", &capture.Config{Snaplen: -1}, nil, "snaplen -1"},
		{"huge snaplen", "lo", &capture.Config{Snaplen: capture.DefaultSnaplen + 1}, nil, "snaplen"},
		{"negative buffer", "lo", &capture.Config{BufferSize: -5}, nil, "buffer size -5"},
		{"promiscuous any", capture.AnyInterface, &capture.Config{Promiscuous: true}, nil, "promiscuous"},
		{"bad filter", "lo", &capture.Config{Filter: "hots 10.0.0.1"}, nil, `filter: unknown word 'hots' at position 1 in "hots 10.0.0.1"`},
		{"bad filter any", capture.AnyInterface, &capture.Config{Filter: "port"}, nil, `in "port"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := capture.Open(ctx, tc.iface, tc.cfg)
			if err == nil {
				h.Close()
				t.Fatal("Open succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.contains) || !strings.HasPrefix(err.Error(), "capture: ") {
				t.Errorf("error %q does not start with \"capture: \" and contain %q", err, tc.contains)
			}
		})
	}

	_, err := capture.Open(ctx, "lo", &capture.Config{Filter: "tcp port"})
	var se *filter.SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("bad filter: %v is not a *filter.SyntaxError", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := capture.Open(cctx, "lo", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context = %v", err)
	}
}
