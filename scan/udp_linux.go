package scan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// linuxUDP is a UDP socket with IP_RECVERR or IPV6_RECVERR set, so that
// ICMP errors about the datagrams it sent are queued on its error queue.
type linuxUDP struct {
	c  *net.UDPConn
	rc syscall.RawConn
	v6 bool
}

func newUDPTransport(ctx context.Context, listen func(network, address string) (net.PacketConn, error), v6 bool, avoid func(port uint16) bool, events chan<- udpEvent) (udpTransport, error) {
	network, address := "udp4", "0.0.0.0:0"
	if v6 {
		network, address = "udp6", "[::]:0"
	}
	// A socket on a port being scanned would receive its own probe when
	// scanning this machine, and report the port open: take another,
	// while holding the first so that the kernel picks a new one.
	var held []net.PacketConn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var pc net.PacketConn
	for {
		c, err := listen(network, address)
		if err != nil {
			return nil, fmt.Errorf("scan: open a %s socket: %w", network, err)
		}
		ua, ok := c.LocalAddr().(*net.UDPAddr)
		if !ok || !avoid(uint16(ua.Port)) || len(held) >= 16 {
			pc = c
			break
		}
		held = append(held, c)
	}
	c, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("scan: ListenPacket returned a %T, not a *net.UDPConn", pc)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("scan: %s socket: %w", network, err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("scan: %s socket: set IP_RECVERR: %w", network, err)
	}
	// Room for the replies and queued ICMP errors of a window of probes
	// (the kernel caps it at net.core.rmem_max); a failure only costs
	// retries.
	c.SetReadBuffer(4 << 20)
	t := &linuxUDP{c: c, rc: rc, v6: v6}
	go t.read(ctx, events)
	return t, nil
}

func (t *linuxUDP) close() error { return t.c.Close() }

// send sends one datagram. Linux fails a send with a pending ICMP error
// (sk_err, which reading clears) instead of sending it; that error is
// also on the error queue, where the reader finds it, so the send is
// tried again. Every failure clears one error, and errors come only from
// what was sent, so this ends.
func (t *linuxUDP) send(dst netip.AddrPort, payload []byte) error {
	var err error
	for range 1000 {
		_, err = t.c.WriteToUDPAddrPort(payload, dst)
		if err == nil || !isICMPErrno(err) {
			return err
		}
	}
	return err
}

// isICMPErrno reports whether err is one that an ICMP error leaves
// pending on the socket.
func isICMPErrno(err error) bool {
	for _, e := range []syscall.Errno{unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH,
		unix.EPROTO, unix.ENOPROTOOPT, unix.EACCES, unix.EHOSTDOWN, unix.ENONET, unix.EMSGSIZE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// read delivers replies and queued ICMP errors until the socket closes.
func (t *linuxUDP) read(ctx context.Context, events chan<- udpEvent) {
	buf := make([]byte, 2048)
	oob := make([]byte, 512)
	var batch []udpEvent
	for {
		batch = batch[:0]
		var fatal error
		err := t.rc.Read(func(fd uintptr) bool {
			for len(batch) < 64 {
				n, oobn, _, from, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
				if err == nil {
					if ev, ok := t.parseErr(buf[:n], oob[:oobn], from); ok {
						batch = append(batch, ev)
					}
					continue
				}
				n, from, err = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
				switch {
				case err == nil:
					if ap, ok := sockaddrAddrPort(from); ok {
						batch = append(batch, udpEvent{peer: ap, reply: append([]byte(nil), buf[:n]...), at: time.Now()})
					}
					continue
				case err == unix.EAGAIN || err == unix.EINTR:
				case isICMPErrno(err):
					continue // sk_err, now cleared; its details are on the error queue
				default:
					fatal = err
				}
				break
			}
			return len(batch) > 0 || fatal != nil
		})
		if err == nil && fatal != nil {
			err = fatal
		}
		for _, ev := range batch {
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			select {
			case events <- udpEvent{readError: fmt.Errorf("scan: read UDP replies: %w", err)}:
			case <-ctx.Done():
			}
			return
		}
	}
}

// parseErr reads one message of the error queue: a sock_extended_err
// (linux/errqueue.h) from an ICMP or ICMPv6 error, about the datagram
// whose destination is from.
func (t *linuxUDP) parseErr(_ []byte, oob []byte, from unix.Sockaddr) (udpEvent, bool) {
	ap, ok := sockaddrAddrPort(from)
	if !ok {
		return udpEvent{}, false
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return udpEvent{}, false
	}
	for _, m := range msgs {
		v4 := m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_RECVERR
		v6 := m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		if (!v4 && !v6) || len(m.Data) < 16 {
			continue
		}
		// struct sock_extended_err: u32 ee_errno; u8 ee_origin, ee_type,
		// ee_code, ee_pad; u32 ee_info; u32 ee_data.
		origin, typ, code := m.Data[4], m.Data[5], m.Data[6]
		_ = binary.NativeEndian.Uint32(m.Data)
		// SO_EE_OFFENDER: the sender's sockaddr follows the struct.
		var sender netip.Addr
		if len(m.Data) >= 18 {
			switch binary.NativeEndian.Uint16(m.Data[16:]) {
			case unix.AF_INET:
				if len(m.Data) >= 24 {
					sender = netip.AddrFrom4([4]byte(m.Data[20:24]))
				}
			case unix.AF_INET6:
				if len(m.Data) >= 40 {
					sender = netip.AddrFrom16([16]byte(m.Data[24:40])).Unmap()
				}
			}
		}
		switch origin {
		case unix.SO_EE_ORIGIN_ICMP:
			return udpEvent{peer: ap, icmp: true, icmpType: typ, icmpCode: code, icmpFrom: sender, at: time.Now()}, true
		case unix.SO_EE_ORIGIN_ICMP6:
			return udpEvent{peer: ap, icmp: true, icmpType: typ, icmpCode: code, icmpFrom: sender, v6: true, at: time.Now()}, true
		}
	}
	return udpEvent{}, false
}

func sockaddrAddrPort(sa unix.Sockaddr) (netip.AddrPort, bool) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), true
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)), true
	}
	return netip.AddrPort{}, false
}
