// Command udpecho answers every datagram on the given UDP ports of one
// address with the same datagram, for bench/udp.sh's target host.
//
//	udpecho ADDR PORT...
package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: udpecho ADDR PORT...")
		os.Exit(2)
	}
	addr, err := netip.ParseAddr(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "udpecho: %v\n", err)
		os.Exit(2)
	}
	for _, a := range os.Args[2:] {
		p, err := strconv.ParseUint(a, 10, 16)
		if err != nil || p == 0 {
			fmt.Fprintf(os.Stderr, "udpecho: bad port %q\n", a)
			os.Exit(2)
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(p))))
		if err != nil {
			fmt.Fprintf(os.Stderr, "udpecho: %v\n", err)
			os.Exit(1)
		}
		go func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					continue
				}
				c.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
	}
	fmt.Println("ready")
	select {}
}
