package filter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portkit/ports/pcapfile"
)

// tcpdumpFilters are run through tcpdump and through Matcher on every
// capture; the packets each keeps must be the same. Every filter here is
// one that tcpdump accepts too.
var tcpdumpFilters = []string{
	// Protocols.
	"tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp", "sctp",
	"not ip", "ip6 and tcp", "icmp or icmp6", "ip and not tcp and not udp",
	// Hosts, with and without direction and protocol.
	"host 192.168.1.11", "host 209.87.249.18", "host 127.0.0.1", "host ::1",
	"host 2001:db8:1:2::1003", "host 10.10.0.3", "host 224.0.0.2", "host 12.0.0.2",
	"host 2604:1380:4091:ce00::d", "host 10.21.11.94", "host 192.168.0.1",
	"src host 172.16.16.140", "dst host 172.16.16.140", "ip src host 131.155.215.69",
	"ip6 dst host 2001:db8:1:2::1000", "src or dst host 127.0.0.1", "src and dst host 127.0.0.1",
	"arp host 10.0.0.1", "ip host 4.2.2.1", "src 192.168.1.11", "dst 192.168.0.128",
	"host 010.010.000.003", "host 172.21.79.100", "arp host 172.21.79.97", "src host 172.21.79.97",
	"dst net 172.21.79.96/30 and not ip", "ip host 172.21.79.100",
	// Networks.
	"net 192.168.0.0/16", "net 172.16", "net 10", "net 127.0.0.0/8", "net 2001:db8::/32",
	"net 0.0.0.0/0", "ip6 net ::/0", "dst net 224.0.0.0/4", "src net 192.168.1.0/24",
	"net 2604:1380:4091:ce00::/56", "ip net 66.228.43.0/24", "net 10.1/16", "net 192.168.1",
	"net fe80::/10", "net 12.1.3.2/32",
	// Ports.
	"port 53", "port 80", "port 646", "port 8080", "src port 80", "dst port 80",
	"tcp port 53", "udp port 53", "tcp dst port 45393", "udp src port 646",
	"port domain", "port snmp", "port ldp", "sctp port domain", "tcp portrange 25-smtp", "portrange login-shell", "tcp port http", "udp port domain", "port https",
	"portrange 1-1024", "tcp portrange 40000-65535", "udp dst portrange 0-100",
	"portrange 646", "src portrange 50000-60000", "portrange 1024-80", "port 0x50", "port 0120",
	"src and dst port 53", "src or dst port 53", "tcp src or dst port 80",
	"sctp port 80",
	// Operators, grouping and repeated qualifiers.
	"tcp and not port 80", "udp or icmp", "(tcp or udp) and host 192.168.1.11",
	"host 192.168.1.11 or 209.87.249.18", "tcp port 80 or 443 or 8080",
	"! tcp && udp || icmp", "host 10.10.0.3 and not 192.168.0.128",
	"port 53 and (udp or tcp)", "not (port 80 or port 53)", "tcp or udp and port 53",
	"port 80 and (443 or 5767)", "host (127.0.0.1 or ::1)", "not not ip6",
	"ip6 or arp or icmp and not udp", "src port 80 and dst port 1989 or icmp6",
	"port 1 or (host 1.1.1.1) or 2",
	// Port lists long enough to be searched (see portSearch), with
	// ports of the captures among them.
	"tcp dst port 22 or 25 or 53 or 80 or 110 or 443 or 646 or 8080 or 45393",
	"udp src port 53 or 67 or 68 or 123 or 137 or 646 or 1989 or 5353 or udp src portrange 50000-60000",
	"dst portrange 1-52 or 54-79 or 81-100 or 443 or 1000-2000 or 5000-5001 or 40000-65535",
	"tcp src port 80 or tcp src port 443 or udp dst port 53 or 67 or 123 or 646 or 1900 or tcp src port 8080",
	searchedPorts(),
}

// searchedPorts is "dst port A or B or ..." with ports enough for the
// search to need long jumps, the ports the captures use among them.
func searchedPorts() string {
	list := []string{"53", "80", "443", "646", "1989", "5767", "8080", "45393"}
	for p := 1100; len(list) < 400; p += 7 {
		list = append(list, fmt.Sprint(p))
	}
	return "dst port " + strings.Join(list, " or ")
}

// lookTcpdump finds tcpdump, also in the sbin directories that a
// non-root PATH may leave out, or skips the test.
func lookTcpdump(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("tcpdump"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/tcpdump", "/usr/bin/tcpdump", "/sbin/tcpdump"} {
		if p, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Skip("tcpdump not found: install it (Debian package tcpdump, and netbase for service names) to compare filters with it")
	return ""
}

// tcpdumpKeeps runs tcpdump over the capture at path (whose packets
// are pkts) and returns the indexes of the packets it keeps.
func tcpdumpKeeps(tcpdump, path string, pkts []capPkt, filter string) ([]int, error) {
	cmd := exec.Command(tcpdump, "-r", path, "-w", "-", "--", filter)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "expression rejects all packets") {
			return nil, nil
		}
		return nil, fmt.Errorf("tcpdump %q: %v: %s", filter, err, stderr.String())
	}
	r, err := pcapgo.NewReader(&stdout)
	if err != nil {
		return nil, fmt.Errorf("tcpdump %q output: %v", filter, err)
	}
	// The output keeps the order of the input, so each record is the
	// next input packet with the same bytes. (Packets with the same
	// bytes get the same verdict, so which of them matched is moot.)
	var keep []int
	next := 0
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return keep, nil
		}
		if err != nil {
			return nil, fmt.Errorf("tcpdump %q output: %v", filter, err)
		}
		for next < len(pkts) && !bytes.Equal(pkts[next].data, data) {
			next++
		}
		if next == len(pkts) {
			return nil, fmt.Errorf("tcpdump %q wrote a packet that is not in the input", filter)
		}
		keep = append(keep, next)
		next++
	}
}

// captureFile is a capture on disk, to give to tcpdump.
type captureFile struct {
	name  string
	path  string
	order binary.ByteOrder
	pkts  []capPkt
}

// comparisonCaptures writes the captures of syntheticCaptures under
// dir: all the shared captures' packets, merged by link type, and the
// synthetic packets for every link type.
func comparisonCaptures(t *testing.T, dir string) []captureFile {
	t.Helper()
	var files []captureFile
	for _, c := range syntheticCaptures(readAllCaptures(t)) {
		path := filepath.Join(dir, c.name+".pcap")
		if err := writePcap(path, c.link, c.order, c.pkts); err != nil {
			t.Fatal(err)
		}
		files = append(files, captureFile{name: c.name, path: path, order: c.order, pkts: c.pkts})
	}
	return files
}

// TestTcpdumpAgreement checks that a Matcher keeps exactly the packets
// that tcpdump keeps, for every filter in tcpdumpFilters, over every
// packet of the shared captures (Ethernet with and without 802.1Q and
// 802.1ad tags, Linux SLL, BSD NULL, IPv4 and IPv6 fragments, truncated
// packets) and over synthetic packets that carry theirs, altered and cut
// short, over every supported link type. To run tcpdump less often, the
// packets are merged into one capture per link type; a difference names
// the file and packet it came from. It also checks the evaluator in
// oracle_test.go against the same verdicts.
func TestTcpdumpAgreement(t *testing.T) {
	tcpdump := lookTcpdump(t)
	filters := tcpdumpFilters
	if testing.Short() {
		filters = filters[:12]
	}
	var kept, compared atomic.Int64
	t.Cleanup(func() {
		t.Logf("%d verdicts compared, %d packets kept", compared.Load(), kept.Load())
		if kept.Load() == 0 || kept.Load() == compared.Load() {
			t.Errorf("tcpdump kept %d of %d: the comparison tells nothing", kept.Load(), compared.Load())
		}
	})
	for _, c := range comparisonCaptures(t, t.TempDir()) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if len(c.pkts) == 0 {
				return
			}
			link := c.pkts[0].link
			for _, f := range filters {
				want, err := tcpdumpKeeps(tcpdump, c.path, c.pkts, f)
				if err != nil {
					t.Error(err)
					continue
				}
				e, err := Parse(f)
				if err != nil {
					t.Errorf("Parse(%q): %v", f, err)
					continue
				}
				m, err := e.MatcherOrder(link, c.order)
				if err != nil {
					t.Errorf("Matcher(%q, %v): %v", f, link, err)
					continue
				}
				var got []int
				for i, p := range c.pkts {
					ok := m.Match(p.data, p.origLen)
					if ok {
						got = append(got, i)
					}
					if o, defined := evalOracleOrder(e, link, c.order, p.data, p.origLen); defined && o != ok {
						t.Errorf("%q on %s: the BPF program says %v, the evaluator %v", f, p.what, ok, o)
					}
				}
				kept.Add(int64(len(want)))
				compared.Add(int64(len(c.pkts)))
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s, filter %q: packets kept differ from tcpdump's (-tcpdump +ours):\n%s%s",
						c.name, f, diff, describeDiff(c.pkts, want, got))
				}
			}
		})
	}
}

// describeDiff names the packets on which two index lists differ.
func describeDiff(pkts []capPkt, want, got []int) string {
	in := func(s []int) map[int]bool {
		m := make(map[int]bool)
		for _, i := range s {
			m[i] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	n := 0
	for i, p := range pkts {
		if w[i] != g[i] {
			if n++; n > 8 {
				b.WriteString("  ...\n")
				break
			}
			fmt.Fprintf(&b, "  #%d %s: tcpdump %v, ours %v: % x\n", i, p.what, w[i], g[i], p.data[:min(len(p.data), 64)])
		}
	}
	return b.String()
}

// TestNullFamilyAsTcpdump checks that on BSD loopback (NULL) packets
// the address family matches in the byte order of the file only, as
// tcpdump does (libpcap swaps it to the reader's order when the file's
// differs), and that Linux's AF_INET6 (10) is not IPv6 there, as in
// libpcap: files of both byte orders, each with families written in
// both orders, go through tcpdump and through MatcherOrder. LOOP is
// always big-endian.
func TestNullFamilyAsTcpdump(t *testing.T) {
	tcpdump := lookTcpdump(t)
	ip4 := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	ip6 := make([]byte, 40)
	ip6[0], ip6[6] = 0x60, 17
	dir := t.TempDir()
	checked := 0
	for _, link := range []pcapfile.LinkType{pcapfile.LinkTypeNull, pcapfile.LinkTypeLoop} {
		for _, fileOrder := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			var pkts []capPkt
			for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
				for _, af := range []uint32{2, 10, 23, 24, 28, 30} {
					l3 := ip4
					if af != 2 {
						l3 = ip6
					}
					b := make([]byte, 4)
					order.PutUint32(b, af)
					b = append(b, l3...)
					pkts = append(pkts, capPkt{data: b, origLen: len(b), link: link,
						what: fmt.Sprintf("family %d written %v", af, order)})
				}
			}
			path := filepath.Join(dir, fmt.Sprintf("%v-%v.pcap", link, fileOrder))
			if err := writePcap(path, link, fileOrder, pkts); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"ip", "ip6", "ether proto 0x800", "ip6 and udp"} {
				want, err := tcpdumpKeeps(tcpdump, path, pkts, f)
				if err != nil {
					t.Fatal(err)
				}
				m, err := MustParse(f).MatcherOrder(link, fileOrder)
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				for i, p := range pkts {
					if m.Match(p.data, p.origLen) {
						got = append(got, i)
					}
				}
				if len(want) > 0 {
					checked++
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%v file in %v, %q: kept packets differ from tcpdump's (-tcpdump +ours):\n%s%s",
						link, fileOrder, f, diff, describeDiff(pkts, want, got))
				}
			}
		}
	}
	if checked == 0 {
		t.Error("tcpdump kept nothing: the test tells nothing")
	}
}
