package socktable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/portkit/ports"
)

// ErrDestroyUnsupported is returned by Destroy where sockets cannot be
// destroyed: on systems other than Linux, and on a Linux kernel built
// without CONFIG_INET_DIAG_DESTROY (where `ss -K` cannot either). It
// wraps errors.ErrUnsupported.
var ErrDestroyUnsupported = fmt.Errorf("socktable: destroying sockets is not supported: %w", errors.ErrUnsupported)

// ErrNoSocket is returned by Destroy when the kernel has no such socket
// (it closed in the meantime, say).
var ErrNoSocket = errors.New("socktable: no such socket")

// destroyUnsupported is ErrDestroyUnsupported with a text that says why.
type destroyUnsupported string

func (e destroyUnsupported) Error() string { return string(e) }

func (e destroyUnsupported) Is(target error) bool {
	return target == ErrDestroyUnsupported || target == errors.ErrUnsupported
}

// Destroy closes the socket s names (its Proto, Local and Remote, as
// List gave them) through sock_diag SOCK_DESTROY, as `ss -K` does: the
// kernel aborts the connection (a TCP peer gets a reset) and the owning
// process sees ECONNABORTED; the process itself is left alone. Only
// opts.NetNS is used (nil: the caller's namespace). It needs
// CAP_NET_ADMIN (an error wrapping os.ErrPermission otherwise).
func Destroy(ctx context.Context, s Socket, opts *Options) error {
	if opts == nil {
		opts = &Options{}
	}
	if s.Proto != ports.ProtoTCP && s.Proto != ports.ProtoUDP {
		return fmt.Errorf("socktable: cannot destroy a %v socket", s.Proto)
	}
	return destroyOS(ctx, s, opts)
}

// sockDestroy is the netlink message type of SOCK_DESTROY.
const (
	sockDestroy = 21
	nlmFAck     = 0x4
)

// appendDestroyRequest appends a SOCK_DESTROY request for s: an
// inet_diag_req_v2 naming the socket by its addresses, with no cookie
// (INET_DIAG_NOCOOKIE), so that the kernel looks it up as a packet
// would be.
func appendDestroyRequest(b []byte, seq uint32, s *Socket) []byte {
	ne := binary.NativeEndian
	family := uint8(afINET)
	if s.Is6() {
		family = afINET6
	}
	b = ne.AppendUint32(b, nlmsgHdrLen+diagReqLen)
	b = ne.AppendUint16(b, sockDestroy)
	b = ne.AppendUint16(b, nlmFRequest|nlmFAck)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	b = append(b, family, uint8(s.Proto), 0, 0)
	b = ne.AppendUint32(b, uint32(AllStates))
	b = binary.BigEndian.AppendUint16(b, s.Local.Port())
	b = binary.BigEndian.AppendUint16(b, s.Remote.Port())
	b = appendDiagAddr(b, s.Local.Addr(), family)
	b = appendDiagAddr(b, s.Remote.Addr(), family)
	b = ne.AppendUint32(b, 0)                                        // interface: any
	return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // INET_DIAG_NOCOOKIE
}

// appendDiagAddr appends a's 16-byte inet_diag form: an IPv4 address in
// the first four bytes, or the IPv6 (or IPv4-mapped) address.
func appendDiagAddr(b []byte, a netip.Addr, family uint8) []byte {
	var x [16]byte
	switch {
	case family == afINET && a.Is4():
		a4 := a.As4()
		copy(x[:], a4[:])
	case family == afINET && a.Is4In6():
		a4 := a.Unmap().As4()
		copy(x[:], a4[:])
	case a.IsValid():
		x = a.As16()
	}
	return append(b, x[:]...)
}

// ackErrno returns the errno of the netlink acknowledgement in buf (0
// for success), or an error if buf holds none.
func ackErrno(buf []byte) (int32, error) {
	ne := binary.NativeEndian
	for len(buf) >= nlmsgHdrLen {
		n := int(ne.Uint32(buf))
		if n < nlmsgHdrLen || n > len(buf) {
			return 0, errTruncated
		}
		if ne.Uint16(buf[4:]) == nlmsgError {
			if n < nlmsgHdrLen+4 {
				return 0, errTruncated
			}
			return -int32(ne.Uint32(buf[nlmsgHdrLen:])), nil
		}
		buf = buf[min((n+3)&^3, len(buf)):]
	}
	return 0, errTruncated
}
