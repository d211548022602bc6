package socktable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"runtime"

	"github.com/portkit/ports"
)

// TCPCounters are the byte counters of one TCP socket, from the kernel's
// struct tcp_info: what `ss -ti` shows as bytes_acked and bytes_received.
// A live socket is named by its Inode (the Socket.Inode of the same
// socket in List); Local and Remote tell it apart where the inode is 0.
// The counters only grow while the socket lives, so a rate is the
// difference between two readings divided by the time between them.
type TCPCounters struct {
	Local  netip.AddrPort
	Remote netip.AddrPort
	Inode  uint64
	// BytesAcked is the number of bytes sent that the peer acknowledged
	// (tcpi_bytes_acked); BytesReceived the number of bytes received
	// (tcpi_bytes_received). Both count payload only, from the start of
	// the connection.
	BytesAcked    uint64
	BytesReceived uint64
}

// ErrNoCounters is returned where TCP byte counters cannot be read: on
// systems other than Linux, and on Linux when netlink sock_diag is
// refused (the /proc/net tables have no counters). It wraps
// errors.ErrUnsupported.
var ErrNoCounters = fmt.Errorf("socktable: TCP byte counters are not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Counters yields the byte counters of the TCP sockets that opts selects
// (nil selects all): opts' Family, States, LocalPorts, RemotePorts and
// NetNS apply as in List; Processes is ignored, and Protos without
// ProtoTCP selects nothing. Only sockets that have a tcp_info are
// yielded: not those in TIME-WAIT or NEW-SYN-RECV, which the kernel
// keeps as small stand-ins, and none on kernels before Linux 4.1, whose
// tcp_info lacks the counters. Reading the counters is one more sock_diag
// dump, about as costly as List without processes. An error ends the
// sequence; it is ErrNoCounters where there are none to read.
func Counters(ctx context.Context, opts *Options) iter.Seq2[TCPCounters, error] {
	if opts == nil {
		opts = &Options{}
	}
	if len(opts.Protos) > 0 && !containsProto(opts.Protos, ports.ProtoTCP) {
		return func(func(TCPCounters, error) bool) {}
	}
	return countersOS(ctx, opts)
}

// Constants for the counters (linux/inet_diag.h, linux/tcp.h).
const (
	inetDiagInfo = 2 // INET_DIAG_INFO: the attribute holding struct tcp_info
	// extInfo is the ext bit that asks for INET_DIAG_INFO.
	extInfo = 1 << (inetDiagInfo - 1)

	// Offsets in struct tcp_info: after 8 one-byte fields, 24 __u32s
	// (tcpi_rto to tcpi_total_retrans) and two __u64 pacing rates come
	// tcpi_bytes_acked and tcpi_bytes_received (since Linux 4.1).
	tcpiBytesAcked    = 120
	tcpiBytesReceived = 128
)

// appendCountersRequest appends a TCP dump request that asks for
// INET_DIAG_INFO: SOCK_DIAG_BY_FAMILY for family AF_INET or AF_INET6, or,
// for family 0, the older TCPDIAG_GETSOCK, which takes AF_UNSPEC and
// walks the tables once for both families (see appendTCPCompatRequest).
func appendCountersRequest(b []byte, seq uint32, family uint8, states States, bytecode []byte) []byte {
	ne := binary.NativeEndian
	if family == 0 {
		b = appendDumpHeader(b, tcpDiagGetSock, diagReqCompatLen, seq, bytecode)
		b = append(b, 0, 0, 0, extInfo)    // family AF_UNSPEC, src_len, dst_len, ext
		b = append(b, make([]byte, 48)...) // inet_diag_sockid: match any
		b = ne.AppendUint32(b, uint32(states))
		b = ne.AppendUint32(b, 0) // dbs
		return appendBytecode(b, bytecode)
	}
	b = appendDumpHeader(b, sockDiagByFamily, diagReqLen, seq, bytecode)
	b = append(b, family, uint8(ports.ProtoTCP), extInfo, 0)
	b = ne.AppendUint32(b, uint32(states))
	b = append(b, make([]byte, 48)...) // inet_diag_sockid: match any
	return appendBytecode(b, bytecode)
}

// tcpInfoCounters finds the INET_DIAG_INFO attribute among the
// attributes that follow the inet_diag_msg in p (one message's payload)
// and reads the two byte counters from it. ok is false when the
// attribute is missing or too short to hold them.
func tcpInfoCounters(p []byte) (acked, received uint64, ok bool) {
	if len(p) < diagMsgLen {
		return 0, 0, false
	}
	ne := binary.NativeEndian
	for a := p[diagMsgLen:]; len(a) >= 4; {
		n, typ := int(ne.Uint16(a)), ne.Uint16(a[2:])
		if n < 4 || n > len(a) {
			return 0, 0, false
		}
		if typ == inetDiagInfo {
			info := a[4:n]
			if len(info) < tcpiBytesReceived+8 {
				return 0, 0, false
			}
			return ne.Uint64(info[tcpiBytesAcked:]), ne.Uint64(info[tcpiBytesReceived:]), true
		}
		a = a[min((n+3)&^3, len(a)):]
	}
	return 0, 0, false
}

// countersMsg decodes one answer of a counters dump into c, with s as
// scratch for opts' filters. It reports whether c holds a socket that
// passes them and has counters.
func countersMsg(p []byte, opts *Options, s *Socket, c *TCPCounters) bool {
	if !diagMsg(p, ports.ProtoTCP, s) || !opts.match(s) {
		return false
	}
	acked, received, ok := tcpInfoCounters(p)
	if !ok {
		return false
	}
	*c = TCPCounters{Local: s.Local, Remote: s.Remote, Inode: s.Inode, BytesAcked: acked, BytesReceived: received}
	return true
}
