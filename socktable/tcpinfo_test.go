package socktable

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portkit/ports"
)

func TestCountersRequest(t *testing.T) {
	ne := binary.NativeEndian
	bc := (&Options{LocalPorts: []ports.Range{{First: 80, Last: 80}}}).bytecode()
	for _, tt := range []struct {
		family  uint8
		typ     uint16
		bodyLen int
		extAt   int // offset of the ext byte in the body
	}{
		{0, tcpDiagGetSock, diagReqCompatLen, 3},
		{afINET, sockDiagByFamily, diagReqLen, 2},
		{afINET6, sockDiagByFamily, diagReqLen, 2},
	} {
		for _, bytecode := range [][]byte{nil, bc} {
			b := appendCountersRequest(nil, 7, tt.family, StatesOf(StateEstablished), bytecode)
			extra := 0
			if bytecode != nil {
				extra = 4 + len(bytecode)
			}
			if len(b) != nlmsgHdrLen+tt.bodyLen+extra || int(ne.Uint32(b)) != len(b) {
				t.Fatalf("family %d: length %d, header says %d, want %d", tt.family, len(b), ne.Uint32(b), nlmsgHdrLen+tt.bodyLen+extra)
			}
			if typ := ne.Uint16(b[4:]); typ != tt.typ {
				t.Errorf("family %d: type %d, want %d", tt.family, typ, tt.typ)
			}
			body := b[nlmsgHdrLen:]
			if body[0] != tt.family || body[tt.extAt] != 1<<(inetDiagInfo-1) {
				t.Errorf("family %d: body starts % x; want family %d and ext 0x02 at %d", tt.family, body[:4], tt.family, tt.extAt)
			}
			// Apart from ext, the request is the one List sends.
			var want []byte
			if tt.family == 0 {
				want = appendTCPCompatRequest(nil, 7, StatesOf(StateEstablished), bytecode)
			} else {
				want = appendDiagRequest(nil, 7, tt.family, ports.ProtoTCP, StatesOf(StateEstablished), bytecode)
			}
			got := bytes.Clone(b)
			got[nlmsgHdrLen+tt.extAt] = 0
			if !bytes.Equal(got, want) {
				t.Errorf("family %d: request\n% x\nwant List's with ext set\n% x", tt.family, b, want)
			}
		}
	}
}

// withInfo appends to an inet_diag_msg netlink message the attributes
// attrs (type, payload), fixing the length.
func withInfo(msg []byte, attrs ...[]byte) []byte {
	ne := binary.NativeEndian
	for i := 0; i+1 < len(attrs); i += 2 {
		typ, payload := ne.Uint16(attrs[i]), attrs[i+1]
		msg = ne.AppendUint16(msg, uint16(4+len(payload)))
		msg = ne.AppendUint16(msg, typ)
		msg = append(msg, payload...)
		for len(msg)%4 != 0 {
			msg = append(msg, 0)
		}
	}
	ne.PutUint32(msg, uint32(len(msg)))
	return msg
}

func attrType(typ uint16) []byte { return binary.NativeEndian.AppendUint16(nil, typ) }

// tcpInfoBytes is a struct tcp_info of n bytes with the two counters set.
func tcpInfoBytes(n int, acked, received uint64) []byte {
	b := make([]byte, n)
	if n >= tcpiBytesReceived+8 {
		binary.NativeEndian.PutUint64(b[tcpiBytesAcked:], acked)
		binary.NativeEndian.PutUint64(b[tcpiBytesReceived:], received)
	}
	return b
}

func TestCountersDecode(t *testing.T) {
	l := netip.MustParseAddrPort("127.0.0.1:8080")
	r := netip.MustParseAddrPort("127.0.0.1:50000")
	l6 := netip.MustParseAddrPort("[::1]:443")
	r6 := netip.MustParseAddrPort("[::1]:40000")
	var buf []byte
	// A memory-info attribute (type 1) before the tcp_info: skipped.
	buf = append(buf, withInfo(diagMessage(afINET, 1, l, r, 0, 0, 1000, 11), attrType(1), make([]byte, 16), attrType(inetDiagInfo), tcpInfoBytes(232, 1<<40, 12345))...)
	// No tcp_info (a TIME-WAIT socket): not yielded.
	buf = append(buf, diagMessage(afINET, 6, l, netip.MustParseAddrPort("127.0.0.1:50001"), 0, 0, 0, 0)...)
	// A tcp_info from before Linux 4.1, without the counters: not yielded.
	buf = append(buf, withInfo(diagMessage(afINET, 1, l, netip.MustParseAddrPort("127.0.0.1:50002"), 0, 0, 0, 12), attrType(inetDiagInfo), tcpInfoBytes(104, 0, 0))...)
	buf = append(buf, withInfo(diagMessage(afINET6, 1, l6, r6, 0, 0, 0, 13), attrType(inetDiagInfo), tcpInfoBytes(136, 7, 8))...)
	// Filtered out by the options: another port.
	buf = append(buf, withInfo(diagMessage(afINET, 1, netip.MustParseAddrPort("127.0.0.1:9"), r, 0, 0, 0, 14), attrType(inetDiagInfo), tcpInfoBytes(136, 1, 1))...)
	buf = append(buf, doneMessage()...)

	opts := &Options{LocalPorts: []ports.Range{{First: 443, Last: 8080}}}
	var got []TCPCounters
	var s Socket
	done, err := diagMessages(buf, func(p []byte) bool {
		var c TCPCounters
		if countersMsg(p, opts, &s, &c) {
			got = append(got, c)
		}
		return true
	})
	if err != nil || !done {
		t.Fatalf("done %v, err %v", done, err)
	}
	want := []TCPCounters{
		{Local: l, Remote: r, Inode: 11, BytesAcked: 1 << 40, BytesReceived: 12345},
		{Local: l6, Remote: r6, Inode: 13, BytesAcked: 7, BytesReceived: 8},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	// A malformed attribute list.
	bad := withInfo(diagMessage(afINET, 1, l, r, 0, 0, 0, 1), attrType(inetDiagInfo), tcpInfoBytes(136, 1, 1))
	binary.NativeEndian.PutUint16(bad[nlmsgHdrLen+diagMsgLen:], 2000)
	if _, _, ok := tcpInfoCounters(bad[nlmsgHdrLen:]); ok {
		t.Error("an attribute longer than the message was read")
	}
}

func TestCountersProtos(t *testing.T) {
	for _, err := range Counters(context.Background(), &Options{Protos: []ports.Proto{ports.ProtoUDP}}) {
		t.Fatalf("a UDP-only selection yielded counters (err %v)", err)
	}
}

// TestCountersUnsupported checks that where there are no counters, the
// error says so in a way callers can test.
func TestCountersUnsupported(t *testing.T) {
	if !errors.Is(ErrNoCounters, errors.ErrUnsupported) {
		t.Error("ErrNoCounters does not wrap errors.ErrUnsupported")
	}
}

func FuzzTCPInfoCounters(f *testing.F) {
	l := netip.MustParseAddrPort("127.0.0.1:1")
	f.Add(withInfo(diagMessage(afINET, 1, l, l, 0, 0, 0, 1), attrType(inetDiagInfo), tcpInfoBytes(136, 1, 2))[nlmsgHdrLen:])
	f.Add(withInfo(diagMessage(afINET, 1, l, l, 0, 0, 0, 1), attrType(1), []byte{1, 2, 3})[nlmsgHdrLen:])
	f.Add(make([]byte, diagMsgLen))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		acked, received, ok := tcpInfoCounters(p)
		if !ok && (acked != 0 || received != 0) {
			t.Errorf("not ok, but counters %d, %d", acked, received)
		}
		if ok && len(p) < diagMsgLen+4+tcpiBytesReceived+8 {
			t.Errorf("ok from %d bytes, too few to hold the counters", len(p))
		}
	})
}

// TestCountersDecodeNoAllocs checks that decoding a dump of counters
// allocates nothing per socket.
func TestCountersDecodeNoAllocs(t *testing.T) {
	l, r := netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("127.0.0.1:50000")
	var buf []byte
	for i := range 100 {
		buf = append(buf, withInfo(diagMessage(afINET, 1, l, r, 0, 0, 0, uint32(i+1)), attrType(inetDiagInfo), tcpInfoBytes(232, 1, 2))...)
	}
	opts := &Options{}
	var (
		s   Socket
		c   TCPCounters
		sum uint64
	)
	allocs := testing.AllocsPerRun(100, func() {
		diagMessages(buf, func(p []byte) bool {
			if countersMsg(p, opts, &s, &c) {
				sum += c.BytesAcked
			}
			return true
		})
	})
	if allocs != 0 {
		t.Errorf("decoding 100 sockets' counters: %v allocations, want 0", allocs)
	}
	if sum == 0 {
		t.Error("nothing decoded")
	}
}
