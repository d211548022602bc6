//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"github.com/portkit/ports/pcapfile"
	"golang.org/x/sys/unix"
)

// How a socket reads an interface, and what the Handle writes in front of
// what the kernel gives it.
type mode uint8

const (
	// modeEthernet: SOCK_RAW, whole Ethernet frames; a VLAN tag the
	// kernel took off is put back.
	modeEthernet mode = iota
	// modeRaw: SOCK_RAW on an interface without a link header.
	modeRaw
	// modeCooked: SOCK_DGRAM, the packet from its network header on,
	// behind a Linux cooked (SLL) header built from the sockaddr_ll.
	modeCooked
)

// sllLen is the length of a LINKTYPE_LINUX_SLL header.
const sllLen = 16

// headroom is the space kept in front of what the kernel writes: for the
// SLL header and a VLAN tag put back into it (cooked), or for a VLAN tag
// put back into an Ethernet header.
func (m mode) headroom() int {
	switch m {
	case modeEthernet:
		return 4
	case modeCooked:
		return sllLen + 4
	}
	return 0
}

// linkFor maps an interface's ARPHRD_ hardware type to a reading mode
// and link type; ok is false for types this package does not capture.
func linkFor(hatype uint16) (m mode, link pcapfile.LinkType, ok bool) {
	switch hatype {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return modeEthernet, pcapfile.LinkTypeEthernet, true
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP:
		return modeRaw, pcapfile.LinkTypeRaw, true
	case unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT,
		unix.ARPHRD_IPGRE, unix.ARPHRD_IP6GRE, unix.ARPHRD_PPP:
		// What SOCK_RAW gives on these depends on the driver (a GRE
		// device may have a header, PPP devices vary); from the network
		// header on, as SOCK_DGRAM gives it, is always right.
		return modeCooked, pcapfile.LinkTypeLinuxSLL, true
	}
	return 0, 0, false
}

// ifaceInfo is what Open needs to know about an interface.
type ifaceInfo struct {
	index  int
	hatype uint16
	up     bool
}

// lookupInterface finds the interface called name in the network
// namespace of the calling thread, with the ioctls libpcap uses, on an
// AF_UNIX socket (which needs no privileges).
func lookupInterface(name string) (ifaceInfo, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		// Too long for an interface name.
		return ifaceInfo{}, fmt.Errorf("capture: interface %q: %w", name, ErrNoSuchInterface)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ifaceInfo{}, fmt.Errorf("capture: interface %q: %w", name, os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	var info ifaceInfo
	for _, q := range []struct {
		req  uint
		name string
		set  func()
	}{
		{unix.SIOCGIFINDEX, "SIOCGIFINDEX", func() { info.index = int(ifr.Uint32()) }},
		{unix.SIOCGIFHWADDR, "SIOCGIFHWADDR", func() { info.hatype = ifr.Uint16() }},
		{unix.SIOCGIFFLAGS, "SIOCGIFFLAGS", func() { info.up = ifr.Uint16()&unix.IFF_UP != 0 }},
	} {
		if err := unix.IoctlIfreq(fd, q.req, ifr); err != nil {
			if errors.Is(err, unix.ENODEV) {
				return ifaceInfo{}, fmt.Errorf("capture: interface %q: %w", name, ErrNoSuchInterface)
			}
			return ifaceInfo{}, fmt.Errorf("capture: interface %q: %w", name, os.NewSyscallError("ioctl "+q.name, err))
		}
		q.set()
	}
	return info, nil
}

func openOS(iface string, cfg *Config) (osImpl, pcapfile.LinkType, error) {
	var (
		info     ifaceInfo
		m        = modeCooked
		link     = pcapfile.LinkTypeLinuxSLL
		sockType = packet.Datagram
		any      = iface == AnyInterface
	)
	if any {
		if cfg.Promiscuous {
			return nil, 0, fmt.Errorf("capture: promiscuous mode needs a named interface, not %q", AnyInterface)
		}
	} else {
		var err error
		if info, err = lookupInterface(iface); err != nil {
			return nil, 0, err
		}
		var ok bool
		if m, link, ok = linkFor(info.hatype); !ok {
			return nil, 0, fmt.Errorf("capture: interface %q has hardware type ARPHRD %d: %w", iface, info.hatype, ErrUnsupportedLink)
		}
		if !info.up {
			return nil, 0, fmt.Errorf("capture: interface %q is down: %w", iface, unix.ENETDOWN)
		}
		if m != modeCooked {
			sockType = packet.Raw
		}
	}

	skip := skipNone
	switch {
	case any:
		skip = skipLoopbackOutgoing
	case info.hatype == unix.ARPHRD_LOOPBACK:
		skip = skipOutgoing
	}
	prog, err := kernelProgram(cfg.Filter, link, m == modeCooked, cfg.Snaplen, skip)
	if err != nil {
		return nil, 0, fmt.Errorf("capture: %s: %w", iface, err)
	}

	// Index 0 binds to every interface: AnyInterface.
	ifi := &net.Interface{Index: info.index, Name: iface}
	conn, err := packet.Listen(ifi, sockType, unix.ETH_P_ALL, &packet.Config{Filter: prog})
	if err != nil {
		// Listen's *net.OpError names no address here; keep what it wraps
		// (an *os.SyscallError).
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, 0, fmt.Errorf("capture: %s: needs root or CAP_NET_RAW: %w", iface, err)
		}
		return nil, 0, fmt.Errorf("capture: %s: %w", iface, err)
	}
	h, err := newLinuxHandle(conn, m, cfg)
	if err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("capture: %s: %w", iface, err)
	}
	h.link, h.skip = link, skip
	return h, link, nil
}

// linuxHandle reads one AF_PACKET socket with recvmsg(2), into buffers
// and a msghdr set up once, so that reading a packet allocates nothing.
type linuxHandle struct {
	conn    *packet.Conn
	rc      syscall.RawConn
	mode    mode
	snaplen int
	link    pcapfile.LinkType
	skip    skipMode              // what the kernel program drops before the filter
	recvFn  func(fd uintptr) bool // h.recv, bound once

	buf  []byte // headroom, then what the kernel writes
	oob  []byte // control messages
	from unix.RawSockaddrLinklayer
	iov  unix.Iovec
	msg  unix.Msghdr

	// Results of the last recv.
	n     int
	errno unix.Errno

	closed atomic.Bool
}

func newLinuxHandle(conn *packet.Conn, m mode, cfg *Config) (*linuxHandle, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	h := &linuxHandle{
		conn:    conn,
		rc:      rc,
		mode:    m,
		snaplen: cfg.Snaplen,
		buf:     make([]byte, m.headroom()+cfg.Snaplen),
		// Room for the two control messages asked for and some to spare;
		// a short buffer would only set MSG_CTRUNC.
		oob: make([]byte, 256),
	}
	h.recvFn = h.recv
	head := h.buf[m.headroom():]
	h.iov.Base = &head[0]
	h.iov.SetLen(len(head))
	h.msg.Name = (*byte)(unsafe.Pointer(&h.from))
	h.msg.Iov = &h.iov
	h.msg.SetIovlen(1)
	h.msg.Control = &h.oob[0]

	var serr error
	err = rc.Control(func(fd uintptr) {
		s := int(fd)
		// The packet's original length and VLAN tag.
		if err := unix.SetsockoptInt(s, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			serr = os.NewSyscallError("setsockopt PACKET_AUXDATA", err)
			return
		}
		// The kernel's timestamp, in nanoseconds.
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			serr = os.NewSyscallError("setsockopt SO_TIMESTAMPNS", err)
			return
		}
		// SO_RCVBUFFORCE may exceed rmem_max but needs CAP_NET_ADMIN;
		// SO_RCVBUF is capped at rmem_max.
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, cfg.BufferSize); err != nil {
			if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.BufferSize); err != nil {
				serr = os.NewSyscallError("setsockopt SO_RCVBUF", err)
			}
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	if cfg.Promiscuous {
		if err := conn.SetPromiscuous(true); err != nil {
			return nil, fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	return h, nil
}

// recv is the syscall.RawConn.Read callback: one recvmsg(2), reporting
// false (wait and call again) when there is nothing to read.
func (h *linuxHandle) recv(fd uintptr) bool {
	for {
		h.msg.Namelen = unix.SizeofSockaddrLinklayer
		h.msg.SetControllen(len(h.oob))
		h.msg.Flags = 0
		// MSG_TRUNC: the result is the packet's length as queued, even if
		// longer than the buffer.
		n, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&h.msg)), unix.MSG_TRUNC)
		switch e {
		case 0:
			h.n, h.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		h.n, h.errno = 0, e
		return true
	}
}

func (h *linuxHandle) next(p *Packet) error {
	if err := h.rc.Read(h.recvFn); err != nil {
		if h.closed.Load() {
			// The poller's "use of closed file" is not os.ErrClosed.
			return net.ErrClosed
		}
		return err
	}
	if h.errno != 0 {
		return os.NewSyscallError("recvmsg", h.errno)
	}
	head := h.mode.headroom()
	n := min(h.n, len(h.buf)-head)
	var ts int64
	origLen := h.n
	var aux auxdata
	ctl := h.oob[:h.msg.Controllen]
	for len(ctl) >= unix.SizeofCmsghdr {
		hdr := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		l := int(hdr.Len)
		if l < unix.SizeofCmsghdr || l > len(ctl) {
			break
		}
		data := ctl[unix.CmsgLen(0):l]
		switch {
		case hdr.Level == unix.SOL_PACKET && hdr.Type == unix.PACKET_AUXDATA:
			aux, _ = parseAuxdata(data)
			origLen = int(aux.len)
		case hdr.Level == unix.SOL_SOCKET && hdr.Type == unix.SCM_TIMESTAMPNS:
			ts, _ = parseTimespec(data)
		}
		ctl = ctl[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(ctl)):]
	}
	if ts == 0 {
		ts = time.Now().UnixNano()
	}
	var start int
	switch h.mode {
	case modeEthernet:
		start, n, origLen = putVLAN(h.buf, head, n, origLen, aux)
	case modeCooked:
		start, n, origLen = putSLL(h.buf, head, n, origLen, &h.from, aux)
	}
	n = min(n, h.snaplen)
	*p = Packet{
		Timestamp:     ts,
		Data:          h.buf[start : start+n : start+n],
		CaptureLength: n,
		Length:        origLen,
		LinkType:      h.link,
		Ifindex:       int(h.from.Ifindex),
		Direction:     direction(h.from.Pkttype),
	}
	return nil
}

func direction(pkttype uint8) Direction {
	if pkttype == unix.PACKET_OUTGOING {
		return DirectionOut
	}
	return DirectionIn
}

// setFilter replaces the socket's program. SO_ATTACH_FILTER swaps it in
// one step: no packet passes unfiltered and none is lost in between.
func (h *linuxHandle) setFilter(expr string) error {
	prog, err := kernelProgram(expr, h.link, h.mode == modeCooked, h.snaplen, h.skip)
	if err != nil {
		return err
	}
	return h.conn.SetBPF(prog)
}

func (h *linuxHandle) setReadDeadline(t time.Time) error {
	return h.conn.SetReadDeadline(t)
}

func (h *linuxHandle) stats() (Stats, error) {
	s, err := h.conn.Stats()
	if err != nil {
		return Stats{}, err
	}
	// tp_packets counts every packet that passed the filter, including
	// those dropped afterwards (the kernel adds tp_drops in).
	return Stats{Received: uint64(s.Packets), Dropped: uint64(s.Drops)}, nil
}

func (h *linuxHandle) close() error {
	h.closed.Store(true)
	return h.conn.Close()
}

// putSLL writes the Linux cooked header in front of the n bytes that the
// kernel wrote at buf[head:], putting a VLAN tag the kernel took off back
// in after it, as libpcap does. It returns where the packet now starts
// and its captured and original lengths.
func putSLL(buf []byte, head, n, origLen int, from *unix.RawSockaddrLinklayer, aux auxdata) (start, caplen, length int) {
	proto := [2]byte{}
	binary.NativeEndian.PutUint16(proto[:], from.Protocol) // already big-endian in memory
	start = head - sllLen
	if tpid, tci, ok := aux.vlan(); ok {
		start -= 4
		binary.BigEndian.PutUint16(buf[head-4:], tci)
		copy(buf[head-2:head], proto[:])
		binary.BigEndian.PutUint16(proto[:], tpid)
		n += 4
		origLen += 4
	}
	h := buf[start : start+sllLen]
	binary.BigEndian.PutUint16(h[0:], uint16(from.Pkttype))
	binary.BigEndian.PutUint16(h[2:], from.Hatype)
	binary.BigEndian.PutUint16(h[4:], uint16(from.Halen))
	clear(h[6:14])
	copy(h[6:14], from.Addr[:min(int(from.Halen), 8)])
	copy(h[14:16], proto[:])
	return start, n + sllLen, origLen + sllLen
}

// putVLAN puts a VLAN tag that the kernel took off an Ethernet frame back
// between its addresses and its EtherType, as libpcap does, using the 4
// bytes of headroom in front of the frame at buf[head:head+n].
func putVLAN(buf []byte, head, n, origLen int, aux auxdata) (start, caplen, length int) {
	tpid, tci, ok := aux.vlan()
	if !ok || n < 12 {
		return head, n, origLen
	}
	start = head - 4
	copy(buf[start:start+12], buf[head:head+12])
	binary.BigEndian.PutUint16(buf[start+12:], tpid)
	binary.BigEndian.PutUint16(buf[start+14:], tci)
	return start, n + 4, origLen + 4
}

// auxdata is struct tpacket_auxdata, the PACKET_AUXDATA control message.
type auxdata struct {
	status   uint32
	len      uint32 // the packet's length before the filter cut it
	snaplen  uint32
	vlanTCI  uint16
	vlanTPID uint16
}

const auxdataLen = 20

func parseAuxdata(b []byte) (auxdata, bool) {
	if len(b) < auxdataLen {
		return auxdata{}, false
	}
	ne := binary.NativeEndian
	return auxdata{
		status:   ne.Uint32(b[0:]),
		len:      ne.Uint32(b[4:]),
		snaplen:  ne.Uint32(b[8:]),
		vlanTCI:  ne.Uint16(b[16:]),
		vlanTPID: ne.Uint16(b[18:]),
	}, true
}

// vlan returns the VLAN tag the kernel took off the packet, if any.
func (a auxdata) vlan() (tpid, tci uint16, ok bool) {
	if a.status&unix.TP_STATUS_VLAN_VALID == 0 {
		return 0, 0, false
	}
	tpid = 0x8100
	if a.status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
		tpid = a.vlanTPID
	}
	return tpid, a.vlanTCI, true
}

// parseTimespec reads the struct timespec of an SCM_TIMESTAMPNS control
// message: two longs, 8 bytes each on 64-bit systems and 4 on 32-bit
// ones (SO_TIMESTAMPNS is SO_TIMESTAMPNS_OLD).
func parseTimespec(b []byte) (int64, bool) {
	ne := binary.NativeEndian
	switch len(b) {
	case 16:
		return int64(ne.Uint64(b[0:]))*1e9 + int64(ne.Uint64(b[8:])), true
	case 8:
		return int64(int32(ne.Uint32(b[0:])))*1e9 + int64(int32(ne.Uint32(b[4:]))), true
	}
	return 0, false
}
