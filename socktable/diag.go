package socktable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/portkit/ports"
)

// This file encodes inet_diag requests and decodes their answers
// (include/uapi/linux/inet_diag.h, sock_diag.h). It has no build tag so
// that its tests and fuzzing run everywhere; only socktable_linux.go
// sends it to a kernel.
//
// The decoder is hand-written rather than built on a netlink library
// because it is the hot path of `ports ls`: a dump of 50,000 sockets is
// decoded straight into Socket values, without a message or attribute
// allocation per socket.

// Netlink and sock_diag constants (linux/netlink.h, linux/sock_diag.h).
const (
	nlmsgHdrLen      = 16
	nlmsgDone        = 3
	nlmsgError       = 2
	nlmFRequest      = 0x1
	nlmFDump         = 0x300
	sockDiagByFamily = 20
	tcpDiagGetSock   = 18 // the older inet_diag request, which takes AF_UNSPEC

	diagReqCompatLen = 60 // struct inet_diag_req

	diagReqLen = 56 // struct inet_diag_req_v2
	diagMsgLen = 72 // struct inet_diag_msg

	inetDiagReqBytecode = 1 // INET_DIAG_REQ_BYTECODE

	bcJMP = 1
	bcSGE = 2
	bcSLE = 3
	bcDGE = 4
	bcDLE = 5

	afINET  = 2
	afINET6 = 10
)

// errTruncated reports a netlink message shorter than its header says.
var errTruncated = errors.New("socktable: truncated sock_diag message")

// appendDiagRequest appends a netlink SOCK_DIAG_BY_FAMILY dump request for
// one family and protocol, with the state mask and, if non-empty, a
// filter bytecode.
func appendDiagRequest(b []byte, seq uint32, family uint8, proto ports.Proto, states States, bytecode []byte) []byte {
	ne := binary.NativeEndian
	b = appendDumpHeader(b, sockDiagByFamily, diagReqLen, seq, bytecode)
	b = append(b, family, uint8(proto), 0, 0)
	b = ne.AppendUint32(b, uint32(states))
	b = append(b, make([]byte, 48)...) // inet_diag_sockid: match any
	return appendBytecode(b, bytecode)
}

// appendDumpHeader appends the netlink header of a dump request of type
// typ whose body is reqLen bytes, followed by the bytecode attribute.
func appendDumpHeader(b []byte, typ uint16, reqLen int, seq uint32, bytecode []byte) []byte {
	total := nlmsgHdrLen + reqLen
	if len(bytecode) > 0 {
		total += 4 + len(bytecode) // rtattr header + payload (a multiple of 4)
	}
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, uint32(total))
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, nlmFRequest|nlmFDump)
	b = ne.AppendUint32(b, seq)
	return ne.AppendUint32(b, 0) // pid: the kernel
}

// appendBytecode appends an INET_DIAG_REQ_BYTECODE attribute, if any.
func appendBytecode(b, bytecode []byte) []byte {
	if len(bytecode) == 0 {
		return b
	}
	ne := binary.NativeEndian
	b = ne.AppendUint16(b, uint16(4+len(bytecode)))
	b = ne.AppendUint16(b, inetDiagReqBytecode)
	return append(b, bytecode...)
}

// appendTCPCompatRequest appends an older-style TCPDIAG_GETSOCK dump
// request (struct inet_diag_req). Unlike SOCK_DIAG_BY_FAMILY it accepts
// AF_UNSPEC, so one walk of the kernel's TCP hash tables returns both
// IPv4 and IPv6 sockets, where two family requests walk them twice; ss
// asks the same way.
func appendTCPCompatRequest(b []byte, seq uint32, states States, bytecode []byte) []byte {
	ne := binary.NativeEndian
	b = appendDumpHeader(b, tcpDiagGetSock, diagReqCompatLen, seq, bytecode)
	b = append(b, 0, 0, 0, 0)          // family AF_UNSPEC, src_len, dst_len, ext
	b = append(b, make([]byte, 48)...) // inet_diag_sockid: match any
	b = ne.AppendUint32(b, uint32(states))
	b = ne.AppendUint32(b, 0) // dbs
	return appendBytecode(b, bytecode)
}

// diagMsg decodes one inet_diag_msg (the payload of a netlink message)
// into s. It reports false if the message is too short.
func diagMsg(p []byte, proto ports.Proto, s *Socket) bool {
	if len(p) < diagMsgLen {
		return false
	}
	family := p[0]
	*s = Socket{Proto: proto, State: State(p[1])}
	// inet_diag_sockid at 4: sport, dport (big endian), src[16], dst[16], if, cookie.
	sport := binary.BigEndian.Uint16(p[4:])
	dport := binary.BigEndian.Uint16(p[6:])
	var src, dst netip.Addr
	if family == afINET6 {
		src = netip.AddrFrom16([16]byte(p[8:24]))
		dst = netip.AddrFrom16([16]byte(p[24:40]))
	} else {
		src = netip.AddrFrom4([4]byte(p[8:12]))
		dst = netip.AddrFrom4([4]byte(p[24:28]))
	}
	s.Local = netip.AddrPortFrom(src, sport)
	s.Remote = netip.AddrPortFrom(dst, dport)
	ne := binary.NativeEndian
	// After the sockid (ending at 52): expires, rqueue, wqueue, uid, inode.
	s.RecvQ = ne.Uint32(p[56:])
	s.SendQ = ne.Uint32(p[60:])
	s.UID = ne.Uint32(p[64:])
	s.Inode = uint64(ne.Uint32(p[68:]))
	s.Cookie = uint64(ne.Uint32(p[44:])) | uint64(ne.Uint32(p[48:]))<<32 // idiag_cookie[2], low word first
	return true
}

// diagMessages walks the netlink messages in buf, calling fn with each
// inet_diag_msg payload. done is true at NLMSG_DONE; a NLMSG_ERROR
// message becomes an error.
func diagMessages(buf []byte, fn func(payload []byte) bool) (done bool, err error) {
	ne := binary.NativeEndian
	for len(buf) >= nlmsgHdrLen {
		n := int(ne.Uint32(buf))
		typ := ne.Uint16(buf[4:])
		if n < nlmsgHdrLen || n > len(buf) {
			return false, errTruncated
		}
		payload := buf[nlmsgHdrLen:n]
		switch typ {
		case nlmsgDone:
			return true, nil
		case nlmsgError:
			if len(payload) < 4 {
				return false, errTruncated
			}
			if errno := int32(ne.Uint32(payload)); errno != 0 {
				return false, errnoError(-errno)
			}
		case sockDiagByFamily, tcpDiagGetSock:
			if !fn(payload) {
				return true, nil
			}
		}
		buf = buf[min((n+3)&^3, len(buf)):]
	}
	return false, nil
}

// hasDone reports whether buf ends a dump: it holds NLMSG_DONE or an
// error message. It reads only the message headers.
func hasDone(buf []byte) bool {
	ne := binary.NativeEndian
	for len(buf) >= nlmsgHdrLen {
		n := int(ne.Uint32(buf))
		if typ := ne.Uint16(buf[4:]); typ == nlmsgDone || typ == nlmsgError {
			return true
		}
		if n < nlmsgHdrLen || n > len(buf) {
			return true // malformed: the decoder reports it
		}
		buf = buf[min((n+3)&^3, len(buf)):]
	}
	return false
}

// errnoError is a kernel error number from a netlink answer.
type errnoError int32

func (e errnoError) Error() string { return fmt.Sprintf("sock_diag: errno %d", int32(e)) }
