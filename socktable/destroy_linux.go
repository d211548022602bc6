package socktable

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func destroyOS(ctx context.Context, s Socket, opts *Options) error {
	src, err := openSource(opts.NetNS)
	if err != nil {
		return err
	}
	defer src.close()
	if src.fd < 0 {
		return fmt.Errorf("socktable: destroying a socket needs netlink sock_diag, which this system refused")
	}
	// The kernel answers at once; the deadline only bounds a hang.
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if d, ok := ctx.Deadline(); ok {
		tv = unix.NsecToTimeval(max(int64(time.Until(d)), int64(time.Millisecond)))
	}
	unix.SetsockoptTimeval(src.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	req := appendDestroyRequest(make([]byte, 0, nlmsgHdrLen+diagReqLen), 1, &s)
	if err := unix.Sendto(src.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("socktable: sock_diag destroy request: %w", err)
	}
	buf := make([]byte, 4096)
	n, err := recvRetry(src.fd, buf)
	if err != nil {
		return fmt.Errorf("socktable: sock_diag destroy: %w", err)
	}
	errno, err := ackErrno(buf[:n])
	if err != nil {
		return err
	}
	return destroyErrno(unix.Errno(errno), &s)
}

// destroyErrno turns the kernel's answer to SOCK_DESTROY into an error.
func destroyErrno(e unix.Errno, s *Socket) error {
	switch e {
	case 0:
		return nil
	case unix.EOPNOTSUPP:
		return destroyUnsupported("this kernel cannot destroy sockets: it was built without CONFIG_INET_DIAG_DESTROY (ss -K cannot either)")
	case unix.ENOENT:
		return fmt.Errorf("%w: %v %v -> %v", ErrNoSocket, s.Proto, s.Local, s.Remote)
	case unix.EPERM, unix.EACCES:
		return fmt.Errorf("destroying a socket needs CAP_NET_ADMIN (root): %w", os.ErrPermission)
	default:
		return fmt.Errorf("socktable: sock_diag destroy %v %v -> %v: %w", s.Proto, s.Local, s.Remote, e)
	}
}
