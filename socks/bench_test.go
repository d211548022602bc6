package socks_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/socks"
)

// oneByteEcho accepts connections on loopback and echoes one byte on
// each, then closes it.
func oneByteEcho(b *testing.B) netip.AddrPort {
	return porttest.ServeTCP(b, func(c net.Conn) {
		var x [1]byte
		if _, err := io.ReadFull(c, x[:]); err == nil {
			c.Write(x[:])
		}
	})
}

// socks5Connect does a whole SOCKS5 CONNECT (no authentication) to dst
// through the proxy and one byte each way.
func socks5Connect(proxy, dst netip.AddrPort) error {
	c, err := net.Dial("tcp", proxy.String())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return err
	}
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil {
		return err
	}
	a := dst.Addr().As4()
	req := append([]byte{5, 1, 0, 1}, a[:]...)
	if _, err := c.Write(binary.BigEndian.AppendUint16(req, dst.Port())); err != nil {
		return err
	}
	var rep [10]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return err
	}
	if rep[1] != 0 {
		return &net.AddrError{Err: "SOCKS reply " + strconv.Itoa(int(rep[1])), Addr: dst.String()}
	}
	return echoOne(c)
}

func echoOne(c net.Conn) error {
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	var x [1]byte
	_, err := io.ReadFull(c, x[:])
	return err
}

func benchConnects(b *testing.B, proxy, dst netip.AddrPort) {
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := socks5Connect(proxy, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
}

// BenchmarkConnect measures whole short SOCKS5 connections (connect,
// negotiate, CONNECT, one byte each way, close) through socks.Server with
// a plain io.Copy relay, through microsocks (a small C SOCKS5 server) and
// directly to the echo server, in the same run.
func BenchmarkConnect(b *testing.B) {
	dst := oneByteEcho(b)
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			c, err := net.Dial("tcp", dst.String())
			if err != nil {
				b.Fatal(err)
			}
			if err := echoOne(c); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
	})
	b.Run("ports", func(b *testing.B) {
		ts := start(b, &socks.Server{Dial: loopbackDial})
		benchConnects(b, ts.Addr, dst)
	})
	b.Run("microsocks", func(b *testing.B) {
		if _, err := exec.LookPath("microsocks"); err != nil {
			b.Skip("needs microsocks (Debian package microsocks)")
		}
		l, addr := porttest.ListenTCP(b)
		l.Close()
		cmd := exec.Command("microsocks", "-i", "127.0.0.1", "-p", strconv.Itoa(int(addr.Port())))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		for i := 0; ; i++ {
			if c, err := net.Dial("tcp", addr.String()); err == nil {
				c.Close()
				break
			}
			if i == 500 {
				b.Fatal("microsocks did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
		benchConnects(b, addr, dst)
	})
}
