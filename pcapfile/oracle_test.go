package pcapfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const testdataDir = "../testdata/pcaps"

// testdataFiles describes the captures in testdata/pcaps (see SOURCES.txt
// there): what this package must read from each, independently of any
// oracle.
var testdataFiles = map[string]struct {
	format    Format
	packets   int
	linkTypes []LinkType // the distinct link types, in order of appearance
	check     func(t *testing.T, pkts []Packet)
	tcpdump   string // non-empty: tcpdump cannot read the file; its error
}{
	"cs_dns_pcapng_named_pcap.pcap": {format: FormatPcapng, packets: 7, linkTypes: []LinkType{LinkTypeEthernet}}, // pcapng despite the name
	"cs_http_ip4and6.pcapng":        {format: FormatPcapng, packets: 20, linkTypes: []LinkType{LinkTypeEthernet}},
	"cs_http_post.pcapng":           {format: FormatPcapng, packets: 21, linkTypes: []LinkType{LinkTypeEthernet}},
	"cs_ip_frag_source.pcapng":      {format: FormatPcapng, packets: 6, linkTypes: []LinkType{LinkTypeEthernet}},
	"cs_ipv6_fragments.pcapng":      {format: FormatPcapng, packets: 22, linkTypes: []LinkType{LinkTypeEthernet}},
	"cs_tcp_retransmissions.pcapng": {format: FormatPcapng, packets: 6, linkTypes: []LinkType{LinkTypeEthernet}},
	"gopacket_pcapng_be_test006_mixed_linktypes.pcapng": {
		format: FormatPcapng, packets: 5, linkTypes: []LinkType{LinkTypeEthernet, LinkTypeNull},
		check: func(t *testing.T, pkts []Packet) {
			// Big-endian; interface 0 (eth0, snaplen 96) and 1 (en1, Null).
			for i, p := range pkts {
				wantIf := 0
				if i == 1 {
					wantIf = 1
				}
				if p.InterfaceIndex != wantIf || (wantIf == 0) != (p.LinkType == LinkTypeEthernet) {
					t.Errorf("packet %d: interface %d, link type %v", i, p.InterfaceIndex, p.LinkType)
				}
				if wantIf == 0 && p.CaptureLength > 96 {
					t.Errorf("packet %d: caplen %d beyond snaplen 96", i, p.CaptureLength)
				}
			}
		},
		tcpdump: "an interface has a type 0 different from the type of the first interface",
	},
	"gopacket_test_loopback_null_ipv6.pcap": {
		format: FormatPcap, packets: 24, linkTypes: []LinkType{LinkTypeNull},
		check: func(t *testing.T, pkts []Packet) {
			// Null: a 4-byte address family in the writer's byte order;
			// 30 is AF_INET6 on macOS.
			for i, p := range pkts {
				if p.Data[0] != 30 || p.Data[4]>>4 != 6 {
					t.Errorf("packet %d: starts % x, want family 30 then IPv6", i, p.Data[:5])
				}
			}
		},
	},
	"tcpdump_8021ad_qinq.pcap":               {format: FormatPcap, packets: 2, linkTypes: []LinkType{LinkTypeEthernet}},
	"tcpdump_accecn_handshake_badcksum.pcap": {format: FormatPcap, packets: 6, linkTypes: []LinkType{LinkTypeEthernet}},
	"tcpdump_dns_tcp.pcap":                   {format: FormatPcap, packets: 11, linkTypes: []LinkType{LinkTypeEthernet}},
	"tcpdump_dns_udp.pcap":                   {format: FormatPcap, packets: 2, linkTypes: []LinkType{LinkTypeEthernet}},
	"tcpdump_dns_udp_snaplen98.pcap": {
		format: FormatPcap, packets: 2, linkTypes: []LinkType{LinkTypeEthernet},
		check: func(t *testing.T, pkts []Packet) {
			if p := pkts[1]; p.CaptureLength != 98 || p.Length != 266 {
				t.Errorf("response caplen %d, len %d; want 98, 266", p.CaptureLength, p.Length)
			}
		},
	},
	"tcpdump_dnssec_bad_udp_cksum.pcap": {format: FormatPcap, packets: 6, linkTypes: []LinkType{LinkTypeEthernet}},
	"tcpdump_empty.pcapng":              {format: FormatPcapng, packets: 0, linkTypes: nil},
	"tcpdump_gso_ipv6_tcp_badcksum.pcap": {
		format: FormatPcap, packets: 1, linkTypes: []LinkType{LinkTypeEthernet},
		check: func(t *testing.T, pkts []Packet) {
			if pkts[0].CaptureLength != 7226 {
				t.Errorf("GSO super-segment caplen %d, want 7226", pkts[0].CaptureLength)
			}
		},
	},
	"tcpdump_ipv4_tcp_http_xml.pcap": {format: FormatPcap, packets: 1, linkTypes: []LinkType{LinkTypeEthernet}},
	"tcpdump_ldp_vlan_tcp_udp.pcap":  {format: FormatPcap, packets: 22, linkTypes: []LinkType{LinkTypeEthernet}},
	"tcpdump_tcp_handshake_sll_nano.pcap": {
		format: FormatPcap, packets: 3, linkTypes: []LinkType{LinkTypeLinuxSLL},
		check: func(t *testing.T, pkts []Packet) {
			// As tcpdump -tttt --nano prints them, in UTC.
			want := []string{"2014-12-09 17:16:09.924505488", "2014-12-09 17:16:10.052027262", "2014-12-09 17:16:10.052115157"}
			for i, p := range pkts {
				if got := p.Time().Format("2006-01-02 15:04:05.000000000"); got != want[i] {
					t.Errorf("packet %d: timestamp %s, want %s", i, got, want[i])
				}
			}
		},
	},
	"tcpdump_tcp_rst_data_trunc.pcap": {
		format: FormatPcap, packets: 1, linkTypes: []LinkType{LinkTypeEthernet},
		check: func(t *testing.T, pkts []Packet) {
			if p := pkts[0]; p.CaptureLength != 111 || p.Length != 112 {
				t.Errorf("caplen %d, len %d; want 111, 112", p.CaptureLength, p.Length)
			}
		},
	},
}

func testdataPaths(t testing.TB) []string {
	t.Helper()
	var paths []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join(testdataDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) != len(testdataFiles) {
		t.Fatalf("found %d captures in %s, want the %d described in testdataFiles", len(paths), testdataDir, len(testdataFiles))
	}
	return paths
}

// oraclePacket is what both readers must agree on.
type oraclePacket struct {
	TimestampNS    int64
	CaptureLength  int
	Length         int
	InterfaceIndex int
	LinkType       LinkType
	Data           []byte
}

func fromPacket(p Packet) oraclePacket {
	return oraclePacket{p.Timestamp, p.CaptureLength, p.Length, p.InterfaceIndex, p.LinkType, p.Data}
}

// readPcapgo reads a capture with gopacket's pcapgo, choosing its pcap or
// pcapng reader by the magic number.
func readPcapgo(in []byte) ([]oraclePacket, error) {
	var (
		read func() ([]byte, gopacket.CaptureInfo, error)
		lt   func(ci gopacket.CaptureInfo) LinkType
	)
	if bytes.HasPrefix(in, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(in), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, err
		}
		read = r.ReadPacketData
		lt = func(ci gopacket.CaptureInfo) LinkType { return LinkType(ci.AncillaryData[0].(layers.LinkType)) }
	} else {
		r, err := pcapgo.NewReader(bytes.NewReader(in))
		if err != nil {
			return nil, err
		}
		read = r.ReadPacketData
		lt = func(gopacket.CaptureInfo) LinkType { return LinkType(r.LinkType()) }
	}
	var pkts []oraclePacket
	for {
		data, ci, err := read()
		if err == io.EOF {
			return pkts, nil
		}
		if err != nil {
			return pkts, err
		}
		ns := ci.Timestamp.UnixNano()
		if ci.Timestamp.IsZero() {
			ns = 0 // pcapgo's "no timestamp" (Simple Packet Block)
		}
		pkts = append(pkts, oraclePacket{ns, ci.CaptureLength, ci.Length, ci.InterfaceIndex, lt(ci), data})
	}
}

// TestTestdata reads every capture in testdata/pcaps and compares the
// packets with the expectations above and with pcapgo's reading.
func TestTestdata(t *testing.T) {
	for _, path := range testdataPaths(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want, ok := testdataFiles[name]
			if !ok {
				t.Fatalf("%s is not described in testdataFiles", name)
			}
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			if r.Format() != want.format {
				t.Errorf("Format %v, want %v", r.Format(), want.format)
			}
			pkts, err := readAll(t, r)
			if err != nil {
				t.Fatalf("after %d packets: %v", len(pkts), err)
			}
			if len(pkts) != want.packets {
				t.Errorf("%d packets, want %d", len(pkts), want.packets)
			}
			var lts []LinkType
			for _, p := range pkts {
				if len(lts) == 0 || !contains(lts, p.LinkType) {
					lts = append(lts, p.LinkType)
				}
			}
			if diff := cmp.Diff(want.linkTypes, lts); diff != "" {
				t.Errorf("link types (-want +got):\n%s", diff)
			}
			if want.check != nil && len(pkts) == want.packets {
				want.check(t, pkts)
			}

			oracle, err := readPcapgo(in)
			if err != nil {
				t.Fatalf("pcapgo: %v", err)
			}
			got := make([]oraclePacket, len(pkts))
			for i, p := range pkts {
				got[i] = fromPacket(p)
			}
			if !oracleEqual(oracle, got) {
				t.Errorf("packets (-pcapgo +pcapfile):\n%s", cmp.Diff(oracle, got, cmpopts.EquateEmpty()))
			}
		})
	}
}

func oracleEqual(a, b []oraclePacket) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.TimestampNS != y.TimestampNS || x.CaptureLength != y.CaptureLength || x.Length != y.Length ||
			x.InterfaceIndex != y.InterfaceIndex || x.LinkType != y.LinkType || !bytes.Equal(x.Data, y.Data) {
			return false
		}
	}
	return true
}

func contains(s []LinkType, v LinkType) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestTestdataTcpdump compares packet counts and timestamps with
// `tcpdump -n -tt --nano -r FILE`, one line per packet. It needs tcpdump
// (Debian package tcpdump) and skips without it.
func TestTestdataTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (apt-get install tcpdump): packet counts and timestamps not compared with it")
	}
	for _, path := range testdataPaths(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want := testdataFiles[name]
			cmd := exec.Command(tcpdump, "-n", "-tt", "--nano", "-r", path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			// One line per packet, starting with its timestamp in
			// seconds since the epoch, to the nanosecond.
			var stamps []string
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				ts, _, _ := strings.Cut(sc.Text(), " ")
				stamps = append(stamps, ts)
			}
			if want.tcpdump != "" {
				// libpcap refuses pcapng files whose interfaces have
				// different link types; this package reads them.
				if err == nil || !strings.Contains(stderr.String(), want.tcpdump) {
					t.Errorf("tcpdump: %v, %q; want it to fail with %q", err, stderr.String(), want.tcpdump)
				}
				return
			}
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatalf("tcpdump: %v: %s", err, stderr.String())
			}
			if len(stamps) != want.packets {
				t.Errorf("tcpdump printed %d lines, want %d packets", len(stamps), want.packets)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			pkts, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			var ours []string
			for _, p := range pkts {
				ours = append(ours, fmt.Sprintf("%d.%09d", p.Timestamp/1e9, p.Timestamp%1e9))
			}
			if diff := cmp.Diff(stamps, ours); diff != "" {
				t.Errorf("timestamps (-tcpdump +pcapfile):\n%s", diff)
			}
		})
	}
}

// TestPcapngOracle compares this package with pcapgo on pcapng input that
// uses the features both read alike: both byte orders, several sections,
// several interfaces and link types, decimal if_tsresol, if_tsoffset,
// packet, simple packet and unknown blocks, options. (pcapgo scales
// binary resolutions inexactly, so they are tested on their own.)
func TestPcapngOracle(t *testing.T) {
	var g ngBuilder
	for s, be := range []bool{false, true, true, false} {
		g.shb(be, opt(3, []byte("os")), opt(0, nil))
		g.idb(LinkTypeEthernet, 1000, opt(2, []byte("eth0")), opt(0, nil))
		g.idb(LinkTypeLinuxSLL2, 0, opt(ngOptTSResol, []byte{9}), opt(ngOptTSOffset, g.u64(uint64(s)*100)))
		g.block(0x80000001, []byte("local use block"))
		g.idb(LinkTypeRaw, 64, opt(ngOptTSResol, []byte{3}))
		for i := range 20 {
			data := bytes.Repeat([]byte{byte(i), byte(s)}, i*13)
			ts := uint64(1_700_000_000+i) * 1e3 // ms on interface 2, µs on 0, ns on 1
			switch i % 5 {
			case 0, 1:
				g.epb(uint32(i%3), ts, data[:min(len(data), 64)], uint32(len(data)), opt(1, []byte("comment")))
			case 2:
				g.pb(uint16(i%3), ts, data[:min(len(data), 64)], uint32(len(data)))
			case 3:
				g.spb(data[:min(len(data), 1000)], uint32(len(data)))
			case 4:
				g.block(5, make([]byte, 20)) // interface statistics
			}
		}
	}
	oracle, err := readPcapgo(g.b)
	if err != nil {
		t.Fatalf("pcapgo: %v", err)
	}
	pkts, err := readAll(t, mustReader(t, g.b))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]oraclePacket, len(pkts))
	for i, p := range pkts {
		got[i] = fromPacket(p)
	}
	if len(got) != 4*16 || !oracleEqual(oracle, got) {
		t.Errorf("%d packets (-pcapgo +pcapfile):\n%s", len(got), cmp.Diff(oracle, got, cmpopts.EquateEmpty()))
	}
}
