package filter

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The test's own name tables: tcpdump reads them through a private
// /etc (below), the package through ReadHosts. The addresses are ones
// the captures and the synthetic frames have (00:06:07:08:09:0a is the
// source of every synthetic Ethernet frame).
const (
	testHosts = `# hosts of TestHostNamesAsTcpdump
192.168.1.11   pt-one pt-alias
2001:db8:1:2::1003 pt-six
172.16.16.140  pt-both
2001:db8:1:2::1000 pt-both
172.21.79.97   pt-gw
10.10.0.3      pt-far
fe80::1%eth0   pt-zone
`
	testEthers = `# ethers of TestHostNamesAsTcpdump
00:06:07:08:09:0a pt-gw
0:1:2:3:4:5       pt-far
8:0:20:1:2:3      pt-mac
`
	testNetworks = `# networks of TestHostNamesAsTcpdump
localnet 192.168
pt-net   172.21.79 pt-net-alias
pt-exact 192.168.1.11
`
)

// hostNameExprs are compared with tcpdump over the synthetic captures.
var hostNameExprs = []string{
	"host pt-one", "host PT-ONE", "host pt-alias", "src host pt-one", "dst pt-one", "host pt-six",
	"host pt-both", "ip host pt-both", "ip6 host pt-both", "arp host pt-gw", "rarp host pt-gw",
	"host pt-one or pt-six", "tcp and host pt-both", "not host pt-one and ip",
	"src host pt-one and dst host pt-far", "host 10.10.0.3 or pt-one",
	"ether host pt-gw", "ether src pt-gw", "ether dst pt-far", "ether host pt-mac", "ether host pt-gw or pt-far",
	"net localnet", "src net pt-net", "net pt-net-alias or localnet", "ip dst net pt-net", "net pt-exact",
}

// hostNameRefused are refused by tcpdump (with these tables) and here.
var hostNameRefused = []string{
	"host pt-none", "ip host pt-six", "ip6 host pt-one", "arp host pt-six", "ether host pt-one",
	"net pt-nonet", "ip6 net localnet", "gateway pt-one", "gateway pt-six", "gateway 1.2.3.4", "host pt-zone", "src gateway pt-gw",
	// libpcap 1.10 built with IPv6 (Debian's) refuses gateway.
	"gateway pt-gw", "ip gateway pt-gw", "arp gateway pt-gw",
}

// tcpdumpWithTables writes a script that runs tcpdump in a mount and
// network namespace of its own, with /etc replaced by a copy that has
// the test's hosts, ethers and an nsswitch.conf that reads files only:
// tcpdump resolves names from the test's tables and can reach no DNS
// server. It skips the test if namespaces cannot be made (not root).
func tcpdumpWithTables(t *testing.T, tcpdump string) string {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (Debian package util-linux) to give tcpdump the test's hosts file")
	}
	if out, err := exec.Command(unshare, "--mount", "--net", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a mount and network namespace for tcpdump (needs root): %v: %s", err, out)
	}
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	// What tcpdump and the C library read, copied; the rest is the
	// test's.
	for _, f := range []string{"ld.so.cache", "passwd", "group", "services", "protocols", "localtime"} {
		b, err := os.ReadFile(filepath.Join("/etc", f))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(etc, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"hosts": testHosts, "ethers": testEthers,
		"nsswitch.conf": "hosts: files\nethers: files\nnetworks: files\nprotocols: files\nservices: files\npasswd: files\ngroup: files\n",
		"networks":      testNetworks,
		"host.conf":     "multi on\n",
		"gai.conf":      "",
	} {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(dir, "tcpdump")
	body := fmt.Sprintf("#!/bin/sh\nexec %s --mount --net -- /bin/sh -c 'mount --bind %s /etc && exec %s \"$@\"' tcpdump \"$@\"\n",
		unshare, etc, tcpdump)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// TestHostNamesAsTcpdump checks host names resolved through a Resolver
// (host, src, dst, ether host, gateway) against tcpdump resolving the
// same names from the same tables: the same packets kept over the
// synthetic captures, and the same names refused.
func TestHostNamesAsTcpdump(t *testing.T) {
	tcpdump := tcpdumpWithTables(t, lookTcpdump(t))
	res, err := ReadHosts(strings.NewReader(testHosts), strings.NewReader(testEthers), strings.NewReader(testNetworks))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Resolver: res}
	files := comparisonCaptures(t, t.TempDir())
	var kept, compared int
	for _, c := range files {
		if c.name != "ethernet" && c.name != "sll" && c.name != "raw" {
			continue
		}
		link := c.pkts[0].link
		for _, f := range hostNameExprs {
			want, refused, err := tcpdumpVerdict(tcpdump, c.path, c.pkts, f)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ParseConfig(f, cfg)
			var m *Matcher
			if err == nil {
				m, err = e.MatcherOrder(link, c.order)
			}
			if refused != "" {
				if err == nil {
					t.Errorf("%s: %q: tcpdump refuses it (%s), we accept it", c.name, f, refused)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %q: tcpdump accepts it, we refuse it: %v", c.name, f, err)
				continue
			}
			var got []int
			for i, p := range c.pkts {
				if m.Match(p.data, p.origLen) {
					got = append(got, i)
				}
			}
			kept += len(want)
			compared += len(c.pkts)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s, filter %q (%v): packets kept differ from tcpdump's (-tcpdump +ours):\n%s%s",
					c.name, f, e, diff, describeDiff(c.pkts, want, got))
			}
		}
		if c.name != "ethernet" {
			continue
		}
		for _, f := range hostNameRefused {
			_, refused, err := tcpdumpVerdict(tcpdump, c.path, c.pkts, f)
			if err != nil {
				t.Fatal(err)
			}
			if refused == "" {
				t.Errorf("%q: tcpdump accepts it; the list is wrong", f)
			}
			e, err := ParseConfig(f, cfg)
			if err == nil {
				_, err = e.Matcher(link)
			}
			if err == nil {
				t.Errorf("%q: tcpdump refuses it (%s), we accept it", f, refused)
			}
		}
	}
	t.Logf("%d verdicts compared, %d packets kept", compared, kept)
	if kept == 0 || kept == compared {
		t.Errorf("tcpdump kept %d of %d: the comparison tells nothing", kept, compared)
	}
}

func TestReadHosts(t *testing.T) {
	h, err := ReadHosts(strings.NewReader(testHosts), strings.NewReader(testEthers), strings.NewReader(testNetworks))
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.LookupHost("PT-Both")
	if err != nil || len(got) != 2 || got[0].String() != "172.16.16.140" || got[1].String() != "2001:db8:1:2::1000" {
		t.Errorf("LookupHost(PT-Both) = %v, %v", got, err)
	}
	if _, err := h.LookupHost("pt-zone"); !errors.Is(err, ErrUnknownHost) {
		t.Errorf("LookupHost(pt-zone) = %v, want ErrUnknownHost (a zone is skipped)", err)
	}
	if m, err := h.LookupEther("pt-far"); err != nil || m != [6]byte{0, 1, 2, 3, 4, 5} {
		t.Errorf("LookupEther(pt-far) = %v, %v", m, err)
	}
	// Without a resolver a name is an error; with one an unknown name
	// wraps ErrUnknownHost.
	if _, err := Parse("host pt-one"); err == nil {
		t.Error("Parse(host pt-one) without a resolver: no error")
	}
	_, err = ParseConfig("host nowhere", &Config{Resolver: h})
	var se *SyntaxError
	if !errors.As(err, &se) || !errors.Is(err, ErrUnknownHost) || se.Pos != 5 {
		t.Errorf("ParseConfig(host nowhere) = %v, want a *SyntaxError at 5 wrapping ErrUnknownHost", err)
	}
	// A name resolves to the addresses, which String writes out.
	e, err := ParseConfig("host pt-both and not ether host pt-gw", &Config{Resolver: h})
	if err != nil {
		t.Fatal(err)
	}
	want := "(host 172.16.16.140 or host 2001:db8:1:2::1000) and not ether host 00:06:07:08:09:0a"
	if e.String() != want {
		t.Errorf("String() = %q, want %q", e.String(), want)
	}
	// Too large a table.
	big := strings.NewReader(strings.Repeat("# comment line\n", MaxHostsSize/15+2))
	if _, err := ReadHosts(big, nil, nil); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("ReadHosts(huge) = %v, want a size error", err)
	}
	if !slices.Equal([]bool{isHostName("a.b-c"), isHostName("10.0.0.1"), isHostName("a..b"), isHostName("-x")}, []bool{true, false, false, false}) {
		t.Error("isHostName")
	}
}
