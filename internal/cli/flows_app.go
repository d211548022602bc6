package cli

import (
	"net/netip"

	"github.com/portkit/ports/app"
	"github.com/portkit/ports/stream"
	"github.com/portkit/ports/wire"
)

// appNames are the --app names.
var appNames = []string{"tls", "http", "ssh", "quic", "sip"}

// maxAppFlows bounds the connections whose application is remembered
// until they finish (docs/LIMITS.md): past it, new ones show none.
const maxAppFlows = 1 << 16

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
// protocol, and the SNI (TLS) or Host (HTTP) if one was seen.
type appSeen struct {
	kind app.Kind
	name string
}

// flowApps recognises the application of each TCP connection from the
// start of its streams, put back together (package stream), by content.
type flowApps struct {
	reasm *stream.Reassembler
	head  app.StreamHead
	seen  map[appKey]appSeen
	// quic and sip read UDP datagrams: QUIC long headers (an Initial's
	// SNI) and SIP messages.
	quic app.QUICDecoder
	qp   app.QUICPacket
	sip  app.SIP
}

func newFlowApps() *flowApps {
	return &flowApps{reasm: stream.New(nil), seen: map[appKey]appSeen{}}
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
	if t.Flags&(wire.TCPRst|wire.TCPFin) != 0 && len(p.Payload) == 0 {
		fa.reasm.Forget(k)
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
	switch err := fa.head.Decode(head); err {
	case app.ErrShort:
		if !cut {
			return
		}
	case nil:
		ak := appKeyOf(src, dst)
		prev, had := fa.seen[ak]
		if !had && len(fa.seen) >= maxAppFlows {
			break
		}
		s := appSeen{kind: fa.head.Kind, name: prev.name}
		if had && prev.kind != app.KindNone {
			s.kind = prev.kind // the first direction recognised names it
		}
		switch h := &fa.head; {
		case h.Kind == app.KindTLS && len(h.TLS.SNI) > 0:
			s.name = string(h.TLS.SNI)
		case h.Kind == app.KindHTTP && len(h.Host) > 0:
			s.name = string(h.Host)
		}
		fa.seen[ak] = s
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

// take returns and forgets what the finished connection carried.
func (fa *flowApps) take(client, server netip.AddrPort) appSeen {
	k := appKeyOf(client, server)
	s := fa.seen[k]
	delete(fa.seen, k)
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
	}
	return false
}

// mismatch: the protocol is not what the server port's registered
// service promises (a port with no service promises nothing).
func mismatch(kind app.Kind, service string) bool {
	return kind != app.KindNone && service != "" && !expected(kind, service)
}
