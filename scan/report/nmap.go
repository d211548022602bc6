package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/scan"
)

// Scan is a whole scan, as nmap's XML and greppable files describe it.
type Scan struct {
	Scanner    string      // the program: "ports" if empty
	Version    string      // its version
	Args       string      // its command line
	Start, End time.Time   // when the scan began and ended
	Ports      ports.Set   // the ports scanned
	TCP        scan.Engine // the TCP scan: EngineSYN or EngineConnect
	Hosts      []*Host
	Err        error // why the scan ended early; nil if it did not
}

func (s *Scan) scanner() string { return orDefault(s.Scanner, "ports") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// nmapTime formats t as nmap does in its outputs.
func nmapTime(t time.Time) string { return t.Format(time.ANSIC) }

// summary is nmap's closing summary, after "done at DATE".
func (s *Scan) summary() string {
	up := 0
	for _, h := range s.Hosts {
		if h.Up {
			up++
		}
	}
	n := len(s.Hosts)
	return fmt.Sprintf("%d IP %s (%d %s up) scanned in %.2f seconds",
		n, plural(n, "address", "addresses"), up, plural(up, "host", "hosts"), s.End.Sub(s.Start).Seconds())
}

// WriteGrep writes nmap's greppable output (-oG) of s.
func WriteGrep(w io.Writer, s *Scan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s scan initiated %s as: %s\n", s.scanner(), s.Version, nmapTime(s.Start), s.Args)
	for _, h := range s.Hosts {
		prefix := "Host: " + h.Addr.String() + " (" + h.Name + ")\t"
		if !h.Up {
			b.WriteString(prefix + "Status: Down\n")
			continue
		}
		b.WriteString(prefix + "Status: Up\n")
		b.WriteString(prefix + "Ports: ")
		for i, p := range h.Ports {
			if i > 0 {
				b.WriteString(", ")
			}
			// port/state/protocol/owner/service/rpc info/version/
			fmt.Fprintf(&b, "%d/%s/%s//%s//%s/", p.Port, p.State, p.Proto, p.Service, grepVersion(p))
		}
		if states, groups := h.ExtraStates(); len(states) > 0 {
			fmt.Fprintf(&b, "\tIgnored State: %s (%d)", states[0], len(groups[states[0]]))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "# %s done at %s -- %s\n", s.scanner(), nmapTime(s.End), s.summary())
	_, err := io.WriteString(w, b.String())
	return err
}

// grepVersion is the version field of nmap's greppable output, where a
// '/' becomes '|'.
func grepVersion(p Port) string {
	var f []string
	for _, s := range []string{p.Product, p.Version} {
		if s != "" {
			f = append(f, s)
		}
	}
	if p.Info != "" {
		f = append(f, "("+p.Info+")")
	}
	return strings.ReplaceAll(strings.Join(f, " "), "/", "|")
}

// WriteXML writes nmap's XML output (-oX) of s. The XML of a scan that
// ended early says so, as nmap's does: exit="error" and why.
func WriteXML(w io.Writer, s *Scan) error {
	run := nmapRun{
		Scanner: s.scanner(), Args: s.Args, Start: s.Start.Unix(), StartStr: nmapTime(s.Start),
		Version: s.Version, XMLOutputVersion: "1.05",
	}
	for _, x := range []struct {
		proto ports.Proto
		typ   string
	}{{ports.ProtoTCP, s.TCP.String()}, {ports.ProtoUDP, "udp"}} {
		if n := s.Ports.Len(x.proto); n > 0 {
			run.ScanInfo = append(run.ScanInfo, nmapScanInfo{Type: x.typ, Protocol: x.proto.String(),
				NumServices: n, Services: rangesString(s.Ports.Ranges(x.proto))})
		}
	}
	for _, h := range s.Hosts {
		xh := nmapHost{StartTime: s.Start.Unix(), EndTime: s.End.Unix(),
			Status:  nmapStatus{State: "up", Reason: h.Reason, ReasonTTL: h.ReasonTTL},
			Address: []nmapAddress{{Addr: h.Addr.String(), AddrType: "ipv4"}},
			Times:   nmapTimes{SRTT: -1, RTTVar: -1, To: h.Times.Timeout.Microseconds()},
		}
		if h.Times.Samples > 0 {
			xh.Times.SRTT, xh.Times.RTTVar = h.Times.SRTT.Microseconds(), h.Times.RTTVar.Microseconds()
		}
		if !h.Up {
			xh.Status.State, xh.Status.Reason = "down", orDefault(h.Reason, scan.ReasonNoResponse)
			run.RunStats.Hosts.Down++
		} else {
			run.RunStats.Hosts.Up++
		}
		if h.Addr.Is6() {
			xh.Address[0].AddrType = "ipv6"
		}
		if len(h.MAC) > 0 {
			// nmap writes MAC addresses in capitals.
			xh.Address = append(xh.Address, nmapAddress{Addr: strings.ToUpper(h.MAC.String()), AddrType: "mac"})
		}
		if h.Name != "" {
			xh.Hostnames.Hostnames = []nmapHostname{{Name: h.Name, Type: "user"}}
		}
		states, groups := h.ExtraStates()
		for _, st := range states {
			ep := nmapExtraPorts{State: st.String(), Count: len(groups[st])}
			type protoReason struct {
				proto  ports.Proto
				reason string
			}
			byReason := map[protoReason][]ports.Range{}
			var reasons []protoReason
			for _, e := range groups[st] {
				key := protoReason{e.Proto, e.Reason}
				if byReason[key] == nil {
					reasons = append(reasons, key)
				}
				byReason[key] = addRange(byReason[key], e.Port)
			}
			for _, key := range reasons {
				n := 0
				for _, rg := range byReason[key] {
					n += int(rg.Last-rg.First) + 1
				}
				ep.ExtraReasons = append(ep.ExtraReasons, nmapExtraReasons{
					Reason: key.reason, Count: n, Proto: key.proto.String(), Ports: rangesString(byReason[key])})
			}
			xh.Ports.ExtraPorts = append(xh.Ports.ExtraPorts, ep)
		}
		for _, p := range h.Ports {
			xp := nmapPort{Protocol: p.Proto, PortID: p.Port,
				State: nmapState{State: p.State, Reason: p.Reason, ReasonTTL: p.TTL}}
			xp.Service = xmlService(p)
			xh.Ports.Ports = append(xh.Ports.Ports, xp)
		}
		run.Hosts = append(run.Hosts, xh)
	}
	elapsed := s.End.Sub(s.Start)
	run.RunStats.Hosts.Total = len(s.Hosts)
	run.RunStats.Finished = nmapFinished{
		Time: s.End.Unix(), TimeStr: nmapTime(s.End), Elapsed: strconv.FormatFloat(elapsed.Seconds(), 'f', 2, 64),
		Summary: s.scanner() + " done at " + nmapTime(s.End) + "; " + s.summary(), Exit: "success",
	}
	if s.Err != nil {
		run.RunStats.Finished.Exit, run.RunStats.Finished.ErrorMsg = "error", s.Err.Error()
	}
	if _, err := io.WriteString(w, nmapXMLHeader); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(run); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// xmlService is nmap's <service> element for a port, or nil.
func xmlService(p Port) *nmapService {
	if p.Service == "" {
		return nil
	}
	s := &nmapService{Name: p.Service, Method: "table", Conf: 3}
	if p.Method == "probed" {
		s.Method, s.Conf = "probed", 10
	}
	s.Product, s.Version, s.ExtraInfo, s.Tunnel = p.Product, p.Version, p.Info, p.Tunnel
	return s
}

// addRange adds p, which is not below any port already in rs, to rs.
func addRange(rs []ports.Range, p ports.Port) []ports.Range {
	if n := len(rs); n > 0 && rs[n-1].Last+1 == p {
		rs[n-1].Last = p
		return rs
	}
	return append(rs, ports.Range{First: p, Last: p})
}

// rangesString writes ranges as nmap does: "1-3,7,9-10".
func rangesString(rs []ports.Range) string {
	var b []byte
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(r.First), 10)
		if r.Last != r.First {
			b = append(b, '-')
			b = strconv.AppendUint(b, uint64(r.Last), 10)
		}
	}
	return string(b)
}
