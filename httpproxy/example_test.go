package httpproxy_test

import (
	"context"
	"io"
	"net"

	"github.com/portkit/ports"
	"github.com/portkit/ports/httpproxy"
)

// An HTTP proxy on loopback that also allows CONNECT to port 8443. The
// nil Dial reaches global unicast destinations only.
func ExampleServer_Serve() {
	var connect ports.Set
	connect.Add(ports.ProtoTCP, ports.Range{First: 443, Last: 443})
	connect.Add(ports.ProtoTCP, ports.Range{First: 8443, Last: 8443})
	s := &httpproxy.Server{ConnectPorts: connect}
	l, err := net.Listen("tcp", "127.0.0.1:3128")
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
			t, err := s.Serve(ctx, c)
			if err != nil || t == nil { // refused, or forwarded requests done
				return
			}
			defer t.Upstream.Close()
			if _, err := t.Upstream.Write(t.Pending); err != nil {
				return
			}
			go func() {
				io.Copy(t.Upstream, c)
				t.Upstream.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, t.Upstream)
		}()
	}
}
