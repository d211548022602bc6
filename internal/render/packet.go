package render

// PacketV1 is one packet in `ports decode --format json|jsonl`.
type PacketV1 struct {
	N           int      `json:"n"`    // 1-based packet number in the input
	Time        string   `json:"time"` // RFC 3339 with nanoseconds, UTC
	Length      int      `json:"length"`
	CapLen      int      `json:"caplen"`
	Link        LinkV1   `json:"link"`
	IP          *IPV1    `json:"ip,omitempty"`
	TCP         *TCPV1   `json:"tcp,omitempty"`
	UDP         *UDPV1   `json:"udp,omitempty"`
	ICMP        *ICMPV1  `json:"icmp,omitempty"`
	PayloadLen  int      `json:"payload_len"`
	Truncated   bool     `json:"truncated,omitempty"`
	TruncatedAt string   `json:"truncated_at,omitempty"` // the layer cut short: "tcp", "ipv4"...
	Error       string   `json:"error,omitempty"`        // a malformed header
	Explain     []string `json:"explain,omitempty"`
	App         *AppV1   `json:"app,omitempty"` // the application layer, when recognised
	// Process is set by a live capture with attribution, and by decode
	// of a file that capture wrote with it.
	Process *PacketProcessV1 `json:"process,omitempty"`
}

// PacketProcessV1 names the processes owning the packet's two ends: the
// sending socket's (src) and the receiving socket's (dst); null for an
// end no local socket owns.
type PacketProcessV1 struct {
	Src *ProcessV1 `json:"src"`
	Dst *ProcessV1 `json:"dst"`
}

// AppV1 is what the payload says: DNS (by tcpdump's ports), or TLS,
// HTTP/1.x or SSH at the start of a TCP stream (by content), put back
// together from its segments and shown on the segment that completes
// it.
type AppV1 struct {
	Protocol string `json:"protocol"` // dns, mdns, http, tls, ssh, quic, sip, ftp, smtp, pop3, imap, http2

	// DNS
	ID         *uint16    `json:"id,omitempty"`
	Response   bool       `json:"response,omitempty"`
	Opcode     string     `json:"opcode,omitempty"`
	Rcode      string     `json:"rcode,omitempty"`
	Flags      []string   `json:"flags,omitempty"`  // aa, tc, rd, ra, ad, cd
	Counts     *[4]uint16 `json:"counts,omitempty"` // questions, answers, authority, additional
	Questions  []DNSQV1   `json:"questions,omitempty"`
	Answers    []DNSRRV1  `json:"answers,omitempty"`
	Authority  []DNSRRV1  `json:"authority,omitempty"`
	Additional []DNSRRV1  `json:"additional,omitempty"`

	// HTTP
	Method        string `json:"method,omitempty"`
	URI           string `json:"uri,omitempty"`
	Version       string `json:"version,omitempty"` // also TLS: the ServerHello's
	Status        int    `json:"status,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Host          string `json:"host,omitempty"`
	UserAgent     string `json:"user_agent,omitempty"`
	Server        string `json:"server,omitempty"`
	ContentType   string `json:"content_type,omitempty"`
	ContentLength string `json:"content_length,omitempty"`

	// TLS
	Handshake         string   `json:"handshake,omitempty"` // client_hello, server_hello
	RecordVersion     string   `json:"record_version,omitempty"`
	SNI               string   `json:"sni,omitempty"`
	ALPN              []string `json:"alpn,omitempty"`
	SupportedVersions []string `json:"supported_versions,omitempty"`
	Ciphers           int      `json:"ciphers,omitempty"` // how many the client offers
	Cipher            string   `json:"cipher,omitempty"`  // the server's choice

	// SSH
	Banner string `json:"banner,omitempty"`

	// QUIC: the long header's version ("v1", "v2", "draft-29",
	// "0x1a2a3a4a"), packet type ("Initial", "Handshake", "0-RTT",
	// "Retry", "Version Negotiation"), connection IDs in hex, and
	// whether the Initial was decrypted; the hello's fields are TLS's
	// (handshake, sni, alpn, ciphers, cipher), a Version Negotiation's
	// list is supported_versions.
	QUICVersion string `json:"quic_version,omitempty"`
	PacketType  string `json:"packet_type,omitempty"`
	DCID        string `json:"dcid,omitempty"`
	SCID        string `json:"scid,omitempty"`
	Decrypted   bool   `json:"decrypted,omitempty"`

	// SIP: method, uri, status and reason are HTTP's fields.
	CallID string `json:"call_id,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	CSeq   string `json:"cseq,omitempty"`

	// FTP, SMTP, POP3, IMAP: the message's first line; a request's
	// command and argument, a reply's code (FTP, SMTP) or indicator
	// (POP3's +OK or -ERR, IMAP's OK, NO, BAD, PREAUTH, BYE) and text;
	// IMAP's tag. Response is set for replies.
	Line    string `json:"line,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Command string `json:"command,omitempty"`
	Arg     string `json:"arg,omitempty"`
	Code    int    `json:"code,omitempty"`
	Reply   string `json:"reply,omitempty"`
	// DataIP and DataPort: the FTP data connection announced by PORT,
	// EPRT, 227 (PASV) or 229 (EPSV; the port only).
	DataIP   string `json:"data_ip,omitempty"`
	DataPort uint16 `json:"data_port,omitempty"`
}

// DNSQV1 is a question.
type DNSQV1 struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Class string `json:"class"`
}

// DNSRRV1 is an answer record.
type DNSRRV1 struct {
	Name string `json:"name"`
	Type string `json:"type"`
	TTL  uint32 `json:"ttl"`
	Data string `json:"data,omitempty"` // the address, or the target name ("10 mx.a.test." for MX, "mx.a.test.:5060" for SRV)
}

// LinkV1 is the link-layer header.
type LinkV1 struct {
	Type      string   `json:"type"`          // libpcap's name, as tcpdump prints it: "EN10MB", "LINUX_SLL", "RAW"
	Src       string   `json:"src,omitempty"` // MAC
	Dst       string   `json:"dst,omitempty"`
	EtherType string   `json:"ethertype,omitempty"`
	VLANs     []uint16 `json:"vlans,omitempty"`
}

// ChecksumV1 is a checksum and the outcome of verifying it.
type ChecksumV1 struct {
	Value    uint16 `json:"value"`
	Status   string `json:"status"`             // correct, incorrect, none, unverified (tcpdump -v's words)
	Expected uint16 `json:"expected,omitempty"` // the right value, when verified
}

// IPV1 is an IPv4 or IPv6 header.
type IPV1 struct {
	Version    uint8       `json:"version"`
	Src        string      `json:"src"`
	Dst        string      `json:"dst"`
	TTL        uint8       `json:"ttl"`
	TOS        uint8       `json:"tos"`
	Protocol   uint8       `json:"protocol"`
	HeaderLen  uint16      `json:"header_len"`
	ID         uint32      `json:"id,omitempty"`
	Flags      string      `json:"flags,omitempty"`
	FragOffset uint16      `json:"frag_offset,omitempty"`
	FlowLabel  uint32      `json:"flow_label,omitempty"`
	Checksum   *ChecksumV1 `json:"checksum,omitempty"` // IPv4 only
}

// TCPV1 is a TCP header, with sequence numbers relative to the first
// seen in each direction.
type TCPV1 struct {
	SrcPort      uint16      `json:"src_port"`
	DstPort      uint16      `json:"dst_port"`
	Seq          uint32      `json:"seq"`
	Ack          uint32      `json:"ack"`
	RelSeq       uint32      `json:"rel_seq"`
	RelAck       uint32      `json:"rel_ack"`
	NextSeq      uint32      `json:"next_rel_seq"`
	HeaderLen    int         `json:"header_len"`
	Flags        string      `json:"flags"`
	Window       uint16      `json:"window"`
	WindowScaled uint32      `json:"window_scaled"` // by the handshake's window scale, when seen
	Checksum     ChecksumV1  `json:"checksum"`
	Urgent       uint16      `json:"urgent"`
	MSS          uint16      `json:"mss,omitempty"`
	WScale       *uint8      `json:"wscale,omitempty"`
	SACKOK       bool        `json:"sack_permitted,omitempty"`
	SACK         [][2]uint32 `json:"sack,omitempty"`
	TSval        uint32      `json:"tsval,omitempty"`
	TSecr        uint32      `json:"tsecr,omitempty"`
}

// UDPV1 is a UDP header.
type UDPV1 struct {
	SrcPort  uint16     `json:"src_port"`
	DstPort  uint16     `json:"dst_port"`
	Length   uint16     `json:"length"`
	Checksum ChecksumV1 `json:"checksum"`
}

// ICMPV1 is an ICMP or ICMPv6 header, with the packet an error quotes.
type ICMPV1 struct {
	Version  uint8      `json:"version"` // 4 or 6
	Type     uint8      `json:"type"`
	TypeName string     `json:"type_name"`
	Code     uint8      `json:"code"`
	Checksum ChecksumV1 `json:"checksum"`
	Quoted   *QuotedV1  `json:"quoted,omitempty"`
}

// QuotedV1 is the start of the packet an ICMP error message quotes.
type QuotedV1 struct {
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	Protocol uint8  `json:"protocol"`
	SrcPort  uint16 `json:"src_port,omitempty"`
	DstPort  uint16 `json:"dst_port,omitempty"`
}

// FlowV1 is one connection in `ports flows --format json|jsonl`.
type FlowV1 struct {
	Proto       string  `json:"proto"`
	Client      string  `json:"client"`
	Server      string  `json:"server"`
	Service     string  `json:"service,omitempty"`
	ClientBySYN bool    `json:"client_by_syn"`
	Start       string  `json:"start"`
	DurationSec float64 `json:"duration_s"`
	PacketsOut  uint64  `json:"packets_c2s"`
	PacketsIn   uint64  `json:"packets_s2c"`
	BytesOut    uint64  `json:"bytes_c2s"`
	BytesIn     uint64  `json:"bytes_s2c"`
	PayloadOut  uint64  `json:"payload_c2s"`
	PayloadIn   uint64  `json:"payload_s2c"`
	State       string  `json:"state"`
	Handshake   bool    `json:"handshake"`
	RetransOut  uint64  `json:"retransmits_c2s"`
	RetransIn   uint64  `json:"retransmits_s2c"`
	// The application found by content (tls, http, ssh), its SNI or
	// Host, and whether it is not what the server port's registered
	// service promises.
	App         string `json:"app,omitempty"`
	AppName     string `json:"app_name,omitempty"`
	AppMismatch bool   `json:"app_mismatch,omitempty"`
	// Process names the processes at the client's and the server's end,
	// for a live capture with attribution (flows -i).
	Process *FlowProcessV1 `json:"process,omitempty"`
}

// FlowProcessV1 is the process owning each end of a flow; null for an
// end no local socket owns.
type FlowProcessV1 struct {
	Client *ProcessV1 `json:"client"`
	Server *ProcessV1 `json:"server"`
}
