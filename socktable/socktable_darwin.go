package socktable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"

	"golang.org/x/sys/unix"

	"github.com/portkit/ports"
)

// listOS reads the net.inet.tcp.pcblist_n and net.inet.udp.pcblist_n
// sysctls, which list every socket of the machine to any user (walkPCBList
// in pcblist.go decodes them). A socket's process is its last user,
// so_last_pid: for a socket passed to another process, or shared after a
// fork, that is whichever used it last. Its name, uid and arguments come
// from the kern.proc.pid and kern.procargs2 sysctls, best effort: a
// process that has exited has only its PID, and another user's arguments
// are unreadable without root (Cmdline is then nil). ProcsHidden is never
// set, as the pid is always known.
func listOS(ctx context.Context, opts *Options) iter.Seq2[Socket, error] {
	var tables []ownedTable
	for _, proto := range [...]ports.Proto{ports.ProtoTCP, ports.ProtoUDP} {
		if len(opts.Protos) > 0 && !containsProto(opts.Protos, proto) {
			continue
		}
		tables = append(tables, ownedTable{
			fetch: func() ([]byte, error) { return readPCBList(pcbSysctl(proto)) },
			walk: func(b []byte, yield func(Socket, int) bool) error {
				return walkPCBList(b, proto, yield)
			},
		})
	}
	users := userNames{}
	return listOwnedTables(ctx, opts, tables, func(pid int) Process { return darwinProcess(pid, users) })
}

// readPCBList reads the pcblist_n sysctl name. unix.SysctlRaw asks the
// kernel for the size, then reads; the kernel's estimate leaves room for
// an eighth more sockets, and it fails with ENOMEM if even that is
// outgrown in between, when readPCBList tries again.
func readPCBList(name string) ([]byte, error) {
	for try := 0; ; try++ {
		b, err := unix.SysctlRaw(name)
		if errors.Is(err, unix.ENOMEM) && try < 4 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("socktable: sysctl %s: %w", name, err)
		}
		return b, nil
	}
}

// darwinProcess describes process pid, best effort. users caches user
// names by uid.
func darwinProcess(pid int, users userNames) Process {
	p := Process{PID: pid}
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil || int(kp.Proc.P_pid) != pid {
		return p // gone, or never there
	}
	comm := kp.Proc.P_comm[:]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	p.Name = string(comm)
	p.UID = kp.Eproc.Ucred.Uid
	p.User = users.name(p.UID)
	// The kernel sizes this at kern.argmax (1 MiB), once per process.
	if b, err := unix.SysctlRaw("kern.procargs2", pid); err == nil {
		p.Cmdline = parseProcArgs2(b)
	}
	return p
}
