package wire

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portkit/ports"
	"github.com/portkit/ports/pcapfile"
)

// segmentCase is a TCP header to build with AppendTCPSegment.
type segmentCase struct {
	name     string
	src, dst netip.Addr
	tcp      TCP
	payload  []byte
	wantHL   int // header length in bytes
}

func segmentCases() []segmentCase {
	syn := TCP{SrcPort: 40000, DstPort: 443, Seq: 0xdeadbeef, Flags: TCPSyn, Window: 1024,
		Options: TCPOptions{HasMSS: true, MSS: 1460}}
	full := TCP{SrcPort: 51000, DstPort: 22, Seq: 7, Flags: TCPSyn | TCPEce | TCPCwr, Window: 64240,
		Options: TCPOptions{HasMSS: true, MSS: 1400, SACKPermitted: true, HasTimestamps: true, TSval: 99, HasWScale: true, WScale: 7}}
	data := TCP{SrcPort: 8080, DstPort: 40001, Seq: 1, Ack: 2, Flags: TCPPsh | TCPAck, Window: 501,
		DataOffset: 15, Checksum: Checksum{Value: 0xffff}, // ignored: computed
		Options: TCPOptions{Raw: []byte{1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1}}} // padded to 16
	var out []segmentCase
	for _, pair := range [][2]netip.Addr{{ip4A, ip4B}, {ip6A, ip6B}} {
		out = append(out,
			segmentCase{"syn-mss", pair[0], pair[1], syn, nil, 24},
			segmentCase{"syn-full", pair[0], pair[1], full, nil, 40},
			segmentCase{"data-odd", pair[1], pair[0], data, []byte("odd len"), 36},
		)
	}
	return out
}

// TestAppendTCPSegmentTshark builds TCP segments, sends them through
// tshark inside an IP header, and checks that tshark finds their header
// length, options and checksum right, as Decode and DecodeTransport do.
func TestAppendTCPSegmentTshark(t *testing.T) {
	tshark := needTshark(t)
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkType(pcapfile.LinkTypeRaw)); err != nil {
		t.Fatal(err)
	}
	cases := segmentCases()
	var frames [][]byte
	for _, c := range cases {
		seg, err := AppendTCPSegment([]byte{0xaa}, c.src, c.dst, &c.tcp, c.payload)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if seg[0] != 0xaa {
			t.Fatalf("%s: the bytes before the segment changed", c.name)
		}
		seg = seg[1:]
		if len(seg) != c.wantHL+len(c.payload) {
			t.Fatalf("%s: %d bytes, want %d", c.name, len(seg), c.wantHL+len(c.payload))
		}
		if s := TransportChecksum(c.src, c.dst, ports.ProtoTCP, seg); s != 0 {
			t.Errorf("%s: TransportChecksum over the segment = %#04x, want 0", c.name, s)
		}
		// A bare segment decodes as the socket hands it over.
		var p Packet
		if err := (Decoder{}).DecodeTransport(&p, ports.ProtoTCP, c.src, c.dst, seg); err != nil {
			t.Fatalf("%s: DecodeTransport: %v", c.name, err)
		}
		if p.Layers != layerSet(LayerTCP) || p.TCP.Checksum.Status != ChecksumGood || p.TCP.HeaderLen() != c.wantHL ||
			p.TCP.Seq != c.tcp.Seq || p.TCP.Flags != c.tcp.Flags || !bytes.Equal(p.Payload, c.payload) {
			t.Errorf("%s: DecodeTransport gave layers %v, %+v, payload %q", c.name, p.Layers, p.TCP, p.Payload)
		}
		ip := template(pcapfile.LinkTypeRaw, 4, LayerNone)
		if c.src.Is6() {
			ip = template(pcapfile.LinkTypeRaw, 6, LayerNone)
		}
		ip.IP.Src, ip.IP.Dst, ip.IP.Protocol, ip.Payload = c.src, c.dst, ports.ProtoTCP, seg
		f := encode(t, &ip)
		frames = append(frames, f)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "segments.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := runTshark(t, tshark, path)
	if len(rows) != len(cases) {
		t.Fatalf("tshark shows %d frames, want %d", len(rows), len(cases))
	}
	field := func(row [][]string, name string) string {
		return row[slices.Index(tsharkFields, name)][0]
	}
	for i, c := range cases {
		row := rows[i]
		if got := field(row, "tcp.checksum.status"); got != "1" {
			t.Errorf("%s: tshark's tcp.checksum.status = %q, want 1 (good)", c.name, got)
		}
		if got, want := field(row, "tcp.hdr_len"), strconv.Itoa(c.wantHL); got != want {
			t.Errorf("%s: tshark's tcp.hdr_len = %q, want %q", c.name, got, want)
		}
		if c.tcp.Options.HasMSS {
			if got, want := field(row, "tcp.options.mss_val"), strconv.Itoa(int(c.tcp.Options.MSS)); got != want {
				t.Errorf("%s: tshark's tcp.options.mss_val = %q, want %q", c.name, got, want)
			}
		}
		var p Packet
		if err := p.Decode(pcapfile.LinkTypeRaw, frames[i], 0); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		compareTshark(t, c.name, &p, row)
	}
}

// TestDecodeTransportMatchesDecode checks that a transport message
// without its IP header decodes as it does inside one: TCP, UDP, ICMP
// and an ICMPv6 error with its quote.
func TestDecodeTransportMatchesDecode(t *testing.T) {
	frames := sampleFrames(t)
	n := 0
	for _, f := range frames {
		if f.link != pcapfile.LinkTypeRaw {
			continue
		}
		var whole Packet
		if err := whole.Decode(f.link, f.data, 0); err != nil || whole.IP.IsFragment() || whole.IP.NumExt > 0 {
			continue
		}
		proto := whole.IP.Protocol
		off := int(whole.IP.HeaderLen)
		var bare Packet
		if err := (Decoder{}).DecodeTransport(&bare, proto, whole.IP.Src, whole.IP.Dst, f.data[off:]); err != nil {
			t.Fatalf("%s: DecodeTransport: %v", f.name, err)
		}
		if want := whole.Layers &^ (layerSet(LayerIPv4, LayerIPv6)); bare.Layers != want {
			t.Errorf("%s: layers %v, want %v", f.name, bare.Layers, want)
		}
		if bare.IP.Version != whole.IP.Version || bare.IP.Protocol != proto {
			t.Errorf("%s: IP version %d protocol %d, want %d %d", f.name, bare.IP.Version, bare.IP.Protocol, whole.IP.Version, proto)
		}
		for _, d := range []struct {
			name string
			a, b any
		}{{"TCP", bare.TCP, whole.TCP}, {"UDP", bare.UDP, whole.UDP}, {"ICMPv4", bare.ICMPv4, whole.ICMPv4},
			{"ICMPv6", bare.ICMPv6, whole.ICMPv6}, {"payload", bare.Payload, whole.Payload}} {
			if diff := cmp.Diff(d.b, d.a, cmpPacket); diff != "" {
				t.Errorf("%s: %s differs from Decode's (-Decode +DecodeTransport):\n%s", f.name, d.name, diff)
			}
		}
		n++
	}
	if n < 6 {
		t.Fatalf("compared %d frames, want the raw IPv4 and IPv6 ones with each transport and the ICMP errors", n)
	}
}

// TestSegmentAllocs: the scan builds and reads one segment per probe.
func TestSegmentAllocs(t *testing.T) {
	c := segmentCases()[0]
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = AppendTCPSegment(buf[:0], c.src, c.dst, &c.tcp, nil)
	}); n != 0 {
		t.Errorf("AppendTCPSegment: %v allocations, want 0", n)
	}
	var p Packet
	if n := testing.AllocsPerRun(100, func() {
		_ = (Decoder{}).DecodeTransport(&p, ports.ProtoTCP, c.src, c.dst, buf)
	}); n != 0 {
		t.Errorf("DecodeTransport: %v allocations, want 0", n)
	}
}

func TestAppendTCPSegmentLongOptions(t *testing.T) {
	tcp := TCP{Options: TCPOptions{Raw: make([]byte, 41)}}
	b, err := AppendTCPSegment([]byte{1, 2}, ip4A, ip4B, &tcp, nil)
	if _, ok := err.(*EncodeError); !ok || !bytes.Equal(b, []byte{1, 2}) {
		t.Errorf("41 bytes of options: %v, buffer % x; want an *EncodeError and the buffer as it was", err, b)
	}
}

func FuzzDecodeTransport(f *testing.F) {
	for _, c := range segmentCases() {
		seg, _ := AppendTCPSegment(nil, c.src, c.dst, &c.tcp, c.payload)
		f.Add(seg, uint8(ports.ProtoTCP), c.src.Is6())
	}
	f.Add([]byte{1, 4, 0, 0, 0, 0, 0, 0, 0x60}, uint8(ProtoICMPv6), true)
	f.Add([]byte{3, 3, 0, 0, 0, 0, 0, 0, 0x45}, uint8(ProtoICMP), false)
	f.Add([]byte{0, 53, 0, 53, 0, 9, 0, 0, 1}, uint8(ports.ProtoUDP), false)
	f.Fuzz(func(t *testing.T, data []byte, proto uint8, v6 bool) {
		src, dst := ip4A, ip4B
		if v6 {
			src, dst = ip6A, ip6B
		}
		in := slices.Clone(data)
		var p Packet
		err := (Decoder{}).DecodeTransport(&p, ports.Proto(proto), src, dst, data)
		if !bytes.Equal(in, data) {
			t.Fatal("DecodeTransport changed its input")
		}
		if p.Layers.Has(LayerIPv4) || p.Layers.Has(LayerIPv6) || bits.OnesCount16(uint16(p.Layers)) > 1 {
			t.Fatalf("layers %v: want at most the transport", p.Layers)
		}
		if p.Layers == 0 && len(p.Payload) != len(data) {
			t.Fatalf("nothing decoded (%v), yet the payload is %d of %d bytes", err, len(p.Payload), len(data))
		}
	})
}

// TestPseudoSum checks the pseudo-header sum against the checksum of the
// pseudo-header written out byte by byte (RFC 9293 3.1, RFC 8200 8.1)
// and summed 16 bits at a time, as RFC 1071 describes it.
func TestPseudoSum(t *testing.T) {
	ref := func(b []byte) uint16 {
		var s uint32
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		for s>>16 != 0 {
			s = s&0xffff + s>>16
		}
		return ^uint16(s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var src, dst netip.Addr
		var h []byte
		proto := ports.Proto(r.IntN(256))
		length := r.IntN(1 << 16)
		if i%2 == 0 {
			var s, d [4]byte
			binary.LittleEndian.PutUint32(s[:], r.Uint32())
			binary.LittleEndian.PutUint32(d[:], r.Uint32())
			src, dst = netip.AddrFrom4(s), netip.AddrFrom4(d)
			h = append(append(append(h, s[:]...), d[:]...), 0, byte(proto), byte(length>>8), byte(length))
		} else {
			length = r.IntN(1 << 20) // jumbograms too
			var s, d [16]byte
			for j := 0; j < 16; j += 8 {
				binary.LittleEndian.PutUint64(s[j:], r.Uint64())
				binary.LittleEndian.PutUint64(d[j:], r.Uint64())
			}
			src, dst = netip.AddrFrom16(s), netip.AddrFrom16(d)
			h = append(append(h, s[:]...), d[:]...)
			h = binary.BigEndian.AppendUint32(h, uint32(length))
			h = append(h, 0, 0, 0, byte(proto))
		}
		if got, want := csumFinish(pseudoSum(src, dst, proto, length), false), ref(h); got != want {
			t.Fatalf("%v > %v proto %d length %d: %#04x, want %#04x", src, dst, proto, length, got, want)
		}
	}
}
