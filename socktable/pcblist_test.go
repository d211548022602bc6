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

// The encoder below writes pcblist_n buffers from the layouts documented
// in pcblist.go (XNU's bsd/netinet/in_pcb.h, bsd/sys/socketvar.h and
// bsd/netinet/tcp_var.h), as get_pcblist_n in bsd/netinet/in_pcblist.c
// does: per socket an xinpcb_n, an xsocket_n, two xsockbuf_n, an
// xsockstat_n and, for TCP, an xtcpcb_n, each padded to 8 bytes.

const (
	pcbXinpcbLen  = 104 // sizeof(struct xinpcb_n)
	pcbXsocketLen = 104 // sizeof(struct xsocket_n)
	pcbXsockbuf   = 32  // sizeof(struct xsockbuf_n)
	pcbXsockstat  = 136 // sizeof(struct xsockstat_n): 8 + 4 struct data_stats
	pcbXtcpcbLen  = 204 // not a multiple of 8, so that the padding is exercised
)

// pcbFixture is one socket's records.
type pcbFixture struct {
	inpp         uint64 // xi_inpp; so_pcb too unless soPcb is set
	soPcb        uint64
	vflag        uint8 // 0: INP_IPV4 or INP_IPV6 from laddr
	laddr, faddr netip.Addr
	lport, fport uint16
	noSocket     bool // a pcb without a socket: zeroed xsocket_n, sockbufs of kind 0
	uid          uint32
	pid          int32
	qlen, qlimit uint16
	rcv, snd     uint32
	tstate       int32 // TCP only
	noTCPCB      bool
}

// pcbEncoder builds a pcblist_n buffer.
type pcbEncoder struct{ b []byte }

func newPCBEncoder(count uint32) *pcbEncoder {
	e := &pcbEncoder{}
	e.xinpgen(count)
	return e
}

func (e *pcbEncoder) xinpgen(count uint32) {
	r := e.record(xinpgenLen, count) // xig_count is where a record's kind is

	binary.LittleEndian.PutUint64(r[8:], 77)  // xig_gen
	binary.LittleEndian.PutUint64(r[16:], 99) // xig_sogen
}

// record appends a zeroed, padded record of n bytes with {n, kind} at its
// start, and returns it.
func (e *pcbEncoder) record(n int, kind uint32) []byte {
	off := len(e.b)
	e.b = append(e.b, make([]byte, (n+7)&^7)...)
	r := e.b[off : off+n]
	binary.LittleEndian.PutUint32(r, uint32(n))
	binary.LittleEndian.PutUint32(r[4:], kind)
	return r
}

// pcbPutAddr writes a at p: an in6_addr, with a link-local zone as KAME's
// embedded scope, or an in_addr_4in6.
func pcbPutAddr(p []byte, a netip.Addr) {
	if a.Is4() {
		a4 := a.As4()
		copy(p[12:16], a4[:])
		return
	}
	a16 := a.As16()
	if z := a.Zone(); z != "" {
		n, _ := strconv.Atoi(z)
		binary.BigEndian.PutUint16(a16[2:], uint16(n))
	}
	copy(p[:16], a16[:])
}

func (e *pcbEncoder) socket(proto ports.Proto, f pcbFixture) {
	le := binary.LittleEndian
	r := e.record(pcbXinpcbLen, xsoInpcb)
	le.PutUint64(r[xinpInpp:], f.inpp)
	binary.BigEndian.PutUint16(r[xinpFport:], f.fport)
	binary.BigEndian.PutUint16(r[xinpLport:], f.lport)
	le.PutUint64(r[20:], f.inpp+8) // inp_ppcb
	vflag := f.vflag
	if vflag == 0 {
		vflag = inpIPv6
		if f.laddr.Is4() {
			vflag = inpIPv4
		}
	}
	r[xinpVflag] = vflag
	r[46] = byte(proto) // inp_ip_p
	if f.faddr.IsValid() {
		pcbPutAddr(r[xinpFaddr:], f.faddr)
	}
	pcbPutAddr(r[xinpLaddr:], f.laddr)

	r = e.record(pcbXsocketLen, xsoSocket)
	if !f.noSocket {
		le.PutUint64(r[8:], f.inpp+16) // xso_so
		pcb := f.soPcb
		if pcb == 0 {
			pcb = f.inpp
		}
		le.PutUint64(r[xsoPcb:], pcb)
		le.PutUint32(r[36:], uint32(proto)) // xso_protocol
		le.PutUint16(r[xsoQlen:], f.qlen)
		le.PutUint16(r[xsoQlimit:], f.qlimit)
		le.PutUint32(r[xsoUID:], f.uid)
		le.PutUint32(r[xsoLastPID:], uint32(f.pid))
	}
	rcvKind, sndKind := uint32(xsoRcvbuf), uint32(xsoSndbuf)
	if f.noSocket {
		rcvKind, sndKind = 0, 0
	}
	r = e.record(pcbXsockbuf, rcvKind)
	le.PutUint32(r[xsbCC:], f.rcv)
	r = e.record(pcbXsockbuf, sndKind)
	le.PutUint32(r[xsbCC:], f.snd)
	e.record(pcbXsockstat, xsoStats)
	if proto == ports.ProtoTCP && !f.noTCPCB {
		r = e.record(pcbXtcpcbLen, xsoTcpcb)
		le.PutUint32(r[xtState:], uint32(f.tstate))
	}
}

// bytes returns the buffer with its closing xinpgen.
func (e *pcbEncoder) bytes() []byte {
	e.xinpgen(0)
	return e.b
}

func pcbEncode(proto ports.Proto, fs ...pcbFixture) []byte {
	e := newPCBEncoder(uint32(len(fs)))
	for _, f := range fs {
		e.socket(proto, f)
	}
	return e.bytes()
}

// ownedSocket is a socket and its pid, as a walk yields them.
type ownedSocket struct {
	S   Socket
	PID int
}

var cmpAddrPort = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func collectPCBList(b []byte, proto ports.Proto) ([]ownedSocket, error) {
	var got []ownedSocket
	err := walkPCBList(b, proto, func(s Socket, pid int) bool {
		got = append(got, ownedSocket{s, pid})
		return true
	})
	return got, err
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func ip(s string) netip.Addr     { return netip.MustParseAddr(s) }

func TestParsePCBList(t *testing.T) {
	tcp, udp := ports.ProtoTCP, ports.ProtoUDP
	tests := []struct {
		name  string
		proto ports.Proto
		in    []byte
		want  []ownedSocket
	}{
		{
			name:  "no sockets",
			proto: tcp,
			in:    newPCBEncoder(0).b, // the kernel writes no closing xinpgen then
		},
		{
			name:  "no sockets, closing xinpgen",
			proto: udp,
			in:    pcbEncode(udp),
		},
		{
			name:  "tcp",
			proto: tcp,
			in: pcbEncode(tcp,
				// An IPv4 listener with 3 connections waiting of a backlog of 128.
				pcbFixture{inpp: 0x1000, laddr: ip("0.0.0.0"), lport: 22, uid: 0, pid: 321, qlen: 3, qlimit: 128, rcv: 9, snd: 9, tstate: 1},
				// A dual-stack listener is an IPv6 one.
				pcbFixture{inpp: 0x2000, vflag: inpIPv4 | inpIPv6, laddr: ip("::"), lport: 8080, uid: 501, pid: 4000, tstate: 1},
				// An IPv6 connection with bytes queued both ways.
				pcbFixture{inpp: 0x3000, laddr: ip("2001:db8::1"), lport: 50000, faddr: ip("2001:db8::2"), fport: 443, uid: 501, pid: 4001, rcv: 100, snd: 2000, tstate: 4},
				// A link-local connection with its scope embedded.
				pcbFixture{inpp: 0x4000, laddr: ip("fe80::1%4"), lport: 5000, faddr: ip("fe80::2%4"), fport: 6000, uid: 501, pid: 4002, tstate: 10},
				// Neither INP_IPV4 nor INP_IPV6: skipped.
				pcbFixture{inpp: 0x5000, vflag: 0x4, laddr: ip("10.0.0.1"), lport: 1, tstate: 4},
				// A pcb without a socket or TCP block.
				pcbFixture{inpp: 0x6000, laddr: ip("127.0.0.1"), lport: 7, faddr: ip("127.0.0.1"), fport: 8, noSocket: true, noTCPCB: true},
				// A state BSD does not have.
				pcbFixture{inpp: 0x7000, laddr: ip("10.1.2.3"), lport: 9, faddr: ip("10.3.2.1"), fport: 10, pid: 5, tstate: 42},
			),
			want: []ownedSocket{
				{Socket{Proto: tcp, Local: ap("0.0.0.0:22"), Remote: ap("0.0.0.0:0"), State: StateListen, RecvQ: 3, SendQ: 128}, 321},
				{Socket{Proto: tcp, Local: ap("[::]:8080"), Remote: ap("[::]:0"), State: StateListen, UID: 501}, 4000},
				{Socket{Proto: tcp, Local: ap("[2001:db8::1]:50000"), Remote: ap("[2001:db8::2]:443"), State: StateEstablished, RecvQ: 100, SendQ: 2000, UID: 501}, 4001},
				{Socket{Proto: tcp, Local: ap("[fe80::1%4]:5000"), Remote: ap("[fe80::2%4]:6000"), State: StateTimeWait, UID: 501}, 4002},
				{Socket{Proto: tcp, Local: ap("127.0.0.1:7"), Remote: ap("127.0.0.1:8"), State: StateUnknown}, 0},
				{Socket{Proto: tcp, Local: ap("10.1.2.3:9"), Remote: ap("10.3.2.1:10"), State: StateUnknown}, 5},
			},
		},
		{
			name:  "udp",
			proto: udp,
			in: pcbEncode(udp,
				pcbFixture{inpp: 0x10, laddr: ip("0.0.0.0"), lport: 53, uid: 0, pid: 99, rcv: 512},
				pcbFixture{inpp: 0x20, laddr: ip("2001:db8::5"), lport: 40000, faddr: ip("2001:db8::53"), fport: 53, uid: 501, pid: 100},
				pcbFixture{inpp: 0x30, laddr: ip("::"), lport: 5353, uid: 65, pid: 101},
			),
			want: []ownedSocket{
				{Socket{Proto: udp, Local: ap("0.0.0.0:53"), Remote: ap("0.0.0.0:0"), State: StateClose, RecvQ: 512}, 99},
				{Socket{Proto: udp, Local: ap("[2001:db8::5]:40000"), Remote: ap("[2001:db8::53]:53"), State: StateEstablished, UID: 501}, 100},
				{Socket{Proto: udp, Local: ap("[::]:5353"), Remote: ap("[::]:0"), State: StateClose, UID: 65}, 101},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collectPCBList(tt.in, tt.proto)
			if err != nil {
				t.Fatalf("walkPCBList: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddrPort); diff != "" {
				t.Errorf("walkPCBList (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePCBListStop(t *testing.T) {
	b := pcbEncode(ports.ProtoTCP,
		pcbFixture{inpp: 1, laddr: ip("127.0.0.1"), lport: 1, tstate: 1},
		pcbFixture{inpp: 2, laddr: ip("127.0.0.1"), lport: 2, tstate: 1},
	)
	n := 0
	err := walkPCBList(b, ports.ProtoTCP, func(Socket, int) bool { n++; return false })
	if err != nil || n != 1 {
		t.Errorf("walkPCBList stopped after the first socket: %d sockets, error %v; want 1, nil", n, err)
	}
}

func TestParsePCBListErrors(t *testing.T) {
	valid := func() []byte {
		return pcbEncode(ports.ProtoTCP,
			pcbFixture{inpp: 0x1000, laddr: ip("127.0.0.1"), lport: 80, tstate: 1},
			pcbFixture{inpp: 0x2000, laddr: ip("::1"), lport: 81, tstate: 1},
		)
	}
	const first = xinpgenLen                                                                 // the first xinpcb_n
	const sock = first + pcbXinpcbLen                                                        // its xsocket_n
	const second = sock + pcbXsocketLen + 2*pcbXsockbuf + pcbXsockstat + (pcbXtcpcbLen+7)&^7 // the second xinpcb_n
	put := func(b []byte, off int, v uint32) []byte {
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		off  int    // want the error at this offset
		msg  string // and its message to hold this
	}{
		{"empty", nil, 0, "cannot hold the 24-byte xinpgen"},
		{"short header", make([]byte, 20), 0, "cannot hold the 24-byte xinpgen"},
		{"bad header length", put(valid(), 0, 32), 0, "header claims 32 bytes"},
		{"header counts sockets", newPCBEncoder(3).b, 0, "counts 3 sockets"},
		{"no closing xinpgen", func() []byte { b := valid(); return b[:len(b)-xinpgenLen] }(), second + 104 + 104 + 64 + 136 + 208, "truncated"},
		{"length 0", put(valid(), first, 0), first, "claims 0 bytes"},
		{"length 4", put(valid(), first, 4), first, "claims 4 bytes"},
		{"length 16", put(valid(), first, 16), first, "claims 16 bytes"},
		{"length past the end", put(valid(), second, 1<<20), second, "claims 1048576 bytes"},
		{"length 2^32-1", put(valid(), second, 1<<32-1), second, "truncated"},
		{"short xinpcb_n", put(valid(), first, 40), first, "has 40 bytes, want at least 80"},
		{"short xsocket_n", put(valid(), sock, 40), sock, "has 40 bytes, want at least 72"},
		{"xsocket_n first", put(valid(), first+4, xsoSocket), first, "before any xinpcb_n"},
		{"two xsocket_n", put(valid(), sock+pcbXsocketLen+4, xsoSocket), sock + pcbXsocketLen, "second record of kind 0x1"},
		{"xsocket_n of another pcb", func() []byte {
			b := valid()
			binary.LittleEndian.PutUint64(b[sock+xsoPcb:], 0xdead)
			return b
		}(), sock, "pcb 0xdead follows the xinpcb_n of pcb 0x1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collectPCBList(tt.in, ports.ProtoTCP)
			var te *tableFormatError
			if !errors.As(err, &te) {
				t.Fatalf("walkPCBList = %v, %v; want a *tableFormatError", got, err)
			}
			if te.Off != tt.off || !strings.Contains(err.Error(), tt.msg) || te.Table != "net.inet.tcp.pcblist_n" {
				t.Errorf("walkPCBList error = %q (offset %d); want offset %d and %q", err, te.Off, tt.off, tt.msg)
			}
		})
	}
}

// Every proper prefix of a table is truncated.
func TestParsePCBListTruncated(t *testing.T) {
	for _, proto := range []ports.Proto{ports.ProtoTCP, ports.ProtoUDP} {
		b := pcbEncode(proto,
			pcbFixture{inpp: 1, laddr: ip("127.0.0.1"), lport: 1, tstate: 1},
			pcbFixture{inpp: 2, laddr: ip("::1"), lport: 2, faddr: ip("::1"), fport: 3, tstate: 4},
		)
		if _, err := collectPCBList(b, proto); err != nil {
			t.Fatalf("%v: walkPCBList(whole table): %v", proto, err)
		}
		for n := range len(b) {
			if _, err := collectPCBList(b[:n], proto); err == nil {
				t.Errorf("%v: walkPCBList(first %d of %d bytes) succeeded", proto, n, len(b))
			}
		}
	}
}

func TestPCBStates(t *testing.T) {
	want := map[int32]State{
		-1: StateUnknown, 0: StateClose, 1: StateListen, 2: StateSynSent, 3: StateSynRecv,
		4: StateEstablished, 5: StateCloseWait, 6: StateFinWait1, 7: StateClosing,
		8: StateLastAck, 9: StateFinWait2, 10: StateTimeWait, 11: StateUnknown,
	}
	for bsd, s := range want {
		if got := pcbState(bsd); got != s {
			t.Errorf("pcbState(%d) = %v, want %v", bsd, got, s)
		}
	}
}

func TestPCBListNoAllocs(t *testing.T) {
	b := pcbEncode(ports.ProtoTCP,
		pcbFixture{inpp: 1, laddr: ip("127.0.0.1"), lport: 1, tstate: 1},
		pcbFixture{inpp: 2, laddr: ip("2001:db8::1"), lport: 2, faddr: ip("2001:db8::2"), fport: 3, tstate: 4},
	)
	n := 0
	yield := func(Socket, int) bool { n++; return true }
	allocs := testing.AllocsPerRun(100, func() {
		if err := walkPCBList(b, ports.ProtoTCP, yield); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("walkPCBList allocates %v times per table, want 0", allocs)
	}
}

func TestPCBProcArgs2(t *testing.T) {
	args := func(argc int32, rest string) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(argc))
		return append(b, rest...)
	}
	tests := []struct {
		name string
		in   []byte
		want []string
	}{
		{"args and environment", args(2, "/usr/bin/nc\x00\x00\x00\x00nc\x00-l\x00HOME=/\x00"), []string{"nc", "-l"}},
		{"no args", args(0, "/bin/x\x00"), []string{}},
		{"empty", nil, nil},
		{"short", []byte{1, 0}, nil},
		{"negative argc", args(-1, "/x\x00a\x00"), nil},
		{"argc too large", args(1<<30, "/x\x00a\x00"), nil},
		{"no path end", args(1, "/x"), nil},
		{"fewer args than argc", args(3, "/x\x00a\x00b\x00"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseProcArgs2(tt.in)); diff != "" {
				t.Errorf("parseProcArgs2 (-want +got):\n%s", diff)
			}
		})
	}
}

// pcbReencode returns the fixture that encodes s and pid.
func pcbReencode(s Socket, pid int) pcbFixture {
	f := pcbFixture{
		inpp:  1,
		laddr: s.Local.Addr(), lport: s.Local.Port(),
		faddr: s.Remote.Addr(), fport: s.Remote.Port(),
		uid: s.UID, pid: int32(pid),
		rcv: s.RecvQ, snd: s.SendQ,
		tstate: 99,
	}
	for bsd, st := range pcbStates {
		if st == s.State {
			f.tstate = int32(bsd)
		}
	}
	if s.Proto == ports.ProtoTCP && s.State == StateListen {
		f.qlen, f.qlimit, f.rcv, f.snd = uint16(s.RecvQ), uint16(s.SendQ), 0, 0
	}
	return f
}

func FuzzParsePCBList(f *testing.F) {
	tcp := ports.ProtoTCP
	// A listener, a connection and a link-local socket.
	f.Add(pcbEncode(tcp,
		pcbFixture{inpp: 0x1000, laddr: ip("0.0.0.0"), lport: 22, pid: 1, qlen: 1, qlimit: 5, tstate: 1},
		pcbFixture{inpp: 0x2000, laddr: ip("2001:db8::1"), lport: 5, faddr: ip("2001:db8::2"), fport: 6, uid: 501, pid: 2, rcv: 1, snd: 2, tstate: 4},
		pcbFixture{inpp: 0x3000, laddr: ip("fe80::1%7"), lport: 5, faddr: ip("ff02::1%7"), fport: 6, tstate: 10},
	))
	// UDP, bound and connected.
	f.Add(pcbEncode(ports.ProtoUDP,
		pcbFixture{inpp: 0x10, laddr: ip("0.0.0.0"), lport: 53},
		pcbFixture{inpp: 0x20, laddr: ip("10.0.0.1"), lport: 4000, faddr: ip("10.0.0.2"), fport: 53, pid: 3},
	))
	// No sockets, with and without the closing xinpgen.
	f.Add(newPCBEncoder(0).b)
	f.Add(pcbEncode(tcp))
	// A socketless pcb without a TCP block.
	f.Add(pcbEncode(tcp, pcbFixture{inpp: 1, laddr: ip("::1"), lport: 1, noSocket: true, noTCPCB: true}))
	// Truncated.
	f.Add(pcbEncode(tcp, pcbFixture{inpp: 1, laddr: ip("::1"), lport: 1, tstate: 1})[:200])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, proto := range []ports.Proto{ports.ProtoTCP, ports.ProtoUDP} {
			got, err := collectPCBList(b, proto)
			if err != nil {
				var te *tableFormatError
				if !errors.As(err, &te) || te.Off < 0 || te.Off > len(b) {
					t.Fatalf("walkPCBList error %v (%T) is not a *tableFormatError within the input", err, err)
				}
			}
			var fs []pcbFixture
			for _, o := range got {
				s := o.S
				if s.Proto != proto || !s.Local.IsValid() || !s.Remote.IsValid() || s.State >= numStates ||
					s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
					t.Fatalf("walkPCBList yielded an impossible socket %+v", s)
				}
				fs = append(fs, pcbReencode(s, o.PID))
			}
			// decode, encode, decode is the identity.
			again, err := collectPCBList(pcbEncode(proto, fs...), proto)
			if err != nil {
				t.Fatalf("walkPCBList(re-encoded): %v", err)
			}
			if diff := cmp.Diff(got, again, cmpAddrPort); diff != "" {
				t.Fatalf("decode, encode, decode (-first +second):\n%s", diff)
			}
		}
	})
}
