package scan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
	"github.com/portkit/ports/wire"
)

// linuxDisc is the Linux discIO: an AF_PACKET socket for ARP, raw ICMP,
// ICMPv6 and TCP sockets for the other probes, and a bound TCP socket
// holding the source port of the TCP probes.
type linuxDisc struct {
	arp       *rawSock
	icmp, tcp [2]*rawSock
	hold      int
	once      sync.Once
	// arpTo is the broadcast address of each link, made once: a
	// sockaddr per probe was most of a /16's garbage.
	arpTo []*unix.SockaddrLinklayer
	// neigh, for the SYN scan's resolution (linkOnly), writes the
	// neighbours found to the kernel's tables (see addNeighbour); -1
	// when not open.
	neigh int
}

// open reads the interfaces, sorts the targets by how they are probed,
// and opens the sockets that needs.
func (d *discoverer) open() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("scan: discovery: list interfaces: %w", err)
	}
	type onLink struct {
		pfx  netip.Prefix
		link int // index in d.links
	}
	var prefixes []onLink
	local := map[netip.Addr]bool{}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		li := -1
		if ifc.Flags&net.FlagLoopback == 0 && len(ifc.HardwareAddr) == 6 && len(d.links) < 255 {
			li = len(d.links)
			d.links = append(d.links, discLink{ifindex: ifc.Index, mac: ifc.HardwareAddr})
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			local[ip] = true
			ones, _ := ipn.Mask.Size()
			if li >= 0 {
				prefixes = append(prefixes, onLink{netip.PrefixFrom(ip, ones).Masked(), li})
			}
		}
	}
	n := len(d.hosts)
	d.kind, d.link, d.srcs, d.skip = make([]uint8, n), make([]uint8, n), make([]netip.Addr, n), make([]*HostError, n)
	var need struct{ arp, icmp4, icmp6, tcp4, tcp6 bool }
	d.allLink = true
	for hi, a := range d.hosts {
		if local[a] || a.IsLoopback() {
			d.kind[hi] = kindLocal
			continue
		}
		src, err := sourceAddr(a)
		if err != nil {
			e := &HostError{Addr: a, Reason: hostErrReason(err), Err: err}
			if e.Reason == "" {
				e.Reason = ReasonUnreach
			}
			d.kind[hi], d.skip[hi] = kindSkip, e
			continue
		}
		d.srcs[hi] = src.Unmap()
		k := kindRemote
		for _, p := range prefixes {
			if p.pfx.Contains(a) && (a.Is4() == p.pfx.Addr().Is4()) {
				if a.Is4() && p.pfx.Bits() < 31 && a == lastAddr(p.pfx) {
					d.kind[hi], d.skip[hi] = kindSkip, &HostError{Addr: a, Reason: ReasonBroadcast}
					k = kindSkip
					break
				}
				k = kindARP
				if a.Is6() {
					k = kindNDP
				}
				d.link[hi] = uint8(p.link)
				break
			}
		}
		if k == kindSkip {
			continue
		}
		if k == kindRemote && d.cfg.linkOnly {
			// The SYN scan probes it anyway; nothing to resolve.
			d.kind[hi], d.skip[hi] = kindLocal, nil
			continue
		}
		d.kind[hi] = k
		switch {
		case k == kindARP:
			need.arp = true
		case k == kindNDP:
			need.icmp6 = true
		case a.Is4():
			need.icmp4, need.tcp4 = true, true
			d.allLink = false
		default:
			need.icmp6, need.tcp6 = true, true
			d.allLink = false
		}
	}
	l := &linuxDisc{hold: -1, neigh: -1}
	ok := false
	defer func() {
		if !ok {
			l.close()
		}
	}()
	if need.arp {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return discRawErr(err)
		}
		l.arp = &rawSock{fd: fd}
	}
	if need.tcp4 || need.tcp6 {
		fd, port, err := reservePort(need.tcp6)
		if err != nil {
			return err
		}
		l.hold, d.lport = fd, port
	}
	open := func(v6 bool, proto int, prog []unix.SockFilter) (*rawSock, error) {
		family := unix.AF_INET
		if v6 {
			family = unix.AF_INET6
		}
		fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return nil, discRawErr(err)
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
		}
		if v6 {
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
		}
		fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
		}
		return &rawSock{fd: fd, v6: v6, icmp: proto != unix.IPPROTO_TCP, family: family}, nil
	}
	if need.icmp4 {
		if l.icmp[0], err = open(false, unix.IPPROTO_ICMP, icmpTypeFilter(false, 0, 3, 14)); err != nil {
			return err
		}
	}
	if need.icmp6 {
		if l.icmp[1], err = open(true, unix.IPPROTO_ICMPV6, icmpTypeFilter(true, 129, 136, 1)); err != nil {
			return err
		}
		// Neighbour discovery messages must have a hop limit of 255
		// (RFC 4861 section 7.1).
		unix.SetsockoptInt(l.icmp[1].fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255)
		unix.SetsockoptInt(l.icmp[1].fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255)
	}
	if need.tcp4 {
		if l.tcp[0], err = open(false, unix.IPPROTO_TCP, replyFilter(false, false, []uint16{d.lport})); err != nil {
			return err
		}
	}
	if need.tcp6 {
		if l.tcp[1], err = open(true, unix.IPPROTO_TCP, replyFilter(true, false, []uint16{d.lport})); err != nil {
			return err
		}
	}
	if d.cfg.linkOnly {
		if fd, err := openNeighbours(); err == nil {
			l.neigh = fd
		}
	}
	ok = true
	d.io = l
	return nil
}

// learnNeighbour writes host hi's MAC address, from its ARP or NDP
// answer, to the kernel's neighbour table, for the SYN scan.
func (d *discoverer) learnNeighbour(hi int32, mac net.HardwareAddr) {
	if l, ok := d.io.(*linuxDisc); ok && l.neigh >= 0 {
		addNeighbour(l.neigh, d.links[d.link[hi]].ifindex, d.hosts[hi], mac)
	}
}

// lastAddr is the highest address of p: the broadcast address of an
// IPv4 network.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func discRawErr(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (root or CAP_NET_RAW): %w", errNoRaw, os.NewSyscallError("socket", err))
	}
	return fmt.Errorf("scan: discovery: open raw socket: %w", os.NewSyscallError("socket", err))
}

// sourceAddr returns the address the kernel would send from to dst.
func sourceAddr(dst netip.Addr) (netip.Addr, error) { return (*linuxSYN)(nil).source(dst) }

// icmpTypeFilter is a classic BPF program that keeps ICMP (IPv4 raw
// sockets see the IP header) or ICMPv6 messages of the given types.
func icmpTypeFilter(v6 bool, types ...uint16) []unix.SockFilter {
	const (
		ldxMSH = unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH
		ldbInd = unix.BPF_LD | unix.BPF_B | unix.BPF_IND
		ldbAbs = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret    = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{{Code: ldxMSH, K: 0}, {Code: ldbInd, K: 0}}
	if v6 {
		prog = []unix.SockFilter{{Code: ldbAbs, K: 0}}
	}
	for i, v := range types {
		prog = append(prog, unix.SockFilter{Code: jeq, Jt: uint8(len(types) - 1 - i), K: uint32(v)})
	}
	prog[len(prog)-1].Jf = 1
	return append(prog, unix.SockFilter{Code: ret, K: 0xffff}, unix.SockFilter{Code: ret, K: 0})
}

// sendProbes sends host hi's probes of one round.
func (l *linuxDisc) sendProbes(d *discoverer, hi int) (int, error) {
	dst, src := d.hosts[hi], d.srcs[hi]
	var buf [64]byte
	switch d.kind[hi] {
	case kindARP:
		lk := d.links[d.link[hi]]
		a := wire.ARP{Op: wire.ARPRequest, SenderMAC: [6]byte(lk.mac), SenderIP: src, TargetIP: dst}
		b := a.AppendTo(buf[:0])
		if l.arpTo == nil {
			l.arpTo = make([]*unix.SockaddrLinklayer, len(d.links))
		}
		sa := l.arpTo[d.link[hi]]
		if sa == nil {
			sa = &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: lk.ifindex, Halen: 6,
				Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
			l.arpTo[d.link[hi]] = sa
		}
		return 1, l.sendto(l.arp, b, sa)
	case kindNDP:
		lk := d.links[d.link[hi]]
		// A neighbour solicitation; the kernel sums it.
		n := wire.Neighbor{Type: wire.ICMPv6NeighborSolicit, Target: dst, HasLinkAddr: true, LinkAddr: [6]byte(lk.mac)}
		b := n.AppendTo(buf[:0])
		t := dst.As16()
		// To the solicited-node multicast address of the target, on its link.
		m := [16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]}
		return 1, l.sendto(l.icmp[1], b, &unix.SockaddrInet6{Addr: m, ZoneId: uint32(lk.ifindex)})
	}
	// Off-link: echo (and timestamp), SYN to 443, ACK to 80.
	v := b2i(dst.Is6())
	id := d.echoID(src, dst)
	seq := uint16(d.tries[hi].Load())
	sent := 0
	var firstErr error
	note := func(err error) {
		if err == nil {
			sent++
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if v == 0 {
		sa := &unix.SockaddrInet4{Addr: dst.As4()}
		note(l.sendto(l.icmp[0], icmpEcho(buf[:0], wire.ICMPv4EchoRequest, id, seq), sa))
		note(l.sendto(l.icmp[0], icmpEcho(buf[:0], wire.ICMPv4Timestamp, id, seq), sa))
	} else {
		sa := &unix.SockaddrInet6{Addr: dst.As16()}
		echo := wire.AppendICMPv6Message(buf[:0], src, dst, wire.ICMPv6EchoRequest, 0, uint32(id)<<16|uint32(seq), nil)
		note(l.sendto(l.icmp[1], echo, sa))
	}
	var sa unix.Sockaddr
	if v == 0 {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	} else {
		sa = &unix.SockaddrInet6{Addr: dst.As16()}
	}
	syn := appendSYN(buf[:0], src, dst, d.lport, discoverSYNPort, d.key.cookie(src, dst, d.lport, discoverSYNPort))
	note(l.sendto(l.tcp[v], syn, sa))
	ack := appendACK(buf[:0], src, dst, d.lport, discoverACKPort, d.key.cookie(src, dst, d.lport, discoverACKPort))
	note(l.sendto(l.tcp[v], ack, sa))
	if sent > 0 {
		return sent, nil
	}
	return 0, firstErr
}

// icmpEcho appends an ICMP echo or timestamp request with its checksum;
// a timestamp request has 12 bytes of zero times.
func icmpEcho(b []byte, typ wire.ICMPv4Type, id, seq uint16) []byte {
	var times [12]byte
	data := times[:0]
	if typ == wire.ICMPv4Timestamp {
		data = times[:]
	}
	return wire.AppendICMPv4Message(b, typ, 0, uint32(id)<<16|uint32(seq), data)
}

// appendACK appends a bare TCP ACK from src:sport to dst:dport whose
// sequence and acknowledgment numbers are both ck: a host answers it
// with a RST of sequence number ck (RFC 9293), an ICMP error quotes ck.
func appendACK(b []byte, src, dst netip.Addr, sport, dport uint16, ck uint32) []byte {
	t := wire.TCP{SrcPort: ports.Port(sport), DstPort: ports.Port(dport), Seq: ck, Ack: ck, Flags: wire.TCPAck, Window: 1024}
	b, _ = wire.AppendTCPSegment(b, src, dst, &t, nil) // no options: nothing to fail
	return b
}

// sendto sends b on s to sa, waiting out a full send buffer.
func (l *linuxDisc) sendto(s *rawSock, b []byte, sa unix.Sockaddr) error {
	if s == nil {
		return errors.New("no socket for the address family")
	}
	for {
		var err error
		if !s.syscall(func(fd uintptr) { err = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, sa) }) {
			return os.ErrClosed
		}
		switch {
		case err == unix.EAGAIN || err == unix.ENOBUFS:
			time.Sleep(100 * time.Microsecond)
			continue
		case err == unix.EINTR:
			continue
		case err != nil:
			return os.NewSyscallError("sendto", err)
		}
		return nil
	}
}

func (l *linuxDisc) receive(d *discoverer) {
	var wg sync.WaitGroup
	if l.arp != nil {
		wg.Go(func() { l.arp.receive(func(b []byte, _, _ bool, _ netip.Addr, _ uint8) { d.arpAnswer(b) }) })
	}
	for _, s := range []*rawSock{l.icmp[0], l.icmp[1], l.tcp[0], l.tcp[1]} {
		if s != nil {
			wg.Go(func() { s.receive(d.ipAnswer) })
		}
	}
	wg.Wait()
}

func (l *linuxDisc) close() {
	l.once.Do(func() {
		for _, s := range []*rawSock{l.arp, l.icmp[0], l.icmp[1], l.tcp[0], l.tcp[1]} {
			if s != nil {
				s.close()
			}
		}
		if l.hold >= 0 {
			unix.Close(l.hold)
		}
		if l.neigh >= 0 {
			unix.Close(l.neigh)
		}
	})
}

// arpAnswer reads an ARP message: a reply (or a request, which says as
// much) from a target we asked about, to our address, says it is up.
func (d *discoverer) arpAnswer(b []byte) {
	var a wire.ARP
	if a.Decode(b) != nil || a.Op != wire.ARPReply {
		return
	}
	spa, tpa := a.SenderIP, a.TargetIP
	hi, ok := d.lookup(spa)
	if !ok || d.kind[hi] != kindARP || d.srcs[hi] != tpa {
		d.stray.Add(1)
		return
	}
	mac := net.HardwareAddr(append([]byte(nil), a.SenderMAC[:]...))
	d.learnNeighbour(hi, mac)
	d.answered(hi, ReasonARPResponse, mac, 0)
}

// ipAnswer reads a packet from a raw ICMP, ICMPv6 or TCP socket.
// Package wire decodes it.
func (d *discoverer) ipAnswer(b []byte, v6, icmp bool, from netip.Addr, hop uint8) {
	var h wire.Headers
	if icmp {
		ttl := hop
		if v6 {
			_ = h.DecodeTransport(wire.ProtoICMPv6, netip.IPv6Unspecified(), netip.IPv6Unspecified(), b)
		} else {
			_ = h.Decode(b) // errors leave what could be decoded
			from, ttl = h.Src, h.TTL
		}
		d.icmpAnswer(&h, b, v6, from, ttl)
		return
	}
	var r reply
	if !parseReply(&r, &h, b, v6, false) {
		return
	}
	ttl := r.TTL
	if v6 {
		r.Target, ttl = from, hop
	}
	hi, ok := d.lookup(r.Target)
	if !ok || r.LPort != d.lport || d.kind[hi] != kindRemote {
		d.stray.Add(1)
		return
	}
	src := d.srcs[hi]
	ck := d.key.cookie(src, r.Target, d.lport, r.TPort)
	switch {
	case r.TPort == discoverSYNPort && r.Kind == replySYNACK && r.Ack == ck+1:
		d.answered(hi, ReasonSynAck, nil, ttl)
	case r.TPort == discoverSYNPort && r.Kind == replyRST && r.Flags&tcpACK != 0 && r.Ack == ck+1:
		d.answered(hi, ReasonReset, nil, ttl)
	case r.TPort == discoverACKPort && r.Kind == replyRST && r.Seq == ck:
		d.answered(hi, ReasonReset, nil, ttl)
	default:
		d.stray.Add(1)
	}
}

// icmpAnswer reads an ICMP or ICMPv6 message from from, decoded in h;
// msg is the ICMPv6 message itself, whose neighbour advertisement body
// wire.Neighbor reads.
func (d *discoverer) icmpAnswer(h *wire.Headers, msg []byte, v6 bool, from netip.Addr, ttl uint8) {
	if !v6 && !h.Layers.Has(wire.LayerICMPv4) || v6 && !h.Layers.Has(wire.LayerICMPv6) {
		return
	}
	typ := h.ICMPType
	switch {
	case !v6 && (typ == uint8(wire.ICMPv4EchoReply) || typ == uint8(wire.ICMPv4TimestampReply)), v6 && typ == uint8(wire.ICMPv6EchoReply):
		hi, ok := d.lookup(from)
		if !ok || d.kind[hi] != kindRemote || uint16(h.ICMPRest>>16) != d.echoID(d.srcs[hi], from) {
			d.stray.Add(1)
			return
		}
		reason := ReasonEchoReply
		if !v6 && typ == uint8(wire.ICMPv4TimestampReply) {
			reason = ReasonTimestampReply
		}
		d.answered(hi, reason, nil, ttl)
	case v6 && typ == uint8(wire.ICMPv6NeighborAdvert):
		var n wire.Neighbor
		_ = n.Decode(msg) // a bad option leaves the target and the addresses before it
		if !n.Target.IsValid() {
			return
		}
		hi, ok := d.lookup(n.Target)
		if !ok || d.kind[hi] != kindNDP {
			d.stray.Add(1)
			return
		}
		var mac net.HardwareAddr
		if n.HasLinkAddr {
			mac = net.HardwareAddr(append([]byte(nil), n.LinkAddr[:]...))
		}
		d.learnNeighbour(hi, mac)
		d.answered(hi, ReasonNDResponse, mac, ttl)
	case !v6 && typ == uint8(wire.ICMPv4Unreachable), v6 && typ == uint8(wire.ICMPv6Unreachable):
		d.unreachAnswer(h, v6, from)
	}
}

// unreachAnswer reads an ICMP destination unreachable about one of our
// probes: from the target itself it says the host is up; a host or
// network unreachable from a router says it is down.
func (d *discoverer) unreachAnswer(h *wire.Headers, v6 bool, from netip.Addr) {
	var r reply
	target, ok := netip.Addr{}, false
	if icmpReply(&r, h, v6) {
		hi, found := d.lookup(r.Target)
		if found && d.kind[hi] == kindRemote && r.LPort == d.lport && r.Seq == d.key.cookie(d.srcs[hi], r.Target, d.lport, r.TPort) {
			target, ok = r.Target, true
		}
	} else if q, qok := quotedEcho(&h.Quoted, v6); qok {
		hi, found := d.lookup(q)
		if found && d.kind[hi] == kindRemote {
			_, _, rest, _ := h.Quoted.ICMP()
			if uint16(rest>>16) == d.echoID(d.srcs[hi], q) {
				target, ok = q, true
			}
		}
	}
	if !ok {
		d.stray.Add(1)
		return
	}
	hi, _ := d.lookup(target)
	code := h.ICMPCode
	if from == target {
		d.answered(hi, unreachCodeReason(v6, code), nil, 0)
		return
	}
	d.replies.Add(1)
	if hostLevelICMP(v6, code) {
		typ := uint8(3)
		if v6 {
			typ = 1
		}
		d.decide(int(hi), HostResult{Reason: unreachCodeReason(v6, code), ICMP: ICMPInfo{From: from, V6: v6, Type: typ, Code: code}})
	}
}

// quotedEcho returns the destination of the echo or timestamp request
// that the ICMP error whose quote is q quotes.
func quotedEcho(q *wire.QuotedHeaders, v6 bool) (netip.Addr, bool) {
	typ, _, _, ok := q.ICMP()
	switch {
	case !ok:
		return netip.Addr{}, false
	case !v6 && (typ == uint8(wire.ICMPv4EchoRequest) || typ == uint8(wire.ICMPv4Timestamp)), v6 && typ == uint8(wire.ICMPv6EchoRequest):
		return q.Dst, true
	}
	return netip.Addr{}, false
}
