package socks_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/acl"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/socks"
)

// TestIntegrationPolicyAcrossNamespaces runs the proxy in namespace A and
// a web server in namespace B, reached over the veth by its benchmarking
// (198.18.0.0/15) and unique-local (fd00::/8) addresses: the default
// policy refuses both, a policy allowing the pair's prefixes reaches them.
func TestIntegrationPolicyAcrossNamespaces(t *testing.T) {
	p := porttest.NewPair(t, nil)
	var webAddrs []netip.AddrPort
	for _, a := range []netip.Addr{p.B.Addr4, p.B.Addr6} {
		l, err := p.B.Listen("tcp", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "from B")
		})}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		webAddrs = append(webAddrs, l.Addr().(*net.TCPAddr).AddrPort())
	}
	proxyIn := func(policy *acl.Policy) *porttest.ProxyServer {
		l, err := p.A.Listen("tcp", netip.AddrPortFrom(p.A.Addr4, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		d := &acl.Dialer{Policy: policy}
		s := &socks.Server{Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			var c net.Conn
			err := p.A.Do(func() error {
				var err error
				c, err = d.DialContext(ctx, network, address)
				return err
			})
			return c, err
		}}
		return startOn(t, l, s)
	}
	closed := proxyIn(nil)
	open := proxyIn(&acl.Policy{Allow: []netip.Prefix{p.Prefix4, p.Prefix6}})
	for i, dst := range webAddrs {
		reason := []string{"benchmarking", "unique local"}[i]
		for _, tc := range []struct {
			proxy *porttest.ProxyServer
			rep   byte
		}{{closed, 0x02}, {open, 0x00}} {
			c, err := p.A.Dial(context.Background(), "tcp", tc.proxy.Addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(hangGuard))
			c.Write([]byte{5, 1, 0})
			var m [2]byte
			if _, err := io.ReadFull(c, m[:]); err != nil {
				t.Fatal(err)
			}
			rep, _ := request(t, c, 1, dst)
			if rep != tc.rep {
				t.Fatalf("to %s through the proxy on %s: reply 0x%02x, want 0x%02x", dst, tc.proxy.Addr, rep, tc.rep)
			}
			err = tc.proxy.Result(t)
			if rep != 0 {
				var de *acl.DeniedError
				if !errors.As(err, &de) || !strings.Contains(de.Reason, reason) {
					t.Fatalf("to %s: %v, want a denial for %q", dst, err, reason)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if string(body) != "from B" {
				t.Fatalf("to %s: %q", dst, body)
			}
		}
	}
}
