package spa_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portkit/ports/knock/spa"
)

// TestServeWildcardDst: on a socket bound to 0.0.0.0, a grant still
// knows the address the packet was sent to (CMD_CYCLE's $DST), from
// IP_PKTINFO.
func TestServeWildcardDst(t *testing.T) {
	keys, _ := spa.GenerateKeys(nil)
	grants := make(chan spa.Grant, 1)
	srv, err := spa.NewServer(spa.ServerConfig{
		Access:  []spa.Stanza{{OpenPorts: []spa.PortSpec{{Proto: 6, Port: 22}}, Keys: keys}},
		OnGrant: func(g spa.Grant) { grants <- g },
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, c)
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), c.LocalAddr().(*net.UDPAddr).AddrPort().Port())
	pkt, err := spa.Encode(&spa.Message{User: "u", Type: spa.AccessMsg, Access: "127.0.0.1,tcp/22"}, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := spa.Send(ctx, to, pkt); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-grants:
		if g.PacketDst != to.Addr() {
			t.Errorf("PacketDst %v, want %v", g.PacketDst, to.Addr())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no grant")
	}
}

// TestNATMessages: a NAT access message is granted with Grant.NAT only
// by a server with NAT (the first port asked for, as fwknopd), FORCE_NAT
// overrides what the packet asks, local NAT is granted only with LocalNAT, and a FORCE_NAT
// stanza without NAT is refused at NewServer; each refusal says why.
func TestNATMessages(t *testing.T) {
	keys, _ := spa.GenerateKeys(nil)
	src := netip.MustParseAddrPort("198.51.100.9:4000")
	st := spa.Stanza{OpenPorts: []spa.PortSpec{{Proto: 6, Port: 22}, {Proto: 17, Port: 53}}, Keys: keys}
	forced := st
	forced.RequireUsername, forced.ForceNAT = "forced", netip.MustParseAddrPort("10.0.0.9:2222")
	pkt := func(m spa.Message) []byte {
		t.Helper()
		if m.User == "" {
			m.User = "u"
		}
		s, err := spa.Encode(&m, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(s)
	}
	plain, err := spa.NewServer(spa.ServerConfig{Access: []spa.Stanza{st}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Handle(pkt(spa.Message{Type: spa.NATAccessMsg, Access: "198.51.100.9,tcp/22", NATAccess: "10.0.0.2,22"}), src); err == nil || !strings.Contains(err.Error(), "NAT access (fwknop -N) is not enabled here") {
		t.Errorf("NAT message to a server without NAT: %v", err)
	}
	if _, err := spa.NewServer(spa.ServerConfig{Access: []spa.Stanza{forced}}); err == nil || !strings.Contains(err.Error(), "FORCE_NAT, which needs NAT") {
		t.Errorf("FORCE_NAT without NAT: %v", err)
	}
	srv, err := spa.NewServer(spa.ServerConfig{Access: []spa.Stanza{forced, st}, NAT: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := srv.Handle(pkt(spa.Message{Type: spa.ClientTimeoutNATAccessMsg, Access: "198.51.100.9,udp/53,tcp/22", NATAccess: "10.0.0.2,5353", ClientTimeout: 9}), src)
	if err != nil || g.NAT != netip.MustParseAddrPort("10.0.0.2:5353") || g.Ports[0] != (spa.PortSpec{Proto: 17, Port: 53}) || g.Timeout != 9*time.Second {
		t.Errorf("NAT message: %+v, %v", g, err)
	}
	if _, err := srv.Handle(pkt(spa.Message{Type: spa.NATAccessMsg, Access: "198.51.100.9,tcp/23", NATAccess: "10.0.0.2,22"}), src); err == nil || !strings.Contains(err.Error(), "tcp/23 is not in OPEN_PORTS") {
		t.Errorf("NAT message for a port not in OPEN_PORTS: %v", err)
	}
	if _, err := srv.Handle(pkt(spa.Message{Type: spa.NATAccessMsg, Access: "198.51.100.9,tcp/22", NATAccess: "fwknop.example,22"}), src); err == nil || !strings.Contains(err.Error(), `NAT access "fwknop.example,22" is not IPv4,PORT`) {
		t.Errorf("NAT message with a name: %v", err)
	}
	g, err = srv.Handle(pkt(spa.Message{User: "forced", Type: spa.AccessMsg, Access: "198.51.100.9,tcp/22"}), src)
	if err != nil || g.NAT != forced.ForceNAT {
		t.Errorf("access message to a FORCE_NAT stanza: %+v, %v", g, err)
	}
	if _, err := srv.Handle(pkt(spa.Message{Type: spa.LocalNATAccessMsg, Access: "198.51.100.9,tcp/22", NATAccess: "127.0.0.1,22"}), src); err == nil || !strings.Contains(err.Error(), "local NAT (fwknop --nat-local) is not enabled here") {
		t.Errorf("local NAT message without LocalNAT: %v", err)
	}
	local, err := spa.NewServer(spa.ServerConfig{Access: []spa.Stanza{st}, NAT: true, LocalNAT: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err = local.Handle(pkt(spa.Message{Type: spa.ClientTimeoutLocalNATAccess, Access: "198.51.100.9,udp/53", NATAccess: "192.0.2.1,22", ClientTimeout: 7}), src)
	if err != nil || !g.LocalNAT || g.NAT != netip.MustParseAddrPort("192.0.2.1:22") || g.Ports[0] != (spa.PortSpec{Proto: 17, Port: 53}) || g.Timeout != 7*time.Second {
		t.Errorf("local NAT message: %+v, %v", g, err)
	}
}
