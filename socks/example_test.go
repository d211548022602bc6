package socks_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/mapper"
	"github.com/portkit/ports/socks"
)

// A SOCKS5 server on loopback with a password, whose destinations may
// also be in 10.0.0.0/8 besides the global unicast addresses. Tunnels
// are relayed by package mapper's Relay (splice, half-close, then both
// connections closed); mapper's own SOCKS rules add limits and metrics.
func ExampleServer_Handshake() {
	policy := &acl.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	s := &socks.Server{
		Auth:     socks.StaticAuth("alice", "correct horse"),
		Dial:     (&acl.Dialer{Policy: policy}).DialContext,
		UDP:      true,
		CheckUDP: func(ap netip.AddrPort) error { return policy.Check(ap.Addr()) },
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	l, err := net.Listen("tcp", "127.0.0.1:1080")
	if err != nil {
		return
	}
	ctx := context.Background()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			t, err := s.Handshake(ctx, c)
			if err != nil || t == nil { // refused, or a UDP association that ended
				c.Close()
				return
			}
			mapper.Relay(ctx, c.(*net.TCPConn), t.Upstream.(*net.TCPConn), nil)
		}()
	}
}
