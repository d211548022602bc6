// Command connbench measures short connections and request latency
// through TCP forwarders, for bench/proxy.sh.
//
//	connbench echo ADDR                      run an echo server on ADDR
//	connbench conns ADDR N PARALLEL          open N connections (PARALLEL at a time), each
//	                                         one 32-byte round trip then close; prints conns/s
//	connbench rtt ADDR N                     N 32-byte round trips on one connection;
//	                                         prints the median round trip in microseconds
//
// Only loopback addresses are accepted, so a mistyped address sends
// nothing anywhere else.
package main

import (
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
		die("usage: connbench echo ADDR | conns ADDR N PARALLEL | rtt ADDR N")
	}
	addr := loopback(os.Args[2])
	switch {
	case os.Args[1] == "echo" && len(os.Args) == 3:
		echo(addr)
	case os.Args[1] == "conns" && len(os.Args) == 5:
		conns(addr, atoi(os.Args[3]), atoi(os.Args[4]))
	case os.Args[1] == "rtt" && len(os.Args) == 4:
		rtt(addr, atoi(os.Args[3]))
	default:
		die("usage: connbench echo ADDR | conns ADDR N PARALLEL | rtt ADDR N")
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
