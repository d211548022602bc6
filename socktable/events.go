package socktable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"time"

	"github.com/portkit/ports"
)

// SocketEnd is the end of one socket, as the kernel reports it when it
// frees the socket (sock_diag's destroy multicast groups, which `ss -E`
// reads). A TCP socket is freed when it closes, or for a listener's
// connection once it leaves the accept queue closed; it leaves a
// TIME-WAIT stand-in behind that ends without an event.
type SocketEnd struct {
	// Socket holds the protocol, the addresses, the state the socket
	// ended in (mostly CLOSE) and the Cookie; its queues, UID and Inode
	// are zero (the kernel does not send them). Procs are the processes
	// that held it when it was last listed, if Known.
	Socket Socket
	Time   time.Time // when the event was read

	// HasInfo is set for TCP sockets whose tcp_info came with the event:
	// the byte counters are then valid. BytesSent counts payload sent,
	// retransmissions included (tcpi_bytes_sent, Linux 4.19); BytesAcked
	// what the peer acknowledged, counting the SYN and the FIN sent as
	// one byte each, and BytesReceived what arrived, counting the FIN
	// received (tcpi_bytes_acked and tcpi_bytes_received, as ss shows
	// them). TotalRetrans counts retransmitted segments.
	HasInfo       bool
	BytesSent     uint64
	BytesAcked    uint64
	BytesReceived uint64
	TotalRetrans  uint32

	// Known is set when the socket was listed before it ended (Ends
	// lists the sockets every EndsInterval): Procs come from that
	// listing, and Duration is the time since the first listing that
	// held it, so the socket lived at least that long. A socket that
	// lived less than an interval is often not Known.
	Known    bool
	Duration time.Duration

	// Lost counts the events the kernel dropped just before this one
	// because the reader fell behind (ENOBUFS on the netlink socket).
	Lost int
}

// EndsInterval is how often Ends lists the sockets to know their
// processes and ages before they end.
const EndsInterval = time.Second

// ErrNoEvents is returned where socket end events cannot be read: on
// systems other than Linux, and on Linux when netlink sock_diag is
// refused. It wraps errors.ErrUnsupported.
var ErrNoEvents = fmt.Errorf("socktable: socket end events are not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Ends yields each TCP and UDP socket's end as the kernel reports it,
// until ctx ends (which ends the sequence without an error). opts
// selects as for List, except that States is not used (a socket ends in
// the state the kernel leaves it in): Protos, Family, the port and
// address filters (applied in user space: the kernel sends every end)
// and NetNS. With opts.Processes each end carries the processes that
// held the socket when it was last listed (see SocketEnd.Known), which
// costs a Poller's listing every EndsInterval; without, the listings
// are made without processes, for the durations. Joining the destroy
// groups needs CAP_NET_ADMIN in the namespace. An error ends the
// sequence.
func Ends(ctx context.Context, opts *Options) iter.Seq2[SocketEnd, error] {
	if opts == nil {
		opts = &Options{}
	}
	return endsOS(ctx, opts)
}

// Netlink attribute of a destroy event (linux/inet_diag.h).
const inetDiagProtocol = 10 // INET_DIAG_PROTOCOL: u8, IPPROTO_TCP or IPPROTO_UDP

// decodeEnd decodes one destroy event's payload (an inet_diag_msg and its
// attributes) into e. It reports false for a message too short to hold
// a socket or of a protocol other than TCP and UDP.
func decodeEnd(p []byte, e *SocketEnd) bool {
	if len(p) < diagMsgLen {
		return false
	}
	ne := binary.NativeEndian
	proto := ports.Proto(0)
	var info []byte
	for a := p[diagMsgLen:]; len(a) >= 4; {
		n, typ := int(ne.Uint16(a)), ne.Uint16(a[2:])
		if n < 4 || n > len(a) {
			return false
		}
		switch typ {
		case inetDiagProtocol:
			if n >= 5 {
				proto = ports.Proto(a[4])
			}
		case inetDiagInfo:
			info = a[4:n]
		}
		a = a[min((n+3)&^3, len(a)):]
	}
	if proto != ports.ProtoTCP && proto != ports.ProtoUDP {
		return false
	}
	*e = SocketEnd{}
	if !diagMsg(p, proto, &e.Socket) {
		return false
	}
	// The kernel leaves these zero in an event; say so rather than show
	// a uid 0.
	e.Socket.RecvQ, e.Socket.SendQ, e.Socket.UID, e.Socket.Inode = 0, 0, 0, 0
	if proto == ports.ProtoTCP && len(info) > 0 {
		var d TCPDetail
		decodeTCPInfo(info, &d)
		if d.HasInfo {
			e.HasInfo = true
			e.BytesSent, e.BytesAcked, e.BytesReceived = d.BytesSent, d.BytesAcked, d.BytesReceived
			e.TotalRetrans = d.TotalRetrans
		}
	}
	return true
}

// endGroups returns the destroy multicast groups (SKNLGRP_*) that opts's
// protocols and family need.
func endGroups(opts *Options) []int {
	const (
		tcp4 = 1 // SKNLGRP_INET_TCP_DESTROY
		udp4 = 2 // SKNLGRP_INET_UDP_DESTROY
		tcp6 = 3 // SKNLGRP_INET6_TCP_DESTROY
		udp6 = 4 // SKNLGRP_INET6_UDP_DESTROY
	)
	var gs []int
	for _, g := range []struct {
		id    int
		proto ports.Proto
		v6    bool
	}{{tcp4, ports.ProtoTCP, false}, {tcp6, ports.ProtoTCP, true}, {udp4, ports.ProtoUDP, false}, {udp6, ports.ProtoUDP, true}} {
		if len(opts.Protos) > 0 && !containsProto(opts.Protos, g.proto) {
			continue
		}
		if opts.Family == 4 && g.v6 || opts.Family == 6 && !g.v6 {
			continue
		}
		gs = append(gs, g.id)
	}
	return gs
}
