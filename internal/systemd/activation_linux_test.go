//go:build linux

package systemd

import (
	"net"
	"strconv"
	"testing"

	"github.com/portkit/ports/mapper"
)

// TestForRuleMatchesKindAndAddress: a udp rule gets the UDP socket of
// its address, a tcp rule on ":PORT" the wildcard TCP socket of that
// port, a tcp rule on the UDP socket's address nothing (wrong kind), and
// a rule named like a socket's FileDescriptorName that socket whatever
// its address.
func TestForRuleMatchesKindAndAddress(t *testing.T) {
	s := &Sockets{}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	uf, _ := pc.(*net.UDPConn).File()
	s.add(uf, "dns")
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	tf, _ := ln.(*net.TCPListener).File()
	ln.Close() // the passed descriptor alone keeps it listening, as in a service
	s.add(tf, "web")
	udpAddr := pc.LocalAddr().String()
	tcpPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	for _, tc := range []struct {
		rule     mapper.Rule
		tcp, udp int
	}{
		{mapper.Rule{Name: "u", Type: mapper.UDP, Listen: udpAddr}, 0, 1},
		{mapper.Rule{Name: "t", Type: mapper.TCP, Listen: udpAddr}, 0, 0},
		{mapper.Rule{Name: "t", Type: mapper.TCP, Listen: ":" + tcpPort}, 1, 0},
		{mapper.Rule{Name: "t", Type: mapper.HTTP, Listen: "127.0.0.1:" + tcpPort}, 0, 0}, // a wildcard socket is not 127.0.0.1's
		{mapper.Rule{Name: "web", Type: mapper.SOCKS5, Listen: "127.0.0.1:1"}, 1, 0},
	} {
		lns, pcs, err := s.ForRule(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		if len(lns) != tc.tcp || len(pcs) != tc.udp {
			t.Errorf("%s %s %s: %d TCP, %d UDP sockets, want %d, %d", tc.rule.Name, tc.rule.Type, tc.rule.Listen, len(lns), len(pcs), tc.tcp, tc.udp)
		}
		for _, l := range lns {
			l.Close()
		}
		for _, p := range pcs {
			p.Close()
		}
	}
	// What a rule was given is a duplicate: the passed socket still works.
	c, err := net.Dial("tcp", "127.0.0.1:"+tcpPort)
	if err != nil {
		t.Fatalf("the passed socket was closed with the rule's copy: %v", err)
	}
	c.Close()
	if u := s.Unused(); len(u) != 0 {
		t.Errorf("unused: %v", u)
	}
}
