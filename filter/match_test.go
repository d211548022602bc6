package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/portkit/ports/pcapfile"
)

// TestOracleAgreement runs every filter of tcpdumpFilters over the
// synthetic captures of every link type, in the BPF VM and in the
// evaluator of oracle_test.go, without needing tcpdump.
func TestOracleAgreement(t *testing.T) {
	caps := syntheticCaptures(readAllCaptures(t))
	for _, f := range append(tcpdumpFilters, "tcp or ip", "ip6 or tcp port 80", "not (ip and udp) or tcp") {
		e := MustParse(f)
		for _, c := range caps {
			m, err := e.Matcher(c.link)
			if err != nil {
				t.Fatalf("%q on %v: %v", f, c.link, err)
			}
			for _, p := range c.pkts {
				got := m.Match(p.data, p.origLen)
				if want, defined := evalOracle(e, c.link, p.data, p.origLen); defined && got != want {
					t.Errorf("%q on %s (%s): program %v, evaluator %v\n%s", f, p.what, c.name, got, want, listing(m.Program()))
				}
			}
		}
	}
}

// TestLongJumps checks programs longer than a conditional jump reaches.
func TestLongJumps(t *testing.T) {
	var hosts, portList []string
	for i := range 120 {
		hosts = append(hosts, fmt.Sprintf("10.0.%d.%d", i/200, i%200+1))
		if i < 50 {
			portList = append(portList, fmt.Sprint(1000+i))
		}
	}
	filters := []string{
		"host " + strings.Join(hosts, " or "),
		"tcp and not (port " + strings.Join(portList, " or ") + ") or udp",
		"src and dst host " + strings.Join(hosts, " or ") + " or ip6",
	}
	caps := syntheticCaptures(readAllCaptures(t))
	for _, f := range filters {
		e := MustParse(f)
		for _, link := range linkTypes {
			prog, err := e.Compile(link, 0)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if len(prog) < 256 && link != pcapfile.LinkTypeIPv6 && link != pcapfile.LinkTypeIPv4 {
				t.Errorf("%v: %d instructions; want a program long enough to need long jumps", link, len(prog))
			}
		}
		for _, c := range caps {
			prog, err := e.Compile(c.link, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.pkts[:min(len(c.pkts), 200)] {
				checkProgram(t, e, c.link, prog, p.data)
			}
		}
	}
	// A packet from the last host.
	pkt := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 120, 10, 0, 0, 1}
	m, err := NewMatcher(filters[0], pcapfile.LinkTypeIPv4)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match(pkt, len(pkt)) {
		t.Errorf("%q does not match a packet from 10.0.0.120", filters[0][:40])
	}
}

func TestProgramTooLong(t *testing.T) {
	var alts []string
	for i := range 1000 {
		alts = append(alts, fmt.Sprint(i+1))
	}
	_, err := Compile("port "+strings.Join(alts, " or "), pcapfile.LinkTypeEthernet, 0)
	if !errors.Is(err, ErrProgramTooLong) {
		t.Errorf("Compile of 1000 ports: %v, want ErrProgramTooLong", err)
	}
}

// TestPortListSearched: a knockd-style filter of 500 scattered TCP
// destination ports (and 250 UDP) compiles to about two instructions a
// port and IP version (it took twenty, and ran past the kernel's limit
// at about 200 ports), and keeps exactly the packets to those ports, over
// IPv4 and IPv6, every port from 0 to 65535 tried.
func TestPortListSearched(t *testing.T) {
	want := make(map[[2]int]bool)
	var tcp, udp []string
	for i := range 500 {
		p := 1024 + i*61%64000 // scattered, none adjacent
		tcp = append(tcp, fmt.Sprintf("tcp dst port %d", p))
		want[[2]int{6, p}] = true
		if i%2 == 0 {
			udp = append(udp, fmt.Sprintf("udp dst port %d", p+1))
			want[[2]int{17, p + 1}] = true
		}
	}
	expr := strings.Join(append(tcp, udp...), " or ")
	for _, link := range []pcapfile.LinkType{pcapfile.LinkTypeEthernet, pcapfile.LinkTypeRaw} {
		m, err := NewMatcher(expr, link)
		if err != nil {
			t.Fatalf("%v: %v", link, err)
		}
		if n := len(m.Program()); n > 4500 {
			t.Errorf("%v: %d instructions for 750 ports", link, n)
		}
		for _, proto := range []int{6, 17} {
			for _, v6 := range []bool{false, true} {
				for port := range 65536 {
					pkt := transportPacket(link, v6, proto, port)
					if got := m.Match(pkt, len(pkt)); got != want[[2]int{proto, port}] {
						t.Fatalf("%v, proto %d, IPv6 %v, port %d: match %v", link, proto, v6, port, got)
					}
				}
			}
		}
	}
}

// transportPacket is a packet of link with an IPv4 or IPv6 header and a
// transport header of proto to dport.
func transportPacket(link pcapfile.LinkType, v6 bool, proto, dport int) []byte {
	var pkt []byte
	if link == pcapfile.LinkTypeEthernet {
		pkt = make([]byte, 14)
		pkt[12], pkt[13] = 0x08, 0x00
		if v6 {
			pkt[12], pkt[13] = 0x86, 0xdd
		}
	}
	if v6 {
		ip := make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, byte(proto), 64
		pkt = append(pkt, ip...)
	} else {
		pkt = append(pkt, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, byte(proto), 0, 0, 198, 18, 0, 1, 198, 18, 0, 2)
	}
	th := make([]byte, 20)
	th[0], th[1], th[2], th[3] = 0x9c, 0x40, byte(dport>>8), byte(dport)
	return append(pkt, th...)
}

func TestUnsupportedLinkType(t *testing.T) {
	_, err := Compile("tcp", pcapfile.LinkType(105), 0)
	if !errors.Is(err, ErrUnsupportedLinkType) {
		t.Errorf("Compile for link type 105: %v, want ErrUnsupportedLinkType", err)
	}
	if got, want := err.Error(), "filter: unsupported link type IEEE802_11"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	for _, l := range []pcapfile.LinkType{pcapfile.LinkTypeIEEE80211, pcapfile.LinkTypePPP, 147} {
		if Supports(l) {
			t.Errorf("Supports(%v) = true", l)
		}
	}
	all := LinkTypes()
	if len(all) != 8 {
		t.Errorf("LinkTypes() = %v, want 8 link types", all)
	}
	for _, l := range all {
		if !Supports(l) {
			t.Errorf("Supports(%v) = false for a member of LinkTypes()", l)
		}
		if _, err := Compile("tcp", l, 0); err != nil {
			t.Errorf("Compile for %v: %v", l, err)
		}
	}
	all[0] = 147 // the caller's copy
	if Supports(147) {
		t.Error("LinkTypes returned the package's own array")
	}
}

// TestConstantPrograms checks filters that the link type decides, and
// the empty filter.
func TestConstantPrograms(t *testing.T) {
	tests := []struct {
		expr string
		link pcapfile.LinkType
		want []bpf.Instruction
	}{
		{"", pcapfile.LinkTypeEthernet, []bpf.Instruction{bpf.RetConstant{Val: 96}}},
		{"ip", pcapfile.LinkTypeIPv4, []bpf.Instruction{bpf.RetConstant{Val: 96}}},
		{"ip6 or arp", pcapfile.LinkTypeIPv4, []bpf.Instruction{bpf.RetConstant{Val: 0}}},
		{"ip6 host ::1 and ip", pcapfile.LinkTypeIPv6, []bpf.Instruction{bpf.RetConstant{Val: 0}}},
		{"not ip6", pcapfile.LinkTypeIPv6, []bpf.Instruction{bpf.RetConstant{Val: 0}}},
		{"ip", pcapfile.LinkTypeEthernet, []bpf.Instruction{
			bpf.LoadAbsolute{Off: 12, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x800, SkipFalse: 1},
			bpf.RetConstant{Val: 96},
			bpf.RetConstant{Val: 0},
		}},
	}
	for _, tt := range tests {
		prog, err := Compile(tt.expr, tt.link, 96)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(prog) != fmt.Sprint(tt.want) {
			t.Errorf("Compile(%q, %v) =\n%s\nwant\n%s", tt.expr, tt.link, listing(prog), listing(tt.want))
		}
	}
}

func TestAssemble(t *testing.T) {
	raw, err := Assemble("tcp port 80", pcapfile.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	prog, _ := Compile("tcp port 80", pcapfile.LinkTypeEthernet, 0)
	if len(raw) != len(prog) {
		t.Errorf("Assemble: %d instructions, Compile %d", len(raw), len(prog))
	}
	if last := raw[len(raw)-1]; last.Op != 0x06 || last.K != 0 {
		t.Errorf("last instruction %+v, want ret #0", last)
	}
	if _, err := Assemble("tcp port", pcapfile.LinkTypeEthernet, 0); err == nil {
		t.Error("Assemble of a bad filter succeeded")
	}
}

// TestMatchNoAllocs checks that matching a packet allocates nothing.
func TestMatchNoAllocs(t *testing.T) {
	pkts := seedPackets(t)[pcapfile.LinkTypeEthernet]
	m, err := NewMatcher("tcp port 80 or udp portrange 50-60 or host ::1 or net 10.0.0.0/8", pcapfile.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range pkts {
			m.Match(p, len(p))
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per %d packets, want 0", allocs, len(pkts))
	}
}

func BenchmarkMatch(b *testing.B) {
	pkts := seedPackets(b)[pcapfile.LinkTypeEthernet]
	for _, f := range []string{"tcp", "tcp port 80 or udp port 53", "host 192.168.1.11 and not port 22", "net 2001:db8::/32 or ip6 host ::1"} {
		b.Run(f, func(b *testing.B) {
			m, err := NewMatcher(f, pcapfile.LinkTypeEthernet)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				p := pkts[n%len(pkts)]
				m.Match(p, len(p))
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("tcp port 80 or udp port domain and not host 10.0.0.1", pcapfile.LinkTypeEthernet, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAlwaysTrueKeepsShortFrames checks that filters that are always
// true compile to "accept" and keep frames shorter than their link
// header, as libpcap's optimizer makes them (once, 22 of 4,770 Ethernet
// frames and a 15-byte SLL frame were dropped).
func TestAlwaysTrueKeepsShortFrames(t *testing.T) {
	for _, f := range []string{"ip or not ip", "not ip6 or ip6", "ip6 or arp or not (ip6 or arp)", "1 = 1", "port 80 or 1 = 1"} {
		for _, link := range linkTypes {
			m, err := NewMatcher(f, link)
			if err != nil {
				t.Fatal(err)
			}
			if p := m.Program(); len(p) != 1 {
				t.Errorf("%q on %v: %d instructions, want one that accepts:\n%s", f, link, len(p), listing(p))
			}
			for n := range 16 {
				if !m.Match(make([]byte, n), n) {
					t.Errorf("%q on %v drops a %d-byte frame", f, link, n)
				}
			}
		}
	}
}
