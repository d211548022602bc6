package pcapfile

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// allLinkTypes lists every LinkType constant.
var allLinkTypes = []LinkType{
	LinkTypeNull, LinkTypeEthernet, LinkTypeAX25, LinkTypeTokenRing, LinkTypeArcNet, LinkTypeSLIP,
	LinkTypePPP, LinkTypeFDDI, LinkTypePPPHDLC, LinkTypePPPEthernet, LinkTypeATMRFC1483, LinkTypeRaw,
	LinkTypeCiscoHDLC, LinkTypeIEEE80211, LinkTypeFrameRelay, LinkTypeLoop, LinkTypeLinuxSLL,
	LinkTypePFLog, LinkTypeIEEE80211Prism, LinkTypeIEEE80211Radiotap, LinkTypeIEEE80211AVS,
	LinkTypeBluetoothHCIH4, LinkTypeUSBLinux, LinkTypePPI, LinkTypeIEEE802154, LinkTypeUSBLinuxMmapped,
	LinkTypeIPv4, LinkTypeIPv6, LinkTypeNFLog, LinkTypeUSBPcap, LinkTypeNetlink, LinkTypeLinuxSLL2,
}

func TestLinkTypeNamesDistinct(t *testing.T) {
	seen := map[string]LinkType{}
	for _, lt := range allLinkTypes {
		name := lt.String()
		if lt.Description() == "" {
			t.Errorf("LinkType %d (%s) has no description", uint16(lt), name)
		}
		if _, err := strconv.Atoi(name); err == nil {
			t.Errorf("LinkType %d has no name: String is %q", uint16(lt), name)
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("LinkType %d and %d are both %q", uint16(prev), uint16(lt), name)
		}
		seen[name] = lt
	}
}

// TestLinkTypeTcpdump writes an empty pcap file of each link type (and
// of two without a constant) and checks String and Description against
// tcpdump's "link-type NAME (DESCRIPTION)", which are libpcap's
// pcap_datalink_val_to_name and _description. It needs tcpdump (Debian
// package tcpdump) and skips without it.
func TestLinkTypeTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (apt-get install tcpdump): link type names not compared with libpcap's")
	}
	re := regexp.MustCompile(`link-type (\S+?)(?: \((.*?)\))?, snapshot length`)
	dir := t.TempDir()
	for _, lt := range append(allLinkTypes, 147, 999) {
		var buf bytes.Buffer
		w := NewWriter(&buf, lt, 0, false)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, strconv.Itoa(int(lt))+".pcap")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		// tcpdump exits 1 after naming a link type it cannot print
		// (3, 999): only its first line matters.
		out, err := exec.Command(tcpdump, "-n", "-r", path).CombinedOutput()
		m := re.FindSubmatch(out)
		if m == nil {
			t.Errorf("link type %d: no link-type in tcpdump's output (%v) %q", uint16(lt), err, out)
			continue
		}
		name, desc := string(m[1]), string(m[2])
		if lt == LinkTypeAX25 && name == "3" {
			// libpcap 1.10 has no DLT name for 3; String uses the
			// registry's (LINKTYPE_AX25).
			continue
		}
		if lt.String() != name || lt.Description() != desc {
			t.Errorf("link type %d: String, Description = %q, %q; tcpdump says %q, %q", uint16(lt), lt.String(), lt.Description(), name, desc)
		}
	}
}
