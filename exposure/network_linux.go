package exposure

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// ReadNetwork reads the interfaces, their addresses and the default
// routes of the calling thread's network namespace over netlink
// (RTM_GETLINK and RTM_GETADDR through package net, RTM_GETROUTE here).
func ReadNetwork() (*Network, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("exposure: interfaces: %w", err)
	}
	ext, err := defaultRouteIfs()
	if err != nil {
		return nil, fmt.Errorf("exposure: routes: %w", err)
	}
	n := &Network{}
	for _, ifc := range ifs {
		x := Interface{Name: ifc.Name, Index: ifc.Index, Loopback: ifc.Flags&net.FlagLoopback != 0, Up: ifc.Flags&net.FlagUp != 0, External: ext[ifc.Index]}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("exposure: addresses of %s: %w", ifc.Name, err)
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
			bits, _ := ipn.Mask.Size()
			x.Addrs = append(x.Addrs, netip.PrefixFrom(ip.Unmap(), bits))
		}
		n.Interfaces = append(n.Interfaces, x)
	}
	return n, nil
}

// defaultRouteIfs returns the indexes of the interfaces a default route
// (IPv4 or IPv6, any table but local, unicast) goes out through,
// multipath routes' next hops included.
func defaultRouteIfs() (map[int]bool, error) {
	b, err := syscall.NetlinkRIB(syscall.RTM_GETROUTE, syscall.AF_UNSPEC)
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, err
	}
	out := map[int]bool{}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWROUTE || len(m.Data) < syscall.SizeofRtMsg {
			continue
		}
		rt := (*syscall.RtMsg)(unsafe.Pointer(&m.Data[0]))
		if rt.Dst_len != 0 || rt.Type != syscall.RTN_UNICAST || rt.Table == syscall.RT_TABLE_LOCAL {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.RTA_OIF:
				if len(a.Value) >= 4 {
					out[int(binary.NativeEndian.Uint32(a.Value))] = true
				}
			case syscall.RTA_MULTIPATH:
				// struct rtnexthop { u16 len; u8 flags, hops; i32 ifindex } then attributes.
				for v := a.Value; len(v) >= 8; {
					l := int(binary.NativeEndian.Uint16(v))
					out[int(int32(binary.NativeEndian.Uint32(v[4:])))] = true
					l = (l + 3) &^ 3
					if l < 8 || l > len(v) {
						break
					}
					v = v[l:]
				}
			}
		}
	}
	return out, nil
}
