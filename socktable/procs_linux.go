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

	"golang.org/x/sys/unix"
)

// attachProcesses fills Procs of each socket by finding its inode among
// the open files of every process (/proc/PID/fd/N -> "socket:[INODE]").
// Processes are read in parallel, each through a directory fd with
// getdents and readlinkat. Every process is read, even once each socket
// has an owner: a socket shared after fork or passed over a unix socket
// has several holders, and nothing in the socket says how many.
func attachProcesses(ctx context.Context, socks []Socket) error {
	ids := make(map[uint64]int32, len(socks)) // inode -> dense id
	for i := range socks {
		if ino := socks[i].Inode; ino != 0 {
			if _, ok := ids[ino]; !ok {
				ids[ino] = int32(len(ids))
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	pids, err := listPIDs()
	if err != nil {
		return err
	}
	var hidden atomic.Bool

	type hit struct {
		id  int32
		pid int
	}
	var (
		mu   sync.Mutex
		hits []hit
		next atomic.Int64
		wg   sync.WaitGroup
	)
	workers := min(2*runtime.GOMAXPROCS(0), len(pids))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dents := make([]byte, 128<<10)
			link := make([]byte, 64)
			var mine []hit
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(pids) {
					break
				}
				pid := pids[i]
				err := scanFDs(pid, dents, link, func(ino uint64) {
					id, ok := ids[ino]
					if !ok {
						return
					}
					mine = append(mine, hit{id, pid})
				})
				if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
					hidden.Store(true)
				}
			}
			mu.Lock()
			hits = append(hits, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}

	// Describe each owning process once.
	procs := map[int]*Process{}
	users := userNames{}
	byID := make([][]int, len(ids)) // id -> pids
	for _, h := range hits {
		if _, ok := procs[h.pid]; !ok {
			procs[h.pid] = readProcess(h.pid, users)
		}
		byID[h.id] = append(byID[h.id], h.pid)
	}
	euid := uint32(os.Geteuid())
	for i := range socks {
		s := &socks[i]
		if s.Inode == 0 {
			continue // TIME-WAIT and half-open sockets belong to no process
		}
		id := ids[s.Inode]
		for _, pid := range uniqueSorted(byID[id]) {
			s.Procs = append(s.Procs, *procs[pid])
		}
		s.ProcsHidden = len(s.Procs) == 0 && hidden.Load() && s.UID != euid
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
		// struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
		for b := dents[:n]; len(b) >= 19; {
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				break
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if len(name) == 0 || name[0] == '.' {
				continue
			}
			m, err := readlinkat(fd, name, link)
			if err != nil || m < len(socketPrefix)+2 || !bytes.HasPrefix(link[:m], socketPrefix) {
				continue
			}
			if ino, err := strconv.ParseUint(string(link[len(socketPrefix):m-1]), 10, 64); err == nil {
				fn(ino)
			}
		}
	}
}

// readlinkat reads the link name (a NUL-free byte slice) without
// converting it to a string first.
func readlinkat(dirfd int, name []byte, buf []byte) (int, error) {
	var path [32]byte
	if len(name) >= len(path) {
		return 0, unix.ENAMETOOLONG
	}
	copy(path[:], name)
	return unix.Readlinkat(dirfd, unix.ByteSliceToString(path[:len(name)+1]), buf)
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
