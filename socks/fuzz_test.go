package socks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func FuzzRequest5(f *testing.F) {
	f.Add([]byte{5, 1, 0, 1, 127, 0, 0, 1, 0, 80})                   // CONNECT IPv4
	f.Add(append(append([]byte{5, 1, 0, 3, 7}, "a.b-c_d"...), 1, 0)) // domain
	f.Add(append([]byte{5, 3, 0, 4}, make([]byte, 18)...))           // UDP ASSOCIATE ::
	f.Add([]byte{5, 1, 0, 3, 0, 0, 80})                              // empty domain
	f.Add([]byte{5, 1, 0, 9})                                        // bad ATYP
	f.Add([]byte{4, 1, 0, 1})                                        // bad version
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readRequest5(bytes.NewReader(b))
		if err != nil {
			return
		}
		if req.addr.IsValid() == (req.host != "") {
			t.Fatalf("request has both or neither of addr %v and host %q", req.addr, req.host)
		}
		if checkHost([]byte(req.host)) != nil && req.host != "" {
			t.Fatalf("bad host %q accepted", req.host)
		}
		// The target must round-trip through net.SplitHostPort.
		h, _, err := net.SplitHostPort(req.target())
		if err != nil || (req.host != "" && h != req.host) {
			t.Fatalf("target %q: %v", req.target(), err)
		}
	})
}

func FuzzRequest4(f *testing.F) {
	f.Add([]byte{1, 0, 80, 127, 0, 0, 1, 'u', 0})                 // SOCKS4
	f.Add(append([]byte{1, 0, 80, 0, 0, 0, 1, 0}, "host\x00"...)) // SOCKS4a
	f.Add([]byte{1, 0, 80, 0, 0, 0, 1, 0, 0})                     // 4a, empty host
	f.Add(append([]byte{1, 0, 80, 1, 2, 3, 4}, bytes.Repeat([]byte{'a'}, 300)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readRequest4(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(req.user) > maxNulString || len(req.host) > maxNulString {
			t.Fatalf("limits not held: user %d, host %d bytes", len(req.user), len(req.host))
		}
		if req.addr.IsValid() == (req.host != "") {
			t.Fatalf("request has both or neither of addr %v and host %q", req.addr, req.host)
		}
	})
}

func FuzzUDPHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 127, 0, 0, 1, 0, 53, 'x'})
	f.Add([]byte{0, 0, 1, 1, 127, 0, 0, 1, 0, 53})
	f.Add(append([]byte{0, 0, 0, 3, 3}, "a.b\x00\x35"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseUDP(b)
		if err != nil {
			return
		}
		// Rebuilding an IP header gives back the datagram.
		if h.req.addr.IsValid() && h.req.addr.Is4() && b[3] == atypIPv4 {
			re := append(appendAddr([]byte{0, 0, h.frag}, netip.AddrPortFrom(h.req.addr, h.req.port)), h.data...)
			if !bytes.Equal(re, b) {
				t.Fatalf("rebuilt % x, want % x", re, b)
			}
		}
	})
}

// scriptConn is a net.Conn that reads a fixed input and discards writes.
type scriptConn struct {
	r io.Reader
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return len(b), nil }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1080}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
}
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzHandshake runs whole handshakes (SOCKS5 with auth, SOCKS4/4a) over
// arbitrary client bytes: no panic, and success only with the right
// password.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte("\x05\x01\x02\x01\x01u\x01p\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"))
	f.Add([]byte("\x05\x01\x02\x01\x01u\x01x\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"))
	f.Add([]byte("\x04\x01\x00\x50\x00\x00\x00\x01\x00host\x00"))
	f.Add([]byte("\x05\x00"))
	s := &Server{SOCKS4: true, Auth: StaticAuth("u", "p"), Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no dialing in the fuzzer")
	}}
	f.Fuzz(func(t *testing.T, b []byte) {
		tun, err := s.Handshake(context.Background(), &scriptConn{r: bytes.NewReader(b)})
		if err == nil || tun != nil {
			t.Fatalf("handshake without a dialer succeeded: %v", tun)
		}
	})
}

func FuzzHandshakeNoAuth(f *testing.F) {
	f.Add([]byte("\x05\x01\x00\x05\x01\x00\x03\x04host\x00\x50"))
	f.Add([]byte("\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50"))
	s := &Server{SOCKS4: true, UDP: false, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no dialing in the fuzzer")
	}}
	f.Fuzz(func(t *testing.T, b []byte) {
		tun, err := s.Handshake(context.Background(), &scriptConn{r: bytes.NewReader(b)})
		if err == nil || tun != nil {
			t.Fatalf("handshake without a dialer succeeded: %v", tun)
		}
	})
}
