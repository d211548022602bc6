//go:build linux

package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/pcapfile"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ipv4 builds an IPv4 packet with a transport header of proto carrying
// the two ports; frag is the fragment offset field.
func ipv4(src, dst string, proto byte, sport, dport uint16, frag uint16) []byte {
	b := make([]byte, 20+8+4)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8], b[9] = 64, proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	return b
}

func ipv6(src, dst string, next byte, sport, dport uint16) []byte {
	b := make([]byte, 40+8)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], 8)
	b[6], b[7] = next, 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	binary.BigEndian.PutUint16(b[40:], sport)
	binary.BigEndian.PutUint16(b[42:], dport)
	return b
}

func arp(sender, target string) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], 0x0800)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1)
	s, d := netip.MustParseAddr(sender).As4(), netip.MustParseAddr(target).As4()
	copy(b[14:], s[:])
	copy(b[24:], d[:])
	return b
}

// sll puts a cooked header with protocol proto in front of payload.
func sll(proto uint16, payload []byte) []byte { return sllType(0, proto, payload) }

// sllType is sll with the packet type ptype (4 for one the host sent).
func sllType(ptype, proto uint16, payload []byte) []byte {
	h := make([]byte, sllLen, sllLen+len(payload))
	binary.BigEndian.PutUint16(h[0:], ptype)
	binary.BigEndian.PutUint16(h[2:], 1)
	binary.BigEndian.PutUint16(h[4:], 6)
	binary.BigEndian.PutUint16(h[14:], proto)
	return append(h, payload...)
}

// TestUncook checks that a program rewritten for a cooked socket decides
// on a packet without its SLL header as the original decides on the
// packet with it. The x/net/bpf VM has no protocol extension, so the
// test replaces it with the packet's protocol as a constant, which is
// what the kernel loads.
func TestUncook(t *testing.T) {
	pkts := []struct {
		name  string
		proto uint16
		net   []byte
		ptype uint16
	}{
		{"udp 53 sent", 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, 1234, 53, 0), 4},
		{"udp 53 multicast", 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, 1234, 53, 0), 2},
		{"pppoe discovery", 0x8863, []byte("\x11\x09\x00\x00\x00\x00"), 0},
		{"stp", 4, []byte("\x42\x42\x03\x00\x00\x00\x00"), 0},
		{"udp 53", 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, 1234, 53, 0), 0},
		{"tcp 5555", 0x0800, ipv4("10.0.0.1", "10.0.0.3", 6, 80, 5555, 0), 0},
		{"udp fragment", 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, 1234, 53, 10), 0},
		{"udp6 53", 0x86dd, ipv6("fd00::1", "fd00::2", 17, 53, 40000), 0},
		{"icmp6", 0x86dd, ipv6("fd00::1", "fd00::2", 58, 0, 0), 0},
		{"arp", 0x0806, arp("10.0.0.1", "10.0.0.9"), 0},
		{"short ip", 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, 1234, 53, 0)[:22], 0},
		{"other", 0x88b5, []byte("hello, world, this is not ip"), 0},
	}
	exprs := []string{
		"", "udp port 53", "tcp", "ip6", "arp", "host 10.0.0.1", "not port 53",
		"src net 10.0.0.0/8 and dst port 5555", "udp or ip6", "portrange 50-60",
		"icmp6", "host 10.0.0.9", "ip and not tcp", "dst host fd00::2 and udp",
		"inbound", "outbound and udp", "not inbound or arp", "pppoed or stp", "ipx", "ether proto 100",
	}
	const snaplen = 1000
	for _, expr := range exprs {
		orig, err := filter.Compile(expr, pcapfile.LinkTypeLinuxSLL, snaplen)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		cooked, err := uncook(orig, snaplen-sllLen)
		if err != nil {
			t.Fatalf("%q: uncook: %v", expr, err)
		}
		origVM, err := bpf.NewVM(orig)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			prog := make([]bpf.Instruction, len(cooked))
			for i, ins := range cooked {
				if e, ok := ins.(bpf.LoadExtension); ok && e.Num == bpf.ExtProto {
					ins = bpf.LoadConstant{Dst: bpf.RegA, Val: uint32(p.proto)}
				}
				if e, ok := ins.(bpf.LoadExtension); ok && e.Num == bpf.ExtType {
					ins = bpf.LoadConstant{Dst: bpf.RegA, Val: uint32(p.ptype)}
				}
				prog[i] = ins
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("%q: %v", expr, err)
			}
			want, err := origVM.Run(sllType(p.ptype, p.proto, p.net))
			if err != nil {
				t.Fatal(err)
			}
			got, err := vm.Run(p.net)
			if err != nil {
				t.Fatal(err)
			}
			if (got != 0) != (want != 0) {
				t.Errorf("filter %q, packet %s: cooked program returns %d, original %d", expr, p.name, got, want)
			}
		}
		for i, ins := range cooked {
			if r, ok := ins.(bpf.RetConstant); ok && r.Val != 0 && r.Val != snaplen-sllLen {
				t.Errorf("%q: instruction %d returns %d, want 0 or %d", expr, i, r.Val, snaplen-sllLen)
			}
		}
	}

	// A load from the SLL header other than the protocol and the packet
	// type is refused.
	if _, err := uncook([]bpf.Instruction{bpf.LoadAbsolute{Off: 6, Size: 4}, bpf.RetA{}}, 100); err == nil {
		t.Error("uncook accepted a load of the link-layer address")
	}
}

func TestKernelProgram(t *testing.T) {
	for _, tc := range []struct {
		link   pcapfile.LinkType
		cooked bool
		skip   skipMode
	}{
		{pcapfile.LinkTypeEthernet, false, skipNone},
		{pcapfile.LinkTypeEthernet, false, skipOutgoing},
		{pcapfile.LinkTypeRaw, false, skipNone},
		{pcapfile.LinkTypeLinuxSLL, true, skipLoopbackOutgoing},
	} {
		raw, err := kernelProgram("udp port 53", tc.link, tc.cooked, 500, tc.skip)
		if err != nil {
			t.Fatalf("%v: %v", tc, err)
		}
		skip := skipProgram(tc.skip)
		rawSkip, err := bpf.Assemble(skip)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rawSkip, raw[:len(rawSkip)]); diff != "" {
			t.Errorf("%v: prefix (-want +got):\n%s", tc, diff)
		}
		if _, ok := bpf.Disassemble(raw); !ok {
			t.Errorf("%v: program does not disassemble", tc)
		}
		// Every jump in the prefix lands inside the program.
		for i, ins := range skip {
			if j, ok := ins.(bpf.JumpIf); ok && i+1+int(max(j.SkipTrue, j.SkipFalse)) > len(skip) {
				t.Errorf("%v: prefix jump %d leaves the prefix", tc, i)
			}
		}
	}
	if _, err := kernelProgram("", pcapfile.LinkTypeIEEE80211, false, 100, skipNone); err == nil {
		t.Error("kernelProgram compiled for 802.11")
	}
}

func TestLinkFor(t *testing.T) {
	for _, tc := range []struct {
		hatype uint16
		mode   mode
		link   pcapfile.LinkType
		ok     bool
	}{
		{unix.ARPHRD_ETHER, modeEthernet, pcapfile.LinkTypeEthernet, true},
		{unix.ARPHRD_LOOPBACK, modeEthernet, pcapfile.LinkTypeEthernet, true},
		{unix.ARPHRD_NONE, modeRaw, pcapfile.LinkTypeRaw, true},
		{unix.ARPHRD_RAWIP, modeRaw, pcapfile.LinkTypeRaw, true},
		{unix.ARPHRD_TUNNEL, modeCooked, pcapfile.LinkTypeLinuxSLL, true},
		{unix.ARPHRD_PPP, modeCooked, pcapfile.LinkTypeLinuxSLL, true},
		{unix.ARPHRD_IEEE80211_RADIOTAP, 0, 0, false},
		{unix.ARPHRD_INFINIBAND, 0, 0, false},
		{unix.ARPHRD_CAN, 0, 0, false},
	} {
		m, link, ok := linkFor(tc.hatype)
		if m != tc.mode || link != tc.link || ok != tc.ok {
			t.Errorf("linkFor(%d) = %v, %v, %v; want %v, %v, %v", tc.hatype, m, link, ok, tc.mode, tc.link, tc.ok)
		}
	}
}

func TestPutVLAN(t *testing.T) {
	frame := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0x45, 0x00}
	buf := make([]byte, 4+len(frame))
	copy(buf[4:], frame)
	aux := auxdata{status: unix.TP_STATUS_VLAN_VALID, vlanTCI: 0x200a}
	start, n, length := putVLAN(buf, 4, len(frame), 100, aux)
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x00, 0x20, 0x0a, 0x08, 0x00, 0x45, 0x00}
	if got := buf[start : start+n]; !bytes.Equal(got, want) || length != 104 {
		t.Errorf("putVLAN: % x, length %d; want % x, 104", got, length, want)
	}

	// 802.1ad, with the TPID given.
	copy(buf[4:], frame)
	aux = auxdata{status: unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID, vlanTCI: 5, vlanTPID: 0x88a8}
	start, n, _ = putVLAN(buf, 4, len(frame), len(frame), aux)
	if got := buf[start+12 : start+16]; !bytes.Equal(got, []byte{0x88, 0xa8, 0, 5}) {
		t.Errorf("putVLAN 802.1ad tag: % x", got)
	}

	// No tag: untouched.
	copy(buf[4:], frame)
	start, n, length = putVLAN(buf, 4, len(frame), 50, auxdata{})
	if !bytes.Equal(buf[start:start+n], frame) || length != 50 {
		t.Errorf("putVLAN without a tag changed the frame: % x", buf[start:start+n])
	}
}

func TestPutSLL(t *testing.T) {
	payload := []byte{0x45, 0, 0, 20}
	from := unix.RawSockaddrLinklayer{
		Ifindex: 3, Hatype: unix.ARPHRD_ETHER, Pkttype: unix.PACKET_OUTGOING, Halen: 6,
		Addr: [8]byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x99, 0x99}, // past Halen: not copied
	}
	from.Protocol = binary.NativeEndian.Uint16([]byte{0x08, 0x00}) // network byte order in memory
	head := modeCooked.headroom()
	buf := make([]byte, head+len(payload))
	copy(buf[head:], payload)
	start, n, length := putSLL(buf, head, len(payload), len(payload), &from, auxdata{})
	want := []byte{0, 4, 0, 1, 0, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0, 0, 0x08, 0x00, 0x45, 0, 0, 20}
	if got := buf[start : start+n]; !bytes.Equal(got, want) || length != len(want) {
		t.Errorf("putSLL:\n got % x, length %d\nwant % x, %d", got, length, want, len(want))
	}

	copy(buf[head:], payload)
	start, n, length = putSLL(buf, head, len(payload), len(payload), &from, auxdata{status: unix.TP_STATUS_VLAN_VALID, vlanTCI: 7})
	want = []byte{0, 4, 0, 1, 0, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0, 0, 0x81, 0x00, 0, 7, 0x08, 0x00, 0x45, 0, 0, 20}
	if got := buf[start : start+n]; !bytes.Equal(got, want) || length != len(want) {
		t.Errorf("putSLL with a VLAN tag:\n got % x, length %d\nwant % x, %d", got, length, want, len(want))
	}
}

func TestParseControl(t *testing.T) {
	ne := binary.NativeEndian
	b := make([]byte, 16)
	ne.PutUint64(b, 1700000000)
	ne.PutUint64(b[8:], 123456789)
	if ts, ok := parseTimespec(b); !ok || ts != 1700000000123456789 {
		t.Errorf("parseTimespec(64-bit) = %d, %v", ts, ok)
	}
	ne.PutUint32(b, 1700000000)
	ne.PutUint32(b[4:], 5)
	if ts, ok := parseTimespec(b[:8]); !ok || ts != 1700000000000000005 {
		t.Errorf("parseTimespec(32-bit) = %d, %v", ts, ok)
	}
	if _, ok := parseTimespec(b[:3]); ok {
		t.Error("parseTimespec accepted 3 bytes")
	}

	a := make([]byte, auxdataLen)
	ne.PutUint32(a[0:], unix.TP_STATUS_VLAN_VALID)
	ne.PutUint32(a[4:], 1514)
	ne.PutUint32(a[8:], 64)
	ne.PutUint16(a[16:], 10)
	ne.PutUint16(a[18:], 0x8100)
	got, ok := parseAuxdata(a)
	if want := (auxdata{status: unix.TP_STATUS_VLAN_VALID, len: 1514, snaplen: 64, vlanTCI: 10, vlanTPID: 0x8100}); !ok || got != want {
		t.Errorf("parseAuxdata = %+v, %v; want %+v", got, ok, want)
	}
	if _, ok := parseAuxdata(a[:10]); ok {
		t.Error("parseAuxdata accepted 10 bytes")
	}
}
