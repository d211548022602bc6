package socktable

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/portkit/ports"
)

// x/sys/windows does not wrap GetExtendedTcpTable or GetExtendedUdpTable.
// Nothing is loaded until the first call (LazyDLL and LazyProc do no I/O
// until then).
var (
	iphlpapi                = windows.NewLazySystemDLL("iphlpapi.dll")
	procGetExtendedTcpTable = iphlpapi.NewProc("GetExtendedTcpTable")
	procGetExtendedUdpTable = iphlpapi.NewProc("GetExtendedUdpTable")
)

const (
	tcpTableOwnerPIDAll = 5 // TCP_TABLE_OWNER_PID_ALL (TCP_TABLE_CLASS, iprtrmib.h)
	udpTableOwnerPID    = 1 // UDP_TABLE_OWNER_PID (UDP_TABLE_CLASS, iprtrmib.h)
	maxMIBTable         = 64 << 20
)

// listOS calls GetExtendedTcpTable (TCP_TABLE_OWNER_PID_ALL) and
// GetExtendedUdpTable (UDP_TABLE_OWNER_PID) for AF_INET and AF_INET6
// (walkMIBTable in mibtable.go decodes the tables). Windows has no uids,
// so Socket.UID and Process.UID are 0; the tables give no queue sizes, so
// RecvQ and SendQ are 0, and no UDP peers, so every UDP socket is
// StateClose.
//
// A socket's process is the table's dwOwningPid. PID 0 (the idle
// process, which owns TIME-WAIT connections) gives no process, and PID 4
// is named "System". Other names are the base name of
// QueryFullProcessImageName ("svchost.exe") and users are "DOMAIN\name"
// from the process token, best effort: when the process cannot be opened
// (another user's, without the right privilege, or one that has exited)
// the Process has only its PID, with an empty Name. ProcsHidden is never
// set, as the pid is always known. Cmdline is always nil.
func listOS(ctx context.Context, opts *Options) iter.Seq2[Socket, error] {
	type source struct {
		proto ports.Proto
		af    uint32
		kind  mibKind
	}
	sources := [...]source{
		{ports.ProtoTCP, windows.AF_INET, mibTCP4},
		{ports.ProtoTCP, windows.AF_INET6, mibTCP6},
		{ports.ProtoUDP, windows.AF_INET, mibUDP4},
		{ports.ProtoUDP, windows.AF_INET6, mibUDP6},
	}
	var tables []ownedTable
	for _, src := range sources {
		if len(opts.Protos) > 0 && !containsProto(opts.Protos, src.proto) {
			continue
		}
		if opts.Family == 4 && src.af != windows.AF_INET || opts.Family == 6 && src.af != windows.AF_INET6 {
			continue
		}
		tables = append(tables, ownedTable{
			fetch: func() ([]byte, error) { return readMIBTable(src.proto, src.af) },
			walk: func(b []byte, yield func(Socket, int) bool) error {
				return walkMIBTable(b, src.kind, yield)
			},
		})
	}
	users := make(map[string]string)
	return listOwnedTables(ctx, opts, tables, func(pid int) Process { return windowsProcess(pid, users) })
}

// readMIBTable returns proto's table for address family af, growing the
// buffer while the call answers ERROR_INSUFFICIENT_BUFFER. A missing IPv6
// stack gives an empty table.
func readMIBTable(proto ports.Proto, af uint32) ([]byte, error) {
	proc, class, api := procGetExtendedTcpTable, uintptr(tcpTableOwnerPIDAll), "GetExtendedTcpTable"
	if proto == ports.ProtoUDP {
		proc, class, api = procGetExtendedUdpTable, udpTableOwnerPID, "GetExtendedUdpTable"
	}
	family := "AF_INET"
	if af == windows.AF_INET6 {
		family = "AF_INET6"
	}
	if err := proc.Find(); err != nil {
		return nil, fmt.Errorf("socktable: %s: %w", api, err)
	}
	// A []uint32, so that the rows' DWORDs are aligned.
	var buf []uint32
	for try := 0; try < 8; try++ {
		var p *uint32
		if len(buf) > 0 {
			p = &buf[0]
		}
		size := uint32(len(buf) * 4)
		r, _, _ := proc.Call(
			uintptr(unsafe.Pointer(p)),
			uintptr(unsafe.Pointer(&size)),
			1, // bOrder: sorted
			uintptr(af),
			class,
			0, // Reserved
		)
		switch err := windows.Errno(r); {
		case r == 0:
			b := unsafe.Slice((*byte)(unsafe.Pointer(p)), len(buf)*4)
			return b[:min(int(size), len(b))], nil
		case errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER):
			if size > maxMIBTable {
				return nil, fmt.Errorf("socktable: %s(%s): table of %d bytes is too large", api, family, size)
			}
			// Room for sockets opened before the next call.
			buf = make([]uint32, (uint64(size)+uint64(size)/8+256+3)/4)
		case af == windows.AF_INET6 && errors.Is(err, windows.ERROR_NOT_SUPPORTED):
			return []byte{0, 0, 0, 0}, nil // no IPv6: no rows
		default:
			return nil, fmt.Errorf("socktable: %s(%s): %w", api, family, err)
		}
	}
	return nil, fmt.Errorf("socktable: %s(%s): the table kept outgrowing the buffer", api, family)
}

// windowsProcess describes process pid, best effort. users caches user
// names by SID.
func windowsProcess(pid int, users map[string]string) Process {
	p := Process{PID: pid}
	if pid == 4 {
		p.Name = "System"
		return p
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return p
	}
	defer windows.CloseHandle(h)
	for n := 512; n <= 1<<15; n *= 4 {
		buf := make([]uint16, n)
		size := uint32(len(buf))
		err := windows.QueryFullProcessImageName(h, 0, &buf[0], &size)
		if err == nil {
			p.Name = filepath.Base(windows.UTF16ToString(buf[:size]))
			break
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
			break
		}
	}
	var tok windows.Token
	if windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok) != nil {
		return p
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return p
	}
	sid := tu.User.Sid.String()
	name, ok := users[sid]
	if !ok {
		name = sid
		if account, domain, _, err := tu.User.Sid.LookupAccount(""); err == nil {
			name = account
			if domain != "" {
				name = domain + `\` + account
			}
		}
		users[sid] = name
	}
	p.User = name
	return p
}
