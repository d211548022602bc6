package cli

import (
	"net/netip"

	"github.com/portkit/ports/app"
	"github.com/portkit/ports/stream"
	"github.com/portkit/ports/wire"
)

// appNames are the --app names.
var appNames = []string{"tls", "http", "ssh", "quic", "sip", "ftp", "ftp-data", "smtp", "pop3", "imap", "http2"}

// maxAppFlows bounds the connections whose application is remembered
// until they finish (docs/LIMITS.md): past it, new ones show none.
// maxFTPData bounds the FTP data connections announced and not yet
// seen: past it, the oldest announcements are forgotten (all at once).
const (
	maxAppFlows = 1 << 16
	maxFTPData  = 1 << 12
)

// appKey is a connection, either way: its endpoints in a fixed order.
type appKey struct {
	a, b   [16]byte
	pa, pb uint16
}

func appKeyOf(x, y netip.AddrPort) appKey {
	k := appKey{a: x.Addr().As16(), b: y.Addr().As16(), pa: x.Port(), pb: y.Port()}
	if k.pb < k.pa || k.pb == k.pa && string(k.b[:]) < string(k.a[:]) {
		k.a, k.b, k.pa, k.pb = k.b, k.a, k.pb, k.pa
	}
	return k
}

// appSeen is what a connection's streams were found to carry: the
// protocol, and the SNI (TLS) or Host (HTTP) if one was seen; guessed
// when a line fitting several text protocols alike named it.
type appSeen struct {
	kind    app.Kind
	name    string
	guessed bool
}

// flowApps recognises the application of each TCP connection from the
// start of its streams, put back together (package stream), by content;
// an FTP control connection is read to its end, for the data
// connections it announces (ftpData: the listening end announced, and
// the address that is to connect to it).
type flowApps struct {
	reasm   *stream.Reassembler
	head    app.StreamHead
	seen    map[appKey]appSeen
	text    map[stream.Key]app.Kind
	ftpData map[netip.AddrPort]netip.Addr
	// quic and sip read UDP datagrams: QUIC long headers (an Initial's
	// SNI) and SIP messages.
	quic app.QUICDecoder
	qp   app.QUICPacket
	sip  app.SIP
}

func newFlowApps() *flowApps {
	return &flowApps{reasm: stream.New(nil), seen: map[appKey]appSeen{}, text: map[stream.Key]app.Kind{}, ftpData: map[netip.AddrPort]netip.Addr{}}
}

func reverseKey(k stream.Key) stream.Key {
	return stream.Key{Src: k.Dst, Dst: k.Src, SrcPort: k.DstPort, DstPort: k.SrcPort}
}

// add feeds one packet.
func (fa *flowApps) add(p *wire.Packet, src, dst netip.AddrPort) {
	if p.Layers.Has(wire.LayerUDP) && p.IP.FragOffset == 0 {
		fa.datagram(p, src, dst)
		return
	}
	if !p.Layers.Has(wire.LayerTCP) || p.IP.FragOffset != 0 {
		return
	}
	t := &p.TCP
	k := stream.Key{Src: src.Addr().As16(), Dst: dst.Addr().As16(), SrcPort: src.Port(), DstPort: dst.Port()}
	syn := t.Flags.Has(wire.TCPSyn)
	if syn && !t.Flags.Has(wire.TCPAck) && len(fa.ftpData) > 0 {
		fa.dataConn(src, dst)
	}
	if t.Flags&(wire.TCPRst|wire.TCPFin) != 0 && len(p.Payload) == 0 {
		fa.reasm.Forget(k)
		delete(fa.text, k)
		return
	}
	if len(p.Payload) == 0 && !syn {
		return
	}
	// A segment the capture cut leaves a hole no later one fills.
	cut := len(p.Payload) < p.PayloadLen
	head, grew := fa.reasm.Add(k, t.Seq, syn, p.Payload)
	if !grew {
		if cut {
			fa.reasm.Done(k)
		}
		return
	}
	known := fa.text[k]
	if known == app.KindNone {
		known = fa.text[reverseKey(k)]
	}
	switch err := fa.head.DecodeAs(head, known); err {
	case app.ErrShort:
		if !cut {
			return
		}
	case nil:
		h := &fa.head
		if known == app.KindNone {
			h.PreferPort(src.Port(), dst.Port())
		}
		ak := appKeyOf(src, dst)
		prev, had := fa.seen[ak]
		if !had && len(fa.seen) >= maxAppFlows {
			break
		}
		s := appSeen{kind: h.Kind, name: prev.name, guessed: h.Guessed}
		if had && prev.kind != app.KindNone && !(prev.guessed && !h.Guessed) {
			// The first direction recognised names it, unless it only
			// guessed and this one knows.
			s.kind, s.guessed = prev.kind, prev.guessed
		}
		switch {
		case h.Kind == app.KindTLS && len(h.TLS.SNI) > 0:
			s.name = string(h.TLS.SNI)
		case h.Kind == app.KindHTTP && len(h.Host) > 0:
			s.name = string(h.Host)
		}
		fa.seen[ak] = s
		if h.Kind.IsText() {
			if !h.Guessed && fa.text[k] == app.KindNone && len(fa.text) < maxAppFlows {
				fa.text[k] = h.Kind
			}
			if h.Kind == app.KindFTP && h.DataAddr.Port() != 0 {
				fa.announce(h.DataAddr, src, dst)
			}
			// FTP is read on for its data connections; a guess, until
			// a line settles it.
			if s.kind == app.KindFTP || s.guessed {
				fa.reasm.Skip(k, h.MessageLen())
				return
			}
		}
		if s.name == "" && fa.head.Kind == app.KindHTTP {
			if n := fa.head.MessageLen(); n > 0 {
				fa.reasm.Skip(k, n) // a later request may name the Host
				return
			}
		}
	}
	fa.reasm.Done(k)
}

// datagram recognises a UDP flow by its datagrams: QUIC (named by the
// SNI of the Initial that completes a ClientHello) or SIP.
func (fa *flowApps) datagram(p *wire.Packet, src, dst netip.AddrPort) {
	data := p.Payload
	if len(data) == 0 {
		return
	}
	ak := appKeyOf(src, dst)
	prev, had := fa.seen[ak]
	if had && prev.name != "" || !had && len(fa.seen) >= maxAppFlows {
		return
	}
	s := prev
	switch {
	case data[0]&0x80 != 0 && fa.quic.Decode(&fa.qp, data) == nil:
		if s.kind == app.KindNone {
			s.kind = app.KindQUIC
		}
		if fa.qp.Hello && fa.qp.TLS.Type == 1 && len(fa.qp.TLS.SNI) > 0 {
			s.name = string(fa.qp.TLS.SNI)
		}
	case !had && fa.sip.Decode(data, true) == nil:
		s.kind = app.KindSIP
	default:
		return
	}
	fa.seen[ak] = s
}

// announce remembers the data connection that a PORT, EPRT, 227 or
// 229 line from src to dst announces: for 227 and 229 (from the server)
// the client is to connect to the address given, or (229, or a 227
// that names another address than the server's, as behind NAT) to the
// server's; for PORT and EPRT (from the client) the server is to
// connect to the client's.
func (fa *flowApps) announce(at, src, dst netip.AddrPort) {
	if len(fa.ftpData) >= maxFTPData {
		clear(fa.ftpData)
	}
	if a := at.Addr(); a.IsValid() {
		fa.ftpData[netip.AddrPortFrom(a.Unmap(), at.Port())] = dst.Addr()
	}
	if fa.head.Response && at.Addr() != src.Addr() {
		fa.ftpData[netip.AddrPortFrom(src.Addr(), at.Port())] = dst.Addr()
	}
}

// dataConn marks the connection that a SYN from src to dst opens as
// FTP data when an FTP control connection announced dst for src.
func (fa *flowApps) dataConn(src, dst netip.AddrPort) {
	peer, ok := fa.ftpData[dst]
	if !ok || peer != src.Addr() {
		return
	}
	delete(fa.ftpData, dst)
	if ak := appKeyOf(src, dst); len(fa.seen) < maxAppFlows {
		fa.seen[ak] = appSeen{kind: app.KindFTPData}
	}
}

// take returns and forgets what the finished connection carried.
func (fa *flowApps) take(client, server netip.AddrPort) appSeen {
	k := appKeyOf(client, server)
	s := fa.seen[k]
	delete(fa.seen, k)
	if s.kind.IsText() {
		sk := stream.Key{Src: client.Addr().As16(), Dst: server.Addr().As16(), SrcPort: client.Port(), DstPort: server.Port()}
		delete(fa.text, sk)
		delete(fa.text, reverseKey(sk))
	}
	if s.guessed {
		// Only lines that fit several protocols alike (memcached's
		// "STAT pid 1" fits FTP's and POP3's STAT): none is named.
		return appSeen{}
	}
	return s
}

// expected reports whether service, an IANA service name, is one a
// protocol is expected under.
func expected(kind app.Kind, service string) bool {
	switch kind {
	case app.KindTLS:
		switch service {
		case "https", "imaps", "pop3s", "submissions", "ldaps", "ftps", "ftps-data", "domain-s", "ircs-u", "telnets", "nntps",
			"xmpp-client", "sip-tls", "amqps", "secure-mqtt", "ms-wbt-server", "https-alt", "pcsync-https":
			return true
		}
	case app.KindHTTP:
		switch service {
		case "http", "www-http", "http-alt", "http-mgmt", "webcache", "tproxy", "ipp":
			return true
		}
	case app.KindSSH:
		return service == "ssh" || service == "netconf-ssh"
	case app.KindQUIC:
		return service == "https" || service == "https-alt" || service == "pcsync-https" || service == "domain-s"
	case app.KindSIP:
		return service == "sip" || service == "sip-tls"
	case app.KindFTP:
		return service == "ftp"
	case app.KindSMTP:
		// 465 is listed as urd and submissions: SMTP there before TLS
		// (a client's STARTTLS mistake) is still SMTP's port.
		return service == "smtp" || service == "submission" || service == "urd" || service == "submissions" || service == "lmtp"
	case app.KindPOP3:
		return service == "pop3" || service == "pop2"
	case app.KindIMAP:
		return service == "imap" || service == "imap3"
	case app.KindHTTP2:
		return expected(app.KindHTTP, service)
	}
	return false
}

// mismatch: the protocol is not what the server port's registered
// service promises (a port with no service promises nothing; FTP data
// goes to the port its control connection chose, which promises
// nothing either).
func mismatch(kind app.Kind, service string) bool {
	return kind != app.KindNone && kind != app.KindFTPData && service != "" && !expected(kind, service)
}
