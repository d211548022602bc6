package cli

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/portkit/ports/internal/porttest"
)

func needUDPScan(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("-sU needs linux, not %s", runtime.GOOS)
	}
}

// udpEchoes opens n UDP echo services on random ports of addr below the
// ephemeral range (where other programs' sockets come and go) and returns
// a range LO-HI around them and their ports.
func udpEchoes(t *testing.T, addr string, n int) (lo, hi int, open []int) {
	t.Helper()
	base := 10000 + rand.IntN(20000)
	for len(open) < n {
		if base > 32000 {
			t.Skipf("cannot find %d free UDP ports on %s", n, addr)
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, strconv.Itoa(base+rand.IntN(8))))
		base += 8
		if err != nil {
			continue
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err == nil {
					pc.WriteTo(buf[:n], from)
				}
			}
		}()
		open = append(open, pc.LocalAddr().(*net.UDPAddr).Port)
	}
	slices.Sort(open)
	return max(open[0]-3, 1), min(open[len(open)-1]+3, 65535), open
}

type udpScanLine struct {
	scanLine
	Service string `json:"service"`
	Product string `json:"product"`
	Version string `json:"version"`
	Info    string `json:"info"`
	Method  string `json:"method"`
}

func TestScanUDP(t *testing.T) {
	needUDPScan(t)
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) {
			lo, hi, open := udpEchoes(t, addr, 3)
			code, out, stderr := run(t, "scan", "-sU", "-p", fmt.Sprintf("%d-%d", lo, hi), "--all-states", addr, "--format", "jsonl")
			if code != ExitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			n := 0
			for _, l := range parseScanJSONL(t, out) {
				n++
				want := "closed/port-unreach"
				if slices.Contains(open, l.Port) {
					want = "open/udp-response"
				}
				if got := l.State + "/" + l.Reason; got != want && !heldElsewhere(addr, l.Port) || l.Proto != "udp" || l.Addr != addr {
					t.Errorf("port %d: %+v, want %s/udp", l.Port, l, want)
				}
			}
			if n != hi-lo+1 {
				t.Errorf("%d results, want %d", n, hi-lo+1)
			}
		})
	}
}

func TestScanUDPOutputFiles(t *testing.T) {
	needUDPScan(t)
	lo, hi, open := udpEchoes(t, "127.0.0.1", 2)
	dir := t.TempDir()
	xmlFile, grep := filepath.Join(dir, "scan.xml"), filepath.Join(dir, "scan.gnmap")
	code, out, stderr := run(t, "scan", "-sU", "-p", fmt.Sprintf("%d-%d", lo, hi), "127.0.0.1", "-oX", xmlFile, "-oG", grep)
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, p := range open {
		if !strings.Contains(out, fmt.Sprintf("%d/udp", p)) {
			t.Errorf("table lacks %d/udp:\n%s", p, out)
		}
	}
	b, err := os.ReadFile(xmlFile)
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		ScanInfo []struct {
			Type     string `xml:"type,attr"`
			Protocol string `xml:"protocol,attr"`
		} `xml:"scaninfo"`
		Host struct {
			Ports []struct {
				Protocol string `xml:"protocol,attr"`
				PortID   int    `xml:"portid,attr"`
				State    struct {
					State  string `xml:"state,attr"`
					Reason string `xml:"reason,attr"`
				} `xml:"state"`
			} `xml:"ports>port"`
			Extra []struct {
				State   string `xml:"state,attr"`
				Reasons []struct {
					Reason string `xml:"reason,attr"`
					Proto  string `xml:"proto,attr"`
				} `xml:"extrareasons"`
			} `xml:"ports>extraports"`
		} `xml:"host"`
	}
	if err := xml.Unmarshal(b, &run); err != nil {
		t.Fatalf("-oX: %v\n%s", err, b)
	}
	if len(run.ScanInfo) != 1 || run.ScanInfo[0].Type != "udp" || run.ScanInfo[0].Protocol != "udp" {
		t.Errorf("-oX scaninfo %+v, want one of type udp", run.ScanInfo)
	}
	var got []int
	for _, p := range run.Host.Ports {
		if p.Protocol != "udp" || p.State.State != "open" || p.State.Reason != "udp-response" {
			t.Errorf("-oX port %+v", p)
		}
		got = append(got, p.PortID)
	}
	got = slices.DeleteFunc(got, func(p int) bool { return !slices.Contains(open, p) && heldElsewhere("127.0.0.1", p) })
	if diff := cmp.Diff(open, got); diff != "" {
		t.Errorf("-oX open ports (-want +got):\n%s", diff)
	}
	if len(run.Host.Extra) < 1 || run.Host.Extra[0].State != "closed" {
		t.Fatalf("-oX extraports %+v", run.Host.Extra)
	}
	if len(run.Host.Extra) != 1 && !heldAny("127.0.0.1", lo, hi, open) || run.Host.Extra[0].State != "closed" || len(run.Host.Extra[0].Reasons) != 1 ||
		run.Host.Extra[0].Reasons[0].Reason != "port-unreach" || run.Host.Extra[0].Reasons[0].Proto != "udp" {
		t.Errorf("-oX extraports %+v", run.Host.Extra)
	}
	g, err := os.ReadFile(grep)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range open {
		if !strings.Contains(string(g), fmt.Sprintf("%d/open/udp//", p)) {
			t.Errorf("-oG lacks %d/open/udp:\n%s", p, g)
		}
	}
}

// TestScanBothProtocols: -sU -sT scans the same ports over both.
func TestScanBothProtocols(t *testing.T) {
	needUDPScan(t)
	_, _, udpOpen := udpEchoes(t, "127.0.0.1", 1)
	_, _, tcpOpen := scanListeners(t, "127.0.0.1", 1)
	ports := fmt.Sprintf("%d,%d", udpOpen[0], tcpOpen[0])
	code, out, stderr := run(t, "scan", "-sU", "-sT", "-p", ports, "--all-states", "127.0.0.1", "--format", "jsonl")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	got := map[string]string{}
	for _, l := range parseScanJSONL(t, out) {
		got[strconv.Itoa(l.Port)+"/"+l.Proto] = l.State
	}
	want := map[string]string{
		strconv.Itoa(udpOpen[0]) + "/udp": "open", strconv.Itoa(udpOpen[0]) + "/tcp": "closed",
		strconv.Itoa(tcpOpen[0]) + "/tcp": "open", strconv.Itoa(tcpOpen[0]) + "/udp": "closed",
	}
	if udpOpen[0] == tcpOpen[0] {
		want[strconv.Itoa(udpOpen[0])+"/udp"], want[strconv.Itoa(udpOpen[0])+"/tcp"] = "open", "open"
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

// TestScanServiceVersion runs -sV end to end against an SSH-like banner
// and a net/http server on loopback.
func TestScanServiceVersion(t *testing.T) {
	ssh := porttest.ServeTCP(t, func(c net.Conn) {
		c.Write([]byte("SSH-2.0-PortsTest_7.1\r\n"))
		bufio.NewReader(c).ReadString('\n')
	})
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "ports-web/2.0")
	}))
	defer web.Close()
	sshPort := int(ssh.Port())
	webPort := web.Listener.Addr().(*net.TCPAddr).Port
	ps := fmt.Sprintf("%d,%d", sshPort, webPort)

	code, out, stderr := run(t, "scan", "-sV", "-p", ps, "127.0.0.1")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"VERSION", "PortsTest 7.1 (protocol 2.0)", "ports-web 2.0 (HTTP 200)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	code, out, stderr = run(t, "scan", "-sV", "-p", ps, "127.0.0.1", "--format", "jsonl")
	if code != ExitOK || stderr != "" {
		t.Fatalf("jsonl: exit %d, stderr %q", code, stderr)
	}
	got := map[int]udpScanLine{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l udpScanLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		got[l.Port] = l
	}
	if l := got[sshPort]; l.Service != "ssh" || l.Product != "PortsTest" || l.Version != "7.1" || l.Method != "probed" {
		t.Errorf("ssh: %+v", l)
	}
	if l := got[webPort]; l.Service != "http" || l.Product != "ports-web" || l.Version != "2.0" || l.Info != "HTTP 200" {
		t.Errorf("http: %+v", l)
	}

	xmlFile := filepath.Join(t.TempDir(), "scan.xml")
	if code, _, stderr = run(t, "scan", "-sV", "-p", ps, "127.0.0.1", "-oX", xmlFile); code != ExitOK {
		t.Fatalf("-oX: exit %d, stderr %q", code, stderr)
	}
	b, _ := os.ReadFile(xmlFile)
	var x struct {
		Ports []struct {
			PortID  int `xml:"portid,attr"`
			Service struct {
				Name    string `xml:"name,attr"`
				Product string `xml:"product,attr"`
				Version string `xml:"version,attr"`
				Method  string `xml:"method,attr"`
				Conf    int    `xml:"conf,attr"`
			} `xml:"service"`
		} `xml:"host>ports>port"`
	}
	if err := xml.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	for _, p := range x.Ports {
		if p.PortID == sshPort && (p.Service.Name != "ssh" || p.Service.Product != "PortsTest" || p.Service.Version != "7.1" ||
			p.Service.Method != "probed" || p.Service.Conf != 10) {
			t.Errorf("-oX ssh service %+v", p.Service)
		}
	}
}

// TestScanUDPServiceVersion: a DNS server on a random loopback port does
// not answer the empty datagram that -sU sends there (open|filtered);
// -sV's probes find it and name it.
func TestScanUDPServiceVersion(t *testing.T) {
	needUDPScan(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue // not DNS: say nothing, as a name server does
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true})
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			b.TXTResource(dnsmessage.ResourceHeader{Name: q.Name, Class: q.Class}, dnsmessage.TXTResource{TXT: []string{"testdns-1.5"}})
			if out, err := b.Finish(); err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	code, out, stderr := run(t, "scan", "-sU", "-p", strconv.Itoa(port), "127.0.0.1", "--all-states", "--format", "jsonl", "--timeout", "200ms")
	if code != ExitOK || !strings.Contains(out, `"state":"open|filtered"`) {
		t.Fatalf("without -sV: exit %d, %s%s", code, out, stderr)
	}
	code, out, stderr = run(t, "scan", "-sU", "-sV", "-p", strconv.Itoa(port), "127.0.0.1", "--format", "jsonl", "--timeout", "1s")
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var l udpScanLine
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if l.State != "open" || l.Reason != "udp-response" || l.Service != "domain" || l.Product != "testdns" || l.Version != "1.5" || l.Method != "probed" {
		t.Errorf("got %+v", l)
	}
}

// heldElsewhere reports whether another socket holds UDP port of addr:
// this machine is shared, and other programs' sockets come and go.
func heldElsewhere(addr string, port int) bool {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return true
	}
	pc.Close()
	return false
}

// heldAny reports whether another socket holds a port of lo..hi other
// than ours.
func heldAny(addr string, lo, hi int, ours []int) bool {
	for p := lo; p <= hi; p++ {
		if !slices.Contains(ours, p) && heldElsewhere(addr, p) {
			return true
		}
	}
	return false
}
