package acl

import (
	"context"
	"log/slog"
	"net"
)

// DialFunc is the Dial hook of the proxies that check their destinations
// through this package (socks.Server.Dial, httpproxy.Server.Dial): it
// connects to "host:port" on network with the host unresolved, so that a
// [Dialer] checks the IP the name resolves to when it connects.
type DialFunc = func(ctx context.Context, network, address string) (net.Conn, error)

// DialOrDefault returns dial, or when it is nil the DialContext of a zero
// [Dialer] (the zero Policy: global unicast destinations only).
//
// It and [LoggerOrDiscard] are the nil defaults of the hooks the SOCKS
// and HTTP proxies share. They live here because acl is the one package
// both proxies import (the default dial is this package's Dialer), so the
// two cannot drift apart on what an unset hook means.
func DialOrDefault(dial DialFunc) DialFunc {
	if dial != nil {
		return dial
	}
	return (&Dialer{}).DialContext
}

// LoggerOrDiscard returns l, or when it is nil a logger that discards
// everything: the meaning of a proxy's nil Logger (see [DialOrDefault]).
func LoggerOrDiscard(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
