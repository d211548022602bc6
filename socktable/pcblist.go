package socktable

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
)

// This file decodes macOS's net.inet.tcp.pcblist_n and
// net.inet.udp.pcblist_n sysctls; socktable_darwin.go reads them. It has
// no build tag, so that its tests run on every system.
//
// The layouts are XNU's (apple-oss-distributions/xnu): struct xinpgen and
// struct xinpcb_n in bsd/netinet/in_pcb.h, struct xsocket_n and struct
// xsockbuf_n in bsd/sys/socketvar.h, struct xtcpcb_n in
// bsd/netinet/tcp_var.h, all declared under #pragma pack(4), so a
// u_int64_t is only 4-aligned. get_pcblist_n in bsd/netinet/in_pcblist.c
// writes them. macOS is little-endian on every architecture it runs on;
// ports and addresses are in network byte order.
//
// The buffer is an xinpgen, then for each socket a run of records, each
// starting with {u32 length, u32 kind} and padded to 8 bytes (ROUNDUP64):
// xinpcb_n, xsocket_n, the receive and send xsockbuf_n, xsockstat_n and,
// for TCP, xtcpcb_n. A closing xinpgen (whose length is sizeof(struct
// xinpgen)) ends it, as netstat's protopr expects; the kernel leaves it
// out only when the opening one counts no sockets.

// Record kinds (XSO_* in bsd/sys/socketvar.h).
const (
	xsoSocket = 0x001
	xsoRcvbuf = 0x002
	xsoSndbuf = 0x004
	xsoStats  = 0x008
	xsoInpcb  = 0x010
	xsoTcpcb  = 0x020
)

// Sizes and offsets of the fields read. A record may be longer than its
// minimum here (a later kernel may append fields) but not shorter.
const (
	// struct xinpgen: u32 xig_len, u32 xig_count, u64 xig_gen, u64 xig_sogen.
	xinpgenLen   = 24
	xinpgenCount = 4

	// struct xinpcb_n.
	xinpInpp  = 8  // u64 xi_inpp, the pcb's (obfuscated) kernel address
	xinpFport = 16 // u16 inp_fport
	xinpLport = 18 // u16 inp_lport
	xinpVflag = 44 // u8 inp_vflag
	xinpFaddr = 48 // inp_dependfaddr: in6_addr, or in_addr_4in6 (the IPv4 address after 12 bytes of padding)
	xinpLaddr = 64 // inp_dependladdr, likewise
	xinpMin   = 80
	// inp_vflag bits.
	inpIPv4 = 0x1
	inpIPv6 = 0x2

	// struct xsocket_n.
	xsoPcb     = 28 // u64 so_pcb, equal to the xinpcb_n's xi_inpp
	xsoQlen    = 44 // short so_qlen, connections waiting in accept
	xsoQlimit  = 48 // short so_qlimit, the listen backlog
	xsoUID     = 64 // uid_t so_uid
	xsoLastPID = 68 // pid_t so_last_pid
	xsoMin     = 72

	// struct xsockbuf_n.
	xsbCC  = 8 // u32 sb_cc, bytes in the buffer
	xsbMin = 12

	// struct xtcpcb_n: t_state follows t_segq, t_dupacks and
	// t_timer[TCPT_NTIMERS_EXT] (4, bsd/netinet/tcp_timer.h).
	xtState = 36
	xtMin   = 40
)

// pcbSysctl returns the name of proto's pcblist_n sysctl.
func pcbSysctl(proto ports.Proto) string {
	if proto == ports.ProtoUDP {
		return "net.inet.udp.pcblist_n"
	}
	return "net.inet.tcp.pcblist_n"
}

// pcbStates maps the BSD TCP states (TCPS_* in bsd/netinet/tcp_fsm.h) onto
// the package's Linux-numbered ones.
var pcbStates = [...]State{
	0:  StateClose,       // TCPS_CLOSED
	1:  StateListen,      // TCPS_LISTEN
	2:  StateSynSent,     // TCPS_SYN_SENT
	3:  StateSynRecv,     // TCPS_SYN_RECEIVED
	4:  StateEstablished, // TCPS_ESTABLISHED
	5:  StateCloseWait,   // TCPS_CLOSE_WAIT
	6:  StateFinWait1,    // TCPS_FIN_WAIT_1
	7:  StateClosing,     // TCPS_CLOSING
	8:  StateLastAck,     // TCPS_LAST_ACK
	9:  StateFinWait2,    // TCPS_FIN_WAIT_2
	10: StateTimeWait,    // TCPS_TIME_WAIT
}

// pcbState returns the State of BSD TCP state t, StateUnknown if t has
// none.
func pcbState(t int32) State {
	if t >= 0 && int(t) < len(pcbStates) {
		return pcbStates[t]
	}
	return StateUnknown
}

// pcbSocket gathers the records of one socket.
type pcbSocket struct {
	seen      uint32 // the record kinds met so far
	off       int    // where the xinpcb_n starts
	inpp      uint64
	vflag     uint8
	fport     uint16
	lport     uint16
	faddr     [16]byte
	laddr     [16]byte
	uid       uint32
	pid       int32
	qlen      uint16
	qlimit    uint16
	rcvCC     uint32
	sndCC     uint32
	tcpState  int32
	skipInpcb bool // neither INP_IPV4 nor INP_IPV6: nothing to report
}

// walkPCBList decodes b, the value of proto's pcblist_n sysctl, calling
// yield with each IPv4 or IPv6 socket and its so_last_pid (0 when the
// socket has no socket record or no last user) until yield returns false.
// It returns a *tableFormatError when b is truncated, when a record's
// length cannot be, or when the records of a socket are out of order,
// repeated or name another pcb; sockets before the bad record may have
// been yielded by then.
//
// For TCP, State is t_state and, for a listener, RecvQ and SendQ are
// so_qlen and so_qlimit (as ss shows them); otherwise they are the buffers'
// sb_cc. UDP sockets are StateEstablished when connected, StateClose when
// only bound. A socket with no foreign address has the unspecified address
// of its family and port 0 as Remote. An AF_INET6 socket connected to an
// IPv4-mapped address is reported as IPv4, as XNU turns it into one. An
// IPv6 link-local address carrying its interface index in bytes 2 and 3
// (KAME's embedded scope) has it moved into the zone.
func walkPCBList(b []byte, proto ports.Proto, yield func(s Socket, pid int) bool) error {
	table := pcbSysctl(proto)
	le := binary.LittleEndian
	if len(b) < xinpgenLen {
		return newTableFormatError(table, b, 0, "%d bytes cannot hold the %d-byte xinpgen header", len(b), xinpgenLen)
	}
	if n := le.Uint32(b); n != xinpgenLen {
		return newTableFormatError(table, b, 0, "xinpgen header claims %d bytes, want %d", n, xinpgenLen)
	}
	if len(b) == xinpgenLen {
		if n := le.Uint32(b[xinpgenCount:]); n != 0 {
			return newTableFormatError(table, b, 0, "truncated: the header counts %d sockets but nothing follows it", n)
		}
		return nil // no sockets: the kernel writes no closing xinpgen
	}

	var cur pcbSocket
	flush := func() bool {
		if cur.seen&xsoInpcb == 0 || cur.skipInpcb {
			return true
		}
		s, pid := cur.socket(proto)
		return yield(s, pid)
	}
	for off := xinpgenLen; ; {
		if len(b)-off < 8 {
			return newTableFormatError(table, b, off, "truncated: %d bytes left where a record or the closing xinpgen should start", len(b)-off)
		}
		n, kind := le.Uint32(b[off:]), le.Uint32(b[off+4:])
		if uint64(n) > uint64(len(b)-off) {
			return newTableFormatError(table, b, off, "truncated: record of kind %#x claims %d bytes, %d left", kind, n, len(b)-off)
		}
		if n == xinpgenLen { // the closing xinpgen
			flush()
			return nil
		}
		if n < xinpgenLen {
			// netstat stops at any record no longer than an xinpgen, so
			// the kernel can never write one.
			return newTableFormatError(table, b, off, "record of kind %#x claims %d bytes, less than any record", kind, n)
		}
		rec := b[off : off+int(n)]
		part := kind == xsoSocket || kind == xsoRcvbuf || kind == xsoSndbuf || kind == xsoTcpcb
		if part {
			if cur.seen&xsoInpcb == 0 {
				return newTableFormatError(table, b, off, "record of kind %#x before any xinpcb_n", kind)
			}
			if cur.seen&kind != 0 {
				return newTableFormatError(table, b, off, "second record of kind %#x for the xinpcb_n at offset %d", kind, cur.off)
			}
		}
		var short int // the minimum length the kind needs, when rec is shorter
		switch kind {
		case xsoInpcb:
			if len(rec) < xinpMin {
				short = xinpMin
				break
			}
			if !flush() {
				return nil
			}
			cur = pcbSocket{seen: xsoInpcb, off: off}
			cur.inpp = le.Uint64(rec[xinpInpp:])
			cur.fport = binary.BigEndian.Uint16(rec[xinpFport:])
			cur.lport = binary.BigEndian.Uint16(rec[xinpLport:])
			cur.vflag = rec[xinpVflag]
			cur.faddr = [16]byte(rec[xinpFaddr:])
			cur.laddr = [16]byte(rec[xinpLaddr:])
			cur.skipInpcb = cur.vflag&(inpIPv4|inpIPv6) == 0
		case xsoSocket:
			if len(rec) < xsoMin {
				short = xsoMin
				break
			}
			if pcb := le.Uint64(rec[xsoPcb:]); pcb != 0 && cur.inpp != 0 && pcb != cur.inpp {
				return newTableFormatError(table, b, off, "xsocket_n for pcb %#x follows the xinpcb_n of pcb %#x at offset %d", pcb, cur.inpp, cur.off)
			}
			cur.qlen = le.Uint16(rec[xsoQlen:])
			cur.qlimit = le.Uint16(rec[xsoQlimit:])
			cur.uid = le.Uint32(rec[xsoUID:])
			cur.pid = int32(le.Uint32(rec[xsoLastPID:]))
		case xsoRcvbuf, xsoSndbuf:
			if len(rec) < xsbMin {
				short = xsbMin
				break
			}
			if kind == xsoRcvbuf {
				cur.rcvCC = le.Uint32(rec[xsbCC:])
			} else {
				cur.sndCC = le.Uint32(rec[xsbCC:])
			}
		case xsoTcpcb:
			if len(rec) < xtMin {
				short = xtMin
				break
			}
			cur.tcpState = int32(le.Uint32(rec[xtState:]))
		default:
			// XSO_STATS, buffers of a pcb without a socket (kind 0), and
			// kinds of later kernels.
		}
		if short != 0 {
			return newTableFormatError(table, b, off, "record of kind %#x has %d bytes, want at least %d", kind, n, short)
		}
		if part {
			cur.seen |= kind
		}
		off += int((uint64(n) + 7) &^ 7) // ROUNDUP64
		off = min(off, len(b))
	}
}

// socket returns the Socket that p's records describe, and its pid.
func (p *pcbSocket) socket(proto ports.Proto) (Socket, int) {
	v6 := p.vflag&inpIPv6 != 0
	s := Socket{
		Proto:  proto,
		Local:  netip.AddrPortFrom(pcbAddr(&p.laddr, v6), p.lport),
		Remote: netip.AddrPortFrom(pcbAddr(&p.faddr, v6), p.fport),
		UID:    p.uid,
		RecvQ:  p.rcvCC,
		SendQ:  p.sndCC,
	}
	switch {
	case proto == ports.ProtoUDP && (p.fport != 0 || !s.Remote.Addr().IsUnspecified()):
		s.State = StateEstablished
	case proto == ports.ProtoUDP:
		s.State = StateClose
	case p.seen&xsoTcpcb != 0:
		s.State = pcbState(p.tcpState)
	}
	if s.State == StateListen {
		s.RecvQ, s.SendQ = uint32(p.qlen), uint32(p.qlimit)
	}
	return s, int(p.pid)
}

// pcbAddr returns the address in a, an in6_addr if v6, otherwise an
// in_addr_4in6. An IPv6 link-local address with KAME's embedded scope gets
// it as its zone.
func pcbAddr(a *[16]byte, v6 bool) netip.Addr {
	if !v6 {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	b := *a
	linkLocal := b[0] == 0xfe && b[1]&0xc0 == 0x80 || // fe80::/10
		b[0] == 0xff && (b[1]&0x0f == 1 || b[1]&0x0f == 2) // interface- and link-local multicast
	if !linkLocal || b[2]|b[3] == 0 {
		return netip.AddrFrom16(b)
	}
	scope := int(b[2])<<8 | int(b[3])
	b[2], b[3] = 0, 0
	return netip.AddrFrom16(b).WithZone(strconv.Itoa(scope))
}

// parseProcArgs2 returns the arguments in b, the value of the
// kern.procargs2 sysctl: an int32 argc, the executable's path, NUL
// padding, then argc NUL-terminated arguments (and the environment, which
// it ignores). It returns nil when b does not hold argc arguments.
func parseProcArgs2(b []byte) []string {
	if len(b) < 4 {
		return nil
	}
	argc := int32(binary.LittleEndian.Uint32(b))
	b = b[4:]
	i := bytes.IndexByte(b, 0) // the end of the executable's path
	if argc < 0 || i < 0 || int64(argc) > int64(len(b)) {
		return nil
	}
	b = b[i:]
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	args := make([]string, 0, argc)
	for range argc {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return nil
		}
		args = append(args, string(b[:i]))
		b = b[i+1:]
	}
	return args
}
