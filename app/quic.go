package app

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
)

// QUIC long-header packets (RFC 8999, 9000, 9369) are recognised by
// content: the header form bit, a version this package knows (v1, v2,
// the drafts 23 to 34), or a reserved one (0x?a?a?a?a, RFC 9000 §15),
// or version 0 (a Version Negotiation packet), then connection IDs of
// at most 20 bytes and a Length that fits the datagram. Initial packets
// are decrypted with the keys RFC 9001 §5.2 derives from the version's
// public salt and the client's Destination Connection ID: no secret is
// needed. The ClientHello in their CRYPTO frames is read with
// [TLSHello].
//
// Why this is written here: the QUIC stacks for Go (quic-go,
// golang.org/x/net/quic) keep their packet protection internal, and a
// dissector needs the header and frame parsing of packets it is not a
// party to; crypto/hkdf, crypto/aes and crypto/cipher do the
// cryptography.

// QUICType is a long-header packet's type.
type QUICType uint8

const (
	QUICInitial QUICType = iota
	QUIC0RTT
	QUICHandshake
	QUICRetry
	// QUICVersionNegotiation: version 0; QUICUnknown: a reserved
	// version, whose type bits mean nothing known.
	QUICVersionNegotiation
	QUICUnknown
)

func (t QUICType) String() string {
	switch t {
	case QUICInitial:
		return "Initial"
	case QUIC0RTT:
		return "0-RTT"
	case QUICHandshake:
		return "Handshake"
	case QUICRetry:
		return "Retry"
	case QUICVersionNegotiation:
		return "Version Negotiation"
	}
	return "long header"
}

const (
	QUICv1 uint32 = 0x00000001
	QUICv2 uint32 = 0x6b3343cf
)

// QUICPacket is the first long-header packet of a datagram, decoded in
// place: DCID and SCID alias the datagram; TLS's slices alias the
// [QUICDecoder]'s buffer and are valid until its next Decode.
type QUICPacket struct {
	Version    uint32
	Type       QUICType
	DCID, SCID []byte
	// Length is the Length field (packet number and payload) of the
	// first packet; Coalesced how many more long-header packets follow
	// it in the datagram, Short whether a short-header one ends it.
	Length    int
	Coalesced int
	Short     bool
	// more are the types of the first coalesced packets.
	more [3]QUICType
	// Decrypted: an Initial whose protection was removed (the client's
	// keys, or the server's where FromServer), its packet number PN.
	Decrypted  bool
	FromServer bool
	PN         uint64
	// Hello: the CRYPTO frames up to this packet hold a whole TLS
	// ClientHello (or ServerHello), now in TLS. A hello spread over
	// several Initials is reported once, at the packet that completes
	// it.
	Hello bool
	TLS   TLSHello
	// versions is a Version Negotiation packet's list.
	versions []byte
}

// Versions appends a Version Negotiation packet's versions to dst.
func (q *QUICPacket) Versions(dst []uint32) []uint32 {
	for v := q.versions; len(v) >= 4; v = v[4:] {
		dst = append(dst, binary.BigEndian.Uint32(v))
	}
	return dst
}

// QUICMaxConns and QUICMaxCrypto bound a [QUICDecoder]: the Initial
// exchanges whose CRYPTO frames it puts together at once (the oldest is
// dropped for a new one), and the bytes of CRYPTO data it keeps of each
// (a hello longer is not reported). Documented in docs/LIMITS.md.
const (
	QUICMaxConns  = 64
	QUICMaxCrypto = 16 << 10
)

// QUICDecoder decodes QUIC long-header packets and reassembles the
// CRYPTO frames of Initial packets per connection, so that a ClientHello
// spread over two Initials (as post-quantum key shares make it) is read
// whole. Its memory is bounded by QUICMaxConns and QUICMaxCrypto. The
// zero value is ready to use.
type QUICDecoder struct {
	conns [QUICMaxConns]*quicConn
	next  int
	plain []byte // a decrypted payload
	aad   []byte
}

// quicConn is one Initial exchange: the keys of both directions, from
// the client's first DCID, and what each direction's CRYPTO frames have
// brought.
type quicConn struct {
	version    uint32
	dcid, scid [20]byte
	dlen, slen uint8
	dir        [2]quicDir // client, server
	// initial is the initial secret: the server's keys are derived from
	// it when a server's packet comes, not before.
	initial [32]byte
	v2      bool
}

type quicDir struct {
	aead cipher.AEAD
	hp   cipher.Block
	iv   [12]byte
	// data holds a 5-byte TLS record header, then the CRYPTO stream
	// from offset 0; have are the stream's ranges received.
	data []byte
	have [][2]int
	done bool
}

// IsQUIC reports whether a datagram starts with a QUIC long header of a
// version this package recognises (a quick test: no decryption).
func IsQUIC(data []byte) bool {
	var q QUICPacket
	_, _, err := parseLong(&q, data)
	return err == nil
}

// Decode reads a datagram's QUIC packets. ErrNotThis: it does not start
// with a long header this package recognises.
func (d *QUICDecoder) Decode(q *QUICPacket, data []byte) error {
	*q = QUICPacket{}
	pnOff, end, err := parseLong(q, data)
	if err != nil {
		return err
	}
	if q.Type == QUICInitial {
		d.initial(q, data[:end], pnOff)
	}
	// Coalesced packets (RFC 9000 §12.2): more long headers, an Initial
	// among them decrypted too, then maybe one short header.
	for rest := data[end:]; len(rest) > 0 && q.Type != QUICVersionNegotiation && q.Type != QUICRetry; {
		if rest[0]&0x80 == 0 {
			q.Short = rest[0]&0x40 != 0
			break
		}
		var n QUICPacket
		pnOff, end, err := parseLong(&n, rest)
		if err != nil || n.Version != q.Version {
			break
		}
		if q.Coalesced < len(q.more) {
			q.more[q.Coalesced] = n.Type
		}
		q.Coalesced++
		if n.Type == QUICInitial && !q.Hello {
			n.DCID = q.DCID // keys by the first packet's
			d.initial(&n, rest[:end], pnOff)
			q.Hello, q.TLS = n.Hello, n.TLS
		}
		rest = rest[end:]
	}
	return nil
}

// parseLong reads a long header at the start of data: the offset of
// its packet number and the packet's end.
func parseLong(q *QUICPacket, data []byte) (pnOff, end int, err error) {
	if len(data) < 7 || data[0]&0x80 == 0 {
		return 0, 0, ErrNotThis
	}
	q.Version = binary.BigEndian.Uint32(data[1:])
	i := 5
	dl := int(data[i])
	i++
	if q.Version == 0 {
		// Version Negotiation: connection IDs of up to 255 bytes, then
		// at least one version.
		if len(data) < i+dl+1 {
			return 0, 0, ErrNotThis
		}
		q.DCID = data[i : i+dl]
		i += dl
		sl := int(data[i])
		i++
		if len(data) < i+sl+4 || (len(data)-i-sl)%4 != 0 {
			return 0, 0, ErrNotThis
		}
		q.SCID = data[i : i+sl]
		q.Type, q.versions = QUICVersionNegotiation, data[i+sl:]
		return len(data), len(data), nil
	}
	salt, _ := quicSalt(q.Version)
	reserved := q.Version&0x0f0f0f0f == 0x0a0a0a0a
	if salt == nil && !reserved || data[0]&0x40 == 0 && !reserved {
		return 0, 0, ErrNotThis
	}
	if dl > 20 || len(data) < i+dl+1 {
		return 0, 0, ErrNotThis
	}
	q.DCID = data[i : i+dl]
	i += dl
	sl := int(data[i])
	i++
	if sl > 20 || len(data) < i+sl {
		return 0, 0, ErrNotThis
	}
	q.SCID = data[i : i+sl]
	i += sl
	if reserved {
		q.Type = QUICUnknown
		return len(data), len(data), nil
	}
	q.Type = quicType(q.Version, data[0]>>4&3)
	switch q.Type {
	case QUICRetry:
		// A token, then a 16-byte integrity tag.
		if len(data) < i+16 {
			return 0, 0, ErrNotThis
		}
		return len(data), len(data), nil
	case QUICInitial:
		tl, n := quicVarint(data[i:])
		if n == 0 || uint64(len(data)-i-n) < tl {
			return 0, 0, ErrNotThis
		}
		i += n + int(tl)
	}
	l, n := quicVarint(data[i:])
	if n == 0 || uint64(len(data)-i-n) < l || l < 1 {
		return 0, 0, ErrNotThis
	}
	q.Length = int(l)
	i += n
	return i, i + int(l), nil
}

// quicType maps a version's long-header type bits (RFC 9369 §3.2
// reorders them for v2).
func quicType(v uint32, bits byte) QUICType {
	if v == QUICv2 {
		return [4]QUICType{QUICRetry, QUICInitial, QUIC0RTT, QUICHandshake}[bits]
	}
	return QUICType(bits)
}

// quicSalt is a version's initial salt (RFC 9001 §5.2, RFC 9369 §3.3.1,
// and the drafts'), and whether its labels are v2's.
func quicSalt(v uint32) ([]byte, bool) {
	switch {
	case v == QUICv1, v == 0xff000021, v == 0xff000022: // drafts 33, 34
		return saltV1[:], false
	case v == QUICv2:
		return saltV2[:], true
	case v >= 0xff00001d && v <= 0xff000020: // drafts 29 to 32
		return saltDraft29[:], false
	case v >= 0xff000017 && v <= 0xff00001c: // drafts 23 to 28
		return saltDraft23[:], false
	}
	return nil, false
}

var (
	saltV1      = [20]byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	saltV2      = [20]byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
	saltDraft29 = [20]byte{0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}
	saltDraft23 = [20]byte{0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02}
)

// quicVarint reads a variable-length integer (RFC 9000 §16); n is 0
// where data is too short.
func quicVarint(data []byte) (v uint64, n int) {
	if len(data) == 0 {
		return 0, 0
	}
	n = 1 << (data[0] >> 6)
	if len(data) < n {
		return 0, 0
	}
	v = uint64(data[0] & 0x3f)
	for _, c := range data[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}

// initial decrypts an Initial packet (pkt, its packet number at pnOff)
// with the keys of its connection, found or made, and adds its CRYPTO
// frames to what that direction has.
func (d *QUICDecoder) initial(q *QUICPacket, pkt []byte, pnOff int) {
	c, dir, fresh := d.conn(q)
	if c == nil {
		return
	}
	k := &c.dir[dir]
	if !d.unprotect(q, k, pkt, pnOff) {
		// Not the client's keys: a server's Initial whose client this
		// capture did not see (a server's to a client seen is found by
		// conn), or not QUIC's protection. Its slot is let go.
		if fresh {
			c.version = 0
		}
		return
	}
	q.Decrypted, q.FromServer = true, dir == 1
	if dir == 0 && c.slen == 0 && len(q.SCID) > 0 {
		c.slen = uint8(copy(c.scid[:], q.SCID))
	}
	if k.done {
		return
	}
	d.frames(q, k)
}

// conn finds the exchange a packet belongs to: a client's Initial by its
// DCID, a server's by the DCID the client gave as its SCID. A client
// Initial of a DCID not seen starts a new one, in the place of the
// oldest when the table is full.
func (d *QUICDecoder) conn(q *QUICPacket) (c *quicConn, dir int, fresh bool) {
	free := -1
	for i, c := range d.conns {
		if c == nil || c.version == 0 {
			if free < 0 {
				free = i
			}
			continue
		}
		if c.version != q.Version {
			continue
		}
		if string(c.dcid[:c.dlen]) == string(q.DCID) {
			return c, 0, false
		}
		if c.slen > 0 && string(c.scid[:c.slen]) == string(q.DCID) {
			if c.dir[1].aead == nil && !c.dir[1].keys(expandLabel(c.initial[:], "server in", 32), c.v2) {
				return nil, 0, false
			}
			return c, 1, false
		}
	}
	if len(q.DCID) < 8 {
		return nil, 0, false // RFC 9000 §7.2: a client's first DCID has 8 bytes or more
	}
	if free < 0 {
		free = d.next
		d.next = (d.next + 1) % QUICMaxConns
	}
	c = d.conns[free]
	if c == nil {
		c = new(quicConn)
		d.conns[free] = c
	}
	*c = quicConn{version: q.Version, dir: [2]quicDir{{data: c.dir[0].data[:0], have: c.dir[0].have[:0]}, {data: c.dir[1].data[:0], have: c.dir[1].have[:0]}}}
	c.dlen = uint8(copy(c.dcid[:], q.DCID))
	salt, v2 := quicSalt(q.Version)
	secret, err := hkdf.Extract(sha256.New, q.DCID, salt)
	if err != nil {
		c.version = 0
		return nil, 0, false
	}
	copy(c.initial[:], secret)
	c.v2 = v2
	if !c.dir[0].keys(expandLabel(secret, "client in", 32), v2) {
		c.version = 0
		return nil, 0, false
	}
	return c, 0, true
}

// keys derives a direction's packet protection from its secret.
func (k *quicDir) keys(secret []byte, v2 bool) bool {
	prefix := "quic "
	if v2 {
		prefix = "quicv2 "
	}
	blk, err := aes.NewCipher(expandLabel(secret, prefix+"key", 16))
	if err != nil {
		return false
	}
	if k.aead, err = cipher.NewGCM(blk); err != nil {
		return false
	}
	copy(k.iv[:], expandLabel(secret, prefix+"iv", 12))
	k.hp, err = aes.NewCipher(expandLabel(secret, prefix+"hp", 16))
	return err == nil
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context
// (RFC 8446 §7.1), with SHA-256.
func expandLabel(secret []byte, label string, n int) []byte {
	info := make([]byte, 0, 4+len("tls13 ")+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		return make([]byte, n)
	}
	return out
}

// unprotect removes header protection (RFC 9001 §5.4) and decrypts the
// payload into d.plain, without changing pkt.
func (d *QUICDecoder) unprotect(q *QUICPacket, k *quicDir, pkt []byte, pnOff int) bool {
	if len(pkt) < pnOff+4+16 {
		return false
	}
	var mask [16]byte
	k.hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+4+16])
	first := pkt[0] ^ mask[0]&0x0f
	pnLen := int(first&3) + 1
	if pnOff+pnLen+16 > len(pkt) {
		return false
	}
	d.aad = append(d.aad[:0], pkt[:pnOff+pnLen]...)
	d.aad[0] = first
	var pn uint64
	for i := range pnLen {
		d.aad[pnOff+i] ^= mask[1+i]
		pn = pn<<8 | uint64(d.aad[pnOff+i])
	}
	nonce := k.iv
	for i := range 8 {
		nonce[4+i] ^= byte(pn >> (56 - 8*i))
	}
	plain, err := k.aead.Open(d.plain[:0], nonce[:], pkt[pnOff+pnLen:], d.aad)
	if err != nil {
		return false
	}
	d.plain, q.PN = plain, pn
	return true
}

// frames walks a decrypted Initial's frames (PADDING, PING, ACK, CRYPTO,
// CONNECTION_CLOSE: RFC 9000 §17.2.2) up to one it cannot read, keeps
// their CRYPTO data, and reads the hello once the stream has it whole.
func (d *QUICDecoder) frames(q *QUICPacket, k *quicDir) {
	p := d.plain
walk:
	for len(p) > 0 {
		switch t := p[0]; {
		case t == 0x00 || t == 0x01: // PADDING, PING
			p = p[1:]
		case t == 0x02 || t == 0x03: // ACK
			p = p[1:]
			var vals [4]uint64
			for i := range vals {
				v, n := quicVarint(p)
				if n == 0 {
					break walk
				}
				vals[i], p = v, p[n:]
			}
			count := vals[2]
			if count > uint64(len(p)) {
				break walk
			}
			nv := 2 * count
			if t == 0x03 {
				nv += 3
			}
			for range nv {
				_, n := quicVarint(p)
				if n == 0 {
					break walk
				}
				p = p[n:]
			}
		case t == 0x06: // CRYPTO
			off, n := quicVarint(p[1:])
			if n == 0 {
				break walk
			}
			p = p[1+n:]
			l, n := quicVarint(p)
			if n == 0 || uint64(len(p)-n) < l {
				break walk
			}
			k.add(off, p[n:n+int(l)])
			p = p[n+int(l):]
		default: // CONNECTION_CLOSE or a frame not allowed here
			p = nil
		}
	}
	if k.done {
		return
	}
	// The stream's first range, from offset 0: a handshake message's
	// 4-byte header tells how much of it makes the hello.
	got := 0
	if len(k.have) > 0 && k.have[0][0] == 0 {
		got = k.have[0][1]
	}
	if got < 4 {
		return
	}
	msg := k.data[5:]
	if msg[0] != 1 && msg[0] != 2 {
		k.done = true
		return
	}
	hlen := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
	if 4+hlen > QUICMaxCrypto-5 {
		k.done = true
		return
	}
	if got < 4+hlen {
		return
	}
	// A TLS record header in front, for TLSHello.
	k.data[0], k.data[1], k.data[2] = 22, 3, 3
	binary.BigEndian.PutUint16(k.data[3:], uint16(4+hlen))
	k.done = true
	if q.TLS.Decode(k.data[:5+4+hlen]) == nil {
		q.Hello = true
	}
}

// add puts CRYPTO data at its offset in the stream, within QUICMaxCrypto,
// and merges the ranges received; a byte's first copy wins.
func (k *quicDir) add(off uint64, b []byte) {
	if off >= QUICMaxCrypto-5 || len(b) == 0 {
		return
	}
	start := int(off)
	end := min(start+len(b), QUICMaxCrypto-5)
	if need := 5 + end; len(k.data) < need {
		if cap(k.data) < need {
			k.data = append(k.data[:cap(k.data)], make([]byte, need-cap(k.data))...)
		}
		k.data = k.data[:need]
	}
	// Copy only into the gaps, so the first copy of a byte stays.
	pos := start
	for _, r := range k.have {
		if r[1] <= pos {
			continue
		}
		if r[0] >= end {
			break
		}
		if r[0] > pos {
			copy(k.data[5+pos:5+r[0]], b[pos-start:])
		}
		pos = max(pos, r[1])
	}
	if pos < end {
		copy(k.data[5+pos:5+end], b[pos-start:])
	}
	// Merge [start, end) into the sorted ranges.
	merged := k.have[:0:0]
	ins := [2]int{start, end}
	placed := false
	for _, r := range k.have {
		switch {
		case r[1] < ins[0]:
			merged = append(merged, r)
		case r[0] > ins[1]:
			if !placed {
				merged, placed = append(merged, ins), true
			}
			merged = append(merged, r)
		default:
			ins = [2]int{min(ins[0], r[0]), max(ins[1], r[1])}
		}
	}
	if !placed {
		merged = append(merged, ins)
	}
	if len(merged) > 32 {
		k.done = true // a stream in more pieces than a hello takes
	}
	k.have = merged
}

// AppendSummary appends the one-line summary: "QUIC Initial v1 SNI
// a.test ALPN h3", "QUIC Initial v1 ServerHello TLS_AES_128_GCM_SHA256",
// "QUIC Handshake v1", "QUIC Version Negotiation v1,0xff00001d", with
// the packets coalesced after the first: "QUIC Initial v1 + Handshake".
func (q *QUICPacket) AppendSummary(b []byte) []byte {
	b = append(b, "QUIC "...)
	b = append(b, q.Type.String()...)
	if q.Type == QUICVersionNegotiation {
		for i, v := range q.Versions(make([]uint32, 0, 8)) {
			if i == 0 {
				b = append(b, ' ')
			} else {
				b = append(b, ',')
			}
			b = AppendQUICVersion(b, v)
		}
		return b
	}
	b = AppendQUICVersion(append(b, ' '), q.Version)
	if q.Hello {
		if q.TLS.Type == 1 {
			if len(q.TLS.SNI) > 0 {
				b = appendPrintable(append(b, " SNI "...), q.TLS.SNI)
			}
		} else {
			b = append(b, " ServerHello "...)
			b = appendCipher(b, q.TLS.Cipher)
		}
		if q.TLS.HasALPN() {
			b = append(b, " ALPN "...)
			b = q.TLS.AppendALPN(b, ",")
		}
	}
	// Coalesced packets: "+ Handshake", "+ 1-RTT".
	for i := range q.Coalesced {
		if i == len(q.more) {
			b = append(b, " + ..."...)
			break
		}
		b = append(b, " + "...)
		b = append(b, q.more[i].String()...)
	}
	if q.Short {
		b = append(b, " + 1-RTT"...)
	}
	return b
}

// AppendQUICVersion appends a version's name: v1, v2, draft-29, or the
// number in hex.
func AppendQUICVersion(b []byte, v uint32) []byte {
	switch {
	case v == QUICv1:
		return append(b, "v1"...)
	case v == QUICv2:
		return append(b, "v2"...)
	case v >= 0xff000017 && v <= 0xff000022:
		return strconv.AppendUint(append(b, "draft-"...), uint64(v&0xff), 10)
	}
	b = append(b, "0x"...)
	for i := 28; i >= 0; i -= 4 {
		b = append(b, hexDigits[v>>uint(i)&15])
	}
	return b
}

// AppendQUICInitial appends an Initial packet of version v carrying
// payload (its frames, padding included) protected as RFC 9001 §5 says,
// with the client's keys, or the server's where server, derived from
// odcid (the client's first DCID); dcid and scid are the header's, the
// packet number pn is sent in 4 bytes. It is the inverse of Decode, for
// tests and probes.
func AppendQUICInitial(b []byte, v uint32, odcid, dcid, scid []byte, pn uint32, payload []byte, server bool) ([]byte, error) {
	salt, v2 := quicSalt(v)
	if salt == nil || len(dcid) > 20 || len(scid) > 20 {
		return b, ErrNotThis
	}
	secret, err := hkdf.Extract(sha256.New, odcid, salt)
	if err != nil {
		return b, err
	}
	label := "client in"
	if server {
		label = "server in"
	}
	var k quicDir
	if !k.keys(expandLabel(secret, label, 32), v2) {
		return b, ErrNotThis
	}
	typ := byte(0) // Initial: 0b00 in v1, 0b01 in v2
	if v2 {
		typ = 1
	}
	start := len(b)
	b = append(b, 0xc0|typ<<4|3)
	b = binary.BigEndian.AppendUint32(b, v)
	b = append(b, byte(len(dcid)))
	b = append(b, dcid...)
	b = append(b, byte(len(scid)))
	b = append(b, scid...)
	b = append(b, 0) // no token
	length := 4 + len(payload) + 16
	b = append(b, 0x40|byte(length>>8), byte(length))
	pnOff := len(b) - start
	b = binary.BigEndian.AppendUint32(b, pn)
	nonce := k.iv
	for i := range 4 {
		nonce[8+i] ^= byte(pn >> (24 - 8*i))
	}
	hdr := b[start:]
	b = k.aead.Seal(b, nonce[:], payload, hdr)
	pkt := b[start:]
	if len(pkt) < pnOff+4+16 {
		return b[:start], ErrShort
	}
	var mask [16]byte
	k.hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+4+16])
	pkt[0] ^= mask[0] & 0x0f
	for i := range 4 {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return b, nil
}

// AppendQUICCrypto appends a CRYPTO frame of data at offset off.
func AppendQUICCrypto(b []byte, off uint64, data []byte) []byte {
	b = append(b, 0x06)
	b = appendVarint(b, off)
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000)
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x80000000)
	}
	return binary.BigEndian.AppendUint64(b, v|0xc0<<56)
}
