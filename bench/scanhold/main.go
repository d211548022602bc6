// Command scanhold listens on N random TCP ports of one address, for
// bench/scan.sh: it prints the ports, comma-separated, on one line, then
// accepts and closes connections until its standard input closes or it
// gets SIGTERM or SIGINT.
//
//	scanhold -addr 198.18.0.2 -n 100 [-seed S] [-max P]
//
// -max P draws the ports from 1 to P (default 65535).
//
// Run it inside the benchmark's target namespace (ip netns exec).
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	addr := flag.String("addr", "", "listen on this `ADDRESS` (required)")
	n := flag.Int("n", 100, "number of ports")
	seed := flag.Uint64("seed", 0, "random seed (0: random)")
	maxPort := flag.Int("max", 65535, "draw the ports from 1 to `P`")
	flag.Parse()
	a, err := netip.ParseAddr(*addr)
	if err != nil || *n < 1 || *n > 60000 || *maxPort < 1 || *maxPort > 65535 || *n > *maxPort/2 {
		fmt.Fprintln(os.Stderr, "scanhold: want -addr ADDRESS, -n from 1 to 60000 and -max from 2n to 65535")
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(*seed, *seed^0x5eed))
	if *seed == 0 {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	var got []string
	for len(got) < *n {
		port := 1 + rng.IntN(*maxPort)
		l, err := net.Listen("tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err != nil {
			continue // in use, or taken already
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		got = append(got, strconv.Itoa(port))
	}
	fmt.Println(strings.Join(got, ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-sig:
	case <-done:
	}
}
