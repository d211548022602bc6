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
	rl := ratelog.New(h, &ratelog.Config{Exempt: accessLine})
	go rl.Run(ctx)
	return slog.New(rl)
}

// accessLine reports whether r is a server's access line: the end of a
// connection served, or a request an HTTP proxy forwarded. Those are
// not limited (an access log that drops lines cannot be audited); the
// refusals, failures and warnings of a flood are.
func accessLine(r slog.Record) bool {
	return r.Level == slog.LevelInfo && (r.Message == "conn end" || r.Message == "http request")
}
