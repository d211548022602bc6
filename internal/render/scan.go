package render

import (
	"encoding/xml"
	"strconv"
	"time"
)

// ScanResultV1 is one port of one host in `ports scan --format json|jsonl`
// and in its -oJ file.
type ScanResultV1 struct {
	Addr    string  `json:"addr"`
	Host    string  `json:"host,omitempty"` // the host name the address was resolved from
	Port    uint16  `json:"port"`
	Proto   string  `json:"proto"`
	State   string  `json:"state"`  // open, closed, filtered, open|filtered, unknown
	Reason  string  `json:"reason"` // syn-ack, conn-refused, no-response...
	RTTms   float64 `json:"rtt_ms"` // round trip of the answering probe; 0 when none answered
	Tries   int     `json:"tries"`
	TTL     int     `json:"ttl,omitempty"`     // TTL or hop limit of the answer (SYN scan); absent when unknown
	Service string  `json:"service,omitempty"` // the service: detected (UDP reply, -sV), else the registered name
	Product string  `json:"product,omitempty"` // -sV, or a recognised UDP reply: the software
	Version string  `json:"version,omitempty"` // its version
	Info    string  `json:"info,omitempty"`    // more about it: "stratum 2", "HTTP 200; TLS 1.3"
	Tunnel  string  `json:"tunnel,omitempty"`  // "ssl" when reached through TLS
	Method  string  `json:"method,omitempty"`  // "probed" when Service was detected, "table" when it is the registered name
}

// ScanVersionHeader is the column -sV adds to a scan table.
const ScanVersionHeader = "\tVERSION"

// AppendScanVersion appends the VERSION column: a tab, product, version
// and info, or "-".
func AppendScanVersion(b []byte, r ScanResultV1) []byte {
	b = append(b, '\t')
	n := len(b)
	for _, f := range []string{r.Product, r.Version} {
		if f != "" {
			if len(b) > n {
				b = append(b, ' ')
			}
			b = append(b, f...)
		}
	}
	if r.Info != "" {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = append(b, '(')
		b = append(b, r.Info...)
		b = append(b, ')')
	}
	if len(b) == n {
		b = append(b, '-')
	}
	return b
}

// ScanHeader is the header row of a scan table.
const ScanHeader = "PORT\tSTATE\tSERVICE\tREASON\tRTT"

// AppendScanRow appends r as a tab-separated table row, without a newline.
func AppendScanRow(b []byte, r ScanResultV1) []byte {
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, '/')
	b = append(b, r.Proto...)
	b = append(b, '\t')
	b = append(b, r.State...)
	b = append(b, '\t')
	if r.Service == "" {
		b = append(b, '-')
	} else {
		b = append(b, r.Service...)
	}
	b = append(b, '\t')
	b = append(b, r.Reason...)
	b = append(b, '\t')
	return AppendRTT(b, r.RTTms)
}

// AppendRTT appends a round-trip time in milliseconds for people: "0.12ms",
// "35ms", "1.20s", or "-" for none.
func AppendRTT(b []byte, ms float64) []byte {
	switch {
	case ms <= 0:
		return append(b, '-')
	case ms < 10:
		return append(strconv.AppendFloat(b, ms, 'f', 2, 64), "ms"...)
	case ms < 1000:
		return append(strconv.AppendFloat(b, ms, 'f', 0, 64), "ms"...)
	}
	return append(strconv.AppendFloat(b, ms/1000, 'f', 2, 64), 's')
}

// Millis converts a duration to fractional milliseconds, rounded to the
// microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// The types below write nmap's XML output (-oX) with nmap's element and
// attribute names, so that tools that read nmap's XML read ours. They
// follow nmap's DTD (xmloutputversion 1.05), not this package's versioning.

// NmapXMLHeader is what comes before the root element: the XML
// declaration and the DOCTYPE nmap writes, without a stylesheet.
const NmapXMLHeader = xml.Header + "<!DOCTYPE nmaprun>\n"

// NmapRun is the root element.
type NmapRun struct {
	XMLName          xml.Name       `xml:"nmaprun"`
	Scanner          string         `xml:"scanner,attr"`
	Args             string         `xml:"args,attr"`
	Start            int64          `xml:"start,attr"`
	StartStr         string         `xml:"startstr,attr"`
	Version          string         `xml:"version,attr"`
	XMLOutputVersion string         `xml:"xmloutputversion,attr"`
	ScanInfo         []NmapScanInfo `xml:"scaninfo"`
	Verbose          NmapLevel      `xml:"verbose"`
	Debugging        NmapLevel      `xml:"debugging"`
	Hosts            []NmapHost     `xml:"host"`
	RunStats         NmapRunStats   `xml:"runstats"`
}

// NmapScanInfo describes the scan.
type NmapScanInfo struct {
	Type        string `xml:"type,attr"`
	Protocol    string `xml:"protocol,attr"`
	NumServices int    `xml:"numservices,attr"`
	Services    string `xml:"services,attr"`
}

// NmapLevel is <verbose> and <debugging>.
type NmapLevel struct {
	Level int `xml:"level,attr"`
}

// NmapHost is one scanned host.
type NmapHost struct {
	StartTime int64         `xml:"starttime,attr"`
	EndTime   int64         `xml:"endtime,attr"`
	Status    NmapStatus    `xml:"status"`
	Address   NmapAddress   `xml:"address"`
	Hostnames NmapHostnames `xml:"hostnames"`
	Ports     NmapPorts     `xml:"ports"`
	Times     NmapTimes     `xml:"times"`
}

// NmapStatus says whether a host is up.
type NmapStatus struct {
	State     string `xml:"state,attr"`
	Reason    string `xml:"reason,attr"`
	ReasonTTL int    `xml:"reason_ttl,attr"`
}

// NmapAddress is a host's address.
type NmapAddress struct {
	Addr     string `xml:"addr,attr"`
	AddrType string `xml:"addrtype,attr"` // ipv4 or ipv6
}

// NmapHostnames holds the names of a host.
type NmapHostnames struct {
	Hostnames []NmapHostname `xml:"hostname"`
}

// NmapHostname is one name: type "user" for a name given as a target.
type NmapHostname struct {
	Name string `xml:"name,attr"`
	Type string `xml:"type,attr"`
}

// NmapPorts holds the ports listed and the count of those not listed.
type NmapPorts struct {
	ExtraPorts []NmapExtraPorts `xml:"extraports"`
	Ports      []NmapPort       `xml:"port"`
}

// NmapExtraPorts counts the ports in one state that are not listed.
type NmapExtraPorts struct {
	State        string             `xml:"state,attr"`
	Count        int                `xml:"count,attr"`
	ExtraReasons []NmapExtraReasons `xml:"extrareasons"`
}

// NmapExtraReasons counts the unlisted ports of one state and reason.
type NmapExtraReasons struct {
	Reason string `xml:"reason,attr"`
	Count  int    `xml:"count,attr"`
	Proto  string `xml:"proto,attr"`
	Ports  string `xml:"ports,attr"`
}

// NmapPort is one port listed.
type NmapPort struct {
	Protocol string       `xml:"protocol,attr"`
	PortID   uint16       `xml:"portid,attr"`
	State    NmapState    `xml:"state"`
	Service  *NmapService `xml:"service"`
}

// NmapState is a port's state and why.
type NmapState struct {
	State     string `xml:"state,attr"`
	Reason    string `xml:"reason,attr"`
	ReasonTTL int    `xml:"reason_ttl,attr"`
}

// NmapService is the service a port's number suggests (method "table",
// conf 3) or that a probe found (method "probed", conf 10).
type NmapService struct {
	Name      string `xml:"name,attr"`
	Product   string `xml:"product,attr,omitempty"`
	Version   string `xml:"version,attr,omitempty"`
	ExtraInfo string `xml:"extrainfo,attr,omitempty"`
	Tunnel    string `xml:"tunnel,attr,omitempty"`
	Method    string `xml:"method,attr"`
	Conf      int    `xml:"conf,attr"`
}

// NmapTimes are a host's round-trip statistics, in microseconds.
type NmapTimes struct {
	SRTT   int64 `xml:"srtt,attr"`
	RTTVar int64 `xml:"rttvar,attr"`
	To     int64 `xml:"to,attr"`
}

// NmapRunStats ends the run.
type NmapRunStats struct {
	Finished NmapFinished `xml:"finished"`
	Hosts    NmapHostsRun `xml:"hosts"`
}

// NmapFinished says when and how the run ended.
type NmapFinished struct {
	Time     int64  `xml:"time,attr"`
	TimeStr  string `xml:"timestr,attr"`
	Summary  string `xml:"summary,attr"`
	Elapsed  string `xml:"elapsed,attr"`
	Exit     string `xml:"exit,attr"`               // "success", or "error" for a scan that ended early
	ErrorMsg string `xml:"errormsg,attr,omitempty"` // why it did
}

// NmapHostsRun counts the hosts.
type NmapHostsRun struct {
	Up    int `xml:"up,attr"`
	Down  int `xml:"down,attr"`
	Total int `xml:"total,attr"`
}
