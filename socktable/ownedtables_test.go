package socktable

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
)

// fakeTables returns tables that yield the sockets of each element of
// rows, then fail with the matching error of errs (if any). fetches counts
// the tables read.
func fakeTables(fetches *int, errs []error, rows ...[]ownedSocket) []ownedTable {
	var ts []ownedTable
	for i, r := range rows {
		ts = append(ts, ownedTable{
			fetch: func() ([]byte, error) { *fetches++; return nil, nil },
			walk: func(_ []byte, yield func(Socket, int) bool) error {
				for _, o := range r {
					if !yield(o.S, o.PID) {
						return nil
					}
				}
				if i < len(errs) {
					return errs[i]
				}
				return nil
			},
		})
	}
	return ts
}

func TestPCBMIBListOwnedTables(t *testing.T) {
	tcp, udp := ports.ProtoTCP, ports.ProtoUDP
	listen := Socket{Proto: tcp, Local: ap("0.0.0.0:22"), Remote: ap("0.0.0.0:0"), State: StateListen}
	conn := Socket{Proto: tcp, Local: ap("[::1]:5000"), Remote: ap("[::1]:22"), State: StateEstablished}
	dns := Socket{Proto: udp, Local: ap("127.0.0.1:53"), Remote: ap("0.0.0.0:0"), State: StateClose}
	tables := [][]ownedSocket{{{listen, 10}, {conn, 11}}, {{dns, 10}}, {{dns, 0}}}
	proc := func(pid int) Process { return Process{PID: pid, Name: "p" + string(rune('0'+pid%10))} }
	with := func(s Socket, p ...Process) Socket { s.Procs = p; return s }
	tests := []struct {
		name    string
		opts    Options
		want    []Socket
		lookups int
	}{
		{"all", Options{}, []Socket{listen, conn, dns, dns}, 0},
		{"tcp", Options{Protos: []ports.Proto{tcp}}, []Socket{listen, conn}, 0},
		{"ipv6", Options{Family: 6}, []Socket{conn}, 0},
		{"listening", Options{States: StatesOf(StateListen, StateClose)}, []Socket{listen, dns, dns}, 0},
		{"port 22", Options{LocalPorts: []ports.Range{{First: 22, Last: 22}}}, []Socket{listen}, 0},
		{"processes", Options{Processes: true}, []Socket{with(listen, proc(10)), with(conn, proc(11)), with(dns, proc(10)), dns}, 2},
		{"processes of port 5000", Options{Processes: true, LocalPorts: []ports.Range{{First: 5000, Last: 5000}}}, []Socket{with(conn, proc(11))}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetches, lookups := 0, 0
			lookup := func(pid int) Process { lookups++; return proc(pid) }
			got, err := collectOwned(listOwnedTables(context.Background(), &tt.opts, fakeTables(&fetches, nil, tables...), lookup))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddrPort); diff != "" {
				t.Errorf("listOwnedTables (-want +got):\n%s", diff)
			}
			if lookups != tt.lookups {
				t.Errorf("listOwnedTables looked up %d processes, want %d", lookups, tt.lookups)
			}
		})
	}

	t.Run("break", func(t *testing.T) {
		for _, procs := range []bool{false, true} {
			fetches := 0
			n := 0
			for range listOwnedTables(context.Background(), &Options{Processes: procs}, fakeTables(&fetches, nil, tables...), proc) {
				n++
				break
			}
			if n != 1 || !procs && fetches != 1 {
				t.Errorf("Processes %v: break after the first socket: %d sockets, %d tables read; want 1, 1", procs, n, fetches)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		fetches := 0
		ts := fakeTables(&fetches, []error{nil, os.ErrPermission}, tables...)
		got, err := collectOwned(listOwnedTables(context.Background(), &Options{}, ts, proc))
		if !errors.Is(err, os.ErrPermission) || len(got) != 3 || fetches != 2 {
			t.Errorf("walk error: %d sockets, %d tables read, error %v; want 3, 2, %v", len(got), fetches, err, os.ErrPermission)
		}

		ts = fakeTables(&fetches, nil, tables...)
		ts[1].fetch = func() ([]byte, error) { return nil, errors.New("sysctl net.inet.udp.pcblist_n: bad") }
		got, err = collectOwned(listOwnedTables(context.Background(), &Options{Processes: true}, ts, proc))
		if err == nil || !strings.Contains(err.Error(), "pcblist_n") || len(got) != 0 {
			t.Errorf("fetch error with Processes: %d sockets, error %v; want none and the fetch error", len(got), err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		fetches := 0
		got, err := collectOwned(listOwnedTables(ctx, &Options{}, fakeTables(&fetches, nil, tables...), proc))
		if !errors.Is(err, context.Canceled) || len(got) != 0 || fetches != 0 {
			t.Errorf("canceled: %d sockets, %d tables read, error %v; want none and context.Canceled", len(got), fetches, err)
		}

		// Canceled between the lookups.
		ctx, cancel = context.WithCancel(context.Background())
		lookup := func(pid int) Process { cancel(); return proc(pid) }
		got, err = collectOwned(listOwnedTables(ctx, &Options{Processes: true}, fakeTables(&fetches, nil, tables...), lookup))
		if !errors.Is(err, context.Canceled) || len(got) != 1 {
			t.Errorf("canceled in a lookup: %d sockets, error %v; want 1 and context.Canceled", len(got), err)
		}
	})
}

func collectOwned(seq func(func(Socket, error) bool)) ([]Socket, error) {
	var got []Socket
	for s, err := range seq {
		if err != nil {
			return got, err
		}
		got = append(got, s)
	}
	return got, nil
}

func TestPCBMIBTableFormatError(t *testing.T) {
	b := []byte("0123456789abcdefghijklmnop")
	err := newTableFormatError("MIB_UDPTABLE_OWNER_PID", b, 4, "bad %s", "row")
	want := "socktable: malformed MIB_UDPTABLE_OWNER_PID at offset 4: bad row (bytes 3435363738396162636465666768696a)"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if err := newTableFormatError("t", b, len(b), "end"); !strings.HasSuffix(err.Error(), "(bytes )") {
		t.Errorf("error at the end = %q, want no bytes quoted", err)
	}
}
