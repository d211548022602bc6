package pcapfile

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPcapHeaderVariants(t *testing.T) {
	for _, tc := range []struct {
		name     string
		be, nano bool
		frac     uint32
		wantNS   int64
	}{
		{"le-micro", false, false, 123456, 1_600_000_000_123_456_000},
		{"be-micro", true, false, 123456, 1_600_000_000_123_456_000},
		{"le-nano", false, true, 123456789, 1_600_000_000_123_456_789},
		{"be-nano", true, true, 123456789, 1_600_000_000_123_456_789},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := pcapHeader(tc.be, tc.nano, 2, 4, 65535, uint32(LinkTypeLinuxSLL))
			in = append(in, pcapRecord(tc.be, 1_600_000_000, tc.frac, 3, 60, []byte{1, 2, 3})...)
			in = append(in, pcapRecord(tc.be, 0, 0, 0, 0, nil)...)
			want := []Packet{
				{Timestamp: tc.wantNS, Data: []byte{1, 2, 3}, CaptureLength: 3, Length: 60, LinkType: LinkTypeLinuxSLL},
				{Timestamp: 0, Data: []byte{}, CaptureLength: 0, Length: 0, LinkType: LinkTypeLinuxSLL},
			}
			for _, chunk := range []int{1 << 20, 1, 3, 7} {
				r, err := NewReader(&smallReader{b: in, n: chunk})
				if err != nil {
					t.Fatal(err)
				}
				if r.Format() != FormatPcap || r.LinkType() != LinkTypeLinuxSLL || r.Snaplen() != 65535 {
					t.Errorf("Format, LinkType, Snaplen = %v, %v, %d", r.Format(), r.LinkType(), r.Snaplen())
				}
				got, err := readAll(t, r)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("chunk %d: packets (-want +got):\n%s", chunk, diff)
				}
			}
		})
	}
}

// TestPcapBadFractionKept: a record whose sub-second field is out of
// range keeps it in BadFraction, so that no one carries it into the
// seconds silently.
func TestPcapBadFractionKept(t *testing.T) {
	for _, nano := range []bool{false, true} {
		frac, unit := uint32(1_500_000), int64(1000)
		if nano {
			frac, unit = 1_500_000_000, 1
		}
		in := pcapHeader(false, nano, 2, 4, 65535, uint32(LinkTypeEthernet))
		in = append(in, pcapRecord(false, 1_600_000_000, frac, 1, 1, []byte{1})...)
		in = append(in, pcapRecord(false, 1_600_000_000, frac/2, 1, 1, []byte{1})...)
		r, err := NewReader(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].BadFraction != int64(frac)*unit || got[0].Timestamp-got[0].BadFraction != 1_600_000_000*1e9 || got[1].BadFraction != 0 {
			t.Errorf("nano %v: packets %+v", nano, got)
		}
	}
}

func TestPcapLinkTypeUpperBits(t *testing.T) {
	// Bits above the low 16 of the pcap link type field carry FCS
	// information; they are not part of the link type.
	in := pcapHeader(false, false, 2, 4, 0, 0x1000_0000|uint32(LinkTypeEthernet))
	r, err := NewReader(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != LinkTypeEthernet {
		t.Errorf("LinkType = %v, want Ethernet", r.LinkType())
	}
}

func TestPcapCaptureLimit(t *testing.T) {
	data := make([]byte, 70000)
	// caplen 70000 > snaplen 65535 is accepted, as libpcap and pcapgo do
	// (some writers do not truncate to the snaplen they declare) ...
	in := append(pcapHeader(false, false, 2, 4, 65535, 1), pcapRecord(false, 1, 0, 70000, 70000, data)...)
	got, err := readAll(t, mustReader(t, in))
	if err != nil || len(got) != 1 || got[0].CaptureLength != 70000 {
		t.Fatalf("caplen 70000, snaplen 65535: got %d packets, err %v", len(got), err)
	}
	// ... up to MaxCaptureLength, or the snaplen if it is larger.
	in = append(pcapHeader(false, false, 2, 4, 65535, 1), pcapRecord(false, 1, 0, MaxCaptureLength+1, 1, nil)...)
	_, err = readAll(t, mustReader(t, in))
	checkFormatError(t, err, 24, "packet record caplen 262145 exceeds the limit 262144 (snaplen 65535)", nil)

	in = append(pcapHeader(false, false, 2, 4, 1<<20, 1), pcapRecord(false, 1, 0, 1<<20, 1<<20, make([]byte, 1<<20))...)
	if got, err := readAll(t, mustReader(t, in)); err != nil || len(got) != 1 {
		t.Fatalf("caplen 1 MiB, snaplen 1 MiB: got %d packets, err %v", len(got), err)
	}
	in = append(pcapHeader(false, false, 2, 4, 1<<30, 1), pcapRecord(false, 1, 0, 16<<20+1, 1, nil)...)
	_, err = readAll(t, mustReader(t, in))
	checkFormatError(t, err, 24, "packet record caplen 16777217 exceeds the limit 16777216 (snaplen 1073741824)", nil)
}

func TestPcapngFeatures(t *testing.T) {
	data := []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	var g ngBuilder
	g.shb(false, opt(4, []byte("test app")), opt(0, nil)).
		block(0x0000_0bad, []byte("custom block before any interface")).
		idb(LinkTypeEthernet, 0, opt(2, []byte("eth0")), opt(0, nil)). // µs default
		idb(LinkTypeRaw, 3, opt(ngOptTSResol, []byte{9})).             // ns, snaplen 3
		idb(LinkTypeIPv6, 0, opt(ngOptTSResol, []byte{0x80 | 10}), opt(ngOptTSOffset, le64(1000))).
		idb(LinkTypeNull, 0, opt(ngOptTSResol, []byte{12})). // ps
		epb(0, 1_500_000_000_123_456, data, 60, opt(1, []byte("a comment")), opt(0, nil)).
		epb(1, 1_500_000_000_123_456_789, data[:3], 5).
		epb(2, 5<<10|512, data, 5). // 5.5 s after the 1000 s offset
		epb(3, 1_000_000_123_456_789_012, data, 5).
		block(5, make([]byte, 20)). // interface statistics: skipped
		block(4, make([]byte, 8)).  // name resolution: skipped
		pb(0, 2_000_000, data[:4], 4).
		spb(data, 5). // cut to interface 0's snaplen: none
		// A new section, big-endian, forgets the interfaces above.
		shb(true).
		idb(LinkTypeLinuxSLL2, 2, opt(ngOptTSResol, []byte{3})).
		spb(data, 5). // cut to snaplen 2
		epb(0, 42, data, 1000)
	want := []Packet{
		{Timestamp: 1_500_000_000_123_456_000, Data: data, CaptureLength: 5, Length: 60, LinkType: LinkTypeEthernet, Comment: []byte("a comment")},
		{Timestamp: 1_500_000_000_123_456_789, Data: data[:3], CaptureLength: 3, Length: 5, InterfaceIndex: 1, LinkType: LinkTypeRaw},
		{Timestamp: 1005_500_000_000, Data: data, CaptureLength: 5, Length: 5, InterfaceIndex: 2, LinkType: LinkTypeIPv6},
		{Timestamp: 1_000_000_123_456_789, Data: data, CaptureLength: 5, Length: 5, InterfaceIndex: 3, LinkType: LinkTypeNull},
		{Timestamp: 2_000_000_000, Data: data[:4], CaptureLength: 4, Length: 4, LinkType: LinkTypeEthernet},
		// The SPB's data area is padded to 8 bytes; origLen 5 cuts it.
		{Timestamp: 0, Data: data, CaptureLength: 5, Length: 5, LinkType: LinkTypeEthernet},
		{Timestamp: 0, Data: data[:2], CaptureLength: 2, Length: 5, LinkType: LinkTypeLinuxSLL2},
		{Timestamp: 42_000_000, Data: data, CaptureLength: 5, Length: 1000, LinkType: LinkTypeLinuxSLL2},
	}
	for _, chunk := range []int{1 << 20, 1, 5, 12} {
		r, err := NewReader(&smallReader{b: g.b, n: chunk})
		if err != nil {
			t.Fatal(err)
		}
		if r.Format() != FormatPcapng || r.LinkType() != LinkTypeEthernet || r.Snaplen() != 0 {
			t.Errorf("Format, LinkType, Snaplen = %v, %v, %d", r.Format(), r.LinkType(), r.Snaplen())
		}
		got, err := readAll(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("chunk %d: packets (-want +got):\n%s", chunk, diff)
		}
		if r.LinkType() != LinkTypeLinuxSLL2 || r.Snaplen() != 2 {
			t.Errorf("after the second section: LinkType, Snaplen = %v, %d", r.LinkType(), r.Snaplen())
		}
	}
}

func TestTimestampResolutions(t *testing.T) {
	for _, tc := range []struct {
		resol uint8
		ts    uint64
		want  int64
		ok    bool
	}{
		{0, 3, 3_000_000_000, true},                 // seconds
		{6, 1_234_567, 1_234_567_000, true},         // µs
		{9, 1_234_567, 1_234_567, true},             // ns
		{19, 10_000_000_000, 1, true},               // 10^-19
		{0x80, 3, 3_000_000_000, true},              // 2^0
		{0x80 | 1, 3, 1_500_000_000, true},          // 2^-1
		{0x80 | 30, 1<<30 + 1, 1_000_000_000, true}, // 2^-30: 0.93 ns truncated
		{0x80 | 63, 1<<63 - 1, 999_999_999, true},   // largest binary exponent
		{0x80 | 32, 5 << 32, 5_000_000_000, true},   // NTP-style fraction
		{0, 9_223_372_037, 0, false},                // past 2262
		{6, 1 << 63, 0, false},                      // overflow of ts*1000
		{0x80, 9_223_372_037, 0, false},             // 2^0 past 2262
		{0x80 | 1, 2 * 9_223_372_037, 0, false},     // binary past 2262
		{9, 1<<63 - 1, 1<<63 - 1, true},             // the last representable ns
		{9, 1 << 63, 0, false},                      // one past it
		{12, 1<<64 - 1, 18446744073709551, true},    // division never overflows
		{6, 9_223_372_036_854_775, 9_223_372_036_854_775_000, true},
	} {
		var f iface
		if !f.setResolution(tc.resol) {
			t.Fatalf("setResolution(%#x) failed", tc.resol)
		}
		got, ok := f.nanos(tc.ts)
		if got != tc.want || ok != tc.ok {
			t.Errorf("resol %#x, ts %d: got %d, %v; want %d, %v", tc.resol, tc.ts, got, ok, tc.want, tc.ok)
		}
	}
	var f iface
	for _, bad := range []uint8{20, 0x7f, 0x80 | 64, 0xff} {
		if f.setResolution(bad) {
			t.Errorf("setResolution(%#x) succeeded", bad)
		}
	}
	f.setResolution(9)
	for _, tc := range []struct {
		offset int64
		ts     uint64
		want   int64
		ok     bool
	}{
		{-1_000_000_000, 500, -999_999_500, true},
		{1_000_000_000, 1<<63 - 1, 0, false},
		{-1_000_000_000, 0, -1_000_000_000, true},
	} {
		f.offset = tc.offset
		got, ok := f.nanos(tc.ts)
		if got != tc.want || ok != tc.ok {
			t.Errorf("offset %d, ts %d: got %d, %v; want %d, %v", tc.offset, tc.ts, got, ok, tc.want, tc.ok)
		}
	}
}

func le64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

func mustReader(t *testing.T, in []byte) *Reader {
	t.Helper()
	r, err := NewReader(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkFormatError checks that err is a *FormatError at offset off whose
// message contains msg and that wraps sentinel (nil for none).
func checkFormatError(t *testing.T, err error, off int64, msg string, sentinel error) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want *FormatError", err, err)
	}
	if fe.Offset != off || !strings.Contains(fe.Msg, msg) {
		t.Errorf("error %q: want offset %d and message %q", err, off, msg)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", err, sentinel)
	}
	if sentinel == nil && fe.Err != nil {
		t.Errorf("error %q wraps %v, want nothing", err, fe.Err)
	}
	if !strings.HasPrefix(err.Error(), "pcapfile: offset ") {
		t.Errorf("error %q lacks the pcapfile: offset prefix", err)
	}
}

func TestErrors(t *testing.T) {
	hdr := pcapHeader(false, false, 2, 4, 65535, 1)
	rec := pcapRecord(false, 1, 2, 4, 4, []byte{1, 2, 3, 4})
	var g ngBuilder
	ngOK := g.shb(false).idb(LinkTypeEthernet, 0).epb(0, 1, []byte{1, 2, 3, 4}, 4).b
	ng := func(f func(g *ngBuilder)) []byte {
		var g ngBuilder
		g.shb(false).idb(LinkTypeEthernet, 0)
		f(&g)
		return g.b
	}
	patch := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	tests := []struct {
		name     string
		in       []byte
		atOpen   bool // the error comes from NewReader
		off      int64
		msg      string
		sentinel error
		packets  int // read before the error
	}{
		{"empty", nil, true, 0, "empty input, no file header", io.ErrUnexpectedEOF, 0},
		{"3 bytes", []byte{0xd4, 0xc3, 0xb2}, true, 0, "truncated file header: 3 of 4 bytes", io.ErrUnexpectedEOF, 0},
		{"gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0}, true, 0, "unknown magic number 1f 8b 08 00 (gzip-compressed: decompress it first)", ErrUnknownFormat, 0},
		{"text", []byte("hello world"), true, 0, "unknown magic number 68 65 6c 6c", ErrUnknownFormat, 0},
		{"pcap header cut", hdr[:20], true, 0, "truncated pcap file header: 20 of 24 bytes", io.ErrUnexpectedEOF, 0},
		{"pcap version 1.0", pcapHeader(false, false, 1, 0, 65535, 1), true, 4, "pcap version 1.0", ErrUnsupportedVersion, 0},
		{"pcap link type reserved bits", pcapHeader(false, false, 2, 4, 65535, 0x0001_0001), true, 20, "link type field 0x00010001 has reserved bits (16-25) set", nil, 0},
		{"record header cut", append(bytes.Clone(hdr), rec[:5]...), false, 24, "truncated packet record header: 5 of 16 bytes", io.ErrUnexpectedEOF, 0},
		{"record data cut", append(append(bytes.Clone(hdr), rec...), rec[:18]...), false, 44, "truncated packet record: 18 of 20 bytes", io.ErrUnexpectedEOF, 1},
		{"caplen 4 GiB", append(bytes.Clone(hdr), pcapRecord(false, 1, 0, 0xffffffff, 0, nil)...), false, 24, "packet record caplen 4294967295 exceeds the limit 262144 (snaplen 65535)", nil, 0},

		{"ng SHB cut", ngOK[:10], true, 0, "truncated section header block: 10 of 12 bytes", io.ErrUnexpectedEOF, 0},
		{"ng SHB body cut", ngOK[:20], true, 0, "truncated section header block: 20 of 28 bytes", io.ErrUnexpectedEOF, 0},
		{"ng bad BOM", patch(ngOK, 8, 1, 2, 3, 4), true, 8, "section header block byte-order magic 01 02 03 04", nil, 0},
		{"ng version 2", patch(ngOK, 12, 2), true, 12, "pcapng version 2.0", ErrUnsupportedVersion, 0},
		{"ng version 1.1", patch(ngOK, 14, 1), true, 12, "pcapng version 1.1", ErrUnsupportedVersion, 0},
		{"ng SHB short", patch(ngOK, 4, 24), true, 0, "section header block length 24, want a multiple of 4 and at least 28", nil, 0},
		{"ng trailer mismatch", patch(ngOK, 24, 99), true, 0, "section header block length 28, trailing length 99", nil, 0},
		{"ng IDB cut", ngOK[:30], false, 28, "truncated block header: 2 of 8 bytes", io.ErrUnexpectedEOF, 0},
		{"ng EPB cut", ngOK[:len(ngOK)-3], false, 48, "truncated enhanced packet block: 33 of 36 bytes", io.ErrUnexpectedEOF, 0},
		{"ng EPB length odd", patch(ngOK, 52, 37), false, 48, "enhanced packet block length 37, want a multiple of 4 and at least 32", nil, 0},
		{"ng EPB caplen overrun", patch(ngOK, 48+20, 8), false, 48, "enhanced packet block caplen 8 overruns the block length 36", nil, 0},
		{"ng EPB caplen limit", patch(ngOK, 48+20, 0, 0, 0, 1), false, 48, "enhanced packet block caplen 16777216 exceeds the limit 262144 (snaplen 0)", nil, 0},
		{"ng EPB unknown interface", patch(ngOK, 48+8, 1), false, 48, "enhanced packet block for interface 1, but the section describes 1", nil, 0},
		{"ng EPB timestamp", patch(ngOK, 48+12, 0xff, 0xff, 0xff, 0xff), false, 60, "enhanced packet block timestamp 18446744069414584321 does not fit in int64 nanoseconds", nil, 0},
		{"ng packet before interface", func() []byte { var g ngBuilder; return g.shb(false).spb([]byte{1}, 1).b }(), false, 28, "simple packet block for interface 0, but the section describes 0", nil, 0},
		{"ng block header cut", append(bytes.Clone(ngOK), 6, 0, 0), false, 84, "truncated block header: 3 of 8 bytes", io.ErrUnexpectedEOF, 1},
		{"ng unknown block cut", ng(func(g *ngBuilder) { g.block(0x99, make([]byte, 100)); g.b = g.b[:len(g.b)-10] }), false, 48, "truncated block type 0x00000099: 102 of 112 bytes", io.ErrUnexpectedEOF, 0},
		{"ng unknown block trailer", ng(func(g *ngBuilder) { g.block(0x99, make([]byte, 100)); g.b[len(g.b)-1] = 1 }), false, 48, "block type 0x00000099 length 112, trailing length 16777328", nil, 0},
		{"ng tsresol length", ng(func(g *ngBuilder) { g.idb(1, 0, opt(ngOptTSResol, []byte{6, 6})) }), false, 48 + 16, "if_tsresol option length 2, want 1", nil, 0},
		{"ng tsresol value", ng(func(g *ngBuilder) { g.idb(1, 0, opt(ngOptTSResol, []byte{20})) }), false, 48 + 16, "unsupported if_tsresol 0x14", nil, 0},
		{"ng tsoffset length", ng(func(g *ngBuilder) { g.idb(1, 0, opt(2, []byte("x")), opt(ngOptTSOffset, []byte{1})) }), false, 48 + 24, "if_tsoffset option length 1, want 8", nil, 0},
		{"ng tsoffset range", ng(func(g *ngBuilder) { g.idb(1, 0, opt(ngOptTSOffset, le64(1<<62))) }), false, 48 + 16, "if_tsoffset 4611686018427387904 s does not fit", nil, 0},
		{"ng option overrun", ng(func(g *ngBuilder) {
			g.idb(1, 0, opt(2, []byte("eth0")))
			g.b[48+18] = 9 // option length 9 > 4 left
		}), false, 48 + 16, "interface description block option 2 length 9 overruns the block", nil, 0},
		{"ng block too big", ng(func(g *ngBuilder) {
			g.epb(0, 0, nil, 0)
			g.b[48+4], g.b[48+5], g.b[48+6], g.b[48+7] = 0, 0, 0, 4 // 64 MiB
		}), false, 48, "enhanced packet block length 67108864 exceeds the limit 33554432", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.in))
			if tc.atOpen {
				if err == nil || r != nil {
					t.Fatalf("NewReader = %v, %v; want nil and an error", r, err)
				}
				checkFormatError(t, err, tc.off, tc.msg, tc.sentinel)
				return
			}
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			got, err := readAll(t, r)
			if len(got) != tc.packets {
				t.Errorf("read %d packets before the error, want %d", len(got), tc.packets)
			}
			checkFormatError(t, err, tc.off, tc.msg, tc.sentinel)
			// The error sticks.
			if _, err2 := r.ReadPacket(); err2 != err {
				t.Errorf("second ReadPacket: %v, want the same error %v", err2, err)
			}
		})
	}
}

// TestEveryPrefix reads every prefix of a pcap and a pcapng file: each
// reads a prefix of the packets, then ends cleanly exactly at a record
// boundary and otherwise with io.ErrUnexpectedEOF.
func TestEveryPrefix(t *testing.T) {
	var pc []byte
	pc = append(pc, pcapHeader(false, false, 2, 4, 0, 1)...)
	var g ngBuilder
	g.shb(false).idb(LinkTypeEthernet, 0).block(5, make([]byte, 12))
	for i := range 5 {
		data := bytes.Repeat([]byte{byte(i)}, i*3)
		pc = append(pc, pcapRecord(false, uint32(i), 0, uint32(len(data)), 100, data)...)
		g.epb(0, uint64(i), data, 100)
		if i == 2 {
			g.spb(data, uint32(len(data)))
		}
	}
	for _, in := range [][]byte{pc, g.b} {
		full, err := readAll(t, mustReader(t, in))
		if err != nil {
			t.Fatal(err)
		}
		boundaries := map[int]bool{}
		for n := range len(in) {
			r, err := NewReader(bytes.NewReader(in[:n]))
			if err != nil {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("prefix %d: NewReader: %v", n, err)
				}
				continue
			}
			got, err := readAll(t, r)
			if diff := cmp.Diff(full[:len(got)], got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("prefix %d: (-want +got):\n%s", n, diff)
			}
			if err == nil {
				boundaries[n] = true
			} else {
				var fe *FormatError
				if !errors.As(err, &fe) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("prefix %d: %v, want a *FormatError wrapping io.ErrUnexpectedEOF", n, err)
				}
			}
		}
		// Clean ends: after the header (or leading blocks) and after each
		// record, and never inside one.
		if len(boundaries) < len(full) {
			t.Errorf("%d clean prefixes, want at least %d", len(boundaries), len(full))
		}
	}
}

func TestIterationAPIs(t *testing.T) {
	in := pcapHeader(false, true, 2, 4, 0, 1)
	for i := range 10 {
		in = append(in, pcapRecord(false, uint32(i), 7, 1, 1, []byte{byte(i)})...)
	}
	t.Run("Next", func(t *testing.T) {
		r := mustReader(t, in)
		n := 0
		for r.Next() {
			p := r.Packet()
			if p.Data[0] != byte(n) || p.Timestamp != int64(n)*1e9+7 {
				t.Errorf("packet %d: %+v", n, p)
			}
			n++
		}
		if n != 10 || r.Err() != nil {
			t.Errorf("Next: %d packets, Err %v", n, r.Err())
		}
	})
	t.Run("Packets break", func(t *testing.T) {
		r := mustReader(t, in)
		n := 0
		for p, err := range r.Packets() {
			if err != nil {
				t.Fatal(err)
			}
			if p.Data[0] != byte(n) {
				t.Errorf("packet %d: %+v", n, p)
			}
			if n++; n == 4 {
				break
			}
		}
		// Iteration resumes at the next packet.
		p, err := r.ReadPacket()
		if err != nil || p.Data[0] != 4 {
			t.Errorf("after break: %+v, %v", p, err)
		}
	})
	t.Run("Packets error", func(t *testing.T) {
		r := mustReader(t, append(bytes.Clone(in), 1, 2, 3))
		n, errs := 0, 0
		for p, err := range r.Packets() {
			if err != nil {
				errs++
				if p != nil || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("got %v, %v", p, err)
				}
				continue
			}
			n++
		}
		if n != 10 || errs != 1 {
			t.Errorf("%d packets, %d errors; want 10, 1", n, errs)
		}
		if r.Next() || r.Err() == nil {
			t.Error("Next after the error succeeded")
		}
	})
	t.Run("Time", func(t *testing.T) {
		p := Packet{Timestamp: 1_700_000_000_123_456_789}
		want := time.Date(2023, 11, 14, 22, 13, 20, 123456789, time.UTC)
		if got := p.Time(); !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Time() = %v, want %v", got, want)
		}
	})
}

// TestNoHugeAllocation feeds records and blocks that claim far more data
// than the input holds: the buffer must stay near the input's size.
func TestNoHugeAllocation(t *testing.T) {
	var g ngBuilder
	g.shb(false).idb(LinkTypeEthernet, maxSnaplen).epb(0, 0, make([]byte, 1000), 1000)
	g.b[28+20+20] = 0   // caplen 16 MiB
	g.b[28+20+21] = 0   //
	g.b[28+20+22] = 0   //
	g.b[28+20+23] = 1   //
	g.b[28+20+7] = 0x01 // block length about 16 MiB
	for _, in := range [][]byte{
		append(pcapHeader(false, false, 2, 4, maxSnaplen, 1), pcapRecord(false, 0, 0, maxSnaplen, maxSnaplen, make([]byte, 1000))...),
		g.b,
	} {
		r, err := NewReader(&smallReader{b: in, n: 1 << 20}) // no Len: the default buffer
		if err != nil {
			t.Fatal(err)
		}
		_, err = readAll(t, r)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("got %v, want io.ErrUnexpectedEOF", err)
		}
		if cap(r.buf) > defaultBufSize {
			t.Errorf("buffer grew to %d bytes for %d bytes of input", cap(r.buf), len(in))
		}
	}
}

func TestLinkTypeString(t *testing.T) {
	for lt, want := range map[LinkType][2]string{
		LinkTypeNull: {"NULL", "BSD loopback"}, LinkTypeEthernet: {"EN10MB", "Ethernet"}, LinkTypeRaw: {"RAW", "Raw IP"},
		LinkTypeIPv4: {"IPV4", "Raw IPv4"}, LinkTypeIPv6: {"IPV6", "Raw IPv6"}, LinkTypeLinuxSLL: {"LINUX_SLL", "Linux cooked v1"},
		LinkTypeLinuxSLL2: {"LINUX_SLL2", "Linux cooked v2"}, LinkTypeLoop: {"LOOP", "OpenBSD loopback"}, 147: {"147", ""},
	} {
		if got, gotDesc := lt.String(), lt.Description(); got != want[0] || gotDesc != want[1] {
			t.Errorf("LinkType(%d): String, Description = %q, %q; want %q, %q", uint16(lt), got, gotDesc, want[0], want[1])
		}
	}
	if FormatPcap.String() != "pcap" || FormatPcapng.String() != "pcapng" || Format(9).String() != "Format(9)" {
		t.Error("Format.String")
	}
}

// TestOpenReadsNoPacket checks that NewReader on a pcapng stream stops
// after the first Interface Description Block: on a live stream (tcpdump
// -w - | ...) it must not wait for the first packet. Errors from the
// io.Reader come back unchanged.
func TestOpenReadsNoPacket(t *testing.T) {
	boom := errors.New("boom")
	var g ngBuilder
	g.shb(true).block(4, make([]byte, 8)).idb(LinkTypeIPv4, 1500)
	r, err := NewReader(io.MultiReader(bytes.NewReader(g.b), &errReader{boom}))
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != LinkTypeIPv4 || r.Snaplen() != 1500 {
		t.Errorf("LinkType, Snaplen = %v, %d", r.LinkType(), r.Snaplen())
	}
	if _, err := r.ReadPacket(); err != boom {
		t.Errorf("ReadPacket = %v, want the io.Reader's error", err)
	}
	if r.Err() != boom {
		t.Errorf("Err = %v, want the io.Reader's error", r.Err())
	}

	// The same for pcap: nothing past the file header.
	r, err = NewReader(io.MultiReader(bytes.NewReader(pcapHeader(false, false, 2, 4, 0, 1)), &errReader{boom}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadPacket(); err != boom {
		t.Errorf("ReadPacket = %v, want the io.Reader's error", err)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }
