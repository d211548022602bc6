package scan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

// Receive batch size and buffer sizes of the raw sockets.
const (
	recvBatch  = 32
	recvBufLen = 1600
	sockBuf    = 8 << 20
)

// pollInterval is how long a raw socket's reader sleeps when it finds
// nothing to read.
const pollInterval = 500 * time.Microsecond

// rawSock is one non-blocking raw socket. It is not registered with the
// runtime's poller: its reader polls it, reading batches while packets
// come and sleeping pollInterval when none do. A scan's replies come by
// the tens of thousands a second, and a reader parked in the poller
// would be woken (an epoll event, a futex, a thread switch) for nearly
// every one of them: that cost more CPU than reading them.
type rawSock struct {
	fd     int
	mu     sync.RWMutex // held to read across a system call on fd; Lock closes it
	closed bool
	v6     bool
	icmp   bool
	family int
}

// syscall runs fn with the socket's descriptor unless the socket is
// closed, and reports whether it ran fn.
func (s *rawSock) syscall(fn func(fd uintptr)) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	fn(uintptr(s.fd))
	return true
}

func (s *rawSock) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		unix.Close(s.fd)
	}
}

// linuxSYN is the Linux synIO: a raw TCP socket per family to send the
// SYNs and read the TCP answers (IPv4 raw sockets deliver whole
// datagrams, IPv6 ones the TCP segment alone), a raw ICMP or ICMPv6
// socket per family for the unreachables, and a bound TCP socket that
// reserves the source port. Each socket has a classic BPF filter, so
// that only packets to the scan's port (or ICMP unreachables) wake it.
type linuxSYN struct {
	tcp, icmp [2]*rawSock
	holds     []int // the TCP sockets holding the source ports
	ports     []uint16
	once      sync.Once

	scratch sync.Pool // of *sendScratch
}

// sendScratch holds the sendmmsg(2) arguments of one sending goroutine.
type sendScratch struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	ip4  [][20]byte
	sa4  []unix.RawSockaddrInet4
	sa6  []unix.RawSockaddrInet6
	hdr  wire.Packet // what ip4's headers are encoded from
}

// SYNAvailable reports whether the process may open the raw sockets a
// SYN scan needs (root or CAP_NET_RAW), by opening one; the error wraps
// os.ErrPermission when it may not.
func SYNAvailable() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return rawErr(err)
	}
	unix.Close(fd)
	return nil
}

func rawErr(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("scan: the SYN scan needs raw sockets, which need root or CAP_NET_RAW: %w", os.NewSyscallError("socket", err))
	}
	return fmt.Errorf("scan: open raw socket: %w", os.NewSyscallError("socket", err))
}

func openSYNIO(fam [2]bool, nports int) (synIO, error) {
	l := &linuxSYN{}
	ok := false
	defer func() {
		if !ok {
			l.close()
		}
	}()
	for range nports {
		fd, port, err := reservePort(fam[1])
		if err != nil {
			return nil, err
		}
		l.holds, l.ports = append(l.holds, fd), append(l.ports, port)
	}
	var err error
	for v := range 2 {
		if !fam[v] {
			continue
		}
		if l.tcp[v], err = openRaw(v == 1, false, l.ports); err != nil {
			return nil, err
		}
		if l.icmp[v], err = openRaw(v == 1, true, l.ports); err != nil {
			return nil, err
		}
	}
	ok = true
	return l, nil
}

// reservePort binds a TCP socket to a free port, which the kernel picks,
// and keeps it bound without listening: connections cannot take the
// port, and the kernel still answers SYN-ACKs to it with RSTs.
func reservePort(want6 bool) (int, uint16, error) {
	try := func(family int) (int, uint16, error) {
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, 0, err
		}
		var sa unix.Sockaddr = &unix.SockaddrInet4{}
		if family == unix.AF_INET6 {
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
			sa = &unix.SockaddrInet6{}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return -1, 0, err
		}
		got, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return -1, 0, err
		}
		switch a := got.(type) {
		case *unix.SockaddrInet4:
			return fd, uint16(a.Port), nil
		case *unix.SockaddrInet6:
			return fd, uint16(a.Port), nil
		}
		unix.Close(fd)
		return -1, 0, errors.New("unexpected address family")
	}
	// A dual-stack socket reserves the port for both families.
	fd, port, err := try(unix.AF_INET6)
	if err != nil && !want6 {
		fd, port, err = try(unix.AF_INET)
	}
	if err != nil {
		return -1, 0, fmt.Errorf("scan: reserve a source port: %w", err)
	}
	return fd, port, nil
}

func openRaw(v6, icmp bool, lports []uint16) (*rawSock, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_TCP
	if v6 {
		family = unix.AF_INET6
	}
	switch {
	case icmp && v6:
		proto = unix.IPPROTO_ICMPV6
	case icmp:
		proto = unix.IPPROTO_ICMP
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, rawErr(err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuf) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sockBuf)
	}
	if !icmp && unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sockBuf)
	}
	if !v6 && !icmp {
		// We write the IPv4 header: the kernel's building of it costs
		// more than the rest of sending a SYN.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("setsockopt IP_HDRINCL", err)
		}
	}
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("setsockopt IPV6_RECVHOPLIMIT", err)
		}
	}
	prog := replyFilter(v6, icmp, lports)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	return &rawSock{fd: fd, v6: v6, icmp: icmp, family: family}, nil
}

// replyFilter is a classic BPF program that keeps TCP segments to one of
// lports (IPv4 raw sockets see the IP header, IPv6 ones do not) and ICMP
// or ICMPv6 destination unreachables.
func replyFilter(v6, icmp bool, lports []uint16) []unix.SockFilter {
	const (
		ldxMSH = unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH // X = 4*(pkt[k]&0xf)
		ldhInd = unix.BPF_LD | unix.BPF_H | unix.BPF_IND
		ldbInd = unix.BPF_LD | unix.BPF_B | unix.BPF_IND
		ldhAbs = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		ldbAbs = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret    = unix.BPF_RET | unix.BPF_K
	)
	accept := unix.SockFilter{Code: ret, K: 0xffff}
	drop := unix.SockFilter{Code: ret, K: 0}
	// match appends a test of A against each value, jumping to an
	// accept after the tests, or past it to a drop.
	match := func(prog []unix.SockFilter, vals ...uint16) []unix.SockFilter {
		for i, v := range vals {
			prog = append(prog, unix.SockFilter{Code: jeq, Jt: uint8(len(vals) - 1 - i), K: uint32(v)})
		}
		prog[len(prog)-1].Jf = 1
		return append(prog, accept, drop)
	}
	switch {
	case !v6 && !icmp:
		return match([]unix.SockFilter{{Code: ldxMSH, K: 0}, {Code: ldhInd, K: 2}}, lports...)
	case !v6 && icmp:
		return match([]unix.SockFilter{{Code: ldxMSH, K: 0}, {Code: ldbInd, K: 0}}, 3)
	case v6 && !icmp:
		return match([]unix.SockFilter{{Code: ldhAbs, K: 2}}, lports...)
	}
	return match([]unix.SockFilter{{Code: ldbAbs, K: 0}}, 1)
}

func (l *linuxSYN) localPorts() []uint16 { return l.ports }

// source returns the address the kernel would send from to dst, by
// connecting a UDP socket, which sends nothing.
func (l *linuxSYN) source(dst netip.Addr) (netip.Addr, error) {
	family := unix.AF_INET
	var sa unix.Sockaddr
	if dst.Is6() {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: 9, Addr: dst.As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: 9, Addr: dst.As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return netip.Addr{}, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return netip.Addr{}, os.NewSyscallError("connect", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, os.NewSyscallError("getsockname", err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr), nil
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr), nil
	}
	return netip.Addr{}, errors.New("unexpected address family")
}

// send sends the leading segments of batch that go to one address family
// with one sendmmsg(2).
func (l *linuxSYN) send(batch []outSeg) (int, error) {
	sc, _ := l.scratch.Get().(*sendScratch)
	if sc == nil {
		sc = new(sendScratch)
	}
	defer l.scratch.Put(sc)
	v6 := batch[0].dst.Is6()
	n := 1
	for n < len(batch) && batch[n].dst.Is6() == v6 {
		n++
	}
	sock := l.tcp[b2i(v6)]
	if sock == nil {
		return 0, errors.New("no socket for the address family")
	}
	if len(sc.hdrs) < n {
		sc.hdrs = make([]unix.Mmsghdr, n)
		sc.iovs = make([]unix.Iovec, 2*n)
		sc.ip4 = make([][20]byte, n)
		sc.sa4 = make([]unix.RawSockaddrInet4, n)
		sc.sa6 = make([]unix.RawSockaddrInet6, n)
	}
	hdrs := sc.hdrs[:n]
fill:
	for i := range hdrs {
		o := &batch[i]
		iov := sc.iovs[2*i : 2*i+2]
		h := &hdrs[i].Hdr
		*h = unix.Msghdr{Iov: &iov[0]}
		if v6 {
			iov[0] = unix.Iovec{Base: &o.seg[0]}
			iov[0].SetLen(len(o.seg))
			h.SetIovlen(1)
		} else {
			// IP_HDRINCL: the kernel fills in the checksum and the ID.
			ip := &sc.ip4[i]
			sc.hdr.Layers = wire.LayerSet(0).Add(wire.LayerIPv4)
			sc.hdr.IP = wire.IP{IHL: 5, TotalLen: uint16(20 + len(o.seg)), Flags: wire.IPDontFragment, TTL: 64,
				Protocol: ports.ProtoTCP, Src: o.src, Dst: o.dst}
			if _, err := sc.hdr.AppendTo(ip[:0], wire.EncodeOptions{}); err != nil {
				// Not an IPv4 pair: send those before it.
				if i == 0 {
					return 0, err
				}
				n, hdrs = i, hdrs[:i]
				break fill
			}
			iov[0] = unix.Iovec{Base: &ip[0]}
			iov[0].SetLen(20)
			iov[1] = unix.Iovec{Base: &o.seg[0]}
			iov[1].SetLen(len(o.seg))
			h.SetIovlen(2)
		}
		if v6 {
			sc.sa6[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: o.dst.As16()}
			h.Name = (*byte)(unsafe.Pointer(&sc.sa6[i]))
			h.Namelen = unix.SizeofSockaddrInet6
		} else {
			sc.sa4[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: o.dst.As4()}
			h.Name = (*byte)(unsafe.Pointer(&sc.sa4[i]))
			h.Namelen = unix.SizeofSockaddrInet4
		}
	}
	var sent int
	var serr error
	for {
		var e syscall.Errno
		ok := sock.syscall(func(fd uintptr) {
			var r uintptr
			r, _, e = unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
			sent = int(r)
		})
		if !ok {
			return 0, os.ErrClosed
		}
		if e == unix.EAGAIN { // the send buffer is full
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if e != unix.EINTR {
			if e != 0 {
				serr = e
			}
			break
		}
	}
	if serr == unix.ENOBUFS { // a full queue: wait a little and try again
		time.Sleep(200 * time.Microsecond)
		return 0, nil
	}
	if serr != nil {
		return 0, os.NewSyscallError("sendmmsg", serr)
	}
	return sent, nil
}

func (l *linuxSYN) receive(fn func(b []byte, v6, icmp bool, from netip.Addr, hop uint8)) {
	var wg sync.WaitGroup
	for _, s := range append(l.tcp[:], l.icmp[:]...) {
		if s != nil {
			wg.Go(func() { s.receive(fn) })
		}
	}
	wg.Wait()
}

// receive reads batches of packets with recvmmsg(2) until the socket is
// closed.
func (s *rawSock) receive(fn func(b []byte, v6, icmp bool, from netip.Addr, hop uint8)) {
	var (
		hdrs  [recvBatch]unix.Mmsghdr
		iovs  [recvBatch]unix.Iovec
		names [recvBatch]unix.RawSockaddrInet6
		oobs  [recvBatch][64]byte
		bufs  = make([]byte, recvBatch*recvBufLen)
	)
	for i := range hdrs {
		iovs[i] = unix.Iovec{Base: &bufs[i*recvBufLen]}
		iovs[i].SetLen(recvBufLen)
	}
	for {
		for i := range hdrs {
			h := &hdrs[i].Hdr
			*h = unix.Msghdr{Iov: &iovs[i], Name: (*byte)(unsafe.Pointer(&names[i])), Namelen: unix.SizeofSockaddrInet6}
			h.SetIovlen(1)
			if s.v6 {
				h.Control = &oobs[i][0]
				h.SetControllen(len(oobs[i]))
			}
			hdrs[i].Len = 0
		}
		var n int
		var e syscall.Errno
		ok := s.syscall(func(fd uintptr) {
			var r uintptr
			r, _, e = unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), recvBatch, unix.MSG_DONTWAIT, 0, 0)
			n = int(r)
		})
		switch {
		case !ok:
			return // closed
		case e == unix.EAGAIN:
			time.Sleep(pollInterval)
			continue
		case e == unix.EINTR, e == unix.ENOMEM, e == unix.ENOBUFS:
			continue
		case e != 0:
			return
		}
		for i := range n {
			b := bufs[i*recvBufLen : i*recvBufLen+min(int(hdrs[i].Len), recvBufLen)]
			var from netip.Addr
			var hop uint8
			if s.v6 {
				from = netip.AddrFrom16(names[i].Addr)
				hop = hopLimit(oobs[i][:hdrs[i].Hdr.Controllen])
			}
			fn(b, s.v6, s.icmp, from, hop)
		}
	}
}

// hopLimit finds the IPV6_HOPLIMIT control message in oob; 0 if none.
func hopLimit(oob []byte) uint8 {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT && l >= unix.CmsgLen(4) {
			return uint8(binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):]))
		}
		oob = oob[min(unix.CmsgSpace(l-unix.SizeofCmsghdr), len(oob)):]
	}
	return 0
}

func (l *linuxSYN) close() {
	l.once.Do(func() {
		for _, s := range append(l.tcp[:], l.icmp[:]...) {
			if s != nil {
				s.close()
			}
		}
		for _, fd := range l.holds {
			unix.Close(fd)
		}
	})
}
