package app

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"strconv"
)

// ErrShort: the bytes given are the start of a message that needs more
// (a stream's head: wait for more segments). ErrNotThis: they are not
// the protocol asked for.
var (
	ErrShort   = errors.New("app: message incomplete")
	ErrNotThis = errors.New("app: not this protocol")
)

// TLSHello is a TLS ClientHello or ServerHello, decoded in place from
// the start of a stream: its slices alias the data given to Decode.
type TLSHello struct {
	Type          uint8  // 1 ClientHello, 2 ServerHello
	RecordVersion uint16 // the record layer's version
	Version       uint16 // legacy_version of the hello
	// Selected is a ServerHello's version: its supported_versions
	// extension if it has one (TLS 1.3), else Version.
	Selected   uint16
	Cipher     uint16 // the ServerHello's cipher suite
	NumCiphers int    // the ClientHello's cipher suites
	SNI        []byte // the server name a ClientHello asks for
	// alpn is the ALPN extension's protocol list, versions the client's
	// supported_versions list (2-byte values).
	alpn, versions []byte
}

// Decode reads a hello from the start of a stream: a handshake record
// whose first message is a ClientHello or ServerHello, whole in that
// record. It returns ErrShort while the record is incomplete and
// ErrNotThis for anything else.
func (h *TLSHello) Decode(data []byte) error {
	*h = TLSHello{}
	if len(data) < 1 || data[0] != 22 {
		return ErrNotThis
	}
	if len(data) < 6 {
		if len(data) >= 2 && data[1] != 3 {
			return ErrNotThis
		}
		return ErrShort
	}
	if data[1] != 3 || data[2] > 4 || data[5] != 1 && data[5] != 2 {
		return ErrNotThis
	}
	rlen := int(binary.BigEndian.Uint16(data[3:]))
	if rlen < 4 || rlen > 1<<14+2048 {
		return ErrNotThis
	}
	if len(data) < 5+rlen {
		return ErrShort
	}
	h.RecordVersion = binary.BigEndian.Uint16(data[1:])
	rec := data[5 : 5+rlen]
	h.Type = rec[0]
	hlen := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3])
	if 4+hlen > len(rec) {
		return ErrNotThis // a hello spread over records: not followed
	}
	b := rec[4 : 4+hlen]
	if len(b) < 2+32+1 {
		return ErrNotThis
	}
	h.Version = binary.BigEndian.Uint16(b)
	b = b[34:]
	sid := int(b[0])
	if len(b) < 1+sid {
		return ErrNotThis
	}
	b = b[1+sid:]
	if h.Type == 1 {
		if len(b) < 2 {
			return ErrNotThis
		}
		n := int(binary.BigEndian.Uint16(b))
		if n%2 != 0 || len(b) < 2+n+1 {
			return ErrNotThis
		}
		h.NumCiphers = n / 2
		b = b[2+n:]
		nc := int(b[0])
		if len(b) < 1+nc {
			return ErrNotThis
		}
		b = b[1+nc:]
	} else {
		if len(b) < 3 {
			return ErrNotThis
		}
		h.Cipher = binary.BigEndian.Uint16(b)
		b = b[3:]
	}
	h.Selected = h.Version
	if len(b) < 2 {
		return nil // no extensions
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return ErrNotThis
	}
	for ext := b[2 : 2+n]; len(ext) >= 4; {
		typ := binary.BigEndian.Uint16(ext)
		l := int(binary.BigEndian.Uint16(ext[2:]))
		if len(ext) < 4+l {
			return ErrNotThis
		}
		body := ext[4 : 4+l]
		ext = ext[4+l:]
		switch typ {
		case 0: // server_name: a list of (type, name)
			if h.Type == 1 && len(body) >= 5 && body[2] == 0 {
				nl := int(binary.BigEndian.Uint16(body[3:]))
				if 5+nl <= len(body) {
					h.SNI = body[5 : 5+nl]
				}
			}
		case 16: // ALPN
			if len(body) >= 2 && 2+int(binary.BigEndian.Uint16(body)) <= len(body) {
				h.alpn = body[2 : 2+int(binary.BigEndian.Uint16(body))]
			}
		case 43: // supported_versions
			if h.Type == 2 && len(body) == 2 {
				h.Selected = binary.BigEndian.Uint16(body)
			} else if h.Type == 1 && len(body) >= 1 && 1+int(body[0]) <= len(body) {
				h.versions = body[1 : 1+int(body[0])]
			}
		}
	}
	return nil
}

// AppendALPN appends the ALPN protocols, separated by sep.
func (h *TLSHello) AppendALPN(b []byte, sep string) []byte {
	first := true
	for l := h.alpn; len(l) > 0 && 1+int(l[0]) <= len(l); l = l[1+int(l[0]):] {
		if !first {
			b = append(b, sep...)
		}
		first = false
		b = append(b, l[1:1+int(l[0])]...)
	}
	return b
}

// HasALPN reports whether the hello carries ALPN protocols.
func (h *TLSHello) HasALPN() bool { return len(h.alpn) > 1 }

// Versions are the versions a ClientHello's supported_versions lists,
// appended to dst.
func (h *TLSHello) Versions(dst []uint16) []uint16 {
	for v := h.versions; len(v) >= 2; v = v[2:] {
		dst = append(dst, binary.BigEndian.Uint16(v))
	}
	return dst
}

// AppendSummary appends the one-line summary: "TLS ClientHello SNI
// a.test ALPN h2,http/1.1", "TLS ServerHello TLS 1.3
// TLS_AES_128_GCM_SHA256 ALPN h2".
func (h *TLSHello) AppendSummary(b []byte) []byte {
	if h.Type == 1 {
		b = append(b, "TLS ClientHello"...)
		if len(h.SNI) > 0 {
			b = append(b, " SNI "...)
			for _, c := range h.SNI {
				b = appendChar(b, c)
			}
		}
	} else {
		b = append(b, "TLS ServerHello "...)
		b = appendVersion(b, h.Selected)
		b = append(b, ' ')
		b = appendCipher(b, h.Cipher)
	}
	if h.HasALPN() {
		b = append(b, " ALPN "...)
		b = h.AppendALPN(b, ",")
	}
	return b
}

func appendVersion(b []byte, v uint16) []byte {
	switch v {
	case tls.VersionSSL30, tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13:
		return append(b, tls.VersionName(v)...)
	}
	b = append(b, "0x"...)
	return strconv.AppendUint(b, uint64(v), 16)
}

// appendCipher appends IANA's name for the suites TLS 1.2 and 1.3
// servers choose today, else the number in hex. (crypto/tls's
// CipherSuiteName would allocate a list each call.)
func appendCipher(b []byte, id uint16) []byte {
	if n := cipherName(id); n != "" {
		return append(b, n...)
	}
	b = append(b, "0x"...)
	const digits = "0123456789abcdef"
	return append(b, digits[id>>12], digits[id>>8&0xf], digits[id>>4&0xf], digits[id&0xf])
}

func cipherName(id uint16) string {
	switch id {
	case 0x1301:
		return "TLS_AES_128_GCM_SHA256"
	case 0x1302:
		return "TLS_AES_256_GCM_SHA384"
	case 0x1303:
		return "TLS_CHACHA20_POLY1305_SHA256"
	case 0xc02b:
		return "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
	case 0xc02c:
		return "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
	case 0xc02f:
		return "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
	case 0xc030:
		return "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
	case 0xcca8:
		return "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
	case 0xcca9:
		return "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
	case 0xccaa:
		return "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
	case 0x009e:
		return "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"
	case 0x009f:
		return "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"
	case 0x009c:
		return "TLS_RSA_WITH_AES_128_GCM_SHA256"
	case 0x009d:
		return "TLS_RSA_WITH_AES_256_GCM_SHA384"
	case 0xc013:
		return "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
	case 0xc014:
		return "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
	case 0xc009:
		return "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
	case 0xc00a:
		return "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
	case 0x002f:
		return "TLS_RSA_WITH_AES_128_CBC_SHA"
	case 0x0035:
		return "TLS_RSA_WITH_AES_256_CBC_SHA"
	}
	return ""
}
