package socktable

import (
	"context"
	"encoding/hex"
	"fmt"
	"iter"
)

// This file holds what the macOS and Windows sources share: each reads a
// few whole tables from the kernel (the pcblist_n sysctls, the IP Helper
// tables), each row naming the pid that owns its socket. It has no build
// tag, so that its tests run on every system.

// An ownedTable is one kernel table of sockets.
type ownedTable struct {
	// fetch reads the table. Its errors name the sysctl or the API.
	fetch func() ([]byte, error)
	// walk decodes the table, calling yield with each socket and the pid
	// that owns it (0 when none is known) until yield returns false.
	walk func(b []byte, yield func(s Socket, pid int) bool) error
}

// listOwnedTables yields the sockets of tables that opts selects. When
// opts.Processes is set it gathers them all, then gives each the process
// that lookup describes (one lookup per pid); otherwise each socket is
// yielded as soon as its table is decoded. ctx is checked before each
// table and between lookups.
func listOwnedTables(ctx context.Context, opts *Options, tables []ownedTable, lookup func(pid int) Process) iter.Seq2[Socket, error] {
	return func(yield func(Socket, error) bool) {
		type owned struct {
			s   Socket
			pid int
		}
		var gathered []owned
		for _, t := range tables {
			if err := ctx.Err(); err != nil {
				yield(Socket{}, err)
				return
			}
			b, err := t.fetch()
			if err != nil {
				yield(Socket{}, err)
				return
			}
			stopped := false
			err = t.walk(b, func(s Socket, pid int) bool {
				if !opts.match(&s) {
					return true
				}
				if opts.Processes {
					gathered = append(gathered, owned{s, pid})
					return true
				}
				stopped = !yield(s, nil)
				return !stopped
			})
			if stopped {
				return
			}
			if err != nil {
				yield(Socket{}, err)
				return
			}
		}
		if !opts.Processes {
			return
		}
		procs := make(map[int]Process)
		for i := range gathered {
			g := &gathered[i]
			if g.pid > 0 {
				p, ok := procs[g.pid]
				if !ok {
					if err := ctx.Err(); err != nil {
						yield(Socket{}, err)
						return
					}
					p = lookup(g.pid)
					procs[g.pid] = p
				}
				g.s.Procs = []Process{p}
			}
			if !yield(g.s, nil) {
				return
			}
		}
	}
}

// A tableFormatError reports a kernel table that does not have the layout
// this package expects: a truncated buffer, or a length that cannot be.
type tableFormatError struct {
	Table string // "net.inet.tcp.pcblist_n", "MIB_TCP6TABLE_OWNER_PID"...
	Off   int    // the byte offset of the bad record or field
	Msg   string
	Data  []byte // up to 16 bytes of the table from Off, quoted in the message
}

func (e *tableFormatError) Error() string {
	return fmt.Sprintf("socktable: malformed %s at offset %d: %s (bytes %s)", e.Table, e.Off, e.Msg, hex.EncodeToString(e.Data))
}

// newTableFormatError returns a tableFormatError quoting b at off.
func newTableFormatError(table string, b []byte, off int, format string, args ...any) error {
	var data []byte
	if off >= 0 && off < len(b) {
		data = append(data, b[off:min(off+16, len(b))]...)
	}
	return &tableFormatError{Table: table, Off: off, Msg: fmt.Sprintf(format, args...), Data: data}
}
