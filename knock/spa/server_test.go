package spa_test

import (
	"context"
	"net"
	"net/netip"
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
