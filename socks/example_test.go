package socks_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/socks"
)

// A SOCKS5 server on loopback with a password, whose destinations may
// also be in 10.0.0.0/8 besides the global unicast addresses. Package
// mapper does the same with splice, limits and metrics.
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
			defer c.Close()
			t, err := s.Handshake(ctx, c)
			if err != nil || t == nil { // refused, or a UDP association that ended
				return
			}
			defer t.Upstream.Close()
			go func() {
				io.Copy(t.Upstream, c)
				t.Upstream.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, t.Upstream)
		}()
	}
}
