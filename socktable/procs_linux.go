package socktable

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdWalk reads the open files of every process (/proc/PID/fd/N ->
// "socket:[INODE]") for the inodes of their sockets, in parallel, each
// process through a directory fd with getdents and readlinkat. List
// starts it beside the sockets' dump, as ss -p reads /proc before its
// dump: a socket that exists before both is found in each; one opened
// while they run may be listed without its process. Every process is
// read, even once each socket has an owner: a socket shared after fork
// or passed over a unix socket has several holders, and nothing in the
// socket says how many.
type fdWalk struct {
	cancel context.CancelFunc
	done   chan struct{}
	hits   []fdHit
	hidden bool // a process could not be read
	err    error
}

// fdHit is a socket inode that process pid holds.
type fdHit struct {
	ino uint64
	pid int32
}

// startFDWalk starts a walk; call attach or stop after it.
func startFDWalk(ctx context.Context) *fdWalk {
	ctx, cancel := context.WithCancel(ctx)
	w := &fdWalk{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		pids, err := listPIDs()
		if err != nil {
			w.err = err
			return
		}
		var (
			hidden atomic.Bool
			mu     sync.Mutex
			next   atomic.Int64
			wg     sync.WaitGroup
		)
		workers := min(2*runtime.GOMAXPROCS(0), len(pids))
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dents := make([]byte, 128<<10)
				var link [64]byte
				var mine []fdHit
				for ctx.Err() == nil {
					i := int(next.Add(1) - 1)
					if i >= len(pids) {
						break
					}
					pid := int32(pids[i])
					err := scanFDs(pids[i], dents, link[:], func(ino uint64) {
						mine = append(mine, fdHit{ino, pid})
					})
					if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
						hidden.Store(true)
					}
				}
				mu.Lock()
				w.hits = append(w.hits, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		w.hidden = hidden.Load()
		w.err = ctx.Err()
	}()
	return w
}

// stop ends the walk and waits for it.
func (w *fdWalk) stop() {
	w.cancel()
	<-w.done
}

// attach waits for the walk and fills Procs of each socket of chunks
// with the processes holding its inode. The sockets' Procs share one
// backing array.
func (w *fdWalk) attach(ctx context.Context, chunks [][]Socket) error {
	<-w.done
	w.cancel()
	if w.err != nil {
		return w.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	ids := make(map[uint64]int32, n) // inode -> dense id
	for _, c := range chunks {
		for i := range c {
			if ino := c[i].Inode; ino != 0 {
				if _, ok := ids[ino]; !ok {
					ids[ino] = int32(len(ids))
				}
			}
		}
	}
	type hit struct {
		id  int32
		pid int32
	}
	hits := make([]hit, 0, min(len(w.hits), len(ids)+1024))
	for _, h := range w.hits {
		if id, ok := ids[h.ino]; ok {
			hits = append(hits, hit{id, h.pid})
		}
	}
	hidden := w.hidden

	// Describe each owning process once; group the hits by socket.
	procs := map[int]*Process{}
	users := userNames{}
	count := make([]int32, len(ids)+1) // id -> start of its pids in byID, after the sums
	for _, h := range hits {
		if _, ok := procs[int(h.pid)]; !ok {
			procs[int(h.pid)] = readProcess(int(h.pid), users)
		}
		count[h.id+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	byID := make([]int, len(hits))
	fill := append([]int32(nil), count[:len(ids)]...)
	for _, h := range hits {
		byID[fill[h.id]] = int(h.pid)
		fill[h.id]++
	}
	pool := make([]Process, 0, len(hits)) // every socket's Procs, one after the other
	euid := uint32(os.Geteuid())
	for _, c := range chunks {
		for i := range c {
			s := &c[i]
			if s.Inode == 0 {
				continue // TIME-WAIT and half-open sockets belong to no process
			}
			id := ids[s.Inode]
			start := len(pool)
			for _, pid := range uniqueSorted(byID[count[id]:count[id+1]]) {
				pool = append(pool, *procs[pid])
			}
			if len(pool) > start {
				s.Procs = pool[start:len(pool):len(pool)]
			}
			s.ProcsHidden = len(s.Procs) == 0 && hidden && s.UID != euid
		}
	}
	return nil
}

func uniqueSorted(pids []int) []int {
	if len(pids) < 2 {
		return pids
	}
	out := make([]int, 0, len(pids))
	for _, p := range pids {
		dup := false
		for _, q := range out {
			dup = dup || q == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// listPIDs returns the numeric entries of /proc.
func listPIDs() ([]int, error) {
	f, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

var socketPrefix = []byte("socket:[")

// scanFDs calls fn with the inode of each socket process pid has open.
// dents and link are the caller's buffers, reused across processes.
func scanFDs(pid int, dents, link []byte, fn func(inode uint64)) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Getdents(fd, dents)
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for name, b := nextDirent(dents[:n]); name != nil; name, b = nextDirent(b) {
			if len(name) == 0 || name[0] == '.' {
				continue
			}
			m, err := readlinkat(fd, name, link)
			if err != nil {
				continue
			}
			if ino, ok := socketInode(link[:m]); ok {
				fn(ino)
			}
		}
	}
}

// nextDirent returns the name of the first entry of b, a getdents64
// buffer (struct linux_dirent64: ino u64, off i64, reclen u16, type u8,
// name), and the entries after it; a nil name when none is left whole.
func nextDirent(b []byte) (name, rest []byte) {
	if len(b) < 19 {
		return nil, nil
	}
	reclen := int(b[16]) | int(b[17])<<8
	if reclen < 19 || reclen > len(b) {
		return nil, nil
	}
	name = b[19:reclen:reclen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return name, b[reclen:]
}

// parseInode parses the decimal inode of a "socket:[N]" link.
func parseInode(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' || n > (^uint64(0)-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// readlinkat reads the link name (a NUL-free byte slice) into buf, with
// the path on the stack: no allocation (unix.Readlinkat's string costs
// two per descriptor).
func readlinkat(dirfd int, name []byte, buf []byte) (int, error) {
	var path [32]byte
	if len(name) >= len(path) || len(buf) == 0 {
		return 0, unix.ENAMETOOLONG
	}
	copy(path[:], name)
	n, _, errno := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// readProcess describes process pid. Fields it cannot read stay empty.
func readProcess(pid int, users userNames) *Process {
	p := &Process{PID: pid}
	base := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(base + "/comm"); err == nil {
		p.Name = string(bytes.TrimSuffix(b, []byte("\n")))
	}
	if b, err := os.ReadFile(base + "/cmdline"); err == nil && len(b) > 0 {
		for _, arg := range bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
			p.Cmdline = append(p.Cmdline, string(arg))
		}
	}
	if fi, err := os.Stat(base); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			p.UID = st.Uid
			p.User = users.name(p.UID)
		}
	}
	if b, err := os.ReadFile(base + "/cgroup"); err == nil {
		p.Container, p.ContainerID = containerOf(b)
	}
	return p
}
