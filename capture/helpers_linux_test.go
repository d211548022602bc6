//go:build linux

package capture_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/pcapfile"
)

// openIn opens a capture inside h's network namespace, skipping the test
// without CAP_NET_RAW, and closes it when the test ends.
func openIn(t *testing.T, h *porttest.Host, iface string, cfg *capture.Config) *capture.Handle {
	t.Helper()
	hd, err := tryOpenIn(h, iface, cfg)
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("capture needs root or CAP_NET_RAW: %v", err)
	}
	if err != nil {
		t.Fatalf("Open(%q): %v", iface, err)
	}
	t.Cleanup(func() {
		if err := hd.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return hd
}

func tryOpenIn(h *porttest.Host, iface string, cfg *capture.Config) (*capture.Handle, error) {
	var hd *capture.Handle
	err := h.Do(func() error {
		var err error
		hd, err = capture.Open(context.Background(), iface, cfg)
		return err
	})
	return hd, err
}

// ifindex returns the index of the interface called name inside h.
func ifindex(t *testing.T, h *porttest.Host, name string) int {
	t.Helper()
	var idx int
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		idx = ifi.Index
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// readUntil reads packets, copying them, until last reports true for one
// (which is included) or timeout passes, which fails the test.
func readUntil(t *testing.T, hd *capture.Handle, timeout time.Duration, last func(capture.Packet) bool) []capture.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []capture.Packet
	for p, err := range hd.Packets(ctx) {
		if err != nil {
			t.Fatalf("after %d packets: %v", len(got), err)
		}
		p.Data = bytes.Clone(p.Data)
		got = append(got, p)
		if last(p) {
			return got
		}
	}
	t.Fatal("Packets ended without an error")
	return nil
}

// udp is what the tests look at in a captured UDP datagram.
type udp struct {
	src, dst netip.AddrPort
	payload  string
	ipLen    int // the IPv4 total length
}

// netOffset returns where the network header starts in a packet of the
// given link type, after any VLAN tag, and its EtherType.
func netOffset(link pcapfile.LinkType, data []byte) (off int, etherType uint16, ok bool) {
	switch link {
	case pcapfile.LinkTypeEthernet:
		off = 12
	case pcapfile.LinkTypeLinuxSLL:
		off = 14
	case pcapfile.LinkTypeRaw:
		if len(data) == 0 {
			return 0, 0, false
		}
		switch data[0] >> 4 {
		case 4:
			return 0, 0x0800, true
		case 6:
			return 0, 0x86dd, true
		}
		return 0, 0, false
	default:
		return 0, 0, false
	}
	for {
		if len(data) < off+2 {
			return 0, 0, false
		}
		etherType = binary.BigEndian.Uint16(data[off:])
		if etherType != 0x8100 && etherType != 0x88a8 {
			return off + 2, etherType, true
		}
		off += 4
	}
}

// parseUDP decodes an IPv4 UDP datagram, enough for the tests.
func parseUDP(link pcapfile.LinkType, data []byte) (udp, bool) {
	off, et, ok := netOffset(link, data)
	if !ok || et != 0x0800 || len(data) < off+20 {
		return udp{}, false
	}
	ip := data[off:]
	ihl := int(ip[0]&0xf) * 4
	if ip[0]>>4 != 4 || ip[9] != 17 || len(ip) < ihl+8 {
		return udp{}, false
	}
	src := netip.AddrFrom4([4]byte(ip[12:16]))
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	u := ip[ihl:]
	return udp{
		src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(u[0:])),
		dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(u[2:])),
		payload: string(u[8:]),
		ipLen:   int(binary.BigEndian.Uint16(ip[2:])),
	}, true
}

// udpSocket returns an unconnected UDP socket on addr (port 0) inside h,
// closed when the test ends. Unconnected, it ignores ICMP errors.
func udpSocket(t *testing.T, h *porttest.Host, addr netip.Addr) net.PacketConn {
	t.Helper()
	c, err := h.ListenPacket("udp4", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sink listens on addr inside h and discards what arrives, so that the
// host sends no ICMP port unreachable for it.
func sink(t *testing.T, h *porttest.Host, addr netip.AddrPort) {
	t.Helper()
	c, err := h.ListenPacket("udp4", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
}

func send(t *testing.T, c net.PacketConn, to netip.AddrPort, payload string) {
	t.Helper()
	if _, err := c.WriteTo([]byte(payload), net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatalf("send %q to %v: %v", payload, to, err)
	}
}

func payloadIs(link pcapfile.LinkType, want string) func(capture.Packet) bool {
	return func(p capture.Packet) bool {
		u, ok := parseUDP(link, p.Data)
		return ok && u.payload == want
	}
}

func describe(link pcapfile.LinkType, p capture.Packet) string {
	if u, ok := parseUDP(link, p.Data); ok {
		return fmt.Sprintf("%s %v > %v %q (%d bytes)", p.Direction, u.src, u.dst, u.payload, p.Length)
	}
	return fmt.Sprintf("%s %d bytes % x", p.Direction, p.Length, p.Data[:min(len(p.Data), 40)])
}
