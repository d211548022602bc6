package scan

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	sprobe "github.com/portkit/ports/scan/probe"
)

// serveTCP runs handle on every connection to a new loopback listener.
func serveTCP(t *testing.T, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	return porttest.ServeTCP(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(time.Minute))
		handle(c)
	})
}

func httpAddr(t *testing.T, u string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestIdentify(t *testing.T) {
	ssh := serveTCP(t, func(c net.Conn) {
		c.Write([]byte("SSH-2.0-PortsTest_1.0 test\r\n"))
		bufio.NewReader(c).ReadString('\n')
	})
	redis := serveTCP(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "GET ") || strings.HasPrefix(line, "Host:") {
				return // as Redis does with what looks like HTTP
			}
			if strings.TrimSpace(line) == "PING" {
				c.Write([]byte("+PONG\r\n"))
			} else {
				c.Write([]byte("-ERR unknown command\r\n"))
			}
		}
	})
	silent := serveTCP(t, func(c net.Conn) { bufio.NewReader(c).ReadString(0) })
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "ports-test/1.2")
		w.Write([]byte("hello"))
	})
	web := httptest.NewServer(handler)
	defer web.Close()
	tlsWeb := httptest.NewUnstartedServer(handler)
	tlsWeb.Config.ErrorLog = log.New(io.Discard, "", 0) // the probes' aborted handshakes
	tlsWeb.StartTLS()
	defer tlsWeb.Close()

	for _, tc := range []struct {
		name string
		addr netip.AddrPort
		want func(sprobe.Service) bool
	}{
		{"ssh", ssh, func(s sprobe.Service) bool {
			return s == sprobe.Service{Name: "ssh", Product: "PortsTest", Version: "1.0 test", Info: "protocol 2.0"}
		}},
		{"redis", redis, func(s sprobe.Service) bool { return s == sprobe.Service{Name: "redis"} }},
		{"http", httpAddr(t, web.URL), func(s sprobe.Service) bool {
			return s == sprobe.Service{Name: "http", Product: "ports-test", Version: "1.2", Info: "HTTP 200"}
		}},
		{"https", httpAddr(t, tlsWeb.URL), func(s sprobe.Service) bool {
			return s.Name == "http" && s.Tunnel == "ssl" && s.Product == "ports-test" && strings.Contains(s.Info, "HTTP 200; TLS 1.3") &&
				strings.Contains(s.Info, "O=Acme Co")
		}},
		{"silent", silent, func(s sprobe.Service) bool { return s.IsZero() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Identify(t.Context(), tc.addr, time.Second)
			if err != nil || !tc.want(s) {
				t.Errorf("Identify = %+v, %v", s, err)
			}
			t.Logf("%s", s)
		})
	}

	// A closed port is an error.
	l, ap := porttest.ListenTCP(t)
	l.Close()
	if s, err := Identify(t.Context(), ap, time.Second); err == nil {
		t.Errorf("closed port: %+v, no error", s)
	}
}
