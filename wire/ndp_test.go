package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpNeighbor = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreUnexported(Neighbor{})}

func TestNeighborDecode(t *testing.T) {
	mac := [6]byte{2, 0, 0, 0, 0, 0x0b}
	na := []byte{136, 0, 0xaa, 0xbb, 0x60, 0, 0, 0}
	na = append(na, ip6B.AsSlice()...)
	tests := []struct {
		name    string
		msg     []byte
		want    Neighbor
		wantErr string // the DecodeError's reason; "" for none
	}{
		{"advert with target link address", append(bytes.Clone(na), 2, 1, 2, 0, 0, 0, 0, 0x0b),
			Neighbor{Type: ICMPv6NeighborAdvert, Flags: 0x60, Target: ip6B, HasLinkAddr: true, LinkAddr: mac}, ""},
		{"advert without options", bytes.Clone(na),
			Neighbor{Type: ICMPv6NeighborAdvert, Flags: 0x60, Target: ip6B}, ""},
		{"advert with a source link address only", append(bytes.Clone(na), 1, 1, 2, 0, 0, 0, 0, 0x0b),
			Neighbor{Type: ICMPv6NeighborAdvert, Flags: 0x60, Target: ip6B}, ""},
		{"advert, nonce option then target link address", append(bytes.Clone(na), 14, 1, 1, 2, 3, 4, 5, 6, 2, 1, 2, 0, 0, 0, 0, 0x0b),
			Neighbor{Type: ICMPv6NeighborAdvert, Flags: 0x60, Target: ip6B, HasLinkAddr: true, LinkAddr: mac}, ""},
		{"advert, 16-byte link address option is not Ethernet", append(bytes.Clone(na), 2, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14),
			Neighbor{Type: ICMPv6NeighborAdvert, Flags: 0x60, Target: ip6B}, ""},
		{"solicitation with source link address", append(append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, ip6A.AsSlice()...), 1, 1, 2, 0, 0, 0, 0, 0x0b),
			Neighbor{Type: ICMPv6NeighborSolicit, Target: ip6A, HasLinkAddr: true, LinkAddr: mac}, ""},
		{"option of length 0", append(bytes.Clone(na), 2, 0, 2, 0, 0, 0, 0, 0x0b),
			Neighbor{Type: ICMPv6NeighborAdvert, Flags: 0x60, Target: ip6B}, "neighbor discovery option of length 0"},
		{"link address, then an option past the end", append(bytes.Clone(na), 2, 1, 2, 0, 0, 0, 0, 0x0b, 1, 2, 0, 0),
			Neighbor{Type: ICMPv6NeighborAdvert, Flags: 0x60, Target: ip6B, HasLinkAddr: true, LinkAddr: mac}, "neighbor discovery option beyond the end of the message"},
		{"short", na[:23], Neighbor{}, "message shorter than a neighbor solicitation"},
		{"echo reply", append([]byte{129, 0, 0, 0, 0, 1, 0, 1}, make([]byte, 16)...), Neighbor{}, "not a neighbor solicitation or advertisement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Neighbor{Type: 1, Flags: 2, Target: ip4A, HasLinkAddr: true, LinkAddr: [6]byte{9}} // a used one
			err := n.Decode(tt.msg)
			if diff := cmp.Diff(tt.want, n, cmpNeighbor); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
			var de *DecodeError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Decode: %v, want no error", err)
			case tt.wantErr != "" && (!errors.As(err, &de) || de.Reason != tt.wantErr || !errors.Is(err, ErrMalformed)):
				t.Errorf("Decode: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzNeighbor: Decode never panics, reads the target from bytes 8-24,
// and what it decodes without error encodes back to a message that
// decodes the same (AppendTo writes one option, so the bytes differ
// when msg had others).
func FuzzNeighbor(f *testing.F) {
	f.Add(append(append([]byte{136, 0, 0, 0, 0x60, 0, 0, 0}, ip6B.AsSlice()...), 2, 1, 2, 0, 0, 0, 0, 0x0b))
	f.Add(append(append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, ip6A.AsSlice()...), 1, 1, 2, 0, 0, 0, 0, 0x0b))
	f.Add(append(append([]byte{136, 0, 0, 0, 0, 0, 0, 0}, ip6B.AsSlice()...), 2, 0)) // option of length 0
	f.Add([]byte{136})
	f.Fuzz(func(t *testing.T, msg []byte) {
		in := bytes.Clone(msg)
		var n Neighbor
		err := n.Decode(msg)
		if !bytes.Equal(in, msg) {
			t.Fatal("Decode changed its input")
		}
		if n.Type == 0 {
			if err == nil {
				t.Fatal("no type and no error")
			}
			return
		}
		if n.Target != netip.AddrFrom16([16]byte(msg[8:24])) {
			t.Fatalf("target %v, message %x", n.Target, msg)
		}
		if n.HasLinkAddr && !bytes.Contains(msg[24:], n.LinkAddr[:]) {
			t.Fatalf("link address %x not in the options %x", n.LinkAddr, msg[24:])
		}
		if err != nil {
			return
		}
		out := n.AppendTo(nil)
		var m Neighbor
		if err := m.Decode(out); err != nil {
			t.Fatalf("Decode(AppendTo): %v", err)
		}
		if diff := cmp.Diff(n, m, cmpNeighbor); diff != "" {
			t.Fatalf("Decode(AppendTo(Decode)) (-first +second):\n%s", diff)
		}
	})
}

func TestNeighborAllocs(t *testing.T) {
	good := append(append([]byte{136, 0, 0, 0, 0x60, 0, 0, 0}, ip6B.AsSlice()...), 2, 1, 2, 0, 0, 0, 0, 0x0b)
	bad := append(bytes.Clone(good), 1, 0)
	var n Neighbor
	buf := make([]byte, 0, 64)
	if a := testing.AllocsPerRun(100, func() {
		_ = n.Decode(good)
		_ = n.Decode(bad)
		_ = n.Decode(good[:10])
		buf = n.AppendTo(buf[:0])
	}); a != 0 {
		t.Errorf("%v allocations, want 0", a)
	}
}

// TestHeadersQuotedEcho: an ICMP error quoting an echo request keeps the
// quoted ICMP header's bytes, as the full decoder does.
func TestHeadersQuotedEcho(t *testing.T) {
	echo4 := []byte{8, 0, 0xf7, 0xfd, 0x12, 0x34, 0, 1}
	q4 := append([]byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0}, append(ip4A.AsSlice(), ip4B.AsSlice()...)...)
	un4 := append(append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, q4...), echo4...)
	echo6 := []byte{128, 0, 0, 0, 0x12, 0x34, 0, 1}
	q6 := append([]byte{0x60, 0, 0, 0, 0, 8, 58, 64}, append(ip6A.AsSlice(), ip6B.AsSlice()...)...)
	un6 := append(append([]byte{1, 3, 0, 0, 0, 0, 0, 0}, q6...), echo6...)
	for _, c := range []struct {
		mode uint8 // as checkHeaders: 3 ICMP over IPv4, 8 ICMPv6 over IPv6
		msg  []byte
		echo []byte
		dst  netip.Addr // the echo's destination
	}{{3, un4, echo4, ip4B}, {8, un6, echo6, ip6B}} {
		for n := range len(c.msg) + 1 {
			checkHeaders(t, c.msg[:n], c.mode)
		}
		var h Headers
		src, dst := ip4B, ip4A
		proto := ProtoICMP
		if c.mode == 8 {
			src, dst, proto = ip6B, ip6A, ProtoICMPv6
		}
		_ = h.DecodeTransport(proto, src, dst, c.msg)
		if q := h.Quoted; q.TransportLen != 8 || !bytes.Equal(q.Transport[:], c.echo) || q.Dst != c.dst {
			t.Errorf("quote %+v, want the echo %x to %v", q, c.echo, c.dst)
		}
		if typ, code, rest, ok := h.Quoted.ICMP(); !ok || typ != c.echo[0] || code != 0 || rest != 0x12340001 {
			t.Errorf("Quoted.ICMP() = %d, %d, %#x, %v; want %d, 0, 0x12340001, true", typ, code, rest, ok, c.echo[0])
		}
		_ = h.DecodeTransport(proto, src, dst, c.msg[:len(c.msg)-1])
		if _, _, _, ok := h.Quoted.ICMP(); ok {
			t.Errorf("Quoted.ICMP() of a quote one byte short: ok")
		}
	}
}

// TestAppendICMPMessage: the ICMP and ICMPv6 messages built decode, with
// checksums verified, to what was asked, and build without allocating.
func TestAppendICMPMessage(t *testing.T) {
	data := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff} // odd length: the checksum pads
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"icmp echo", AppendICMPv4Message(nil, ICMPv4EchoRequest, 0, 0x12340007, nil)},
		{"icmp timestamp", AppendICMPv4Message(nil, ICMPv4Timestamp, 0, 0x12340007, data[:12])},
		{"icmp odd", AppendICMPv4Message([]byte{9, 9}, ICMPv4EchoRequest, 5, 0x12340007, data)[2:]},
		{"icmpv6 echo", AppendICMPv6Message(nil, ip6A, ip6B, ICMPv6EchoRequest, 0, 0x12340007, nil)},
		{"icmpv6 odd", AppendICMPv6Message([]byte{9}, ip6A, ip6B, ICMPv6EchoRequest, 5, 0x12340007, data)[1:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			var d Decoder
			v6 := strings.HasPrefix(c.name, "icmpv6")
			var err error
			if v6 {
				err = d.DecodeTransport(&p, ProtoICMPv6, ip6A, ip6B, c.msg)
			} else {
				err = d.DecodeTransport(&p, ProtoICMP, ip4A, ip4B, c.msg)
			}
			if err != nil {
				t.Fatal(err)
			}
			typ, code, rest, sum := uint8(p.ICMPv4.Type), p.ICMPv4.Code, p.ICMPv4.Rest, p.ICMPv4.Checksum.Status
			if v6 {
				typ, code, rest, sum = uint8(p.ICMPv6.Type), p.ICMPv6.Code, p.ICMPv6.Rest, p.ICMPv6.Checksum.Status
			}
			if sum != ChecksumGood || typ != c.msg[0] || code != c.msg[1] || rest != 0x12340007 || !bytes.Equal(p.Payload, c.msg[8:]) {
				t.Errorf("decoded type %d code %d rest %#x checksum %v payload %x", typ, code, rest, sum, p.Payload)
			}
		})
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendICMPv4Message(buf[:0], ICMPv4Timestamp, 0, 1, data[:12])
		buf = AppendICMPv6Message(buf[:0], ip6A, ip6B, ICMPv6EchoRequest, 0, 1, nil)
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
