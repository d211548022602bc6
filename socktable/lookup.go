package socktable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/portkit/ports"
)

// Finder looks up single sockets by their addresses, one sock_diag
// request each (an exact match, not a dump), on a netlink socket kept
// open between lookups. It is what a packet-by-packet user wants: the
// kernel finds the socket through the same hash tables a packet would,
// in microseconds, whatever the number of sockets. Its methods are safe
// for concurrent use.
type Finder struct{ impl *finderImpl }

// OpenFinder opens a Finder for the sockets of the network namespace
// netns (as Options.NetNS: "" for the caller's).
func OpenFinder(netns string) (*Finder, error) {
	impl, err := openFinder(netns)
	if err != nil {
		return nil, err
	}
	return &Finder{impl: impl}, nil
}

// Find returns the socket that the kernel would deliver a packet from
// remote to local to: the connected socket with exactly these
// addresses, or else (TCP) the listener or (UDP) the bound socket of
// local. The error wraps ErrNoSocket when there is none.
func (f *Finder) Find(proto ports.Proto, local, remote netip.AddrPort) (Socket, error) {
	if proto != ports.ProtoTCP && proto != ports.ProtoUDP {
		return Socket{}, fmt.Errorf("socktable: cannot look up a %v socket", proto)
	}
	if !local.Addr().IsValid() || !remote.Addr().IsValid() {
		return Socket{}, errors.New("socktable: lookup needs both addresses")
	}
	return f.impl.find(proto, local, remote)
}

// Close releases the netlink socket.
func (f *Finder) Close() error { return f.impl.close() }

// appendFindRequest appends a SOCK_DIAG_BY_FAMILY request for one
// socket: an inet_diag_req_v2 with the socket id filled in and no dump
// flag, which the kernel answers with that socket alone or ENOENT.
//
// TCP takes idiag_src as the local end. UDP's dump_one
// (net/ipv4/udp_diag.c) passes idiag_src as the packet's source, the
// remote end, to its lookup; so for UDP the ends are swapped here.
func appendFindRequest(b []byte, seq uint32, proto ports.Proto, local, remote netip.AddrPort) []byte {
	ne := binary.NativeEndian
	family := uint8(afINET)
	if local.Addr().Is6() && !local.Addr().Is4In6() {
		family = afINET6
	}
	src, dst := local, remote
	if proto == ports.ProtoUDP {
		src, dst = remote, local
	}
	b = ne.AppendUint32(b, nlmsgHdrLen+diagReqLen)
	b = ne.AppendUint16(b, sockDiagByFamily)
	b = ne.AppendUint16(b, nlmFRequest)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	b = append(b, family, uint8(proto), 0, 0)
	b = ne.AppendUint32(b, uint32(AllStates))
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = appendDiagAddr(b, src.Addr(), family)
	b = appendDiagAddr(b, dst.Addr(), family)
	b = ne.AppendUint32(b, 0)                                        // interface: any
	return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // INET_DIAG_NOCOOKIE
}

// findAnswer decodes the kernel's answer to the find request numbered
// seq: the socket (found), or the kernel's error. stale is set for an
// answer to another request.
func findAnswer(buf []byte, seq uint32, proto ports.Proto) (s Socket, found, stale bool, err error) {
	ne := binary.NativeEndian
	for len(buf) >= nlmsgHdrLen {
		n := int(ne.Uint32(buf))
		if n < nlmsgHdrLen || n > len(buf) {
			return Socket{}, false, false, errTruncated
		}
		if ne.Uint32(buf[8:]) != seq {
			stale = true
		} else {
			switch ne.Uint16(buf[4:]) {
			case nlmsgError:
				if n < nlmsgHdrLen+4 {
					return Socket{}, false, false, errTruncated
				}
				if errno := int32(ne.Uint32(buf[nlmsgHdrLen:])); errno != 0 {
					return Socket{}, false, false, errnoError(-errno)
				}
			case sockDiagByFamily:
				if !diagMsg(buf[nlmsgHdrLen:n], proto, &s) {
					return Socket{}, false, false, errTruncated
				}
				return s, true, false, nil
			}
		}
		buf = buf[min((n+3)&^3, len(buf)):]
	}
	return Socket{}, false, stale, nil
}

// FDTable is one process's open files (/proc/PID/fd), held open between
// reads so that reading it again costs no path lookup, and so that it
// stays that process's: once the process is gone its reads fail, even
// if its pid is reused. Its methods are not safe for concurrent use.
type FDTable struct {
	pid   int
	fd    int
	dents []byte
	link  []byte
}

// PID is the process whose table t is.
func (t *FDTable) PID() int { return t.pid }
