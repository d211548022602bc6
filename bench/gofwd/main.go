// Command gofwd is the reference TCP forwarder of bench/proxy.sh: the
// least a Go forwarder can do, io.Copy each way between the two
// *net.TCPConn (which splices on Linux) and CloseWrite at EOF. No limits,
// no logs, no metrics.
//
//	gofwd LISTEN TARGET
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gofwd LISTEN TARGET")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gofwd:", err)
		os.Exit(1)
	}
	target := os.Args[2]
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gofwd:", err)
			os.Exit(1)
		}
		go forward(c.(*net.TCPConn), target)
	}
}

func forward(c *net.TCPConn, target string) {
	defer c.Close()
	u, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	up := u.(*net.TCPConn)
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(c, up)
		c.CloseWrite()
		close(done)
	}()
	io.Copy(up, c)
	up.CloseWrite()
	<-done
}
