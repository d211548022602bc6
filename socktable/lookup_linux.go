package socktable

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
)

type finderImpl struct {
	mu  sync.Mutex
	src *source
	seq uint32
	buf []byte
	req []byte
}

func openFinder(netns string) (*finderImpl, error) {
	src, err := openSource(netns)
	if err != nil {
		return nil, err
	}
	if src.fd < 0 {
		src.close()
		return nil, errors.New("socktable: looking up a socket needs netlink sock_diag, which this system refused")
	}
	return &finderImpl{src: src, buf: make([]byte, 8192)}, nil
}

func (f *finderImpl) find(proto ports.Proto, local, remote netip.AddrPort) (Socket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.src == nil {
		return Socket{}, errors.New("socktable: lookup on a closed Finder")
	}
	f.seq++
	f.req = appendFindRequest(f.req[:0], f.seq, proto, local, remote)
	if err := unix.Sendto(f.src.fd, f.req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Socket{}, fmt.Errorf("socktable: sock_diag lookup: %w", err)
	}
	for {
		n, err := recvRetry(f.src.fd, f.buf)
		if err != nil {
			return Socket{}, fmt.Errorf("socktable: sock_diag lookup: %w", err)
		}
		s, found, stale, err := findAnswer(f.buf[:n], f.seq, proto)
		if stale {
			continue // the answer to an earlier, abandoned request
		}
		if err != nil {
			var en errnoError
			if errors.As(err, &en) && unix.Errno(en) == unix.ENOENT {
				return Socket{}, fmt.Errorf("%w: %v %v <- %v", ErrNoSocket, proto, local, remote)
			}
			return Socket{}, err
		}
		if !found {
			return Socket{}, fmt.Errorf("%w: %v %v <- %v", ErrNoSocket, proto, local, remote)
		}
		return s, nil
	}
}

func (f *finderImpl) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.src != nil {
		f.src.close()
		f.src = nil
	}
	return nil
}

// WalkSocketInodes calls fn with the pid and inode of every socket that
// a process holds open (/proc/PID/fd/N -> socket:[INODE]), for the
// processes pids, or all of /proc when pids is nil. Processes that
// cannot be read (gone, or another user's) are skipped. It stops early
// with ctx.Err() when ctx is done.
func WalkSocketInodes(ctx context.Context, pids []int, fn func(pid int, inode uint64)) error {
	if pids == nil {
		var err error
		if pids, err = listPIDs(); err != nil {
			return fmt.Errorf("socktable: %w", err)
		}
	}
	dents := make([]byte, 32<<10)
	link := make([]byte, 64)
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return err
		}
		_ = scanFDs(pid, dents, link, func(ino uint64) { fn(pid, ino) })
	}
	return nil
}

// ReadProcess describes process pid as List's Socket.Procs do. Fields
// it cannot read stay empty; a process that does not exist (any more)
// is an error.
func ReadProcess(pid int) (Process, error) {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return Process{}, fmt.Errorf("socktable: no process %d", pid)
	}
	return *readProcess(pid, userNames{}), nil
}
