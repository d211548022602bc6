package cli

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/portkit/ports"
	"github.com/portkit/ports/app"
	"github.com/portkit/ports/internal/render"
	"github.com/portkit/ports/wire"
)

// offloadNote explains a bad checksum on an outgoing packet.
const offloadNote = "outgoing packets captured on the sending host often carry a checksum the network card fills in later (checksum offload)"

// appendVerbose formats the layered view: one block per packet, a line
// per header, as the seeds read a captured HTTP packet field by field.
func (d *decoder) appendVerbose(b []byte, fr *frame, derr error, st seqView) []byte {
	p := &d.p
	ts := time.Unix(0, fr.Timestamp).UTC()
	b = fmt.Appendf(b, "Packet %d: %d bytes on the wire, %d captured, %s\n", fr.N, p.WireLen, p.CapLen, ts.Format(time.RFC3339Nano))
	l := &p.Link
	switch {
	case p.Layers.Has(wire.LayerEthernet):
		b = fmt.Appendf(b, "  Ethernet  src %s, dst %s, type %s", net.HardwareAddr(l.Src[:]), net.HardwareAddr(l.Dst[:]), l.EtherType)
		for i := 0; i < int(l.NumVLANs); i++ {
			b = fmt.Appendf(b, ", vlan %d", l.VLANs[i].ID)
		}
		b = append(b, '\n')
	case p.Layers.Has(wire.LayerSLL), p.Layers.Has(wire.LayerSLL2):
		b = fmt.Appendf(b, "  Linux cooked  %s, type %s\n", l.PacketType, l.EtherType)
	case p.Layers.Has(wire.LayerNull):
		b = fmt.Appendf(b, "  Loopback  family %d\n", l.Family)
	}
	ip := &p.IP
	switch {
	case p.Layers.Has(wire.LayerIPv4):
		b = fmt.Appendf(b, "  IPv4      %s > %s, ttl %d, id %d, flags %s, offset %d, proto %d, length %d, header %d bytes, checksum %s\n",
			ip.Src, ip.Dst, ip.TTL, ip.ID, ip.Flags, ip.FragOffset, ip.Protocol, ip.TotalLen, ip.HeaderLen, ip.Checksum)
	case p.Layers.Has(wire.LayerIPv6):
		b = fmt.Appendf(b, "  IPv6      %s > %s, hop limit %d, flow label 0x%05x, next header %d, payload %d, header %d bytes\n",
			ip.Src, ip.Dst, ip.TTL, ip.FlowLabel, ip.Protocol, ip.PayloadLen, ip.HeaderLen)
	}
	switch {
	case p.Layers.Has(wire.LayerTCP):
		t := &p.TCP
		server, name := d.service(ports.ProtoTCP, t.SrcPort, t.DstPort)
		b = fmt.Appendf(b, "  TCP       src port %d%s, dst port %d%s\n", t.SrcPort, portRole(t.SrcPort, server, name), t.DstPort, portRole(t.DstPort, server, name))
		// The numbers are those of the one-line view (tcpdump's rule),
		// with the raw ones beside them when those are relative.
		b = fmt.Appendf(b, "            seq %d", st.seq)
		if st.relative {
			b = fmt.Appendf(b, " (raw %d)", t.Seq)
		}
		b = fmt.Appendf(b, ", next seq %d", st.seq+uint32(p.PayloadLen)+synFin(t.Flags))
		if t.Flags.Has(wire.TCPAck) {
			b = fmt.Appendf(b, ", ack %d", st.ack)
			if st.relative {
				b = fmt.Appendf(b, " (raw %d)", t.Ack)
			}
		}
		b = append(b, '\n')
		b = fmt.Appendf(b, "            header length %d bytes, flags 0x%03x %s\n", int(t.DataOffset)*4, uint16(t.Flags), t.Flags)
		if st.wscale >= 0 {
			b = fmt.Appendf(b, "            window %d, scaled %d (scale %d)\n", t.Window, uint32(t.Window)<<st.wscale, st.wscale)
		} else {
			b = fmt.Appendf(b, "            window %d (scale not seen)\n", t.Window)
		}
		b = fmt.Appendf(b, "            checksum %s, urgent pointer %d%s\n", t.Checksum, t.Urgent, badNote(t.Checksum))
		o := &t.Options
		if o.HasMSS || o.HasWScale || o.SACKPermitted || o.NumSACK > 0 || o.HasTimestamps {
			b = append(b, "            options"...)
			if o.HasMSS {
				b = fmt.Appendf(b, " mss %d", o.MSS)
			}
			if o.HasWScale {
				b = fmt.Appendf(b, " wscale %d", o.WScale)
			}
			if o.SACKPermitted {
				b = append(b, " sackOK"...)
			}
			for i := 0; i < int(o.NumSACK); i++ {
				b = fmt.Appendf(b, " sack %d-%d", o.SACK[i].Left, o.SACK[i].Right)
			}
			if o.HasTimestamps {
				b = fmt.Appendf(b, " TS val %d ecr %d", o.TSval, o.TSecr)
			}
			b = append(b, '\n')
		}
		b = fmt.Appendf(b, "            payload %d bytes\n", p.PayloadLen)
	case p.Layers.Has(wire.LayerUDP):
		u := &p.UDP
		server, name := d.service(ports.ProtoUDP, u.SrcPort, u.DstPort)
		b = fmt.Appendf(b, "  UDP       src port %d%s, dst port %d%s, length %d, checksum %s%s, payload %d bytes\n",
			u.SrcPort, portRole(u.SrcPort, server, name), u.DstPort, portRole(u.DstPort, server, name), u.Length, u.Checksum, badNote(u.Checksum), p.PayloadLen)
	case p.Layers.Has(wire.LayerICMPv4):
		c := &p.ICMPv4
		b = fmt.Appendf(b, "  ICMP      %s (type %d, code %d), checksum %s\n", c.Type, uint8(c.Type), c.Code, c.Checksum)
		b = appendQuotedVerbose(b, &c.Quoted)
	case p.Layers.Has(wire.LayerICMPv6):
		c := &p.ICMPv6
		b = fmt.Appendf(b, "  ICMPv6    %s (type %d, code %d), checksum %s\n", c.Type, uint8(c.Type), c.Code, c.Checksum)
		b = appendQuotedVerbose(b, &c.Quoted)
	}
	if p.Truncated {
		b = fmt.Appendf(b, "  truncated in %s [|%s]: %d of %d bytes captured\n", p.TruncatedAt, layerWord(p.TruncatedAt), p.CapLen, p.WireLen)
	}
	if v := d.appV1(fr); v != nil {
		b = appendAppVerbose(b, v)
	}
	if derr != nil {
		b = fmt.Appendf(b, "  malformed: %v\n", derr)
	}
	return append(b, '\n')
}

// appendAppVerbose writes the application layer's fields by name, as
// the JSON app object has them.
func appendAppVerbose(b []byte, v *render.AppV1) []byte {
	b = fmt.Appendf(b, "  %-9s", strings.ToUpper(v.Protocol))
	sep := " "
	field := func(name string, val any) {
		switch x := val.(type) {
		case string:
			if x == "" {
				return
			}
		case int:
			if x == 0 {
				return
			}
		case []string:
			if len(x) == 0 {
				return
			}
			val = strings.Join(x, ",")
		}
		b = fmt.Appendf(b, "%s%s %v", sep, name, val)
		sep = ", "
	}
	switch v.Protocol {
	case "dns", "mdns":
		field("id", int(*v.ID))
		if v.Response {
			field("response", "yes")
		}
		field("opcode", v.Opcode)
		field("rcode", v.Rcode)
		field("flags", v.Flags)
		c := v.Counts
		b = fmt.Appendf(b, "%squestions %d, answers %d, authority %d, additional %d\n", sep, c[0], c[1], c[2], c[3])
		for _, q := range v.Questions {
			b = fmt.Appendf(b, "            question %s %s %s\n", q.Name, q.Type, q.Class)
		}
		for _, sec := range []struct {
			name string
			rrs  []render.DNSRRV1
		}{{"answer", v.Answers}, {"authority", v.Authority}, {"additional", v.Additional}} {
			for _, a := range sec.rrs {
				b = fmt.Appendf(b, "            %s %s %s ttl %d %s\n", sec.name, a.Name, a.Type, a.TTL, a.Data)
			}
		}
		return b
	case "http":
		field("method", v.Method)
		field("uri", v.URI)
		field("version", v.Version)
		field("status", v.Status)
		field("reason", v.Reason)
		field("host", v.Host)
		field("user-agent", v.UserAgent)
		field("server", v.Server)
		field("content-type", v.ContentType)
		field("content-length", v.ContentLength)
	case "tls":
		field("handshake", v.Handshake)
		field("record version", v.RecordVersion)
		field("version", v.Version)
		field("sni", v.SNI)
		field("alpn", v.ALPN)
		field("supported versions", v.SupportedVersions)
		field("ciphers offered", v.Ciphers)
		field("cipher", v.Cipher)
	case "ssh":
		field("banner", v.Banner)
	case "quic":
		field("version", v.QUICVersion)
		field("packet", v.PacketType)
		field("dcid", v.DCID)
		field("scid", v.SCID)
		if v.Decrypted {
			field("decrypted", "yes")
		}
		field("handshake", v.Handshake)
		field("sni", v.SNI)
		field("alpn", v.ALPN)
		field("ciphers offered", v.Ciphers)
		field("cipher", v.Cipher)
		field("versions", v.SupportedVersions)
	case "sip":
		field("method", v.Method)
		field("uri", v.URI)
		field("status", v.Status)
		field("reason", v.Reason)
		field("call-id", v.CallID)
		field("from", v.From)
		field("to", v.To)
		field("cseq", v.CSeq)
	case "ftp", "smtp", "pop3", "imap":
		field("tag", v.Tag)
		field("command", v.Command)
		field("code", v.Code)
		field("reply", v.Reply)
		field("arg", v.Arg)
		if v.DataPort != 0 {
			field("data", v.DataIP+":"+strconv.Itoa(int(v.DataPort)))
		}
		if v.Command == "" && v.Code == 0 && v.Reply == "" {
			field("line", v.Line)
		}
	case "http2":
		field("preface", "yes")
	}
	return append(b, '\n')
}

func appendQuotedVerbose(b []byte, q *wire.Quoted) []byte {
	if q.IP.Version == 0 {
		return b
	}
	b = fmt.Appendf(b, "            quotes %s > %s proto %d", q.IP.Src, q.IP.Dst, q.IP.Protocol)
	if q.HasPorts {
		b = fmt.Appendf(b, ", ports %d > %d", q.SrcPort, q.DstPort)
	}
	return append(b, '\n')
}

func synFin(f wire.TCPFlags) uint32 {
	n := uint32(0)
	if f.Has(wire.TCPSyn) {
		n++
	}
	if f.Has(wire.TCPFin) {
		n++
	}
	return n
}

func badNote(c wire.Checksum) string {
	if c.Status == wire.ChecksumBad {
		return " — " + offloadNote
	}
	return ""
}

// portRole says what a port is in the verbose view.
func portRole(p, server ports.Port, name string) string {
	if p == server {
		if name != "" {
			return " (" + name + ", the server's port)"
		}
		return " (the server's port)"
	}
	return " (the client's port)"
}

// appendExplain says once per connection which side is which.
func (d *decoder) appendExplain(b []byte, p *wire.Packet) []byte {
	for _, s := range d.explainLines(p) {
		b = append(b, "  # "...)
		b = append(b, s...)
		b = append(b, '\n')
	}
	return b
}

func (d *decoder) explainLines(p *wire.Packet) []string {
	src, dst, ok := p.Endpoints()
	if !ok {
		return nil
	}
	proto := ports.ProtoUDP
	if p.Layers.Has(wire.LayerTCP) {
		proto = ports.ProtoTCP
	}
	server, name := d.service(proto, ports.Port(src.Port()), ports.Port(dst.Port()))
	client, srv := src, dst
	if ports.Port(src.Port()) == server && src.Port() != dst.Port() {
		client, srv = dst, src
	}
	svc := fmt.Sprintf("port %d", srv.Port())
	if name != "" {
		svc = fmt.Sprintf("port %d (%s)", srv.Port(), name)
	}
	return []string{
		fmt.Sprintf("new %s connection: %s is the client, %s the server, on its %s %s.", proto, client, srv, ports.Port(srv.Port()).Class().Alias(), svc),
		fmt.Sprintf("port %d is the client's ephemeral port: its kernel picked it for this connection. Replies come from %s to %s: the ports swap.", client.Port(), srv, client),
	}
}

// checksumV1 uses the words of the -v view, which are tcpdump's, so that
// JSON and text say one thing: correct, incorrect, none or unverified.
func checksumV1(c wire.Checksum) render.ChecksumV1 {
	status := "unverified"
	switch c.Status {
	case wire.ChecksumGood:
		status = "correct"
	case wire.ChecksumBad:
		status = "incorrect"
	case wire.ChecksumNone:
		status = "none"
	}
	return render.ChecksumV1{Value: c.Value, Status: status, Expected: c.Expected}
}

// packetV1 is the JSON view of the decoded packet.
func (d *decoder) packetV1(fr *frame, derr error, st seqView, first bool) render.PacketV1 {
	p := &d.p
	v := render.PacketV1{
		N: fr.N, Time: time.Unix(0, fr.Timestamp).UTC().Format(time.RFC3339Nano),
		Length: p.WireLen, CapLen: p.CapLen, PayloadLen: p.PayloadLen, Truncated: p.Truncated,
		Link: render.LinkV1{Type: p.Link.Type.String(), EtherType: p.Link.EtherType.String()},
	}
	if p.Truncated {
		v.TruncatedAt = layerWord(p.TruncatedAt)
	}
	if derr != nil {
		v.Error = derr.Error()
	}
	if p.Layers.Has(wire.LayerEthernet) {
		v.Link.Src, v.Link.Dst = net.HardwareAddr(p.Link.Src[:]).String(), net.HardwareAddr(p.Link.Dst[:]).String()
	}
	for i := 0; i < int(p.Link.NumVLANs); i++ {
		v.Link.VLANs = append(v.Link.VLANs, p.Link.VLANs[i].ID)
	}
	if p.Layers.Has(wire.LayerIPv4) || p.Layers.Has(wire.LayerIPv6) {
		ip := &p.IP
		v.IP = &render.IPV1{Version: ip.Version, Src: ip.Src.String(), Dst: ip.Dst.String(), TTL: ip.TTL, TOS: ip.TOS,
			Protocol: uint8(ip.Protocol), HeaderLen: ip.HeaderLen, ID: ip.ID, FragOffset: ip.FragOffset, FlowLabel: ip.FlowLabel}
		if ip.Flags != 0 {
			v.IP.Flags = ip.Flags.String()
		}
		if ip.Version == 4 {
			c := checksumV1(ip.Checksum)
			v.IP.Checksum = &c
		}
	}
	switch {
	case p.Layers.Has(wire.LayerTCP):
		t := &p.TCP
		tv := &render.TCPV1{SrcPort: uint16(t.SrcPort), DstPort: uint16(t.DstPort), Seq: t.Seq, Ack: t.Ack,
			RelSeq: st.seq, RelAck: st.ack, NextSeq: st.seq + uint32(p.PayloadLen) + synFin(t.Flags),
			HeaderLen: int(t.DataOffset) * 4, Flags: t.Flags.String(), Window: t.Window, WindowScaled: uint32(t.Window),
			Checksum: checksumV1(t.Checksum), Urgent: t.Urgent, MSS: t.Options.MSS, SACKOK: t.Options.SACKPermitted,
			TSval: t.Options.TSval, TSecr: t.Options.TSecr}
		if st.wscale >= 0 {
			tv.WindowScaled = uint32(t.Window) << st.wscale
		}
		if t.Options.HasWScale {
			ws := t.Options.WScale
			tv.WScale = &ws
		}
		for i := 0; i < int(t.Options.NumSACK); i++ {
			tv.SACK = append(tv.SACK, [2]uint32{t.Options.SACK[i].Left, t.Options.SACK[i].Right})
		}
		v.TCP = tv
	case p.Layers.Has(wire.LayerUDP):
		u := &p.UDP
		v.UDP = &render.UDPV1{SrcPort: uint16(u.SrcPort), DstPort: uint16(u.DstPort), Length: u.Length, Checksum: checksumV1(u.Checksum)}
	case p.Layers.Has(wire.LayerICMPv4):
		c := &p.ICMPv4
		v.ICMP = &render.ICMPV1{Version: 4, Type: uint8(c.Type), TypeName: c.Type.String(), Code: c.Code, Checksum: checksumV1(c.Checksum), Quoted: quotedV1(&c.Quoted)}
	case p.Layers.Has(wire.LayerICMPv6):
		c := &p.ICMPv6
		v.ICMP = &render.ICMPV1{Version: 6, Type: uint8(c.Type), TypeName: c.Type.String(), Code: c.Code, Checksum: checksumV1(c.Checksum), Quoted: quotedV1(&c.Quoted)}
	}
	if d.explain && first {
		v.Explain = d.explainLines(p)
	}
	v.App = d.appV1(fr)
	return v
}

// appV1 is the JSON view of the application layer: DNS on the ports
// tcpdump gives it, or what the start of a TCP stream says, on the
// segment that completes it.
func (d *decoder) appV1(fr *frame) *render.AppV1 {
	p := &d.p
	if d.headOK {
		return streamHeadV1(&d.head)
	}
	switch d.dgram {
	case app.KindQUIC:
		return quicV1(&d.qp)
	case app.KindSIP:
		return sipV1(&d.sip)
	}
	var msg []byte
	proto := "dns"
	switch {
	case p.Layers.Has(wire.LayerUDP) && p.IP.FragOffset == 0:
		pr := app.TcpdumpUDP(uint16(p.UDP.SrcPort), uint16(p.UDP.DstPort), p.Payload)
		if pr != app.PrintDNS && pr != app.PrintMDNS {
			return nil
		}
		if pr == app.PrintMDNS {
			proto = "mdns"
		}
		msg = p.Payload
	case p.Layers.Has(wire.LayerTCP) && app.TcpdumpTCP(uint16(p.TCP.SrcPort), uint16(p.TCP.DstPort)) == app.PrintDNS:
		if len(p.Payload) < 14 || int(binary.BigEndian.Uint16(p.Payload)) != len(p.Payload)-2 {
			return nil
		}
		msg = p.Payload[2:]
	default:
		return nil
	}
	if len(msg) < 12 {
		return nil
	}
	var m app.DNS
	err := m.Decode(msg)
	h := m.Header
	id := uint16(msg[0])<<8 | uint16(msg[1])
	v := &render.AppV1{Protocol: proto, ID: &id, Response: msg[2]&0x80 != 0, Counts: &[4]uint16{m.QDCount, m.ANCount, m.NSCount, m.ARCount}}
	if err == nil || m.NumQ > 0 || m.NumA > 0 {
		v.Opcode = strconv.Itoa(int(h.OpCode))
		v.Rcode = strings.TrimPrefix(h.RCode.String(), "RCode")
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{h.Authoritative, "aa"}, {h.Truncated, "tc"}, {h.RecursionDesired, "rd"}, {h.RecursionAvailable, "ra"}, {h.AuthenticData, "ad"}, {h.CheckingDisabled, "cd"}} {
		if f.on {
			v.Flags = append(v.Flags, f.name)
		}
	}
	for _, q := range m.Questions[:m.NumQ] {
		v.Questions = append(v.Questions, render.DNSQV1{Name: q.Name.String(), Type: dnsTypeName(uint16(q.Type)), Class: dnsClassName(uint16(q.Class))})
	}
	for _, a := range m.Answers[:m.NumA] {
		rr := render.DNSRRV1{Name: a.Name.String(), Type: dnsTypeName(uint16(a.Type)), TTL: a.TTL}
		switch {
		case a.Addr.IsValid():
			rr.Data = a.Addr.String()
		case a.Type == 15: // MX
			rr.Data = strconv.Itoa(int(a.Pref)) + " " + a.Target.String()
		case a.Type == 33: // SRV
			rr.Data = a.Target.String() + ":" + strconv.Itoa(int(a.Port))
		case a.Target.Length > 0:
			rr.Data = a.Target.String()
		}
		switch a.Section {
		case 1:
			v.Answers = append(v.Answers, rr)
		case 2:
			v.Authority = append(v.Authority, rr)
		default:
			v.Additional = append(v.Additional, rr)
		}
	}
	return v
}

// dnsClassName names a class as tcpdump does (the mDNS QU bit aside).
func dnsClassName(c uint16) string {
	switch c &^ 0x8000 {
	case 1:
		return "IN"
	case 3:
		return "CHAOS"
	case 4:
		return "HS"
	case 255:
		return "ANY"
	}
	return strconv.Itoa(int(c))
}

func dnsTypeName(t uint16) string {
	if n := app.DNSTypeName(t); n != "" {
		return n
	}
	return "Type" + strconv.Itoa(int(t))
}

func streamHeadV1(h *app.StreamHead) *render.AppV1 {
	v := &render.AppV1{Protocol: h.Kind.String()}
	switch h.Kind {
	case app.KindHTTP:
		v.Method, v.URI, v.Version, v.Reason = string(h.Method), string(h.Target), string(h.Version), string(h.Reason)
		v.Status, v.Host, v.UserAgent, v.Server = h.Status, string(h.Host), string(h.UserAgent), string(h.Server)
		v.ContentType, v.ContentLength = string(h.ContentType), string(h.ContentLength)
	case app.KindSSH:
		v.Banner = string(h.Banner)
	case app.KindSIP:
		return sipV1(&h.SIP)
	case app.KindFTP, app.KindSMTP, app.KindPOP3, app.KindIMAP:
		v.Line, v.Tag, v.Command, v.Arg = string(h.Line), string(h.Tag), string(h.Command), string(h.Arg)
		v.Code, v.Reply, v.Response = h.Code, string(h.Reply), h.Response
		if a := h.DataAddr; a.Port() != 0 {
			if a.Addr().IsValid() {
				v.DataIP = a.Addr().String()
			}
			v.DataPort = a.Port()
		}
	case app.KindTLS:
		t := &h.TLS
		v.RecordVersion = tlsVersion(t.RecordVersion)
		helloV1(v, t)
		if t.Type == 1 {
			for _, ver := range t.Versions(nil) {
				v.SupportedVersions = append(v.SupportedVersions, tlsVersion(ver))
			}
		}
	}
	return v
}

// helloV1 fills v with a TLS ClientHello's or ServerHello's fields, as
// TLS over TCP and QUIC's Initials carry them.
func helloV1(v *render.AppV1, t *app.TLSHello) {
	if t.Type == 1 {
		v.Handshake, v.SNI, v.Ciphers = "client_hello", string(t.SNI), t.NumCiphers
	} else {
		v.Handshake, v.Version = "server_hello", tlsVersion(t.Selected)
		v.Cipher = "0x" + strconv.FormatUint(uint64(t.Cipher)|0x10000, 16)[1:]
	}
	if t.HasALPN() {
		v.ALPN = strings.Split(string(t.AppendALPN(nil, "\x00")), "\x00")
	}
}

// quicV1 is a QUIC packet's JSON view: its header, and the hello its
// Initials' CRYPTO frames completed, if this one did.
func quicV1(q *app.QUICPacket) *render.AppV1 {
	v := &render.AppV1{Protocol: "quic", QUICVersion: string(app.AppendQUICVersion(nil, q.Version)), PacketType: q.Type.String(),
		DCID: hex.EncodeToString(q.DCID), SCID: hex.EncodeToString(q.SCID), Decrypted: q.Decrypted}
	if q.Type == app.QUICVersionNegotiation {
		for _, ver := range q.Versions(nil) {
			v.SupportedVersions = append(v.SupportedVersions, string(app.AppendQUICVersion(nil, ver)))
		}
	}
	if q.Hello {
		helloV1(v, &q.TLS)
	}
	return v
}

// sipV1 is a SIP message's JSON view.
func sipV1(s *app.SIP) *render.AppV1 {
	return &render.AppV1{Protocol: "sip", Method: string(s.Method), URI: string(s.URI), Status: s.Status, Reason: string(s.Reason),
		CallID: string(s.CallID), From: string(s.From), To: string(s.To), CSeq: string(s.CSeq)}
}

func tlsVersion(v uint16) string {
	switch v {
	case 0x0300:
		return "SSL 3.0"
	case 0x0301:
		return "TLS 1.0"
	case 0x0302:
		return "TLS 1.1"
	case 0x0303:
		return "TLS 1.2"
	case 0x0304:
		return "TLS 1.3"
	}
	return "0x" + strconv.FormatUint(uint64(v)|0x10000, 16)[1:]
}

func quotedV1(q *wire.Quoted) *render.QuotedV1 {
	if q.IP.Version == 0 {
		return nil
	}
	return &render.QuotedV1{Src: q.IP.Src.String(), Dst: q.IP.Dst.String(), Protocol: uint8(q.IP.Protocol), SrcPort: uint16(q.SrcPort), DstPort: uint16(q.DstPort)}
}
