// Command connbench measures short connections and request latency
// through TCP forwarders, for bench/proxy.sh.
//
//	connbench echo ADDR                      run an echo server on ADDR
//	connbench conns ADDR N PARALLEL          open N connections (PARALLEL at a time), each
//	                                         one 32-byte round trip then close; prints conns/s
//	connbench rtt ADDR N                     N 32-byte round trips on one connection;
//	                                         prints the median round trip in microseconds
//	connbench sink ADDR                      run a server on ADDR that reads and discards
//	connbench tlsconns ADDR N PARALLEL CA NAME  as conns, each connection a TLS handshake
//	                                         (verified against the PEM file CA for NAME) first;
//	                                         prints handshakes/s
//	connbench tlsput ADDR SECONDS CA NAME    write for SECONDS over one TLS connection;
//	                                         prints Gbit/s of plaintext
//
// Only loopback addresses are accepted, so a mistyped address sends
// nothing anywhere else.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "connbench: "+format+"\n", args...)
	os.Exit(1)
}

func loopback(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		die("%q is not a loopback HOST:PORT", addr)
	}
	return addr
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		die("%q is not a positive number", s)
	}
	return n
}

func main() {
	if len(os.Args) < 3 {
		die("usage: connbench echo ADDR | conns ADDR N PARALLEL | rtt ADDR N | sink ADDR | tlsconns ADDR N PARALLEL CA NAME | tlsput ADDR SECONDS CA NAME")
	}
	addr := loopback(os.Args[2])
	switch {
	case os.Args[1] == "echo" && len(os.Args) == 3:
		echo(addr)
	case os.Args[1] == "conns" && len(os.Args) == 5:
		conns(addr, atoi(os.Args[3]), atoi(os.Args[4]))
	case os.Args[1] == "rtt" && len(os.Args) == 4:
		rtt(addr, atoi(os.Args[3]))
	case os.Args[1] == "sink" && len(os.Args) == 3:
		sink(addr)
	case os.Args[1] == "tlsconns" && len(os.Args) == 7:
		tlsConns(addr, atoi(os.Args[3]), atoi(os.Args[4]), tlsConfig(os.Args[5], os.Args[6]))
	case os.Args[1] == "tlsput" && len(os.Args) == 6:
		tlsPut(addr, atoi(os.Args[3]), tlsConfig(os.Args[4], os.Args[5]))
	default:
		die("usage: connbench echo ADDR | conns ADDR N PARALLEL | rtt ADDR N | sink ADDR | tlsconns ADDR N PARALLEL CA NAME | tlsput ADDR SECONDS CA NAME")
	}
}

func echo(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		die("%v", err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			die("%v", err)
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func roundTrip(c net.Conn, msg, buf []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf)
	return err
}

func conns(addr string, n, parallel int) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, buf := make([]byte, 32), make([]byte, 32)
			for next.Add(1) <= int64(n) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if roundTrip(c, msg, buf) != nil {
					failed.Add(1)
				}
				c.(*net.TCPConn).SetLinger(0) // no TIME_WAIT pile-up on the client side
				c.Close()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if f := failed.Load(); f > 0 {
		die("%d of %d connections failed", f, n)
	}
	fmt.Printf("%.0f\n", float64(n)/el.Seconds())
}

func rtt(addr string, n int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		die("%v", err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	msg, buf := make([]byte, 32), make([]byte, 32)
	ds := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		if err := roundTrip(c, msg, buf); err != nil {
			die("%v", err)
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	fmt.Printf("%.1f\n", float64(ds[len(ds)/2].Nanoseconds())/1e3)
}

func sink(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		die("%v", err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			die("%v", err)
		}
		go func() {
			defer c.Close()
			io.Copy(io.Discard, c)
		}()
	}
}

func tlsConfig(caFile, name string) *tls.Config {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		die("%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		die("%s: no PEM certificate", caFile)
	}
	// No session resumption: every connection a full handshake.
	return &tls.Config{RootCAs: pool, ServerName: name, ClientSessionCache: nil}
}

func tlsConns(addr string, n, parallel int, cfg *tls.Config) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, buf := make([]byte, 32), make([]byte, 32)
			for next.Add(1) <= int64(n) {
				raw, err := net.Dial("tcp", addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				raw.SetDeadline(time.Now().Add(10 * time.Second))
				c := tls.Client(raw, cfg)
				if c.Handshake() != nil || roundTrip(c, msg, buf) != nil {
					failed.Add(1)
				}
				raw.(*net.TCPConn).SetLinger(0)
				raw.Close()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if f := failed.Load(); f > 0 {
		die("%d of %d TLS connections failed", f, n)
	}
	fmt.Printf("%.0f\n", float64(n)/el.Seconds())
}

func tlsPut(addr string, secs int, cfg *tls.Config) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		die("%v", err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	var total int64
	start := time.Now()
	for time.Since(start) < time.Duration(secs)*time.Second {
		n, err := c.Write(buf)
		total += int64(n)
		if err != nil {
			die("%v", err)
		}
	}
	fmt.Printf("%.2f\n", float64(total)*8/time.Since(start).Seconds()/1e9)
}
