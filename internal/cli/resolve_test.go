package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/portkit/ports/filter"
)

// useHosts makes the filters of this test resolve names from a hosts
// table of its own, never the machine's resolver.
func useHosts(t *testing.T, hosts, ethers string) {
	t.Helper()
	h, err := filter.ReadHosts(strings.NewReader(hosts), strings.NewReader(ethers), nil)
	if err != nil {
		t.Fatal(err)
	}
	old := newFilterResolver
	newFilterResolver = func() filter.Resolver { return h }
	t.Cleanup(func() { newFilterResolver = old })
}

// TestDecodeHostName decodes a capture with a filter naming a host, as
// tcpdump resolves it: the packets printed are those of the address.
func TestDecodeHostName(t *testing.T) {
	useHosts(t, "192.168.1.11 dns-client\n2001:db8::1 dns-client\n", "")
	file := filepath.Join("..", "..", "testdata", "pcaps", "tcpdump_dns_tcp.pcap")
	code, byAddr, stderr := run(t, "decode", file, "host", "192.168.1.11", "or", "2001:db8::1")
	if code != ExitOK || byAddr == "" {
		t.Fatalf("decode by address: exit %d, %q, stderr %q", code, byAddr, stderr)
	}
	code, byName, stderr := run(t, "decode", file, "host", "dns-client")
	if code != ExitOK || byName != byAddr {
		t.Errorf("decode by name: exit %d, stderr %q\n got %q\nwant %q", code, stderr, byName, byAddr)
	}
	if n := strings.Count(byName, "\n"); n != 11 {
		t.Errorf("decode by name printed %d packets, want 11 (tcpdump's)", n)
	}
	code, _, stderr = run(t, "decode", file, "host", "nowhere")
	if code != ExitUsage || !strings.Contains(stderr, "unknown host 'nowhere'") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("decode with an unknown name: exit %d, stderr %q; want a one-line usage error", code, stderr)
	}
}
