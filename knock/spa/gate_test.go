package spa_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/knock/spa"
)

// TestGate: an SPA packet for the gate's port opens it for the address
// in the request only, for the stanza's access timeout; a packet for
// another port does not. Over loopback, without root.
func TestGate(t *testing.T) {
	keys, _ := spa.GenerateKeys(nil)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	clock := porttest.NewClock(time.Now())
	service := spa.PortSpec{Proto: ports.ProtoTCP, Port: 8080}
	g, err := spa.NewGate(spa.GateConfig{
		Access: []spa.Stanza{{OpenPorts: []spa.PortSpec{service, {Proto: ports.ProtoTCP, Port: 22}}, Keys: keys, AccessTimeout: 30 * time.Second}},
		Port:   service, Listen: []netip.AddrPort{listen}, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := porttest.Go(t, g.Run)
	allowed := netip.MustParseAddr("127.0.0.7")
	send := func(access string) {
		pkt, err := spa.Encode(&spa.Message{User: "u", Type: spa.AccessMsg, Access: access}, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := spa.Send(ctx, listen, pkt); err != nil {
			t.Fatal(err)
		}
	}
	if g.Allow(allowed) {
		t.Fatal("allowed before any packet")
	}
	// A grant for another port does not open this gate. The gate may not
	// be listening yet: send until the good packet gets through.
	send("127.0.0.9,tcp/22")
	porttest.WaitFor(t, "the grant", func() bool {
		send("127.0.0.7,tcp/8080")
		return g.Allow(allowed)
	})
	if g.Allow(netip.MustParseAddr("127.0.0.9")) {
		t.Error("a grant for tcp/22 opened the tcp/8080 gate")
	}
	if g.Allow(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the packet's source is allowed, but the request named 127.0.0.7")
	}
	clock.Advance(29 * time.Second)
	if !g.Allow(allowed) {
		t.Error("not allowed within the access timeout")
	}
	clock.Advance(time.Second)
	if g.Allow(allowed) {
		t.Error("still allowed after the access timeout")
	}
}
