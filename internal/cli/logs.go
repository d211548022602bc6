package cli

import (
	"context"
	"log/slog"
	"strings"

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

// accessLine reports whether r is a line never limited: a server's
// access line (the end of a connection served, a request an HTTP proxy
// forwarded: an access log that drops lines cannot be audited, and
// connection limits already bound them), or one the operator's own
// action caused (a reload, a rule started or stopped), which no client
// can make repeat. The refusals, failures and warnings of a flood are
// limited.
func accessLine(r slog.Record) bool {
	switch {
	case r.Level == slog.LevelInfo && (r.Message == "conn end" || r.Message == "http request"):
		return true
	case strings.HasPrefix(r.Message, "reload"), r.Message == "rule started", r.Message == "rule stopped":
		return true
	}
	return false
}
