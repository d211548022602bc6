package proxyproto_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/proxyproto"
)

const hangGuard = 20 * time.Second

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) netip.AddrPort {
	l, addr := porttest.ListenTCP(t)
	l.Close()
	return addr
}

// waitListening waits until something accepts on addr.
func waitListening(t *testing.T, addr netip.AddrPort, exited <-chan error) {
	t.Helper()
	end := time.Now().Add(hangGuard)
	for time.Now().Before(end) {
		select {
		case err := <-exited:
			t.Fatalf("haproxy exited: %v", err)
		default:
		}
		if c, err := net.Dial("tcp", addr.String()); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listening on %s", addr)
}

// TestHAProxyPeer checks both directions against haproxy: our v1 and v2
// headers are accepted by haproxy's accept-proxy (its X-Forwarded-For
// shows the source we sent), and haproxy's send-proxy-v2 and send-proxy
// headers are read by Read.
func TestHAProxyPeer(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("needs haproxy (Debian package haproxy)")
	}
	xff := make(chan string, 10)
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xff <- r.Header.Get("X-Forwarded-For")
		io.WriteString(w, "ok")
	}))
	defer ws.Close()
	goSrv, goAddr := porttest.ListenTCP(t)
	accept, sendV2, sendV1 := freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf(`global
	maxconn 100
defaults
	timeout connect 5s
	timeout client 10s
	timeout server 10s
frontend accept
	mode http
	bind %s accept-proxy
	option forwardfor
	default_backend web
backend web
	mode http
	server w %s
frontend sendv2
	mode tcp
	bind %s
	default_backend gov2
backend gov2
	mode tcp
	server g %s send-proxy-v2
frontend sendv1
	mode tcp
	bind %s
	default_backend gov1
backend gov1
	mode tcp
	server g %s send-proxy
`, accept, ws.Listener.Addr(), sendV2, goAddr, sendV1, goAddr)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("haproxy", "-db", "-f", path)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s", stderr.String())
		}
	})
	for _, a := range []netip.AddrPort{accept, sendV2, sendV1} {
		waitListening(t, a, exited)
	}

	// Our headers to haproxy. The addresses in them are only data.
	for _, tc := range []struct {
		name string
		h    proxyproto.Header
		v2   bool
		want string
	}{
		{"v1 TCP4", proxyproto.Header{Proto: ports.ProtoTCP, Src: netip.MustParseAddrPort("192.0.2.7:4444"), Dst: accept}, false, "192.0.2.7"},
		{"v2 TCP6 with a TLV", proxyproto.Header{Proto: ports.ProtoTCP, Src: netip.MustParseAddrPort("[2001:db8::7]:4444"),
			Dst: netip.MustParseAddrPort("[2001:db8::1]:80"), TLVs: []proxyproto.TLV{{Type: 0x02, Value: []byte("example.com")}}}, true, "2001:db8::7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			var err error
			if tc.v2 {
				b, err = tc.h.AppendV2(nil)
			} else {
				b, err = tc.h.AppendV1(nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial("tcp", accept.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(hangGuard))
			c.Write(append(b, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"...))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("haproxy did not answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("haproxy status %d", resp.StatusCode)
			}
			select {
			case got := <-xff:
				if got != tc.want {
					t.Fatalf("X-Forwarded-For %q, want %q", got, tc.want)
				}
			case <-time.After(hangGuard):
				t.Fatal("the request did not reach the web server")
			}
		})
	}

	// haproxy's headers to us.
	for _, tc := range []struct {
		name    string
		front   netip.AddrPort
		version int
	}{{"send-proxy-v2", sendV2, 2}, {"send-proxy", sendV1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tc.front.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("hello"))
			goSrv.SetDeadline(time.Now().Add(hangGuard))
			client := c.LocalAddr().(*net.TCPAddr).AddrPort()
			var h *proxyproto.Header
			var br *bufio.Reader
			// waitListening's probes went through haproxy too and may
			// be queued first: skip connections from other clients.
			for {
				s, err := goSrv.Accept()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				s.SetDeadline(time.Now().Add(hangGuard))
				br = bufio.NewReader(s)
				h, err = proxyproto.Read(br)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if h.Src == client {
					break
				}
			}
			if h.Version != tc.version || h.Local || h.Proto != ports.ProtoTCP || h.Dst != tc.front {
				t.Fatalf("header %+v, want v%d TCP %s -> %s", h, tc.version, client, tc.front)
			}
			rest := make([]byte, 5)
			if _, err := io.ReadFull(br, rest); err != nil || string(rest) != "hello" {
				t.Fatalf("after the header: %q, %v", rest, err)
			}
		})
	}
}

// TestCurlHAProxyProtocol reads the v1 header curl --haproxy-protocol
// sends.
func TestCurlHAProxyProtocol(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl (Debian package curl)")
	}
	l, addr := porttest.ListenTCP(t)
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(hangGuard))
		br := bufio.NewReader(c)
		h, err := proxyproto.Read(br)
		switch {
		case err != nil:
			got <- err.Error()
		case h.Src != c.RemoteAddr().(*net.TCPAddr).AddrPort() || h.Dst != addr || h.Version != 1:
			got <- fmt.Sprintf("header %+v, connection %s -> %s", h, c.RemoteAddr(), addr)
		default:
			got <- "ok"
		}
		http.ReadRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--noproxy", "*", "--haproxy-protocol", "http://"+addr.String()+"/").CombinedOutput()
	if err != nil || string(out) != "ok" {
		t.Fatalf("curl: %v: %s", err, out)
	}
	if r := <-got; r != "ok" {
		t.Fatal(r)
	}
}
