package report_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
	"github.com/portkit/ports/internal/porttest"
	"github.com/portkit/ports/scan"
	sprobe "github.com/portkit/ports/scan/probe"
	"github.com/portkit/ports/scan/report"
)

func tcp(a netip.Addr, p ports.Port, st scan.State, reason string) scan.Result {
	return scan.Result{Addr: a, Port: p, Proto: ports.ProtoTCP, State: st, Reason: reason, Tries: 1}
}

// TestNewHostLists: what a host lists and counts, with and without
// AllStates, and the fold of many open|filtered ports.
func TestNewHostLists(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	h := &scan.Host{Target: scan.Target{Addr: a}, State: scan.HostUp}
	h.Add(tcp(a, 22, scan.StateOpen, scan.ReasonSynAck))
	h.Add(tcp(a, 23, scan.StateClosed, scan.ReasonReset))
	h.Add(tcp(a, 24, scan.StateFiltered, scan.ReasonNoResponse))
	for i := range report.MaxOpenFiltered + 1 {
		h.Add(scan.Result{Addr: a, Port: ports.Port(1000 + i), Proto: ports.ProtoUDP, State: scan.StateOpenFiltered, Reason: scan.ReasonNoResponse})
	}
	listed := func(rh *report.Host) []string {
		var out []string
		for _, p := range rh.Ports {
			out = append(out, fmt.Sprintf("%d/%s %s", p.Port, p.Proto, p.State))
		}
		return out
	}
	rh := report.NewHost(h, nil)
	if diff := cmp.Diff([]string{"22/tcp open"}, listed(rh)); diff != "" {
		t.Errorf("listed (-want +got):\n%s", diff)
	}
	if got, want := rh.NotShown(), "1 closed, 1 filtered, 26 open|filtered ports not shown"; got != want {
		t.Errorf("NotShown = %q, want %q", got, want)
	}
	states, groups := rh.ExtraStates()
	if len(states) != 3 || states[0] != scan.StateOpenFiltered || len(groups[scan.StateOpenFiltered]) != 26 {
		t.Errorf("ExtraStates = %v, %d open|filtered", states, len(groups[scan.StateOpenFiltered]))
	}
	all := report.NewHost(h, &report.Options{AllStates: true})
	if len(all.Ports) != h.Len() || len(all.Extra) != 0 {
		t.Errorf("AllStates: %d listed, %d counted; want %d, 0", len(all.Ports), len(all.Extra), h.Len())
	}
	if p := all.Ports[0]; p.Service != "ssh" || p.Method != "table" {
		t.Errorf("port 22: service %q method %q, want ssh from the table", p.Service, p.Method)
	}
}

// TestNewHostQuiet: a host down says which ICMP error filtered most of
// its ports.
func TestNewHostQuiet(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	gw := netip.MustParseAddr("192.0.2.1")
	h := &scan.Host{Target: scan.Target{Addr: a}, State: scan.HostDown, Reason: scan.ReasonNoResponse}
	for p := range ports.Port(3) {
		r := tcp(a, 10+p, scan.StateFiltered, scan.ReasonAdminProhibited)
		r.ICMP = scan.ICMPInfo{From: gw, Type: 3, Code: 13}
		h.Add(r)
	}
	r := tcp(a, 20, scan.StateFiltered, scan.ReasonHostUnreach)
	r.ICMP = scan.ICMPInfo{From: gw, Type: 3, Code: 1}
	h.Add(r)
	want := "filtered by ICMP type 3 code 13 from 192.0.2.1 (admin-prohibited) on 3 ports, by other ICMP errors on 1 more"
	if got := report.NewHost(h, nil).Quiet(); got != want {
		t.Errorf("Quiet = %q, want %q", got, want)
	}
	if got := report.NewHost(&scan.Host{State: scan.HostDown}, nil).Quiet(); got != "no answer" {
		t.Errorf("Quiet of a silent host = %q", got)
	}
}

// sampleScan is a scan with every element the XML writer writes.
func sampleScan() *report.Scan {
	a := netip.MustParseAddr("192.0.2.7")
	b := netip.MustParseAddr("2001:db8::9")
	up := &scan.Host{Target: scan.Target{Addr: a, Name: "web"}, State: scan.HostUp, Reason: scan.ReasonSynAck, ReasonTTL: 64,
		Times: scan.RTTStats{SRTT: 350 * time.Microsecond, RTTVar: 100 * time.Microsecond, Timeout: 100 * time.Millisecond, Samples: 3}}
	https := tcp(a, 443, scan.StateOpen, scan.ReasonSynAck)
	https.Service = sprobe.Service{Name: "http", Product: "nginx", Info: "HTTP 200; TLS 1.3", Tunnel: "ssl"}
	for _, r := range []scan.Result{
		tcp(a, 22, scan.StateOpen, scan.ReasonSynAck),
		tcp(a, 23, scan.StateClosed, scan.ReasonReset),
		tcp(a, 24, scan.StateClosed, scan.ReasonReset),
		https,
		{Addr: a, Port: 53, Proto: ports.ProtoUDP, State: scan.StateOpen, Reason: scan.ReasonUDPResponse,
			Service: sprobe.Service{Name: "domain", Product: "dnsmasq", Version: "2.90"}},
	} {
		up.Add(r)
	}
	down := &scan.Host{Target: scan.Target{Addr: b}, State: scan.HostDown, Reason: scan.ReasonNoResponse,
		Times: scan.RTTStats{Timeout: scan.InitialTimeout}}
	var set ports.Set
	set.Add(ports.ProtoTCP, ports.Range{First: 22, Last: 24})
	set.Add(ports.ProtoTCP, ports.Range{First: 443, Last: 443})
	set.Add(ports.ProtoUDP, ports.Range{First: 53, Last: 53})
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &report.Scan{Version: "1.0", Args: "ports scan -sS -sU -p T:22-24,443,U:53 web 2001:db8::9", ListDown: true,
		Start: start, End: start.Add(2 * time.Second), Ports: set, TCP: scan.EngineSYN,
		Hosts: []*report.Host{report.NewHost(up, nil), report.NewHost(down, nil)},
		Err:   errors.New("interrupted")}
}

// TestWriteXMLValidAgainstNmapDTD checks the XML against the DTD nmap
// ships (Debian package nmap-common), with xmllint (libxml2-utils).
func TestWriteXMLValidAgainstNmapDTD(t *testing.T) {
	xmllint := porttest.LookTool(t, "xmllint", "libxml2-utils")
	const dtd = "/usr/share/nmap/nmap.dtd"
	if !porttest.Exists(dtd) {
		t.Skip("needs " + dtd + " (Debian package nmap-common)")
	}
	s := sampleScan()
	// The DTD's one scanner is "nmap" (an enumeration): everything else
	// is checked as written.
	s.Scanner = "nmap"
	var b bytes.Buffer
	if err := report.WriteXML(&b, s); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "o.xml")
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--dtdvalid", dtd, f).CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v: %s\n%s", err, out, b.String())
	}
	for _, want := range []string{
		`<status state="up" reason="syn-ack" reason_ttl="64">`,
		`<extraports state="closed" count="2">`,
		`<extrareasons reason="reset" count="2" proto="tcp" ports="23-24">`,
		`<service name="http" product="nginx" extrainfo="HTTP 200; TLS 1.3" tunnel="ssl" method="probed" conf="10">`,
		`<service name="ssh" method="table" conf="3">`,
		`<times srtt="350" rttvar="100" to="100000">`,
		`<times srtt="-1" rttvar="-1" to="1000000">`,
		`<address addr="2001:db8::9" addrtype="ipv6">`,
		`<scaninfo type="syn" protocol="tcp" numservices="4" services="22-24,443">`,
		`exit="error" errormsg="interrupted"`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("XML lacks %s:\n%s", want, b.String())
		}
	}
}

// TestWriteGrepVersion: -oG's version field, where '/' becomes '|'.
func TestWriteGrepVersion(t *testing.T) {
	var b bytes.Buffer
	if err := report.WriteGrep(&b, sampleScan()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"443/open/tcp//http//nginx (HTTP 200; TLS 1.3)/",
		"53/open/udp//domain//dnsmasq 2.90/",
		"Host: 2001:db8::9 ()\tStatus: Down\n",
		"-- 2 IP addresses (1 host up) scanned in 2.00 seconds\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("-oG lacks %q:\n%s", want, b.String())
		}
	}
}

// nmapXML is what TestRunXMLAsNmap compares of an -oX file.
type nmapXML struct {
	Hosts []struct {
		Status struct {
			State string `xml:"state,attr"`
		} `xml:"status"`
		Extra []struct {
			State string `xml:"state,attr"`
			Count int    `xml:"count,attr"`
		} `xml:"ports>extraports"`
		Ports []struct {
			Proto string `xml:"protocol,attr"`
			ID    int    `xml:"portid,attr"`
			State struct {
				State  string `xml:"state,attr"`
				Reason string `xml:"reason,attr"`
			} `xml:"state"`
			Service struct {
				Name string `xml:"name,attr"`
			} `xml:"service"`
		} `xml:"ports>port"`
	} `xml:"host"`
	ScanInfo []struct {
		Type     string `xml:"type,attr"`
		Services string `xml:"services,attr"`
	} `xml:"scaninfo"`
}

func (x *nmapXML) summary() []string {
	var out []string
	for _, si := range x.ScanInfo {
		out = append(out, "scaninfo "+si.Type+" "+si.Services)
	}
	for _, h := range x.Hosts {
		out = append(out, "host "+h.Status.State)
		for _, e := range h.Extra {
			out = append(out, fmt.Sprintf("extra %s %d", e.State, e.Count))
		}
		for _, p := range h.Ports {
			out = append(out, fmt.Sprintf("%d/%s %s %s %s", p.ID, p.Proto, p.State.State, p.State.Reason, p.Service.Name))
		}
	}
	return out
}

// TestRunXMLAsNmap scans ports of 127.0.0.1 with scan.Run (connect
// scan) and nmap -sT, and compares their XML: the scan info, the host's
// state, the ports listed with their reasons and services, and the
// counts of the rest.
func TestRunXMLAsNmap(t *testing.T) {
	nmap := porttest.LookTool(t, "nmap", "nmap")
	lo := netip.MustParseAddr("127.0.0.1")
	var set ports.Set
	var plist []string
	for range 2 {
		_, ap := porttest.ListenTCP(t)
		set.Add(ports.ProtoTCP, ports.Range{First: ports.Port(ap.Port()), Last: ports.Port(ap.Port())})
		plist = append(plist, strconv.Itoa(int(ap.Port())))
	}
	for _, p := range porttest.FreePorts(t, 3) {
		set.Add(ports.ProtoTCP, ports.Range{First: p, Last: p})
		plist = append(plist, strconv.Itoa(int(p)))
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	plan := &scan.Plan{Options: scan.Options{Ports: set}, TCP: scan.EngineConnect}
	start := time.Now()
	var hosts []*report.Host
	for h, err := range scan.Run(ctx, []scan.Target{{Addr: lo}}, plan) {
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, report.NewHost(h, &report.Options{AllStates: true})) // nmap lists all of so few ports
	}
	var b bytes.Buffer
	if err := report.WriteXML(&b, &report.Scan{Start: start, End: time.Now(), Ports: set, TCP: scan.EngineConnect, Hosts: hosts}); err != nil {
		t.Fatal(err)
	}
	ref, err := exec.CommandContext(ctx, nmap, "-sT", "-Pn", "-n", "--reason", "-p", strings.Join(plist, ","), "-oX", "-", lo.String()).Output()
	if err != nil {
		t.Fatalf("nmap: %v", err)
	}
	var ours, theirs nmapXML
	if err := xml.Unmarshal(b.Bytes(), &ours); err != nil {
		t.Fatalf("ours: %v\n%s", err, b.String())
	}
	if err := xml.Unmarshal(ref, &theirs); err != nil {
		t.Fatalf("nmap: %v\n%s", err, ref)
	}
	// nmap names ports from its own services file, this project from
	// the IANA registry: compare the ports, not the names.
	for _, x := range []*nmapXML{&ours, &theirs} {
		for i := range x.Hosts {
			for j := range x.Hosts[i].Ports {
				x.Hosts[i].Ports[j].Service.Name = ""
			}
		}
	}
	if diff := cmp.Diff(theirs.summary(), ours.summary()); diff != "" {
		t.Errorf("-oX (-nmap +ours):\n%s", diff)
	}
}

// TestWritersCountHostsDown: the hosts down that no port was probed of
// (discovery said so, or the scan ended them) are counted in -oX's
// runstats and -oG's summary but not listed, as nmap writes them without
// -v; a host down whose ports were probed (-Pn) is listed; ListDown
// lists them all. The XML, written a host at a time, stays valid
// against nmap's DTD.
func TestWritersCountHostsDown(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var set ports.Set
	set.Add(ports.ProtoTCP, ports.Range{First: 22, Last: 23})
	base := netip.MustParseAddr("198.51.100.0")
	up := &scan.Host{Target: scan.Target{Addr: base.Next()}, State: scan.HostUp, Reason: scan.ReasonARPResponse}
	up.Add(tcp(up.Addr, 22, scan.StateOpen, scan.ReasonSynAck))
	up.Add(tcp(up.Addr, 23, scan.StateClosed, scan.ReasonReset))
	probed := &scan.Host{Target: scan.Target{Addr: base.Next().Next()}, State: scan.HostDown, Reason: scan.ReasonNoResponse}
	probed.Add(tcp(probed.Addr, 22, scan.StateFiltered, scan.ReasonNoResponse))
	probed.Add(tcp(probed.Addr, 23, scan.StateFiltered, scan.ReasonNoResponse))
	hosts := []*report.Host{report.NewHost(up, nil), report.NewHost(probed, nil)}
	const absent = 250
	a := probed.Addr
	for range absent {
		a = a.Next()
		hosts = append(hosts, report.NewHost(&scan.Host{Target: scan.Target{Addr: a}, State: scan.HostDown, Reason: scan.ReasonNoResponse}, nil))
	}
	for _, listDown := range []bool{false, true} {
		s := &report.Scan{Scanner: "nmap", Version: "1.0", Args: "ports scan -p 22-23 198.51.100.0/24", Start: start,
			End: start.Add(3 * time.Second), Ports: set, TCP: scan.EngineSYN, Hosts: hosts, ListDown: listDown}
		var xb, gb bytes.Buffer
		if err := report.WriteXML(&xb, s); err != nil {
			t.Fatal(err)
		}
		if err := report.WriteGrep(&gb, s); err != nil {
			t.Fatal(err)
		}
		var x struct {
			Hosts []struct {
				Address struct {
					Addr string `xml:"addr,attr"`
				} `xml:"address"`
			} `xml:"host"`
			Stats struct {
				Up    int `xml:"up,attr"`
				Down  int `xml:"down,attr"`
				Total int `xml:"total,attr"`
			} `xml:"runstats>hosts"`
		}
		if err := xml.Unmarshal(xb.Bytes(), &x); err != nil {
			t.Fatalf("ListDown %v: %v:\n%s", listDown, err, xb.String())
		}
		listed := []string{up.Addr.String(), probed.Addr.String()}
		if listDown {
			for _, h := range hosts[2:] {
				listed = append(listed, h.Addr.String())
			}
		}
		var got []string
		for _, h := range x.Hosts {
			got = append(got, h.Address.Addr)
		}
		if diff := cmp.Diff(listed, got); diff != "" {
			t.Errorf("ListDown %v: -oX hosts (-want +got):\n%s", listDown, diff)
		}
		if x.Stats.Up != 1 || x.Stats.Down != absent+1 || x.Stats.Total != absent+2 {
			t.Errorf("ListDown %v: runstats %+v, want up 1, down %d", listDown, x.Stats, absent+1)
		}
		if n := strings.Count(gb.String(), "\tStatus: "); n != len(listed) {
			t.Errorf("ListDown %v: -oG has %d Status lines, want %d:\n%s", listDown, n, len(listed), gb.String())
		}
		if want := fmt.Sprintf("-- %d IP addresses (1 host up) scanned in 3.00 seconds\n", absent+2); !strings.HasSuffix(gb.String(), want) {
			t.Errorf("ListDown %v: -oG does not end with %q:\n%s", listDown, want, gb.String())
		}
		xmllint, dtd := "/usr/bin/xmllint", "/usr/share/nmap/nmap.dtd"
		if porttest.Exists(xmllint) && porttest.Exists(dtd) {
			f := filepath.Join(t.TempDir(), "o.xml")
			if err := os.WriteFile(f, xb.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(xmllint, "--noout", "--dtdvalid", dtd, f).CombinedOutput(); err != nil {
				t.Errorf("ListDown %v: xmllint: %v: %s", listDown, err, out)
			}
		}
	}
}
