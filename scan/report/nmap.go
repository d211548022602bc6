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

	// ListDown lists every host down, as nmap -v does. Without it a
	// host down is listed only if its ports were probed (no discovery,
	// as nmap -Pn): one that discovery found down, or that the scan
	// ended without a probe (no neighbour, no route, a broadcast
	// address), is only counted, as nmap does by default.
	ListDown bool
}

// lists reports whether the outputs list h, a host down.
func (s *Scan) lists(h *Host) bool { return s.ListDown || len(h.Ports)+len(h.Extra) > 0 }

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
func summary(up, total int, elapsed time.Duration) string {
	return fmt.Sprintf("%d IP %s (%d %s up) scanned in %.2f seconds",
		total, plural(total, "address", "addresses"), up, plural(up, "host", "hosts"), elapsed.Seconds())
}

// WriteGrep writes nmap's greppable output (-oG) of s: its hosts up, and
// those down that s.ListDown says.
func WriteGrep(w io.Writer, s *Scan) error {
	g, err := NewGrepWriter(w, s)
	if err != nil {
		return err
	}
	for _, h := range s.Hosts {
		if err := g.WriteHost(h); err != nil {
			return err
		}
	}
	return g.Close(s.End, s.Err)
}

// GrepWriter writes nmap's greppable output a host at a time, holding
// nothing of a host once written.
type GrepWriter struct {
	w        io.Writer
	s        Scan
	b        strings.Builder
	up, down int
}

// NewGrepWriter writes the first line, of s's start, scanner and
// arguments (s.Hosts, s.End and s.Err are not used), and returns the
// writer of the hosts.
func NewGrepWriter(w io.Writer, s *Scan) (*GrepWriter, error) {
	g := &GrepWriter{w: w, s: *s}
	g.s.Hosts = nil
	_, err := fmt.Fprintf(w, "# %s %s scan initiated %s as: %s\n", g.s.scanner(), s.Version, nmapTime(s.Start), s.Args)
	return g, err
}

// WriteHost writes h's lines, or only counts it if it is down with no
// port probed (see Scan.ListDown).
func (g *GrepWriter) WriteHost(h *Host) error {
	b := &g.b
	b.Reset()
	prefix := "Host: " + h.Addr.String() + " (" + h.Name + ")\t"
	if !h.Up {
		g.down++
		if !g.s.lists(h) {
			return nil
		}
		b.WriteString(prefix + "Status: Down\n")
		_, err := io.WriteString(g.w, b.String())
		return err
	}
	g.up++
	b.WriteString(prefix + "Status: Up\n")
	b.WriteString(prefix + "Ports: ")
	for i, p := range h.Ports {
		if i > 0 {
			b.WriteString(", ")
		}
		// port/state/protocol/owner/service/rpc info/version/
		fmt.Fprintf(b, "%d/%s/%s//%s//%s/", p.Port, p.State, p.Proto, p.Service, grepVersion(p))
	}
	if states, groups := h.ExtraStates(); len(states) > 0 {
		fmt.Fprintf(b, "\tIgnored State: %s (%d)", states[0], len(groups[states[0]]))
	}
	b.WriteString("\n")
	_, err := io.WriteString(g.w, b.String())
	return err
}

// Close writes the last line, with the hosts counted. The greppable
// format has no place for scanErr, which is ignored: nmap's ends the
// same way.
func (g *GrepWriter) Close(end time.Time, scanErr error) error {
	_, err := fmt.Fprintf(g.w, "# %s done at %s -- %s\n", g.s.scanner(), nmapTime(end), summary(g.up, g.up+g.down, end.Sub(g.s.Start)))
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

// WriteXML writes nmap's XML output (-oX) of s: its hosts up, and those
// down that s.ListDown says. The XML of a scan that ended early
// says so, as nmap's does: exit="error" and why.
func WriteXML(w io.Writer, s *Scan) error {
	x, err := NewXMLWriter(w, s)
	if err != nil {
		return err
	}
	x.now = func() time.Time { return s.End }
	for _, h := range s.Hosts {
		if err := x.WriteHost(h); err != nil {
			return err
		}
	}
	return x.Close(s.End, s.Err)
}

// XMLWriter writes nmap's XML output a host at a time, holding nothing
// of a host once written: the root element's start when made, a <host>
// per WriteHost, and the run's statistics at Close.
type XMLWriter struct {
	w        io.Writer
	enc      *xml.Encoder
	s        Scan
	now      func() time.Time // a host's end time
	up, down int
}

// NewXMLWriter writes what comes before the hosts, of s's start,
// scanner, arguments and ports (s.Hosts, s.End and s.Err are not used),
// and returns the writer of the hosts.
func NewXMLWriter(w io.Writer, s *Scan) (*XMLWriter, error) {
	x := &XMLWriter{w: w, s: *s, now: time.Now}
	x.s.Hosts = nil
	if _, err := io.WriteString(w, nmapXMLHeader); err != nil {
		return nil, err
	}
	x.enc = xml.NewEncoder(w)
	x.enc.Indent("", " ")
	attr := func(name, v string) xml.Attr { return xml.Attr{Name: xml.Name{Local: name}, Value: v} }
	start := xml.StartElement{Name: xml.Name{Local: "nmaprun"}, Attr: []xml.Attr{
		attr("scanner", x.s.scanner()), attr("args", s.Args), attr("start", strconv.FormatInt(s.Start.Unix(), 10)),
		attr("startstr", nmapTime(s.Start)), attr("version", s.Version), attr("xmloutputversion", "1.05"),
	}}
	if err := x.enc.EncodeToken(start); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		proto ports.Proto
		typ   string
	}{{ports.ProtoTCP, s.TCP.String()}, {ports.ProtoUDP, "udp"}} {
		if n := s.Ports.Len(p.proto); n > 0 {
			info := nmapScanInfo{Type: p.typ, Protocol: p.proto.String(), NumServices: n, Services: rangesString(s.Ports.Ranges(p.proto))}
			if err := x.enc.EncodeElement(info, xml.StartElement{Name: xml.Name{Local: "scaninfo"}}); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range []string{"verbose", "debugging"} {
		if err := x.enc.EncodeElement(nmapLevel{}, xml.StartElement{Name: xml.Name{Local: name}}); err != nil {
			return nil, err
		}
	}
	return x, x.enc.Flush()
}

// WriteHost writes h's <host>, or only counts it if it is down with no
// port probed (see Scan.ListDown).
func (x *XMLWriter) WriteHost(h *Host) error {
	if !h.Up {
		x.down++
		if !x.s.lists(h) {
			return nil
		}
	} else {
		x.up++
	}
	xh := nmapHost{StartTime: x.s.Start.Unix(), EndTime: x.now().Unix(),
		Status:  nmapStatus{State: "up", Reason: h.Reason, ReasonTTL: h.ReasonTTL},
		Address: []nmapAddress{{Addr: h.Addr.String(), AddrType: "ipv4"}},
		Times:   nmapTimes{SRTT: -1, RTTVar: -1, To: h.Times.Timeout.Microseconds()},
	}
	if h.Times.Samples > 0 {
		xh.Times.SRTT, xh.Times.RTTVar = h.Times.SRTT.Microseconds(), h.Times.RTTVar.Microseconds()
	}
	if !h.Up {
		xh.Status.State, xh.Status.Reason = "down", orDefault(h.Reason, scan.ReasonNoResponse)
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
	if err := x.enc.EncodeElement(xh, xml.StartElement{Name: xml.Name{Local: "host"}}); err != nil {
		return err
	}
	return x.enc.Flush()
}

// Close writes the run's statistics, with the hosts counted, and ends
// the root element. A scan that ended early (scanErr) says so, as
// nmap's does: exit="error" and why.
func (x *XMLWriter) Close(end time.Time, scanErr error) error {
	var stats nmapRunStats
	stats.Hosts = nmapHostsRun{Up: x.up, Down: x.down, Total: x.up + x.down}
	elapsed := end.Sub(x.s.Start)
	stats.Finished = nmapFinished{
		Time: end.Unix(), TimeStr: nmapTime(end), Elapsed: strconv.FormatFloat(elapsed.Seconds(), 'f', 2, 64),
		Summary: x.s.scanner() + " done at " + nmapTime(end) + "; " + summary(x.up, x.up+x.down, elapsed), Exit: "success",
	}
	if scanErr != nil {
		stats.Finished.Exit, stats.Finished.ErrorMsg = "error", scanErr.Error()
	}
	if err := x.enc.EncodeElement(stats, xml.StartElement{Name: xml.Name{Local: "runstats"}}); err != nil {
		return err
	}
	if err := x.enc.EncodeToken(xml.EndElement{Name: xml.Name{Local: "nmaprun"}}); err != nil {
		return err
	}
	if err := x.enc.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(x.w, "\n")
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
