package socktable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
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

// OpenFDTable opens process pid's table of open files. It fails when
// the process does not exist or cannot be read (another user's).
func OpenFDTable(pid int) (*FDTable, error) {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socktable: process %d: %w", pid, err)
	}
	return &FDTable{pid: pid, fd: fd, dents: make([]byte, 8<<10), link: make([]byte, 64)}, nil
}

// SocketAt returns the inode of the socket open at file descriptor n
// of t's process: 0 with open true for another kind of file, open
// false when n is not open or the process is gone.
func (t *FDTable) SocketAt(n int) (inode uint64, open bool) {
	if t.fd < 0 || n < 0 {
		return 0, false
	}
	var name [20]byte
	m, err := readlinkat(t.fd, strconv.AppendInt(name[:0], int64(n), 10), t.link)
	if err != nil {
		return 0, false
	}
	inode, _ = socketInode(t.link[:m])
	return inode, true
}

// Files calls fn with each file descriptor t's process has open, and
// the inode of the socket it is (0 for a file that is not a socket),
// as the table is now, until fn returns false. It fails when the
// process is gone.
func (t *FDTable) Files(fn func(fd int, socket uint64) bool) error {
	if t.fd < 0 {
		return errors.New("socktable: closed FDTable")
	}
	if _, err := unix.Seek(t.fd, 0, 0); err != nil {
		return fmt.Errorf("socktable: process %d: %w", t.pid, err)
	}
	for {
		n, err := unix.Getdents(t.fd, t.dents)
		if err != nil {
			return fmt.Errorf("socktable: process %d: %w", t.pid, err)
		}
		if n <= 0 {
			return nil
		}
		for name, b := nextDirent(t.dents[:n]); name != nil; name, b = nextDirent(b) {
			num, ok := fdNumber(name)
			if !ok {
				continue
			}
			var ino uint64
			if m, err := readlinkat(t.fd, name, t.link); err == nil {
				ino, _ = socketInode(t.link[:m])
			} else if errors.Is(err, unix.ENOENT) {
				continue // closed since the listing
			}
			if !fn(num, ino) {
				return nil
			}
		}
	}
}

// Close releases the table's directory.
func (t *FDTable) Close() error {
	if t.fd < 0 {
		return nil
	}
	err := unix.Close(t.fd)
	t.fd = -1
	return err
}

// AppendPIDs appends the pids of the processes now running (the
// numeric entries of /proc) to dst.
func AppendPIDs(dst []int) ([]int, error) {
	pids, err := listPIDs()
	if err != nil {
		return dst, fmt.Errorf("socktable: %w", err)
	}
	return append(dst, pids...), nil
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

// socketInode reads the inode out of a link "socket:[INODE]".
func socketInode(link []byte) (uint64, bool) {
	if len(link) < len(socketPrefix)+2 || !bytes.HasPrefix(link, socketPrefix) || link[len(link)-1] != ']' {
		return 0, false
	}
	return parseInode(link[len(socketPrefix) : len(link)-1])
}

// fdNumber reads a /proc/PID/fd entry's name as a file descriptor.
func fdNumber(name []byte) (int, bool) {
	if len(name) == 0 || len(name) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range name {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
