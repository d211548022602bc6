//go:build linux

package capture_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/portkit/ports/capture"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/pcapfile"
	"golang.org/x/sys/unix"
)

// TestIntegrationVLAN sends an 802.1Q-tagged frame across the veth pair.
// The receiving kernel takes the tag off before the capture sees the
// frame; the Handle puts it back, so the bytes are the bytes sent, on
// the Ethernet interface and behind a cooked header on any.
func TestIntegrationVLAN(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	eth := openIn(t, pair.A, pair.A.Link, nil)
	anyH := openIn(t, pair.A, capture.AnyInterface, nil)

	var src net.HardwareAddr
	var conn *packet.Conn
	err := pair.B.Do(func() error {
		ifi, err := net.InterfaceByName(pair.B.Link)
		if err != nil {
			return err
		}
		src = ifi.HardwareAddr
		conn, err = packet.Listen(ifi, packet.Raw, 0, nil) // protocol 0: sends only
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	const etherType = 0x88b5 // IEEE local experimental
	payload := []byte("vlan test frame, long enough for the Ethernet minimum of 46 bytes")
	frame := append([]byte{}, "\xff\xff\xff\xff\xff\xff"...)
	frame = append(frame, src...)
	frame = binary.BigEndian.AppendUint16(frame, 0x8100)
	frame = binary.BigEndian.AppendUint16(frame, 3<<13|10) // priority 3, VLAN 10
	frame = binary.BigEndian.AppendUint16(frame, etherType)
	frame = append(frame, payload...)
	if _, err := conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}); err != nil {
		t.Fatal(err)
	}

	isOurs := func(p capture.Packet) bool { return bytes.HasSuffix(p.Data, payload) }
	got := readUntil(t, eth, readTimeout, isOurs)
	if p := got[len(got)-1]; !bytes.Equal(p.Data, frame) || p.Length != len(frame) || p.Direction != capture.DirectionIn {
		t.Errorf("on %s: %s, length %d\n got % x\nwant % x", pair.A.Link, p.Direction, p.Length, p.Data, frame)
	}
	// A capture's packets are pcapfile's, with their link type and
	// interface, as a file's are.
	if p := got[len(got)-1]; p.LinkType != pcapfile.LinkTypeEthernet || p.LinkType != eth.LinkType() || p.Ifindex == 0 || p.CaptureLength != len(p.Data) {
		t.Errorf("on %s: link type %v (handle %v), ifindex %d, capture length %d of %d", pair.A.Link, p.LinkType, eth.LinkType(), p.Ifindex, p.CaptureLength, len(p.Data))
	}

	got = readUntil(t, anyH, readTimeout, isOurs)
	p := got[len(got)-1]
	want := []byte{0, 1, 0, 1, 0, 6} // broadcast, Ethernet, 6-byte address
	want = append(want, src...)
	want = append(want, 0, 0)
	want = append(want, frame[12:]...) // tag, EtherType, payload
	if !bytes.Equal(p.Data, want) || p.Length != len(want) {
		t.Errorf("on any: length %d\n got % x\nwant % x", p.Length, p.Data, want)
	}
}

// TestIntegrationTun captures on a tun device, which has no link header:
// LinkTypeRaw, the IP packet as written to the device.
func TestIntegrationTun(t *testing.T) {
	pair := porttest.NewPair(t, nil)
	const name = "pttun0"
	var tun *os.File
	err := pair.A.Do(func() error {
		f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			f.Close()
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(int(f.Fd()), unix.TUNSETIFF, ifr); err != nil {
			f.Close()
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		tun = f
		return nil
	})
	if err != nil {
		t.Skipf("no tun device: %v", err)
	}
	defer tun.Close()
	if out, err := pair.A.Command(context.Background(), "ip", "link", "set", name, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s up: %v: %s", name, err, out)
	}

	hd := openIn(t, pair.A, name, &capture.Config{Filter: "udp port 9999"})
	if got, want := hd.LinkType(), pcapfile.LinkTypeRaw; got != want {
		t.Fatalf("LinkType = %v, want %v", got, want)
	}
	// An IPv4 UDP datagram from B to A, as if it had come through the
	// tunnel.
	pkt := make([]byte, 20+8+5)
	pkt[0], pkt[8], pkt[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	b4, a4 := pair.B.Addr4.As4(), pair.A.Addr4.As4()
	copy(pkt[12:], b4[:])
	copy(pkt[16:], a4[:])
	binary.BigEndian.PutUint16(pkt[10:], ipChecksum(pkt[:20]))
	binary.BigEndian.PutUint16(pkt[20:], 40000)
	binary.BigEndian.PutUint16(pkt[22:], 9999)
	binary.BigEndian.PutUint16(pkt[24:], 8+5)
	copy(pkt[28:], "hello")
	if _, err := tun.Write(pkt); err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, hd, readTimeout, func(capture.Packet) bool { return true })
	if p := got[0]; !bytes.Equal(p.Data, pkt) || p.Length != len(pkt) || p.Direction != capture.DirectionIn {
		t.Errorf("got %s length %d % x\nwant % x", p.Direction, p.Length, p.Data, pkt)
	}
	if u, ok := parseUDP(hd.LinkType(), got[0].Data); !ok || u.dst != netip.AddrPortFrom(pair.A.Addr4, 9999) {
		t.Errorf("parsed %+v, %v", u, ok)
	}
}

func ipChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// TestIntegrationNoAllocs checks that reading a packet allocates nothing.
func TestIntegrationNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not reliable under the race detector")
	}
	pair := porttest.NewPair(t, nil)
	hd := openIn(t, pair.A, "lo", &capture.Config{Filter: "udp port 9999", BufferSize: 16 << 20})
	lo := netip.MustParseAddr("127.0.0.1")
	to := netip.AddrPortFrom(lo, 9999)
	sink(t, pair.A, to)
	c := udpSocket(t, pair.A, lo)
	const runs = 100
	for range runs + 10 {
		send(t, c, to, "allocs")
	}
	next, stop := iter.Pull2(hd.Packets(context.Background()))
	defer stop()
	read := func() {
		p, err, ok := next()
		if !ok || err != nil || p.Length == 0 {
			t.Fatalf("next: %v, %v", err, ok)
		}
	}
	read() // warm up
	if n := testing.AllocsPerRun(runs, read); n != 0 {
		t.Errorf("%v allocations per packet, want 0", n)
	}
}

// TestIntegrationNeedsCapNetRaw runs Open without capabilities, in a
// child process, and checks the error.
func TestIntegrationNeedsCapNetRaw(t *testing.T) {
	if os.Getenv("CAPTURE_TEST_NOCAPS") == "1" {
		_, err := capture.Open(context.Background(), "lo", nil)
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
			fmt.Printf("FAILURE: Open without capabilities: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("ERROR: %v\n", err)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to drop capabilities")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Root, but with an empty bounding set: no capabilities after exec.
	cmd := exec.CommandContext(ctx, setpriv, "--bounding-set=-all", "--inh-caps=-all", "--",
		exe, "-test.run=^TestIntegrationNeedsCapNetRaw$", "-test.v")
	cmd.Env = append(os.Environ(), "CAPTURE_TEST_NOCAPS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "ERROR: ") {
			t.Log(line)
		}
	}
	if !strings.Contains(string(out), "ERROR: ") {
		t.Errorf("child did not try: %s", out)
	}
}

// BenchmarkIntegrationLoopback sends datagrams to 127.0.0.1 inside a
// namespace and reads each back through a capture on lo.
func BenchmarkIntegrationLoopback(b *testing.B) {
	pair := porttest.NewPair(b, nil)
	var hd *capture.Handle
	err := pair.A.Do(func() error {
		var err error
		hd, err = capture.Open(context.Background(), "lo", &capture.Config{Filter: "udp port 9999"})
		return err
	})
	if errors.Is(err, os.ErrPermission) {
		b.Skipf("capture needs root or CAP_NET_RAW: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer hd.Close()
	c, err := pair.A.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Nothing listens on 9999: the datagrams are captured, then dropped.
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9999}
	msg := make([]byte, 100)
	next, stop := iter.Pull2(hd.Packets(context.Background()))
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := c.WriteTo(msg, to); err != nil {
			b.Fatal(err)
		}
		if _, err, ok := next(); !ok || err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkts/s")
}
