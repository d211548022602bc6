package httpproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptConn reads a fixed input and records what is written.
type scriptConn struct {
	r io.Reader
	w bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3128}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
}
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzServe feeds arbitrary client bytes to Serve with a dialer that
// always fails: no panic, no tunnel, every response is HTTP/1.1, and a
// header beyond MaxHeaderBytes is never accepted.
func FuzzServe(f *testing.F) {
	f.Add([]byte("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	f.Add([]byte("CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n"))
	f.Add([]byte("CONNECT [::1]:443 HTTP/1.1\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("GET http://a:99999/ HTTP/1.1\r\n\r\n"))
	f.Add([]byte("GET http://u:p@a/ HTTP/1.0\r\nConnection: close, X\r\n\r\n"))
	const max = 1024
	errDial := errors.New("no dialing in the fuzzer")
	s := &Server{MaxHeaderBytes: max, Auth: func(u, p string) bool { return u == "u" && p == "p" },
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) { return nil, errDial }}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &scriptConn{r: bytes.NewReader(b)}
		tun, _ := s.Serve(context.Background(), c)
		if tun != nil {
			t.Fatal("tunnel without a dialer")
		}
		out := c.w.String()
		if out != "" && !strings.HasPrefix(out, "HTTP/1.1 ") {
			t.Fatalf("response %q", out)
		}
		if strings.HasPrefix(out, "HTTP/1.1 407") {
			// 407 means a header was parsed: it must have fit.
			end := -1
			for _, sep := range []string{"\n\n", "\n\r\n"} {
				if k := bytes.Index(b, []byte(sep)); k >= 0 && (end < 0 || k < end) {
					end = k
				}
			}
			if end < 0 || end > max {
				t.Fatalf("407 for a header that ends at %d (limit %d)", end, max)
			}
		}
	})
}
