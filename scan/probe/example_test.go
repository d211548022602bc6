package probe_test

import (
	"fmt"

	"github.com/portkit/ports/scan/probe"
)

func ExampleForUDPPort() {
	p := probe.ForUDPPort(123)
	fmt.Println(p.Name, len(p.Payload()), "bytes")
	// A server's answer: version 4, mode 4 (server), stratum 2, and our
	// transmit timestamp copied into the origin timestamp.
	reply := make([]byte, 48)
	reply[0], reply[1] = 4<<3|4, 2
	copy(reply[24:32], p.Payload()[40:48])
	s, ok := p.Match(reply)
	fmt.Println(s, ok)
	fmt.Println(probe.ForUDPPort(9) == nil) // discard: an empty datagram
	// Output:
	// ntp 48 bytes
	// ntp v4 (stratum 2) true
	// true
}

func ExampleParseTCP() {
	s, ok := probe.ParseTCP([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
	fmt.Println(s.Name, s.Product, s.Version, ok)
	fmt.Println(s)
	// Output:
	// ssh OpenSSH 9.2p1 Debian-2+deb12u3 true
	// ssh OpenSSH 9.2p1 Debian-2+deb12u3 (protocol 2.0)
}
