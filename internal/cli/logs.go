package cli

import (
	"context"
	"log/slog"

	"github.com/portkit/ports/internal/ratelog"
)

// serverLogger is the logger of every server (serve, map, proxy,
// knockd, the SPA gate): h behind a rate limit per kind of line (see
// package ratelog and docs/LIMITS.md), whose counts of lines left out
// are flushed until ctx ends.
func serverLogger(ctx context.Context, h slog.Handler) *slog.Logger {
	rl := ratelog.New(h, nil)
	go rl.Run(ctx)
	return slog.New(rl)
}
