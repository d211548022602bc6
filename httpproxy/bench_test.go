package httpproxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/portkit/ports/httpproxy"
	"github.com/portkit/ports/internal/porttest"
)

func benchGets(b *testing.B, proxy netip.AddrPort, target string, keepAlive bool) {
	tr := &http.Transport{DisableKeepAlives: !keepAlive, DisableCompression: true}
	if proxy.IsValid() {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: proxy.String()})
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: hangGuard}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		resp, err := cl.Get(target)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != 2 {
			b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// startTinyproxy runs tinyproxy on loopback, permitting loopback clients.
func startTinyproxy(b *testing.B) netip.AddrPort {
	if _, err := exec.LookPath("tinyproxy"); err != nil {
		b.Skip("needs tinyproxy (Debian package tinyproxy)")
	}
	l, addr := porttest.ListenTCP(b)
	l.Close()
	dir := b.TempDir()
	cfg := fmt.Sprintf("Port %d\nListen 127.0.0.1\nTimeout 60\nMaxClients 200\nAllow 127.0.0.1\nLogLevel Critical\nPidFile \"%s/pid\"\nLogFile \"%s/log\"\n",
		addr.Port(), dir, dir)
	path := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("tinyproxy", "-d", "-c", path)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr.String()); err == nil {
			c.Close()
			return addr
		}
		if i == 500 {
			b.Fatal("tinyproxy did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkForward measures small GETs forwarded as absolute-URI
// requests, on one kept-alive client connection and on a new connection
// each, through httpproxy.Server, through tinyproxy (a small C HTTP
// proxy) and directly, in the same run.
func BenchmarkForward(b *testing.B) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer ws.Close()
	ours := start(b, &httpproxy.Server{Dial: loopbackDial, ForwardPorts: portSet(portOf(ws))}).Addr
	tiny := startTinyproxy(b)
	for _, keep := range []bool{true, false} {
		name := "keepalive"
		if !keep {
			name = "newconn"
		}
		b.Run(name+"/direct", func(b *testing.B) { benchGets(b, netip.AddrPort{}, ws.URL+"/", keep) })
		b.Run(name+"/ports", func(b *testing.B) { benchGets(b, ours, ws.URL+"/", keep) })
		b.Run(name+"/tinyproxy", func(b *testing.B) { benchGets(b, tiny, ws.URL+"/", keep) })
	}
}
