package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

const (
	sshServerBanner = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
	sshClientBanner = "SSH-2.0-OpenSSH_9.6\r\n"
)

// noiseLen is the period of the pseudo-random payload: a segment's bytes
// are noise[seq%noiseLen:], so a retransmission repeats them.
const noiseLen = 1 << 16

// encoder builds Ethernet frames.
type encoder struct {
	noise   []byte
	buf     []byte
	hdr     []byte
	snaplen int
}

func newEncoder(snaplen int) *encoder {
	r := rand.New(rand.NewPCG(7, 7))
	noise := make([]byte, noiseLen+mss)
	for i := 0; i < len(noise); i += 8 {
		binary.LittleEndian.PutUint64(noise[i:], r.Uint64())
	}
	return &encoder{noise: noise, buf: make([]byte, 0, 14+60+60+mss), snaplen: snaplen}
}

// frame returns the frame of packet p of connection pl, and its length
// on the wire. The frame is whole, checksums included; the caller cuts it
// to the snapshot length.
func (e *encoder) frame(w *world, pl *plan, p *seg, ipid uint16) ([]byte, int) {
	c, s := &w.clients[pl.client], &w.servers[pl.server]
	src, dst := c, s
	srcMAC, dstMAC := c.mac, routerMAC
	sport, dport := pl.cport, s.port
	if p.side == srv {
		src, dst = s, c
		srcMAC, dstMAC = routerMAC, c.mac
		sport, dport = dport, sport
	}
	tcpLen := 20
	switch p.opts {
	case optTS:
		tcpLen = 32
	case optSYN:
		tcpLen = 40
	}
	n := int(p.n)
	be := binary.BigEndian

	b := e.buf[:0]
	b = append(b, dstMAC[:]...)
	b = append(b, srcMAC[:]...)
	b = append(b, 0x08, 0x00)

	ip := len(b)
	b = append(b, 0x45, 0)
	b = be.AppendUint16(b, uint16(20+tcpLen+n))
	b = be.AppendUint16(b, ipid)
	b = append(b, 0x40, 0, src.ttl, 6, 0, 0) // DF, TTL, TCP, checksum
	b = append(b, src.ip[:]...)
	b = append(b, dst.ip[:]...)
	be.PutUint16(b[ip+10:], wire.InternetChecksum(b[ip:ip+20]))

	tcp := len(b)
	b = be.AppendUint16(b, sport)
	b = be.AppendUint16(b, dport)
	b = be.AppendUint32(b, p.seq)
	b = be.AppendUint32(b, p.ack)
	b = append(b, byte(tcpLen/4)<<4, p.flags)
	b = be.AppendUint16(b, p.win)
	b = append(b, 0, 0, 0, 0) // checksum, urgent pointer
	switch p.opts {
	case optTS:
		b = append(b, 1, 1, 8, 10)
		b = be.AppendUint32(b, p.tsval)
		b = be.AppendUint32(b, p.tsecr)
	case optSYN:
		b = append(b, 2, 4, 0x05, 0xb4, 4, 2, 8, 10) // MSS 1460, SACK permitted
		b = be.AppendUint32(b, p.tsval)
		b = be.AppendUint32(b, p.tsecr)
		b = append(b, 1, 3, 3, 7) // NOP, window scale 7
	}
	pay := len(b)
	off := int(p.seq % noiseLen)
	b = append(b, e.noise[off:off+n]...)
	if p.kind != msgNone {
		e.hdr = e.header(e.hdr[:0], w, pl, p)
		copy(b[pay:], e.hdr)
	}

	be.PutUint16(b[tcp+16:], wire.TransportChecksum(netip.AddrFrom4(src.ip), netip.AddrFrom4(dst.ip), ports.ProtoTCP, b[tcp:]))

	// Ethernet pads short frames to 60 bytes (64 with the FCS).
	for len(b) < 60 {
		b = append(b, 0)
	}
	e.buf = b
	return b, len(b)
}

var (
	httpPaths = []string{"/", "/index.html", "/api/v1/items/", "/api/v1/users/", "/static/js/app.", "/images/p/", "/health", "/api/v2/search?q="}
	pgQueries = []string{
		"SELECT id, name, email, updated_at FROM users WHERE id = $1",
		"SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 50",
		"UPDATE sessions SET last_seen = now() WHERE token = $1",
		"INSERT INTO events (kind, payload, at) VALUES ($1, $2, now())",
		"BEGIN", "COMMIT",
	}
	redisKeys = []string{"GET", "SET", "HGETALL", "EXPIRE", "INCR", "MGET"}
)

// header returns, appended to b, how a message's first segment starts.
// It depends only on the connection and the segment, so that a
// retransmission repeats it.
func (e *encoder) header(b []byte, w *world, pl *plan, p *seg) []byte {
	be := binary.BigEndian
	n := int(p.msgLen)
	id := int(p.seq % 100_000)
	rnd := e.noise[id%60_000:] // for random fields
	switch p.kind {
	case msgTLSClientHello:
		b = append(b, 0x16, 3, 1)
		b = be.AppendUint16(b, uint16(n-5))
		b = append(b, 1, 0)
		b = be.AppendUint16(b, uint16(n-9))
		b = append(b, 3, 3)
		b = append(b, rnd[:32]...) // random
		b = append(b, 32)          // session ID
		b = append(b, rnd[32:64]...)
	case msgTLSServerHello:
		b = append(b, 0x16, 3, 3, 0, 0x7a, 2, 0, 0, 0x76, 3, 3)
		b = append(b, rnd[:32]...)
		b = append(b, 32)
		b = append(b, rnd[32:64]...)
		b = append(b, 0x13, 0x02, 0) // TLS_AES_256_GCM_SHA384, no compression
	case msgTLSData:
		b = append(b, 0x17, 3, 3)
		b = be.AppendUint16(b, uint16(min(n-5, 16384+256)))
	case msgHTTPRequest:
		method := "GET "
		if id%7 == 0 {
			method = "POST "
		}
		b = append(b, method...)
		path := httpPaths[id%len(httpPaths)]
		b = append(b, path...)
		switch path[len(path)-1] {
		case '/', '=':
			b = strconv.AppendInt(b, int64(id), 10)
		case '.':
			b = strconv.AppendInt(b, int64(id), 16)
			b = append(b, ".js"...)
		}
		b = append(b, " HTTP/1.1\r\nHost: "...)
		s := &w.servers[pl.server]
		b = appendIP(b, s.ip)
		if s.port != 80 {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(s.port), 10)
		}
		b = append(b, "\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n"...)
		b = endHeader(b, n)
	case msgHTTPResponse:
		status := "200 OK"
		switch id % 50 {
		case 0:
			status = "404 Not Found"
		case 1:
			status = "304 Not Modified"
		}
		b = append(b, "HTTP/1.1 "...)
		b = append(b, status...)
		b = append(b, "\r\nServer: nginx/1.22.1\r\nDate: Mon, 02 Mar 2026 14:03:12 GMT\r\nContent-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(max(n-230, 0)), 10)
		b = append(b, "\r\nConnection: keep-alive\r\nCache-Control: no-cache\r\n"...)
		b = endHeader(b, n)
	case msgSSHBannerServer:
		b = append(b, sshServerBanner...)
	case msgSSHBannerClient:
		b = append(b, sshClientBanner...)
	case msgSSHKexInit:
		b = sshPacket(b, n, 20) // SSH_MSG_KEXINIT
		b = append(b, rnd[:16]...)
		kex := "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256"
		b = be.AppendUint32(b, uint32(len(kex)))
		b = append(b, kex...)
	case msgSSHKexECDH:
		if p.side == cli {
			b = sshPacket(b, n, 30) // SSH_MSG_KEX_ECDH_INIT
			b = be.AppendUint32(b, uint32(n-16))
		} else {
			b = sshPacket(b, n, 31) // SSH_MSG_KEX_ECDH_REPLY
			b = append(b, "\x00\x00\x00\x33\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"...)
		}
		b = append(b, rnd[:32]...)
	case msgSSHNewKeys:
		b = sshPacket(b, n, 21) // SSH_MSG_NEWKEYS
		b = append(b, rnd[:10]...)
	case msgSSHData:
		// Encrypted, length included (chacha20-poly1305): all noise.
	case msgPGStartup:
		b = append(b, pgStartup...)
	case msgPGReady:
		b = append(b, pgReady...)
	case msgPGQuery:
		b = append(b, 'Q')
		b = be.AppendUint32(b, uint32(n-1))
		q := pgQueries[id%len(pgQueries)]
		q = q[:min(len(q), n-6)]
		b = append(b, q...)
		for range n - 6 - len(q) {
			b = append(b, ' ')
		}
		b = append(b, 0)
	case msgPGRows:
		// RowDescription; the DataRows follow.
		cols := []string{"id", "name", "updated_at"}
		l := 4 + 2
		for _, c := range cols {
			l += len(c) + 1 + 18
		}
		b = append(b, 'T')
		b = be.AppendUint32(b, uint32(l))
		b = be.AppendUint16(b, uint16(len(cols)))
		for i, c := range cols {
			b = append(b, c...)
			b = append(b, 0, 0, 0, 0x40, 0x06, 0, byte(i+1)) // table OID, column
			b = append(b, 0, 0, 0, 0x17, 0, 4)               // int4, 4 bytes
			b = append(b, 0xff, 0xff, 0xff, 0xff, 0, 0)      // no modifier, text
		}
	case msgMySQLGreeting:
		b = appendLen24(b, n-4)
		b = append(b, 0, 10)
		b = append(b, "8.0.36-0ubuntu0.22.04.1\x00"...)
		b = binary.LittleEndian.AppendUint32(b, uint32(id))
	case msgMySQLPacket:
		b = appendLen24(b, min(n-4, 1<<24-1))
		b = append(b, 1)
	case msgMySQLQuery:
		b = appendLen24(b, min(n-4, 1<<24-1))
		b = append(b, 0, 3)
		b = append(b, "SELECT id, sku, price, stock FROM products WHERE id = "...)
		b = strconv.AppendInt(b, int64(id), 10)
	case msgRedisCommand:
		cmd := redisKeys[id%len(redisKeys)]
		b = append(b, "*2\r\n$"...)
		b = strconv.AppendInt(b, int64(len(cmd)), 10)
		b = append(b, "\r\n"...)
		b = append(b, cmd...)
		b = append(b, "\r\n$14\r\nsession:"...)
		b = strconv.AppendInt(b, int64(100000+id), 10)
		b = append(b, "\r\n"...)
	case msgRedisReply:
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(max(n-8, 0)), 10)
		b = append(b, "\r\n"...)
	}
	return b
}

var (
	pgStartup = pgStartupMessage()
	pgReady   = "R\x00\x00\x00\x08\x00\x00\x00\x00" + // AuthenticationOk
		pgParam("application_name", "pgx") + pgParam("client_encoding", "UTF8") +
		pgParam("DateStyle", "ISO, MDY") + pgParam("server_encoding", "UTF8") +
		pgParam("server_version", "15.10 (Debian 15.10-0+deb12u1)") + pgParam("TimeZone", "Etc/UTC") +
		"K\x00\x00\x00\x0c\x00\x00\x1f\x4a\x5e\x21\x7c\x93" + // BackendKeyData
		"Z\x00\x00\x00\x05I" // ReadyForQuery, idle
)

func pgStartupMessage() string {
	body := "\x00\x03\x00\x00user\x00app\x00database\x00appdb\x00application_name\x00pgx\x00client_encoding\x00UTF8\x00\x00"
	n := 4 + len(body)
	return string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + body
}

func pgParam(k, v string) string {
	n := 4 + len(k) + 1 + len(v) + 1
	return "S" + string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + k + "\x00" + v + "\x00"
}

// sshPacket starts an unencrypted SSH binary packet of n bytes in all
// (n a multiple of 8): length, padding length, message code.
func sshPacket(b []byte, n int, code byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(n-4))
	return append(b, 4+byte(n%8), code)
}

// endHeader ends an HTTP header with an empty line, if the message is
// long enough; the body follows.
func endHeader(b []byte, n int) []byte {
	if len(b)+2 > n {
		return b
	}
	return append(b, "\r\n"...)
}

func appendIP(b []byte, ip [4]byte) []byte {
	for i, v := range ip {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return b
}

func appendLen24(b []byte, n int) []byte {
	return append(b, byte(n), byte(n>>8), byte(n>>16))
}
