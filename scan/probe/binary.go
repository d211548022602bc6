package probe

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/portkit/ports"
)

// memcached UDP (memcached's protocol.txt, "UDP protocol"): an 8-byte
// frame header (request ID, sequence number 0, 1 datagram, reserved 0)
// and the text command "version".
const memcachedID = 0x7072

func memcachedProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "memcached",
		Ports: []ports.Port{11211}, // memcache
		payload: func() []byte {
			b := put16(nil, memcachedID)
			b = append(b, 0, 0, 0, 1, 0, 0)
			return append(b, "version\r\n"...)
		},
		match: func(r []byte) (Service, bool) {
			if len(r) < 8 || be16(r) != memcachedID {
				return Service{}, false
			}
			body := r[8:]
			switch {
			case bytes.HasPrefix(body, []byte("VERSION ")):
				v, _, _ := bytes.Cut(body[8:], []byte("\r\n"))
				return Service{Name: "memcached", Product: "memcached", Version: printable(v, 32)}, true
			case bytes.HasPrefix(body, []byte("ERROR")), bytes.HasPrefix(body, []byte("SERVER_ERROR")):
				return Service{Name: "memcached", Info: printable(body, 40)}, true
			}
			return Service{}, false
		},
	}
}

// IKE (RFC 7296 sections 1.2, 3.1 to 3.3, 3.4 and 3.9): an IKE_SA_INIT
// request with an SA payload holding one proposal (AES-CBC-256,
// HMAC-SHA2-256 for the PRF and integrity, Diffie-Hellman group 14), a KE
// payload of group 14 and a nonce. A responder answers with its own
// IKE_SA_INIT, or a notification such as NO_PROPOSAL_CHOSEN or
// INVALID_KE_PAYLOAD, with our SPI echoed.
var ikeSPI = [8]byte{'p', 'o', 'r', 't', 's', 'i', 'k', 'e'}

// IKE payload types and values (RFC 7296 section 3.2, IANA IKEv2 registries).
const (
	ikePayloadSA     = 33
	ikePayloadKE     = 34
	ikePayloadNonce  = 40
	ikePayloadNotify = 41
	ikeSAInit        = 34
	ikeFlagInitiator = 0x08
	ikeFlagResponse  = 0x20
)

func ikePayload() []byte {
	transform := func(last bool, typ byte, id uint16, attr []byte) []byte {
		b := []byte{3, 0} // more transforms follow
		if last {
			b[0] = 0
		}
		b = put16(b, uint16(8+len(attr)))
		b = append(b, typ, 0)
		b = put16(b, id)
		return append(b, attr...)
	}
	keyLen := []byte{0x80, 14, 1, 0} // attribute Key Length (TV format) = 256
	var tr []byte
	tr = append(tr, transform(false, 1, 12, keyLen)...) // ENCR_AES_CBC
	tr = append(tr, transform(false, 2, 5, nil)...)     // PRF_HMAC_SHA2_256
	tr = append(tr, transform(false, 3, 12, nil)...)    // AUTH_HMAC_SHA2_256_128
	tr = append(tr, transform(true, 4, 14, nil)...)     // 2048-bit MODP group
	prop := []byte{0, 0}                                // last proposal
	prop = put16(prop, uint16(8+len(tr)))
	prop = append(prop, 1, 1, 0, 4) // number 1, protocol IKE, SPI size 0, 4 transforms
	prop = append(prop, tr...)

	payload := func(next byte, body []byte) []byte {
		b := []byte{next, 0}
		b = put16(b, uint16(4+len(body)))
		return append(b, body...)
	}
	sa := payload(ikePayloadKE, prop)
	ke := []byte{0, 14, 0, 0} // group 14, reserved
	ke = append(ke, bytes.Repeat([]byte{0x5a}, 256)...)
	kep := payload(ikePayloadNonce, ke)
	nonce := payload(0, bytes.Repeat([]byte{0x6e}, 32))

	body := append(append(sa, kep...), nonce...)
	h := append([]byte{}, ikeSPI[:]...)
	h = append(h, 0, 0, 0, 0, 0, 0, 0, 0) // responder SPI
	h = append(h, ikePayloadSA, 0x20, ikeSAInit, ikeFlagInitiator)
	h = put32(h, 0) // message ID
	h = put32(h, uint32(28+len(body)))
	return append(h, body...)
}

func ikeProbe() *UDPProbe {
	return &UDPProbe{Name: "ike", Ports: []ports.Port{500}, payload: ikePayload, match: ikeMatch} // isakmp
}

// ikeNATTProbe is the same request on the NAT traversal port, after the
// four zero bytes of the non-ESP marker (RFC 3948 section 2.2).
func ikeNATTProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "ike-natt",
		Ports: []ports.Port{4500}, // ipsec-nat-t
		payload: func() []byte {
			return append([]byte{0, 0, 0, 0}, ikePayload()...)
		},
		match: func(r []byte) (Service, bool) {
			if len(r) < 4 || be32(r) != 0 {
				return Service{}, false
			}
			return ikeMatch(r[4:])
		},
	}
}

func ikeMatch(r []byte) (Service, bool) {
	if len(r) < 28 || !bytes.Equal(r[:8], ikeSPI[:]) {
		return Service{}, false
	}
	major := r[17] >> 4
	if major != 1 && major != 2 {
		return Service{}, false
	}
	s := Service{Name: "isakmp", Version: "IKEv" + strconv.Itoa(int(major))}
	if major == 2 && r[19]&ikeFlagResponse == 0 {
		return Service{}, false
	}
	// A notification first says why it refused.
	if next := r[16]; next == ikePayloadNotify && len(r) >= 28+8 {
		s.Info = "notify " + strconv.Itoa(int(be16(r[28+6:])))
	}
	return s, true
}

// QUIC (RFC 9000 sections 6, 14.1 and 17.2, RFC 8999): a long-header
// Initial packet padded to 1,200 bytes with the reserved version
// 0x1a2a3a4a, which no server supports (RFC 9000 section 15), so that a
// server answers with a Version Negotiation packet listing its versions
// and echoing our connection IDs swapped.
var (
	quicDCID = []byte("portsdst")
	quicSCID = []byte("portssrc")
)

func quicProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "quic",
		Ports: []ports.Port{443}, // https (HTTP/3)
		payload: func() []byte {
			b := []byte{0xc0} // long header, fixed bit, type Initial
			b = put32(b, 0x1a2a3a4a)
			b = append(b, byte(len(quicDCID)))
			b = append(b, quicDCID...)
			b = append(b, byte(len(quicSCID)))
			b = append(b, quicSCID...)
			b = append(b, 0)       // token length
			b = append(b, 0x44, 0) // length (2-byte varint) of what follows, patched below
			pad := 1200 - len(b)
			b = append(b, make([]byte, pad)...)
			b[len(b)-pad-2] = 0x40 | byte(pad>>8)
			b[len(b)-pad-1] = byte(pad)
			return b
		},
		match: quicMatch,
	}
}

func quicMatch(r []byte) (Service, bool) {
	// Version Negotiation: long header bit, version 0, DCID = our SCID,
	// SCID = our DCID, then 4-byte versions.
	if len(r) < 7 || r[0]&0x80 == 0 || be32(r[1:]) != 0 {
		return Service{}, false
	}
	off := 5
	dl := int(r[off])
	if off+1+dl >= len(r) || !bytes.Equal(r[off+1:off+1+dl], quicSCID) {
		return Service{}, false
	}
	off += 1 + dl
	sl := int(r[off])
	if off+1+sl > len(r) || !bytes.Equal(r[off+1:off+1+sl], quicDCID) {
		return Service{}, false
	}
	off += 1 + sl
	var vs []string
	for ; off+4 <= len(r) && len(vs) < 6; off += 4 {
		vs = append(vs, quicVersionName(be32(r[off:])))
	}
	s := Service{Name: "quic"}
	if len(vs) > 0 {
		s.Info = "versions " + strings.Join(vs, ",")
	}
	return s, true
}

func quicVersionName(v uint32) string {
	switch {
	case v == 1:
		return "v1"
	case v == 0x6b3343cf:
		return "v2"
	case v&0x0f0f0f0f == 0x0a0a0a0a:
		return "grease"
	case v>>8 == 0xff0000:
		return "draft-" + strconv.Itoa(int(v&0xff))
	}
	return fmt.Sprintf("0x%08x", v)
}

// RIP (RFC 2453 section 3.9.1): a version 2 request for the whole
// routing table (one entry, address family 0, metric 16).
func ripProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "rip",
		Ports: []ports.Port{520}, // router
		payload: func() []byte {
			b := []byte{1, 2, 0, 0} // command request, version 2
			b = append(b, make([]byte, 16)...)
			return put32(b, 16)
		},
		match: func(r []byte) (Service, bool) {
			if len(r) < 4 || r[0] != 2 || (r[1] != 1 && r[1] != 2) || (len(r)-4)%20 != 0 {
				return Service{}, false
			}
			return Service{Name: "rip", Version: "v" + strconv.Itoa(int(r[1])),
				Info: strconv.Itoa((len(r)-4)/20) + " routes"}, true
		},
	}
}

// ONC RPC (RFC 5531 section 9) to the portmapper (RFC 1833): a call of
// procedure 0 (NULL) of program 100000 version 2 with AUTH_NONE.
const rpcXID = 0x706f7274

func rpcProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "rpcbind",
		Ports: []ports.Port{111}, // sunrpc
		payload: func() []byte {
			b := put32(nil, rpcXID)
			for _, v := range []uint32{0, 2, 100000, 2, 0, 0, 0, 0, 0} { // CALL, rpcvers, prog, vers, proc, cred, verf
				b = put32(b, v)
			}
			return b
		},
		match: func(r []byte) (Service, bool) {
			if len(r) < 12 || be32(r) != rpcXID || be32(r[4:]) != 1 { // REPLY
				return Service{}, false
			}
			s := Service{Name: "rpcbind"}
			if be32(r[8:]) == 1 {
				s.Info = "call denied"
			}
			return s, true
		},
	}
}

// STUN (RFC 8489 sections 5 and 6): a Binding request with the magic
// cookie and a transaction ID that the response echoes; its SOFTWARE
// attribute (section 14.14) names the server.
var stunTxID = []byte("ports-stun!!")

const stunCookie = 0x2112a442

func stunProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "stun",
		Ports: []ports.Port{3478}, // stun
		payload: func() []byte {
			b := put16(nil, 0x0001) // Binding request
			b = put16(b, 0)         // no attributes
			b = put32(b, stunCookie)
			return append(b, stunTxID...)
		},
		match: func(r []byte) (Service, bool) {
			if len(r) < 20 || r[0]&0xc0 != 0 || be32(r[4:]) != stunCookie || !bytes.Equal(r[8:20], stunTxID) {
				return Service{}, false
			}
			if t := be16(r); t != 0x0101 && t != 0x0111 { // Binding success or error response
				return Service{}, false
			}
			s := Service{Name: "stun"}
			attrs := r[20:]
			if n := int(be16(r[2:])); n < len(attrs) {
				attrs = attrs[:n]
			}
			for len(attrs) >= 4 {
				typ, l := be16(attrs), int(be16(attrs[2:]))
				if 4+l > len(attrs) {
					break
				}
				if typ == 0x8022 { // SOFTWARE
					s.Product, s.Version = splitProductVersion(printable(attrs[4:4+l], 64))
				}
				attrs = attrs[min(len(attrs), 4+(l+3)&^3):]
			}
			return s, true
		},
	}
}

// CoAP (RFC 7252 section 3, RFC 6690 section 4): a confirmable GET of
// /.well-known/core; a server answers with an ACK (or a RST) carrying our
// message ID.
const coapMsgID = 0x7072

func coapProbe() *UDPProbe {
	return &UDPProbe{
		Name:  "coap",
		Ports: []ports.Port{5683}, // coap
		payload: func() []byte {
			b := []byte{0x40, 0x01} // version 1, CON, no token; GET
			b = put16(b, coapMsgID)
			b = append(b, 0xbb)             // option 11 (Uri-Path), length 11
			b = append(b, ".well-known"...) //
			b = append(b, 0x04)             // option delta 0, length 4
			return append(b, "core"...)
		},
		match: func(r []byte) (Service, bool) {
			if len(r) < 4 || r[0]>>6 != 1 || be16(r[2:]) != coapMsgID {
				return Service{}, false
			}
			typ := r[0] >> 4 & 3
			if typ != 2 && typ != 3 { // ACK or RST
				return Service{}, false
			}
			code := r[1]
			return Service{Name: "coap", Info: fmt.Sprintf("%d.%02d", code>>5, code&0x1f)}, true
		},
	}
}
