package socktable

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/portkit/ports"
)

// This file decodes the tables that Windows' GetExtendedTcpTable
// (TCP_TABLE_OWNER_PID_ALL) and GetExtendedUdpTable (UDP_TABLE_OWNER_PID)
// return; socktable_windows.go calls them. It has no build tag, so that
// its tests run on every system.
//
// Each table is a DWORD dwNumEntries followed by that many rows (the
// layouts are tcpmib.h's and udpmib.h's, as Microsoft documents them):
//
//	MIB_TCPROW_OWNER_PID   dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr, dwRemotePort, dwOwningPid   (24 bytes)
//	MIB_TCP6ROW_OWNER_PID  ucLocalAddr[16], dwLocalScopeId, dwLocalPort, ucRemoteAddr[16],
//	                       dwRemoteScopeId, dwRemotePort, dwState, dwOwningPid                          (56 bytes)
//	MIB_UDPROW_OWNER_PID   dwLocalAddr, dwLocalPort, dwOwningPid                                        (12 bytes)
//	MIB_UDP6ROW_OWNER_PID  ucLocalAddr[16], dwLocalScopeId, dwLocalPort, dwOwningPid                    (28 bytes)
//
// Every field is 4-aligned, so the rows start at offset 4 and have no
// padding. DWORDs are little-endian (Windows is little-endian on every
// architecture it runs on), except that an IPv4 address's four bytes are
// in network order, and a port is in network order in the low 16 bits of
// its DWORD (the first two bytes; the upper 16 bits may hold garbage).

// mibKind names one of the four tables.
type mibKind uint8

const (
	mibTCP4 mibKind = iota
	mibTCP6
	mibUDP4
	mibUDP6
)

var mibTableNames = [...]string{
	mibTCP4: "MIB_TCPTABLE_OWNER_PID",
	mibTCP6: "MIB_TCP6TABLE_OWNER_PID",
	mibUDP4: "MIB_UDPTABLE_OWNER_PID",
	mibUDP6: "MIB_UDP6TABLE_OWNER_PID",
}

var mibRowSizes = [...]int{mibTCP4: 24, mibTCP6: 56, mibUDP4: 12, mibUDP6: 28}

// mibStates maps MIB_TCP_STATE (tcpmib.h) onto the package's
// Linux-numbered states. MIB_TCP_STATE_DELETE_TCB, a connection whose
// control block is being deleted, becomes StateClose.
var mibStates = [...]State{
	0:  StateUnknown,
	1:  StateClose,       // MIB_TCP_STATE_CLOSED
	2:  StateListen,      // MIB_TCP_STATE_LISTEN
	3:  StateSynSent,     // MIB_TCP_STATE_SYN_SENT
	4:  StateSynRecv,     // MIB_TCP_STATE_SYN_RCVD
	5:  StateEstablished, // MIB_TCP_STATE_ESTAB
	6:  StateFinWait1,    // MIB_TCP_STATE_FIN_WAIT1
	7:  StateFinWait2,    // MIB_TCP_STATE_FIN_WAIT2
	8:  StateCloseWait,   // MIB_TCP_STATE_CLOSE_WAIT
	9:  StateClosing,     // MIB_TCP_STATE_CLOSING
	10: StateLastAck,     // MIB_TCP_STATE_LAST_ACK
	11: StateTimeWait,    // MIB_TCP_STATE_TIME_WAIT
	12: StateClose,       // MIB_TCP_STATE_DELETE_TCB
}

// mibState returns the State of MIB_TCP_STATE t, StateUnknown if t has
// none.
func mibState(t uint32) State {
	if t < uint32(len(mibStates)) {
		return mibStates[t]
	}
	return StateUnknown
}

// walkMIBTable decodes b, a table of the given kind, calling yield with
// each socket and its dwOwningPid until yield returns false. It returns a
// *tableFormatError, before yielding anything, when b is too short for the
// rows it counts. Bytes after the last row are ignored.
//
// A listener's Remote, which Windows leaves meaningless, and a UDP
// socket's, which the table does not give, are the unspecified address of
// the family with port 0. UDP sockets are all StateClose: the tables do
// not tell connected ones apart. An IPv6 link-local address gets its
// scope id as its zone. Windows has no uids: UID is 0, as are RecvQ and
// SendQ, which the tables do not give.
func walkMIBTable(b []byte, kind mibKind, yield func(s Socket, pid int) bool) error {
	table, size := mibTableNames[kind], mibRowSizes[kind]
	if len(b) < 4 {
		return newTableFormatError(table, b, 0, "%d bytes cannot hold dwNumEntries", len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	if need := 4 + uint64(n)*uint64(size); need > uint64(len(b)) {
		return newTableFormatError(table, b, 0, "truncated: %d rows of %d bytes need %d bytes, have %d", n, size, need, len(b))
	}
	for i := range int(n) {
		row := b[4+i*size : 4+(i+1)*size]
		s, pid := mibRow(row, kind)
		if !yield(s, pid) {
			return nil
		}
	}
	return nil
}

// mibRow decodes one row of a table of the given kind.
func mibRow(row []byte, kind mibKind) (Socket, int) {
	le := binary.LittleEndian
	var s Socket
	var pid uint32
	switch kind {
	case mibTCP4:
		s.Proto = ports.ProtoTCP
		s.State = mibState(le.Uint32(row[0:]))
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(row[4:])), mibPort(row[8:]))
		s.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(row[12:])), mibPort(row[16:]))
		pid = le.Uint32(row[20:])
	case mibTCP6:
		s.Proto = ports.ProtoTCP
		s.Local = netip.AddrPortFrom(mibAddr6(row[0:], le.Uint32(row[16:])), mibPort(row[20:]))
		s.Remote = netip.AddrPortFrom(mibAddr6(row[24:], le.Uint32(row[40:])), mibPort(row[44:]))
		s.State = mibState(le.Uint32(row[48:]))
		pid = le.Uint32(row[52:])
	case mibUDP4:
		s.Proto = ports.ProtoUDP
		s.State = StateClose
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(row[0:])), mibPort(row[4:]))
		pid = le.Uint32(row[8:])
	case mibUDP6:
		s.Proto = ports.ProtoUDP
		s.State = StateClose
		s.Local = netip.AddrPortFrom(mibAddr6(row[0:], le.Uint32(row[16:])), mibPort(row[20:]))
		pid = le.Uint32(row[24:])
	}
	if s.Proto == ports.ProtoUDP || s.State == StateListen {
		unspec := netip.IPv4Unspecified()
		if s.Local.Addr().Is6() {
			unspec = netip.IPv6Unspecified()
		}
		s.Remote = netip.AddrPortFrom(unspec, 0)
	}
	return s, int(pid)
}

// mibPort returns the port in the low 16 bits of the DWORD at b, in
// network order.
func mibPort(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// mibAddr6 returns the IPv6 address at b with, if it is link-local, scope
// as its zone.
func mibAddr6(b []byte, scope uint32) netip.Addr {
	a := netip.AddrFrom16([16]byte(b))
	if scope != 0 && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast()) {
		a = a.WithZone(strconv.FormatUint(uint64(scope), 10))
	}
	return a
}
