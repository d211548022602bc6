package socktable

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
)

// mibFixture is one row of a table, in the layouts documented in
// mibtable.go (tcpmib.h, udpmib.h).
type mibFixture struct {
	state        uint32 // TCP only
	laddr, raddr netip.Addr
	lport, rport uint16
	lscope       uint32 // IPv6 only
	rscope       uint32 // IPv6 TCP only
	pid          uint32
	junk         bool // garbage in the upper 16 bits of the port DWORDs
}

// mibEncode returns a table of kind holding rows.
func mibEncode(kind mibKind, rows ...mibFixture) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, uint32(len(rows)))
	for _, f := range rows {
		row := make([]byte, mibRowSizes[kind])
		port := func(off int, p uint16) {
			binary.BigEndian.PutUint16(row[off:], p)
			if f.junk {
				row[off+2], row[off+3] = 0xa5, 0x5a
			}
		}
		addr4 := func(off int, a netip.Addr) {
			if a.IsValid() {
				a4 := a.As4()
				copy(row[off:], a4[:])
			}
		}
		addr6 := func(off int, a netip.Addr) {
			if a.IsValid() {
				a16 := a.As16()
				copy(row[off:], a16[:])
			}
		}
		switch kind {
		case mibTCP4:
			le.PutUint32(row[0:], f.state)
			addr4(4, f.laddr)
			port(8, f.lport)
			addr4(12, f.raddr)
			port(16, f.rport)
			le.PutUint32(row[20:], f.pid)
		case mibTCP6:
			addr6(0, f.laddr)
			le.PutUint32(row[16:], f.lscope)
			port(20, f.lport)
			addr6(24, f.raddr)
			le.PutUint32(row[40:], f.rscope)
			port(44, f.rport)
			le.PutUint32(row[48:], f.state)
			le.PutUint32(row[52:], f.pid)
		case mibUDP4:
			addr4(0, f.laddr)
			port(4, f.lport)
			le.PutUint32(row[8:], f.pid)
		case mibUDP6:
			addr6(0, f.laddr)
			le.PutUint32(row[16:], f.lscope)
			port(20, f.lport)
			le.PutUint32(row[24:], f.pid)
		}
		b = append(b, row...)
	}
	return b
}

func collectMIBTable(b []byte, kind mibKind) ([]ownedSocket, error) {
	var got []ownedSocket
	err := walkMIBTable(b, kind, func(s Socket, pid int) bool {
		got = append(got, ownedSocket{s, pid})
		return true
	})
	return got, err
}

func TestParseMIBTable(t *testing.T) {
	tcp, udp := ports.ProtoTCP, ports.ProtoUDP
	tests := []struct {
		name string
		kind mibKind
		in   []byte
		want []ownedSocket
	}{
		{name: "empty tcp4", kind: mibTCP4, in: mibEncode(mibTCP4)},
		{name: "empty udp6", kind: mibUDP6, in: mibEncode(mibUDP6)},
		{
			name: "tcp4",
			kind: mibTCP4,
			in: mibEncode(mibTCP4,
				// A listener whose remote port holds garbage.
				mibFixture{state: 2, laddr: ip("0.0.0.0"), lport: 135, raddr: ip("0.0.0.0"), rport: 12345, pid: 900, junk: true},
				mibFixture{state: 5, laddr: ip("192.168.1.2"), lport: 49700, raddr: ip("93.184.216.34"), rport: 443, pid: 4242},
				mibFixture{state: 11, laddr: ip("127.0.0.1"), lport: 5000, raddr: ip("127.0.0.1"), rport: 5001},
				mibFixture{state: 12, laddr: ip("10.0.0.1"), lport: 1, raddr: ip("10.0.0.2"), rport: 2, pid: 4},
				mibFixture{state: 99, laddr: ip("10.0.0.1"), lport: 3, raddr: ip("10.0.0.2"), rport: 4, pid: 5},
			),
			want: []ownedSocket{
				{Socket{Proto: tcp, Local: ap("0.0.0.0:135"), Remote: ap("0.0.0.0:0"), State: StateListen}, 900},
				{Socket{Proto: tcp, Local: ap("192.168.1.2:49700"), Remote: ap("93.184.216.34:443"), State: StateEstablished}, 4242},
				{Socket{Proto: tcp, Local: ap("127.0.0.1:5000"), Remote: ap("127.0.0.1:5001"), State: StateTimeWait}, 0},
				{Socket{Proto: tcp, Local: ap("10.0.0.1:1"), Remote: ap("10.0.0.2:2"), State: StateClose}, 4},
				{Socket{Proto: tcp, Local: ap("10.0.0.1:3"), Remote: ap("10.0.0.2:4"), State: StateUnknown}, 5},
			},
		},
		{
			name: "tcp6",
			kind: mibTCP6,
			in: mibEncode(mibTCP6,
				mibFixture{state: 2, laddr: ip("::"), lport: 445, raddr: ip("::"), rport: 0, pid: 4},
				// A link-local connection: the scope ids become zones.
				mibFixture{state: 5, laddr: ip("fe80::1"), lscope: 12, lport: 50000, raddr: ip("fe80::2"), rscope: 12, rport: 22, pid: 77, junk: true},
				// A global address keeps no zone.
				mibFixture{state: 8, laddr: ip("2001:db8::1"), lscope: 3, lport: 1, raddr: ip("2001:db8::2"), rport: 2, pid: 78},
			),
			want: []ownedSocket{
				{Socket{Proto: tcp, Local: ap("[::]:445"), Remote: ap("[::]:0"), State: StateListen}, 4},
				{Socket{Proto: tcp, Local: ap("[fe80::1%12]:50000"), Remote: ap("[fe80::2%12]:22"), State: StateEstablished}, 77},
				{Socket{Proto: tcp, Local: ap("[2001:db8::1]:1"), Remote: ap("[2001:db8::2]:2"), State: StateCloseWait}, 78},
			},
		},
		{
			name: "udp4",
			kind: mibUDP4,
			in: mibEncode(mibUDP4,
				mibFixture{laddr: ip("0.0.0.0"), lport: 53, pid: 2000, junk: true},
				mibFixture{laddr: ip("127.0.0.1"), lport: 1900, pid: 2001},
			),
			want: []ownedSocket{
				{Socket{Proto: udp, Local: ap("0.0.0.0:53"), Remote: ap("0.0.0.0:0"), State: StateClose}, 2000},
				{Socket{Proto: udp, Local: ap("127.0.0.1:1900"), Remote: ap("0.0.0.0:0"), State: StateClose}, 2001},
			},
		},
		{
			name: "udp6",
			kind: mibUDP6,
			in: mibEncode(mibUDP6,
				mibFixture{laddr: ip("::"), lport: 5353, pid: 3000},
				mibFixture{laddr: ip("fe80::abcd"), lscope: 7, lport: 546, pid: 3001},
			),
			want: []ownedSocket{
				{Socket{Proto: udp, Local: ap("[::]:5353"), Remote: ap("[::]:0"), State: StateClose}, 3000},
				{Socket{Proto: udp, Local: ap("[fe80::abcd%7]:546"), Remote: ap("[::]:0"), State: StateClose}, 3001},
			},
		},
		{
			name: "bytes after the rows",
			kind: mibUDP4,
			in:   append(mibEncode(mibUDP4, mibFixture{laddr: ip("10.0.0.1"), lport: 9}), 1, 2, 3, 4, 5),
			want: []ownedSocket{
				{Socket{Proto: udp, Local: ap("10.0.0.1:9"), Remote: ap("0.0.0.0:0"), State: StateClose}, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collectMIBTable(tt.in, tt.kind)
			if err != nil {
				t.Fatalf("walkMIBTable: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddrPort); diff != "" {
				t.Errorf("walkMIBTable (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMIBTableErrors(t *testing.T) {
	count := func(n uint32, rest ...byte) []byte { return append(binary.LittleEndian.AppendUint32(nil, n), rest...) }
	tests := []struct {
		name string
		kind mibKind
		in   []byte
		msg  string
	}{
		{"empty", mibTCP4, nil, "0 bytes cannot hold dwNumEntries"},
		{"short count", mibUDP4, []byte{1, 0, 0}, "3 bytes cannot hold dwNumEntries"},
		{"one row missing", mibTCP6, count(1), "1 rows of 56 bytes need 60 bytes, have 4"},
		{"short row", mibUDP6, count(1, make([]byte, 27)...), "need 32 bytes, have 31"},
		{"huge count", mibTCP4, count(1<<32 - 1), "4294967295 rows of 24 bytes need 103079215084 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collectMIBTable(tt.in, tt.kind)
			var te *tableFormatError
			if !errors.As(err, &te) {
				t.Fatalf("walkMIBTable = %v, %v; want a *tableFormatError", got, err)
			}
			if len(got) != 0 || te.Off != 0 || te.Table != mibTableNames[tt.kind] || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("walkMIBTable = %d sockets, error %q; want none and %q", len(got), err, tt.msg)
			}
		})
	}
}

// Every prefix of a table shorter than its rows is truncated.
func TestParseMIBTableTruncated(t *testing.T) {
	for kind := range mibKind(len(mibTableNames)) {
		unspec, lo := ip("::"), ip("::1")
		if kind == mibTCP4 || kind == mibUDP4 {
			unspec, lo = ip("0.0.0.0"), ip("127.0.0.1")
		}
		b := mibEncode(kind, mibFixture{state: 2, laddr: unspec, lport: 1}, mibFixture{state: 5, laddr: lo, lport: 2})
		for n := range len(b) {
			if _, err := collectMIBTable(b[:n], kind); err == nil {
				t.Errorf("%s: walkMIBTable(first %d of %d bytes) succeeded", mibTableNames[kind], n, len(b))
			}
		}
	}
}

func TestParseMIBTableStop(t *testing.T) {
	b := mibEncode(mibUDP4, mibFixture{lport: 1}, mibFixture{lport: 2})
	n := 0
	err := walkMIBTable(b, mibUDP4, func(Socket, int) bool { n++; return false })
	if err != nil || n != 1 {
		t.Errorf("walkMIBTable stopped after the first socket: %d sockets, error %v; want 1, nil", n, err)
	}
}

func TestMIBStates(t *testing.T) {
	want := []State{
		StateUnknown, StateClose, StateListen, StateSynSent, StateSynRecv, StateEstablished, StateFinWait1,
		StateFinWait2, StateCloseWait, StateClosing, StateLastAck, StateTimeWait, StateClose, StateUnknown,
	}
	for i, s := range want {
		if got := mibState(uint32(i)); got != s {
			t.Errorf("mibState(%d) = %v, want %v", i, got, s)
		}
	}
}

func TestMIBTableNoAllocs(t *testing.T) {
	b := mibEncode(mibTCP6,
		mibFixture{state: 2, laddr: ip("::"), lport: 1},
		mibFixture{state: 5, laddr: ip("2001:db8::1"), lport: 2, raddr: ip("2001:db8::2"), rport: 3},
	)
	yield := func(Socket, int) bool { return true }
	allocs := testing.AllocsPerRun(100, func() {
		if err := walkMIBTable(b, mibTCP6, yield); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("walkMIBTable allocates %v times per table, want 0", allocs)
	}
}

// mibReencode returns the row that encodes s and pid.
func mibReencode(s Socket, pid int) mibFixture {
	f := mibFixture{
		laddr: s.Local.Addr().WithZone(""), lport: s.Local.Port(),
		raddr: s.Remote.Addr().WithZone(""), rport: s.Remote.Port(),
		pid: uint32(pid),
	}
	for st, state := range mibStates {
		if state == s.State && f.state == 0 {
			f.state = uint32(st)
		}
	}
	scope := func(a netip.Addr) uint32 {
		n, _ := strconv.ParseUint(a.Zone(), 10, 32)
		return uint32(n)
	}
	f.lscope, f.rscope = scope(s.Local.Addr()), scope(s.Remote.Addr())
	return f
}

func FuzzParseMIBTable(f *testing.F) {
	// Seeds: each table with a row or two, an empty one and truncated ones.
	f.Add(uint8(mibTCP4), mibEncode(mibTCP4,
		mibFixture{state: 2, laddr: ip("0.0.0.0"), lport: 135, rport: 7, pid: 900, junk: true},
		mibFixture{state: 5, laddr: ip("10.0.0.1"), lport: 1, raddr: ip("10.0.0.2"), rport: 2, pid: 1}))
	f.Add(uint8(mibTCP6), mibEncode(mibTCP6,
		mibFixture{state: 5, laddr: ip("fe80::1"), lscope: 12, lport: 50000, raddr: ip("fe80::2"), rscope: 12, rport: 22, pid: 77}))
	f.Add(uint8(mibUDP4), mibEncode(mibUDP4, mibFixture{laddr: ip("0.0.0.0"), lport: 53, pid: 2}))
	f.Add(uint8(mibUDP6), mibEncode(mibUDP6, mibFixture{laddr: ip("fe80::abcd"), lscope: 7, lport: 546, pid: 3}))
	f.Add(uint8(mibTCP4), mibEncode(mibTCP4))
	f.Add(uint8(mibTCP6), mibEncode(mibTCP6, mibFixture{state: 5})[:30])
	f.Add(uint8(mibUDP4), []byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, k uint8, b []byte) {
		kind := mibKind(k % uint8(len(mibTableNames)))
		got, err := collectMIBTable(b, kind)
		if err != nil {
			var te *tableFormatError
			if !errors.As(err, &te) || len(got) != 0 {
				t.Fatalf("walkMIBTable = %d sockets, error %v (%T); want none and a *tableFormatError", len(got), err, err)
			}
			return
		}
		var rows []mibFixture
		for _, o := range got {
			s := o.S
			if !s.Local.IsValid() || !s.Remote.IsValid() || s.State >= numStates || s.Is6() != (kind == mibTCP6 || kind == mibUDP6) {
				t.Fatalf("walkMIBTable yielded an impossible socket %+v", s)
			}
			rows = append(rows, mibReencode(s, o.PID))
		}
		// decode, encode, decode is the identity.
		again, err := collectMIBTable(mibEncode(kind, rows...), kind)
		if err != nil {
			t.Fatalf("walkMIBTable(re-encoded): %v", err)
		}
		if diff := cmp.Diff(got, again, cmpAddrPort); diff != "" {
			t.Fatalf("decode, encode, decode (-first +second):\n%s", diff)
		}
	})
}
