package filter

import (
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"

	"github.com/portkit/ports/pcapfile"
	"golang.org/x/net/bpf"
)

var protochainExprs = []string{"protochain 6", "ip6 protochain 58", "ip6 protochain 44", "ip protochain 6",
	"ip6 protochain 59", "not protochain 51", "protochain 17 or ip or not ip", "vlan and ip6 protochain 6"}

// TestProtochainKernelForm checks that the program for the kernel,
// whose walk is unrolled, has no backward jump (x/net/bpf's VM, like the
// kernel, refuses one) and keeps the same packets of every link type as
// the Matcher's loop: no packet of the corpus has a chain longer than
// the unrolled walk.
func TestProtochainKernelForm(t *testing.T) {
	kept := map[string]int{}
	for _, c := range syntheticCaptures(readAllCaptures(t)) {
		link := c.pkts[0].link
		for _, f := range protochainExprs {
			e, err := Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := e.MatcherOrder(link, c.order)
			if err != nil {
				continue // vlan off Ethernet
			}
			prog, err := e.compile(link, c.order, 0, true)
			if err != nil {
				t.Fatalf("%s: %q: %v", c.name, f, err)
			}
			if _, err := bpf.NewVM(prog); err != nil {
				t.Fatalf("%s: %q: the kernel's program does not load: %v", c.name, f, err)
			}
			kvm, err := newVM(prog)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.pkts {
				got := m.Match(p.data, p.origLen)
				if k := kvm.run(p.data, uint32(max(p.origLen, len(p.data)))) > 0; k != got {
					t.Errorf("%s: %q on %s: the loop says %v, the unrolled walk %v", c.name, f, p.what, got, k)
				}
				if got {
					kept[f]++
				}
			}
		}
	}
	for _, f := range protochainExprs {
		if kept[f] == 0 {
			t.Errorf("%q keeps nothing: the comparison tells nothing", f)
		}
	}
}

// longChain returns an Ethernet frame with IPv6, n Hop-by-Hop headers
// and a TCP header.
func longChain(n int) []byte {
	f := make([]byte, 14, 14+40+8*n+20)
	binary.BigEndian.PutUint16(f[12:], etherIPv6)
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(8*n+20))
	ip[6], ip[7] = 0, 64
	ip[23], ip[39] = 1, 2
	f = append(f, ip...)
	for i := range n {
		h := make([]byte, 8)
		if i == n-1 {
			h[0] = ipprotoTCP
		}
		h[2], h[3] = 1, 4 // a PadN option
		f = append(f, h...)
	}
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12], tcp[13] = 0x50, 0x02
	return append(f, tcp...)
}

// TestProtochainLongChain checks the documented difference of the
// kernel's program: the Matcher walks a chain of any length, as tcpdump
// does (checked against it when it is installed); the kernel's program
// rejects a packet whose chain is longer than chainUnroll headers.
func TestProtochainLongChain(t *testing.T) {
	e, err := Parse("ip6 protochain 6")
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Matcher(pcapfile.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := e.Compile(pcapfile.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	kvm, err := newVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []capPkt
	for _, n := range []int{1, chainUnroll - 1, chainUnroll, chainUnroll + 1, 40} {
		f := longChain(n)
		pkts = append(pkts, capPkt{data: f, origLen: len(f), link: pcapfile.LinkTypeEthernet})
		if !m.Match(f, len(f)) {
			t.Errorf("%d headers: the Matcher does not find TCP", n)
		}
		// The chain's headers and TCP's: chainUnroll steps walk over
		// chainUnroll-1 headers and stop at the next protocol.
		if k := kvm.run(f, uint32(len(f))) > 0; k != (n < chainUnroll) {
			t.Errorf("%d headers: the kernel's program says %v", n, k)
		}
	}
	{
		tcpdump := lookTcpdump(t) // skips after the checks above
		path := filepath.Join(t.TempDir(), "chain.pcap")
		if err := writePcap(path, pcapfile.LinkTypeEthernet, binary.LittleEndian, pkts); err != nil {
			t.Fatal(err)
		}
		want, refused, err := tcpdumpVerdict(tcpdump, path, pkts, "ip6 protochain 6")
		if err != nil || refused != "" {
			t.Fatal(err, refused)
		}
		if !slices.Equal(want, []int{0, 1, 2, 3, 4}) {
			t.Errorf("tcpdump keeps %v of the long chains, the Matcher all", want)
		}
	}
}

// TestProtochainAHLoop checks that a walk that never ends (an AH header
// whose length sends libpcap's walk back to itself: tcpdump loops
// forever on it) ends here, rejecting the packet.
func TestProtochainAHLoop(t *testing.T) {
	f := make([]byte, 14+20+24)
	binary.BigEndian.PutUint16(f[12:], etherIPv4)
	f[14] = 0x45
	f[14+9] = ipprotoAH
	// AH at offset 20 of the IP header: next header AH, length 3, so
	// libpcap's offset becomes (3+2)*4 = 20, the same AH header again.
	f[14+20], f[14+21] = ipprotoAH, 3
	for _, expr := range []string{"ip protochain 6", "not ip protochain 6"} {
		m, err := NewMatcher(expr, pcapfile.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		if m.Match(f, len(f)) {
			t.Errorf("%q keeps a packet whose walk never ends", expr)
		}
	}
}
