package report

import "encoding/xml"

// The types below write nmap's XML output (-oX) with nmap's element and
// attribute names, so that tools that read nmap's XML read ours. They
// follow nmap's DTD (xmloutputversion 1.05), not the JSON output's versioning.

// nmapXMLHeader is what comes before the root element: the XML
// declaration and the DOCTYPE nmap writes, without a stylesheet.
const nmapXMLHeader = xml.Header + "<!DOCTYPE nmaprun>\n"

// The root element, <nmaprun>, is written a token at a time by
// XMLWriter: its attributes, then <scaninfo>, <verbose>, <debugging>, a
// <host> per host, and <runstats>.

// nmapScanInfo describes the scan.
type nmapScanInfo struct {
	Type        string `xml:"type,attr"`
	Protocol    string `xml:"protocol,attr"`
	NumServices int    `xml:"numservices,attr"`
	Services    string `xml:"services,attr"`
}

// nmapLevel is <verbose> and <debugging>.
type nmapLevel struct {
	Level int `xml:"level,attr"`
}

// nmapHost is one scanned host.
type nmapHost struct {
	StartTime int64         `xml:"starttime,attr"`
	EndTime   int64         `xml:"endtime,attr"`
	Status    nmapStatus    `xml:"status"`
	Address   []nmapAddress `xml:"address"` // the IP address, then the MAC address on a local link
	Hostnames nmapHostnames `xml:"hostnames"`
	Ports     nmapPorts     `xml:"ports"`
	Times     nmapTimes     `xml:"times"`
}

// nmapStatus says whether a host is up.
type nmapStatus struct {
	State     string `xml:"state,attr"`
	Reason    string `xml:"reason,attr"`
	ReasonTTL int    `xml:"reason_ttl,attr"`
}

// nmapAddress is a host's address.
type nmapAddress struct {
	Addr     string `xml:"addr,attr"`
	AddrType string `xml:"addrtype,attr"` // ipv4, ipv6 or mac
}

// nmapHostnames holds the names of a host.
type nmapHostnames struct {
	Hostnames []nmapHostname `xml:"hostname"`
}

// nmapHostname is one name: type "user" for a name given as a target.
type nmapHostname struct {
	Name string `xml:"name,attr"`
	Type string `xml:"type,attr"`
}

// nmapPorts holds the ports listed and the count of those not listed.
type nmapPorts struct {
	ExtraPorts []nmapExtraPorts `xml:"extraports"`
	Ports      []nmapPort       `xml:"port"`
}

// nmapExtraPorts counts the ports in one state that are not listed.
type nmapExtraPorts struct {
	State        string             `xml:"state,attr"`
	Count        int                `xml:"count,attr"`
	ExtraReasons []nmapExtraReasons `xml:"extrareasons"`
}

// nmapExtraReasons counts the unlisted ports of one state and reason.
type nmapExtraReasons struct {
	Reason string `xml:"reason,attr"`
	Count  int    `xml:"count,attr"`
	Proto  string `xml:"proto,attr"`
	Ports  string `xml:"ports,attr"`
}

// nmapPort is one port listed.
type nmapPort struct {
	Protocol string       `xml:"protocol,attr"`
	PortID   uint16       `xml:"portid,attr"`
	State    nmapState    `xml:"state"`
	Service  *nmapService `xml:"service"`
}

// nmapState is a port's state and why.
type nmapState struct {
	State     string `xml:"state,attr"`
	Reason    string `xml:"reason,attr"`
	ReasonTTL int    `xml:"reason_ttl,attr"`
}

// nmapService is the service a port's number suggests (method "table",
// conf 3) or that a probe found (method "probed", conf 10).
type nmapService struct {
	Name      string `xml:"name,attr"`
	Product   string `xml:"product,attr,omitempty"`
	Version   string `xml:"version,attr,omitempty"`
	ExtraInfo string `xml:"extrainfo,attr,omitempty"`
	Tunnel    string `xml:"tunnel,attr,omitempty"`
	Method    string `xml:"method,attr"`
	Conf      int    `xml:"conf,attr"`
}

// nmapTimes are a host's round-trip statistics, in microseconds.
type nmapTimes struct {
	SRTT   int64 `xml:"srtt,attr"`
	RTTVar int64 `xml:"rttvar,attr"`
	To     int64 `xml:"to,attr"`
}

// nmapRunStats ends the run.
type nmapRunStats struct {
	Finished nmapFinished `xml:"finished"`
	Hosts    nmapHostsRun `xml:"hosts"`
}

// nmapFinished says when and how the run ended.
type nmapFinished struct {
	Time     int64  `xml:"time,attr"`
	TimeStr  string `xml:"timestr,attr"`
	Summary  string `xml:"summary,attr"`
	Elapsed  string `xml:"elapsed,attr"`
	Exit     string `xml:"exit,attr"`               // "success", or "error" for a scan that ended early
	ErrorMsg string `xml:"errormsg,attr,omitempty"` // why it did
}

// nmapHostsRun counts the hosts.
type nmapHostsRun struct {
	Up    int `xml:"up,attr"`
	Down  int `xml:"down,attr"`
	Total int `xml:"total,attr"`
}
