package httpproxy_test

import (
	"context"
	"net"
	"net/netip"

	"github.com/portkit/ports"
	"github.com/portkit/ports/httpproxy"
	"github.com/portkit/ports/mapper"
)

// An HTTP proxy on loopback that also allows CONNECT to port 8443. The
// nil Dial reaches global unicast destinations only. Tunnels are relayed
// by package mapper's Relay, which writes the tunnel's Pending bytes
// upstream first, splices, half-closes and closes both connections.
func ExampleServer_Serve() {
	var connect ports.Set
	connect.Add(ports.ProtoTCP, ports.Range{First: 443, Last: 443})
	connect.Add(ports.ProtoTCP, ports.Range{First: 8443, Last: 8443})
	s := &httpproxy.Server{ConnectPorts: connect}
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:3128")))
	if err != nil {
		return
	}
	ctx := context.Background()
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			return
		}
		go serveHTTPProxy(ctx, s, c)
	}
}

func serveHTTPProxy(ctx context.Context, s *httpproxy.Server, c *net.TCPConn) {
	t, err := s.Serve(ctx, c)
	if err != nil || t == nil { // refused, or forwarded requests done
		c.Close()
		return
	}
	mapper.Relay(ctx, c, t.Upstream.(*net.TCPConn), &mapper.RelayConfig{Pending: t.Pending})
}
